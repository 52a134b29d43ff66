//! Building and running the HTTP server.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use sea_orm::{DatabaseBackend, DatabaseConnection};

use crate::auth::TokenAuthority;
use crate::clock::{SharedClock, SystemClock};
use crate::config::ServeSettings;
use crate::graphql::schema::SchemaData;
use crate::graphql::types::subprocessor::ProcessorDetails;
use crate::http::{AppState, routes};
use crate::ledger::Ledger;
use crate::metrics::Metrics;
use crate::{db, graphql};

pub struct Application {
    port: u16,
    server: Server,
    db: DatabaseConnection,
    worker_pools: crate::http::WorkerPools,
}

impl Application {
    /// Connects (and, for the embedded default or when asked, migrates) the database,
    /// loads the token keys and binds the listener. Port 0 picks a free port; see
    /// [`Application::port`].
    ///
    /// # Errors
    /// When the database, the keys or the address cannot be used.
    pub async fn build(settings: ServeSettings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// [`Application::build`] with an injected clock.
    ///
    /// # Errors
    /// As [`Application::build`].
    pub async fn build_with_clock(
        settings: ServeSettings,
        clock: SharedClock,
    ) -> anyhow::Result<Self> {
        let metrics = Arc::new(Metrics::default());
        let mut db = db::connect_server(&settings.storage).await?;
        metrics.observe_statements(&mut db);
        if settings.migrate_on_start || db.get_database_backend() == DatabaseBackend::Sqlite {
            db::migrate(&db).await?;
        }
        db::check_migrated(&db).await?;
        let citus = crate::citus::is_citus(&db).await?;
        if citus {
            crate::citus::check_layout(&db).await?;
        }
        if settings.bench_allow_rls_bypass {
            tracing::warn!("BENCHMARK MODE: row-level security may be bypassed");
        } else {
            db::check_role_is_bound_by_rls(&db).await?;
        }
        if settings.bench_ledger_off {
            tracing::warn!("BENCHMARK MODE: accesses are not recorded");
        }
        let auth = TokenAuthority::from_settings(
            &settings.auth,
            &settings.storage.data_dir,
            clock.clone(),
        )?;
        let signer = crate::signing::Signer::load_or_create(&settings.signing_key_path())?;
        let ledger_key =
            crate::ledger::checkpoint::LogKey::new(&settings.ledger_name, signer.clone())?;
        let offboarded = crate::service::offboarding::Offboarded::default();
        {
            let none = Ledger::disabled();
            let ctx = crate::policy::RequestCtx::for_job(&db, &none, "startup", clock.now());
            offboarded.refresh(&ctx).await?;
        }
        let listener = TcpListener::bind(settings.bind).map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {}: {} (another server there? pick one with --bind)",
                settings.bind,
                e.kind()
            )
        })?;
        let port = listener.local_addr()?.port();
        let ledger = if settings.bench_ledger_off {
            Ledger::disabled()
        } else {
            Ledger::start(db.clone(), metrics.clone(), citus).await
        };
        if settings.deliver_webhooks {
            tokio::spawn(deliver_webhooks(db.clone(), clock.clone()));
        }
        if settings.purge_every_seconds > 0 {
            tokio::spawn(purge_on_schedule(
                db.clone(),
                ledger.clone(),
                clock.clone(),
                std::time::Duration::from_secs(settings.purge_every_seconds),
            ));
        }
        if settings.checkpoint_every_seconds > 0 && !settings.bench_ledger_off {
            tokio::spawn(checkpoint_on_schedule(
                db.clone(),
                ledger_key.clone(),
                clock.clone(),
                std::time::Duration::from_secs(settings.checkpoint_every_seconds),
            ));
        }
        let cors = crate::http::cors::Origins::parse(&settings.cors_allowed_origins)?;
        let persisted = crate::http::persisted::PersistedQueries::load(
            settings.persisted_queries.as_deref(),
            settings.require_persisted_queries,
        )?;
        let state_clock = clock.clone();
        let clock_for_limits = clock.clone();
        let data = SchemaData {
            db: db.clone(),
            clock,
            ledger,
            auth: auth.clone(),
            signer: signer.clone(),
            ledger_key: ledger_key.clone(),
            offboarded: offboarded.clone(),
            processor: ProcessorDetails {
                name: settings.processor_name.clone(),
                contact_email: settings.processor_contact.clone(),
            },
            metrics: metrics.clone(),
        };
        let worker_pools = crate::http::WorkerPools::new(db.clone(), metrics.clone());
        let state = web::Data::new(AppState {
            strict_schema: settings
                .production
                .then(|| graphql::schema::build_strict(data.clone())),
            schema: graphql::schema::build(data),
            auth,
            signer,
            ledger_key,
            offboarded,
            clock: state_clock,
            db: db.clone(),
            playground: settings.playground
                && (!settings.production || settings.playground_in_production),
            metrics,
            persisted,
            documents: crate::http::documents::Documents::default(),
            rate_limits: crate::http::rate_limit::RateLimits::new(
                settings.rate_limit_per_token,
                settings.rate_limit_per_tenant,
                clock_for_limits,
            ),
            gauges: crate::http::Gauges::every(std::time::Duration::from_secs(
                settings.gauges_every_seconds,
            )),
            runtime: tokio::runtime::Handle::current(),
            worker_pools: worker_pools.clone(),
        });
        let max_body = settings.max_body_bytes;
        let workers = settings.http_workers.max(1);
        // The request connections, shared out between the workers.
        let per_worker = settings
            .storage
            .db_pool_size
            .div_ceil(u32::try_from(workers).unwrap_or(u32::MAX));
        let server = HttpServer::new(move || {
            let own = crate::http::WorkerDb(state.worker_pools.open(per_worker));
            App::new()
                .app_data(web::Data::new(own))
                .wrap(cors.middleware())
                .wrap(actix_web::middleware::from_fn(
                    crate::http::context::request_context,
                ))
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(max_body))
                .configure(routes)
        })
        .workers(workers)
        .listen(listener)?
        .run();
        Ok(Self {
            port,
            server,
            db,
            worker_pools,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's pool, for tests that inspect the database directly.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The pools that serve requests (see [`crate::http::WorkerPools`]), for tests that
    /// inspect the connections requests used.
    pub fn worker_pools(&self) -> crate::http::WorkerPools {
        self.worker_pools.clone()
    }

    /// # Errors
    /// When the server fails while running.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Signed checkpoints, every `every`, of each tenant whose chain grew since its latest
/// one. A tenant that fails is logged and tried again at the next round.
async fn checkpoint_on_schedule(
    db: DatabaseConnection,
    key: crate::ledger::checkpoint::LogKey,
    clock: SharedClock,
    every: std::time::Duration,
) {
    loop {
        tokio::time::sleep(every).await;
        let none = Ledger::disabled();
        let ctx = crate::policy::RequestCtx::for_job(&db, &none, "checkpoint", clock.now());
        let tenants = match crate::service::tenants::all_ids(&ctx).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::error!(error = %e, "cannot list tenants to checkpoint; next round retries");
                continue;
            }
        };
        let mut issued = 0;
        for tenant in tenants {
            match crate::ledger::tree::issue(&db, &key, tenant, clock.now()).await {
                Ok(_) => issued += 1,
                Err(e) => {
                    tracing::error!(tenant_id = %tenant, error = %e, "checkpoint failed; next round retries")
                }
            }
        }
        tracing::info!(tenants = issued, "ledger checkpoints issued");
    }
}

