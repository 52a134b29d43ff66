//! Pinning a transaction to one tenant: the one statement PostgreSQL's row-level security
//! reads (`app.tenant_id`, see the `tenant_isolation` policies in `migration/`).
//!
//! Everything that pins goes through here: the policy's gates, the ledger's appenders
//! (the group committer's one-statement append on plain PostgreSQL pins each tenant of
//! its batch with `set_config` inside the `ledger_append` function) and the tests that act as the
//! application role. Callers decide *whether* a transaction may be
//! pinned; this module only knows *how*.

use std::sync::Arc;
use std::time::Instant;

use sea_orm::sea_query::Values;
use sea_orm::sqlx::{self, AssertSqlSafe};
use sea_orm::{
    AccessMode, ConnAcquireErr, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, DbErr, ExecResult, IsolationLevel, QueryResult, RuntimeErr,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use sea_query_sqlx::SqlxValues;

use crate::domain::TenantId;
use crate::metrics::Metrics;

/// The pin: the statements that set `app.tenant_id` for the rest of the transaction
/// (`SET LOCAL`, so the setting cannot survive into the pooled connection's next use).
///
/// On Citus the policies are enforced on the workers' shards, where a `set_config` on
/// the coordinator is never seen; `citus.propagate_set_commands = 'local'` makes the
/// coordinator send the transaction's `SET LOCAL`s to every worker it opens in it. On
/// plain PostgreSQL that setting is an inert placeholder and the pin behaves the same.
/// `SET` takes no bound parameter, so the value is spliced in: it is built only from a
/// parsed id, whose hyphenated form is hex digits and hyphens, nothing to escape. Outside
/// a transaction `SET LOCAL` does nothing (with a warning): fail-closed.
pub fn pin_statements(tenant: TenantId) -> String {
    let id: uuid::Uuid = tenant.into();
    format!(
        "SET LOCAL citus.propagate_set_commands = 'local'; SET LOCAL app.tenant_id = '{}'",
        id.hyphenated()
    )
}

/// Pins `tx` (a transaction) to `tenant`, in one round trip (see [`pin_statements`]). A
/// no-op on SQLite, which has no row-level security: there the application's own tenant
/// filters are the only layer.
///
/// # Errors
/// `DbErr` when the statement fails.
pub async fn pin<C: ConnectionTrait>(tx: &C, tenant: TenantId) -> Result<(), DbErr> {
    if tx.get_database_backend() == DatabaseBackend::Postgres {
        tx.execute_unprepared(&pin_statements(tenant)).await?;
    }
    Ok(())
}

/// Opens `tx` to the platform-read policies (PostgreSQL): the platform admin's listings
/// across tenants (objections to a subprocessor, breach notices, terms responses,
/// disclosures, webhook deliveries), and nothing else. Seen by Citus's workers as the pin is.
///
/// # Errors
/// `DbErr` when the statement fails.
pub async fn open_platform_read<C: ConnectionTrait>(tx: &C) -> Result<(), DbErr> {
    if tx.get_database_backend() == DatabaseBackend::Postgres {
        tx.execute_unprepared(
            "SET LOCAL citus.propagate_set_commands = 'local'; SET LOCAL app.platform_read = 'on'",
        )
        .await?;
    }
    Ok(())
}

/// How a transaction will be used, which decides how it begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Read,
    Write,
    /// Read-only, one snapshot throughout (PostgreSQL `REPEATABLE READ`; a SQLite
    /// transaction always is): for reading a chain and its head as of one moment while
    /// appenders go on.
    Snapshot,
}

impl Mode {
    pub fn options(self, backend: DatabaseBackend) -> TransactionOptions {
        let sqlite = backend == DatabaseBackend::Sqlite;
        match self {
            Self::Read => TransactionOptions::default(),
            // A deferred SQLite transaction that later writes can fail with SQLITE_BUSY
            // instead of waiting; taking the write lock up front makes writers queue.
            Self::Write => TransactionOptions {
                sqlite_transaction_mode: sqlite.then_some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            },
            Self::Snapshot if !sqlite => TransactionOptions {
                isolation_level: Some(IsolationLevel::RepeatableRead),
                access_mode: Some(AccessMode::ReadOnly),
                ..TransactionOptions::default()
            },
            Self::Snapshot => TransactionOptions::default(),
        }
    }
}

/// Begins a transaction in `mode`, without a tenant.
///
/// # Errors
/// `DbErr` when the transaction cannot begin.
pub async fn begin(db: &DatabaseConnection, mode: Mode) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(mode.options(db.get_database_backend()))
        .await
}

