//! Counters for `GET /metrics` (Prometheus text format): enough to see what a request
//! costs in statements and how well the ledger's group commit batches.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    pub graphql_requests: AtomicU64,
    pub db_statements: AtomicU64,
    pub db_statement_micros: AtomicU64,
    pub ledger_statements: AtomicU64,
    pub ledger_batches: AtomicU64,
    pub ledger_records: AtomicU64,
    pub ledger_sealed: AtomicU64,
}

tokio::task_local! {
    static LEDGER_WORK: ();
}

/// Runs `work` as the ledger's background work: its statements are counted apart from
/// the requests'.
pub async fn as_ledger_work<F: std::future::Future>(work: F) -> F::Output {
    LEDGER_WORK.scope((), work).await
}

impl Metrics {
    /// Counts one statement, for the request or the ledger task that sent it.
    pub fn statement(&self, elapsed: std::time::Duration) {
        if LEDGER_WORK.try_with(|()| ()).is_ok() {
            Self::add(&self.ledger_statements, 1);
        } else {
            Self::add(&self.db_statements, 1);
            Self::add(
                &self.db_statement_micros,
                u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            );
        }
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::new();
        for (name, help, value) in [
            (
                "custodian_graphql_requests_total",
                "GraphQL requests executed",
                get(&self.graphql_requests),
            ),
            (
                "custodian_db_statements_total",
                "SQL statements sent to the database",
                get(&self.db_statements),
            ),
            (
                "custodian_ledger_statements_total",
                "SQL statements the ledger's group committer and sealer sent (not in db_statements)",
                get(&self.ledger_statements),
            ),
            (
                "custodian_ledger_batches_total",
                "group commits of access records",
                get(&self.ledger_batches),
            ),
            (
                "custodian_ledger_records_total",
                "access records written by group commit",
                get(&self.ledger_records),
            ),
            (
                "custodian_ledger_sealed_total",
                "access records sealed into their tenant's chain",
                get(&self.ledger_sealed),
            ),
        ] {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
            ));
        }
        let seconds = get(&self.db_statement_micros) as f64 / 1e6;
        out.push_str(&format!(
            "# HELP custodian_db_statement_seconds_total time spent in SQL statements\n# TYPE custodian_db_statement_seconds_total counter\ncustodian_db_statement_seconds_total {seconds}\n"
        ));
        out
    }
}
