//! HTTP endpoints: `/graphql` (see `graphql`), the playground's assets, health and
//! readiness, `/metrics`, and the deployment's public signing key.

pub mod context;
pub mod cors;
pub mod documents;
pub mod graphql;
pub mod persisted;
pub mod playground;
pub mod rate_limit;

use actix_web::{HttpResponse, web};
use sea_orm::DatabaseConnection;

use crate::auth::TokenAuthority;
use crate::graphql::schema::CustodianSchema;

pub use graphql::GRAPHQL_RESPONSE_JSON;

/// What every handler shares.
pub struct AppState {
    pub schema: CustodianSchema,
    /// In production mode, the schema for every caller but platform admins (see
    /// `graphql::schema::build_strict`).
    pub strict_schema: Option<CustodianSchema>,
    pub auth: TokenAuthority,
    /// The deployment's signing key, whose public half is published for verifiers.
    pub signer: crate::signing::Signer,
    pub ledger_key: crate::ledger::checkpoint::LogKey,
    /// Tenants offboarded: their tokens are refused.
    pub offboarded: crate::service::offboarding::Offboarded,
    /// The server's clock (the offboarded set is read again once a minute by it).
    pub clock: crate::clock::SharedClock,
    pub db: DatabaseConnection,
    pub playground: bool,
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    pub gauges: Gauges,
    pub rate_limits: rate_limit::RateLimits,
    pub persisted: persisted::PersistedQueries,
    /// Documents parsed once, by their text.
    pub documents: documents::Documents,
    /// The runtime that owns `db`: background reads made while serving a request (the
    /// offboarded tenants, the gauges) run there. A pooled connection's socket belongs to
    /// the runtime that opened it, and using it from another waits on that runtime's I/O
    /// driver (measured: ~1.2 ms a statement under load instead of ~0.1 ms).
    pub runtime: tokio::runtime::Handle,
    /// The HTTP workers' own pools, which serve the requests.
    pub worker_pools: WorkerPools,
}

/// The HTTP workers' own pools. actix-web serves HTTP on one single-threaded runtime per
/// worker, and GraphQL operations run there, on the worker that read them: on PostgreSQL
/// with connections opened by that worker (see [`crate::db::pool_of_this_runtime`]), so
/// a request's statements never wake another thread. They used to run on the main
/// runtime, which owns [`AppState::db`]: two thread hand-offs a request, and every
/// statement's answer read by another thread than the one that sent it (measured: 4.6–5.0
/// context switches a read by id instead of 3.8–4.0, and 5.6–5.7 a page instead of
/// 4.2–4.3). SQLite's connections run on threads of their own and answer any runtime:
/// there every worker shares the main pool. Cheap to clone.
#[derive(Clone)]
pub struct WorkerPools {
    main: DatabaseConnection,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// Each worker's, as it opened it.
    opened: std::sync::Arc<std::sync::Mutex<Vec<DatabaseConnection>>>,
}

impl WorkerPools {
    pub fn new(main: DatabaseConnection, metrics: std::sync::Arc<crate::metrics::Metrics>) -> Self {
        Self {
            main,
            metrics,
            opened: std::sync::Arc::default(),
        }
    }

    /// The pool for the HTTP worker that calls this (at its start), with at most `size`
    /// connections.
    pub fn open(&self, size: u32) -> DatabaseConnection {
        match crate::db::pool_of_this_runtime(&self.main, size, &self.metrics) {
            Some(own) => {
                self.opened().push(own.clone());
                own
            }
            None => self.main.clone(),
        }
    }

    /// The pools requests use: the workers' (once they have started), or the main one.
    pub fn serving(&self) -> Vec<DatabaseConnection> {
        let opened = self.opened().clone();
        if opened.is_empty() {
            vec![self.main.clone()]
        } else {
            opened
        }
    }

    /// (connections open, idle, limit) of the main pool and the workers' together.
    fn usage(&self) -> Option<(u32, u32, u32)> {
        let opened = self.opened().clone();
        std::iter::once(&self.main)
            .chain(&opened)
            .filter_map(pool_usage)
            .reduce(|a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2))
    }

    fn opened(&self) -> std::sync::MutexGuard<'_, Vec<DatabaseConnection>> {
        self.opened
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The pool of the HTTP worker serving a request (see [`WorkerPools`]).
pub struct WorkerDb(pub DatabaseConnection);

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/graphql", web::post().to(graphql::post))
        .route("/graphql", web::get().to(graphql::get))
        .route(
            &format!("{}/{{name}}", playground::ASSETS),
            web::get().to(playground::asset),
        )
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics))
        .route(
            "/.well-known/custodian/signing-key",
            web::get().to(signing_key),
        )
        .route(
            "/.well-known/custodian/ledger-key",
            web::get().to(ledger_key),
        );
}

/// When the database gauges were last read; a scrape reads them again once they are
/// older than `every`, so many scrapers cost the database one read per interval.
pub struct Gauges {
    every: std::time::Duration,
    last: tokio::sync::Mutex<Option<std::time::Instant>>,
}

impl Gauges {
    pub fn every(every: std::time::Duration) -> Self {
        Self {
            every,
            last: tokio::sync::Mutex::new(None),
        }
    }
}

/// Everything in the Prometheus (OpenMetrics) text format.
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    {
        let mut last = state.gauges.last.lock().await;
        if last.is_none_or(|at| at.elapsed() >= state.gauges.every) {
            // Read on the runtime that owns the pool (see `AppState::runtime`).
            let (db, now) = (state.db.clone(), state.clock.now());
            let read = state
                .runtime
                .spawn(async move {
                    let none = crate::ledger::Ledger::disabled();
                    let ctx = crate::policy::RequestCtx::for_job(&db, &none, "metrics", now);
                    crate::service::gauges::read(&ctx).await
                })
                .await;
            match read {
                Ok(Ok(g)) => {
                    state.metrics.set_gauges(&g, now);
                    *last = Some(std::time::Instant::now());
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "the database gauges are unavailable"),
                Err(e) => tracing::warn!(error = %e, "the database gauges are unavailable"),
            }
        }
    }
    let usage = state.worker_pools.usage();
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.render(usage))
}

/// (connections open, idle, limit).
fn pool_usage(db: &DatabaseConnection) -> Option<(u32, u32, u32)> {
    match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            Some((
                pool.size(),
                u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
                pool.options().get_max_connections(),
            ))
        }
        sea_orm::DatabaseBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            Some((
                pool.size(),
                u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
                pool.options().get_max_connections(),
            ))
        }
        _ => None,
    }
}

/// The public key receipts are signed with, for verifiers to trust (`custodian dsr
/// verify-receipt --public-key`).
async fn signing_key(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(state.signer.published().to_string())
}

/// The verifier key of the ledger's checkpoints (C2SP signed-note form), for
/// `custodian ledger verify-proof --key` and `custodian ledger watch --key`.
async fn ledger_key(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(format!("{}\n", state.ledger_key.verifier_key()))
}

/// Liveness: the process answers.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: the database answers.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.db.ping().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })),
        Err(e) => {
            tracing::warn!(error = %e, "database not reachable");
            HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({ "status": "unavailable", "database": "unreachable" }))
        }
    }
}