/// Begins a transaction in `mode` pinned to `tenant`.
///
/// # Errors
/// `DbErr` when the transaction cannot begin or the tenant cannot be set.
pub async fn begin_pinned(
    db: &DatabaseConnection,
    tenant: TenantId,
    mode: Mode,
) -> Result<DatabaseTransaction, DbErr> {
    let tx = begin(db, mode).await?;
    pin(&tx, tenant).await?;
    Ok(tx)
}

/// A transaction pinned to one tenant, as the personal-data gate opens it: on PostgreSQL
/// a [`PgTx`], begun and pinned in one message; on SQLite sea-orm's for a writer, and for
/// an access that only reads the pool itself.
pub enum Pinned {
    Orm(DatabaseTransaction),
    Pg(PgTx),
    /// SQLite, an access that only reads: each statement on a pooled connection of its
    /// own, as a read-committed transaction sees it (each statement its own snapshot), and
    /// nothing to begin or end. There is no tenant to pin on SQLite (no row-level
    /// security: the services' tenant filters are the isolation), and no statement of
    /// such an access writes (one that writes rows is a writer, see
    /// `Access::writes_rows`). `BEGIN` and the rollback were two of a read by id's four
    /// trips to SQLite's connection thread.
    Pool(DatabaseConnection),
}

impl Pinned {
    /// Begins a transaction pinned to `tenant`: read-only when `reads_only`, a writer
    /// otherwise. `metrics` counts its statements as the
    /// pool's callback counts sea-orm's.
    ///
    /// # Errors
    /// `DbErr` when the transaction cannot begin or the tenant cannot be set.
    pub async fn begin(
        db: &DatabaseConnection,
        tenant: TenantId,
        reads_only: bool,
        metrics: Option<&Arc<Metrics>>,
    ) -> Result<Self, DbErr> {
        if db.get_database_backend() == DatabaseBackend::Postgres {
            let pool = db.get_postgres_connection_pool();
            // Boxed: sqlx's checkout future (it may connect) is kilobytes, and every
            // GraphQL field future of a type whose resolvers begin an access would carry
            // it inline and be copied that much each time the engine boxes one (measured:
            // half a page's instructions went to that copying before this box).
            let tx = Box::pin(PgTx::begin(pool, tenant, reads_only, metrics)).await?;
            return Ok(Self::Pg(tx));
        }
        if reads_only {
            return Ok(Self::Pool(db.clone()));
        }
        Ok(Self::Orm(begin(db, Mode::Write).await?))
    }

