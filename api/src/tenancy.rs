//! Pinning a transaction to one tenant: the one statement PostgreSQL's row-level security
//! reads (`app.tenant_id`, see the `tenant_isolation` policies in `migration/`).
//!
//! Everything that pins goes through here: the policy's gates, the ledger's appenders
//! (the group committer's one-statement append on plain PostgreSQL pins each tenant of
//! its batch with `set_config` inside the `ledger_append` function) and the tests that act as the
//! application role. Callers decide *whether* a transaction may be
//! pinned; this module only knows *how*.

use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr,
    IsolationLevel, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use crate::domain::TenantId;

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

/// Begins a read-only transaction pinned to `tenant`, for an access that only reads:
/// PostgreSQL enforces it (`SET TRANSACTION READ ONLY`, sent with the pin in the same
/// message, so no round trip more), which is what lets [`end_read`] end it without
/// waiting. On SQLite a `Mode::Read` transaction, not enforced: the suites run on both
/// backends, so a write attempted in one fails on PostgreSQL's.
///
/// # Errors
/// `DbErr` when the transaction cannot begin or the tenant cannot be set.
pub async fn begin_reading(
    db: &DatabaseConnection,
    tenant: TenantId,
) -> Result<DatabaseTransaction, DbErr> {
    let tx = begin(db, Mode::Read).await?;
    if tx.get_database_backend() == DatabaseBackend::Postgres {
        tx.execute_unprepared(&format!(
            "{}; SET TRANSACTION READ ONLY",
            pin_statements(tenant)
        ))
        .await?;
    }
    Ok(tx)
}

/// Ends a transaction from [`begin_reading`] without waiting for the database: it could
/// write nothing, so rolling it back is committing it. The rollback is queued on the
/// connection and goes out with the connection's return to the pool (sqlx's ping on
/// release waits for both), off the caller's path: a read's answer waits for one round
/// trip fewer.
pub fn end_read(tx: DatabaseTransaction) {
    drop(tx);
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