/// The retention purge, every `every`, as `custodian purge` runs it. A failed run is
/// logged and the next one takes up what is still expired.
async fn purge_on_schedule(
    db: DatabaseConnection,
    ledger: Ledger,
    clock: SharedClock,
    every: std::time::Duration,
) {
    use crate::service::retention;
    loop {
        tokio::time::sleep(every).await;
        let ctx =
            crate::policy::RequestCtx::for_job(&db, &ledger, retention::PURGE_JOB, clock.now());
        match retention::purge(&ctx, retention::PurgeOptions::default()).await {
            Ok(summary) => {
                let removed: usize = summary.outcomes.iter().map(|o| o.ids.len()).sum();
                tracing::info!(run_id = %summary.run_id, removed, "retention purge ran");
            }
            Err(e) => tracing::error!(error = %e, "retention purge failed; the next run resumes"),
        }
    }
}

/// The webhook worker: every second, attempts what is due by the server's clock; every
/// minute, queues the data-subject requests coming due. Deliveries wait in the database,
/// so a restarted server takes up where the last left off.
async fn deliver_webhooks(db: DatabaseConnection, clock: SharedClock) {
    use crate::service::webhooks;
    let client = reqwest::Client::new();
    let none = Ledger::disabled();
    let mut pass: u64 = 0;
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let ctx = crate::policy::RequestCtx::for_job(&db, &none, "custodian-webhooks", clock.now());
        if pass.is_multiple_of(60)
            && let Err(e) = webhooks::enqueue_due_requests(&ctx).await
        {
            tracing::warn!(error = %e, "cannot queue requests coming due");
        }
        pass += 1;
        if let Err(e) = webhooks::deliver_due(&ctx, &client).await {
            tracing::warn!(error = %e, "webhook deliveries failed; retrying");
        }
    }
}