    /// Commits.
    ///
    /// # Errors
    /// `DbErr` when the commit fails.
    pub async fn commit(self) -> Result<(), DbErr> {
        match self {
            Self::Orm(tx) => tx.commit().await,
            Self::Pg(tx) => tx.commit().await,
            Self::Pool(_) => Ok(()),
        }
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Pinned {
    fn get_database_backend(&self) -> DatabaseBackend {
        match self {
            Self::Orm(tx) => tx.get_database_backend(),
            Self::Pg(_) => DatabaseBackend::Postgres,
            Self::Pool(db) => db.get_database_backend(),
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self {
            Self::Orm(tx) => tx.execute_raw(stmt).await,
            Self::Pg(tx) => tx.execute_raw(stmt).await,
            Self::Pool(db) => db.execute_raw(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match self {
            Self::Orm(tx) => tx.execute_unprepared(sql).await,
            Self::Pg(tx) => tx.execute_unprepared(sql).await,
            Self::Pool(db) => db.execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self {
            Self::Orm(tx) => tx.query_one_raw(stmt).await,
            Self::Pg(tx) => tx.query_one_raw(stmt).await,
            Self::Pool(db) => db.query_one_raw(stmt).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self {
            Self::Orm(tx) => tx.query_all_raw(stmt).await,
            Self::Pg(tx) => tx.query_all_raw(stmt).await,
            Self::Pool(db) => db.query_all_raw(stmt).await,
        }
    }
}

/// Streams a statement's rows: sea-orm's transaction row by row; a [`PgTx`] reads them
/// whole first (only the offboarding's return export streams in such a transaction, and
/// it holds its whole document in memory anyway).
impl sea_orm::StreamTrait for Pinned {
    type Stream<'a> = futures_util::stream::BoxStream<'a, Result<QueryResult, DbErr>>;

    fn get_database_backend(&self) -> DatabaseBackend {
        ConnectionTrait::get_database_backend(self)
    }

    fn stream_raw<'a>(
        &'a self,
        stmt: Statement,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Self::Stream<'a>, DbErr>> + 'a + Send>> {
        use futures_util::StreamExt as _;
        Box::pin(async move {
            Ok(match self {
                Self::Orm(tx) => tx.stream_raw(stmt).await?.boxed(),
                Self::Pool(db) => db.stream_raw(stmt).await?.boxed(),
                Self::Pg(tx) => {
                    futures_util::stream::iter(tx.query_all_raw(stmt).await?.into_iter().map(Ok))
                        .boxed()
                }
            })
        })
    }
}

/// A PostgreSQL transaction begun and pinned in one message: `BEGIN`, the pin's `SET
/// LOCAL`s (and `READ ONLY` for an access that only reads) go out together as one simple
/// query, one round trip where sea-orm's transaction takes two (it sends its `BEGIN`
/// alone; sqlx takes a custom one, sea-orm does not pass it). Statements then run as
/// sea-orm's would (prepared, cached per connection, values bound by sea-orm's own
/// binding). Dropped unfinished, it rolls back as sea-orm's does: the `ROLLBACK` is queued
/// on the connection and leaves with the pool's ping on release, after the answer.
pub struct PgTx {
    conn: tokio::sync::Mutex<sqlx::Transaction<'static, sqlx::Postgres>>,
    metrics: Option<Arc<Metrics>>,
}

impl PgTx {
    async fn begin(
        pool: &sqlx::PgPool,
        tenant: TenantId,
        reads_only: bool,
        metrics: Option<&Arc<Metrics>>,
    ) -> Result<Self, DbErr> {
        let begin = if reads_only {
            "BEGIN READ ONLY"
        } else {
            "BEGIN"
        };
        // sqlx checks the connection is in a transaction once the message is answered; a
        // failed pin leaves it in a failed one, where every statement is refused.
        let tx = pool
            .begin_with(AssertSqlSafe(format!(
                "{begin}; {}",
                pin_statements(tenant)
            )))
            .await
            .map_err(|e| match e {
                sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
                sqlx::Error::PoolClosed => {
                    DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed)
                }
                e => DbErr::Query(RuntimeErr::SqlxError(e.into())),
            })?;
        Ok(Self {
            conn: tokio::sync::Mutex::new(tx),
            metrics: metrics.cloned(),
        })
    }

    async fn commit(self) -> Result<(), DbErr> {
        self.conn
            .into_inner()
            .commit()
            .await
            .map_err(|e| DbErr::Query(RuntimeErr::SqlxError(e.into())))
    }

    /// Counts and traces a statement as the pools' callback does (see
    /// [`Metrics::observe_statements`]).
    fn observed(&self, stmt: &Statement, started: Instant, failed: bool) {
        if let Some(metrics) = &self.metrics {
            let info = sea_orm::metric::Info {
                elapsed: started.elapsed(),
                statement: stmt,
                failed,
            };
            metrics.statement(info.elapsed);
            crate::telemetry::statement(&info);
        }
    }

    async fn execute_raw(&self, mut stmt: Statement) -> Result<ExecResult, DbErr> {
        let values = SqlxValues(stmt.values.take().unwrap_or(Values(Vec::new())));
        let mut conn = self.conn.lock().await;
        let started = Instant::now();
        let done = sqlx::query_with(AssertSqlSafe(stmt.sql.as_str()), values)
            .execute(&mut **conn)
            .await;
        self.observed(&stmt, started, done.is_err());
        done.map(Into::into)
            .map_err(|e| DbErr::Exec(RuntimeErr::SqlxError(e.into())))
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let mut conn = self.conn.lock().await;
        sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
            .execute(&mut **conn)
            .await
            .map(Into::into)
            .map_err(|e| DbErr::Exec(RuntimeErr::SqlxError(e.into())))
    }

    async fn query_one_raw(&self, mut stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let values = SqlxValues(stmt.values.take().unwrap_or(Values(Vec::new())));
        let mut conn = self.conn.lock().await;
        let started = Instant::now();
        let row = sqlx::query_with(AssertSqlSafe(stmt.sql.as_str()), values)
            .fetch_optional(&mut **conn)
            .await;
        self.observed(&stmt, started, row.is_err());
        row.map(|row| row.map(Into::into))
            .map_err(|e| DbErr::Query(RuntimeErr::SqlxError(e.into())))
    }

    async fn query_all_raw(&self, mut stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let values = SqlxValues(stmt.values.take().unwrap_or(Values(Vec::new())));
        let mut conn = self.conn.lock().await;
        let started = Instant::now();
        let rows = sqlx::query_with(AssertSqlSafe(stmt.sql.as_str()), values)
            .fetch_all(&mut **conn)
            .await;
        self.observed(&stmt, started, rows.is_err());
        rows.map(|rows| rows.into_iter().map(Into::into).collect())
            .map_err(|e| DbErr::Query(RuntimeErr::SqlxError(e.into())))
    }
}
