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
    /// The runtime that owns the database pool. actix-web serves HTTP on one
    /// single-threaded runtime per worker; a pooled connection's socket belongs to the
    /// runtime that opened it, and using it from another waits on that runtime's I/O
    /// driver (measured: ~1.2 ms a statement under load instead of ~0.1 ms). Executing
    /// every operation here keeps all database I/O, and the ledger's committer, on one
    /// multi-threaded runtime.
    pub runtime: tokio::runtime::Handle,
}

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
    let pool = pool_usage(&state.db);
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.render(pool))
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
