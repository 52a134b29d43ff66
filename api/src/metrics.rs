//! `GET /metrics`, in the Prometheus text format (`prometheus-client`, the Prometheus
//! project's own Rust client). Labels are bounded and never carry personal data or an
//! id: requests are labelled by the root field of the operation (a name from the schema,
//! or `invalid`/`introspection`) and the outcome (`ok` or an error code).

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RequestLabels {
    pub operation: String,
    pub outcome: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct OperationLabel {
    pub operation: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct PoolLabel {
    pub state: &'static str,
}

/// Every metric the server keeps. Counters are cheap atomics; the gauges that need the
/// database (requests due, breach notices, unsealed records) are read by a scrape at
/// most once per `--gauges-every-seconds`.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub request_seconds: Family<OperationLabel, Histogram>,
    pub denied_accesses: Counter,
    pub db_statements: Counter,
    db_statement_micros: Counter,
    pub ledger_statements: Counter,
    pub ledger_batches: Counter,
    pub ledger_records: Counter,
    pub ledger_sealed: Counter,
    pub ledger_batch_records: Histogram,
    pub ledger_commit_seconds: Histogram,
    pub ledger_unsealed: Gauge,
    pub pool: Family<PoolLabel, Gauge>,
    pub pool_max: Gauge,
    pub requests_due: Gauge,
    pub requests_overdue: Gauge,
    pub breach_unacknowledged: Gauge,
    pub breach_late: Gauge,
    /// When the database gauges were last refreshed (Unix seconds; 0: never).
    pub gauges_refreshed: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn latency() -> Histogram {
    // 0.5 ms … ~4 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 14))
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("custodian");
        let m = Self {
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(latency),
            denied_accesses: Counter::default(),
            db_statements: Counter::default(),
            db_statement_micros: Counter::default(),
            ledger_statements: Counter::default(),
            ledger_batches: Counter::default(),
            ledger_records: Counter::default(),
            ledger_sealed: Counter::default(),
            ledger_batch_records: Histogram::new(exponential_buckets(1.0, 2.0, 11)),
            ledger_commit_seconds: latency(),
            ledger_unsealed: Gauge::default(),
            pool: Family::default(),
            pool_max: Gauge::default(),
            requests_due: Gauge::default(),
            requests_overdue: Gauge::default(),
            breach_unacknowledged: Gauge::default(),
            breach_late: Gauge::default(),
            gauges_refreshed: Gauge::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "graphql_requests",
            "GraphQL requests, by the operation's root field and the outcome",
            m.requests.clone(),
        );
        r.register_with_unit(
            "graphql_request",
            "GraphQL request latency, by the operation's root field",
            Unit::Seconds,
            m.request_seconds.clone(),
        );
        r.register(
            "denied_accesses",
            "accesses to personal data refused (each one recorded in the ledger)",
            m.denied_accesses.clone(),
        );
        r.register(
            "db_statements",
            "SQL statements requests sent to the database",
            m.db_statements.clone(),
        );
        r.register(
            "db_statement_micros",
            "time requests spent in SQL statements, in microseconds",
            m.db_statement_micros.clone(),
        );
        r.register(
            "ledger_statements",
            "SQL statements the ledger's group committer and sealer sent (not in db_statements)",
            m.ledger_statements.clone(),
        );
        r.register(
            "ledger_batches",
            "group commits of access records",
            m.ledger_batches.clone(),
        );
        r.register(
            "ledger_records",
            "access records written by group commit",
            m.ledger_records.clone(),
        );
        r.register(
            "ledger_sealed",
            "access records sealed into their tenant's chain",
            m.ledger_sealed.clone(),
        );
        r.register(
            "ledger_batch_records",
            "access records per group commit",
            m.ledger_batch_records.clone(),
        );
        r.register_with_unit(
            "ledger_commit",
            "time one group commit took",
            Unit::Seconds,
            m.ledger_commit_seconds.clone(),
        );
        r.register(
            "ledger_unsealed_records",
            "access records durable but not yet sealed into their chain",
            m.ledger_unsealed.clone(),
        );
        r.register(
            "db_pool_connections",
            "database connections in the pool, by state",
            m.pool.clone(),
        );
        r.register(
            "db_pool_max_connections",
            "the pool's size limit",
            m.pool_max.clone(),
        );
        r.register(
            "privacy_requests_due",
            "data-subject requests open and due within the notice window",
            m.requests_due.clone(),
        );
        r.register(
            "privacy_requests_overdue",
            "data-subject requests open past their statutory deadline",
            m.requests_overdue.clone(),
        );
        r.register(
            "breach_notices_unacknowledged",
            "breach notices not acknowledged as their incident stands",
            m.breach_unacknowledged.clone(),
        );
        r.register(
            "breach_notices_late",
            "breach notices sent after their deadline",
            m.breach_late.clone(),
        );
        r.register(
            "gauges_refreshed_timestamp_seconds",
            "when the database gauges were last read (0: not yet)",
            m.gauges_refreshed.clone(),
        );
        Self { registry, ..m }
    }

    /// Counts every statement `db` sends (see [`Metrics::statement`]) and traces it.
    pub fn observe_statements(self: &Arc<Self>, db: &mut sea_orm::DatabaseConnection) {
        let counted = self.clone();
        db.set_metric_callback(move |info| {
            counted.statement(info.elapsed);
            crate::telemetry::statement(info);
        });
    }

    /// Counts one statement, for the request or the ledger task that sent it.
    pub fn statement(&self, elapsed: std::time::Duration) {
        if LEDGER_WORK.try_with(|()| ()).is_ok() {
            self.ledger_statements.inc();
        } else {
            self.db_statements.inc();
            self.db_statement_micros
                .inc_by(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
        }
    }

    /// One GraphQL request served.
    pub fn request(&self, operation: &str, outcome: &str, elapsed: std::time::Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                operation: operation.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
        self.request_seconds
            .get_or_create(&OperationLabel {
                operation: operation.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// One group commit of `records`, taking `elapsed`.
    pub fn ledger_batch(&self, records: usize, elapsed: std::time::Duration) {
        self.ledger_batches.inc();
        self.ledger_records.inc_by(records as u64);
        self.ledger_batch_records.observe(records as f64);
        self.ledger_commit_seconds.observe(elapsed.as_secs_f64());
    }

    /// The database gauges, as read at `at`.
    pub fn set_gauges(
        &self,
        g: &crate::service::gauges::Gauges,
        at: chrono::DateTime<chrono::Utc>,
    ) {
        let set = |gauge: &Gauge, v: u64| {
            gauge.set(i64::try_from(v).unwrap_or(i64::MAX));
        };
        set(&self.requests_due, g.requests_due);
        set(&self.requests_overdue, g.requests_overdue);
        set(&self.ledger_unsealed, g.unsealed_records);
        set(&self.breach_unacknowledged, g.breach_unacknowledged);
        set(&self.breach_late, g.breach_late);
        self.gauges_refreshed.set(at.timestamp());
    }

    /// The text exposition, with the pool read now.
    pub fn render(&self, pool: Option<(u32, u32, u32)>) -> String {
        if let Some((size, idle, max)) = pool {
            self.pool
                .get_or_create(&PoolLabel { state: "idle" })
                .set(i64::from(idle));
            self.pool
                .get_or_create(&PoolLabel { state: "in_use" })
                .set(i64::from(size.saturating_sub(idle)));
            self.pool_max.set(i64::from(max));
        }
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            tracing::error!("cannot encode the metrics");
        }
        out
    }
}

tokio::task_local! {
    static LEDGER_WORK: ();
}

/// Runs `work` as the ledger's background work: its statements are counted apart from
/// the requests'.
pub async fn as_ledger_work<F: std::future::Future>(work: F) -> F::Output {
    LEDGER_WORK.scope((), work).await
}
