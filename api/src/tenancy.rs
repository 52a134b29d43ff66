//! Pinning a transaction to one tenant: the one statement PostgreSQL's row-level security
//! reads (`app.tenant_id`, see the `tenant_isolation` policies in `migration/`).
//!
//! Everything that pins goes through here: the policy's gates, the ledger's appenders
//! (the group committer's one-statement append pins each tenant of its batch with the
//! same `set_config`, inside the `ledger_append` function) and the tests that act as the
//! application role. Callers decide *whether* a transaction may be
//! pinned; this module only knows *how*.

use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr,
    IsolationLevel, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};

use crate::domain::TenantId;

/// The pin as an SQL expression of one bound parameter, `$1`: the tenant id as text.
/// Local to the transaction (`true`), so the setting cannot survive into the pooled
/// connection's next use; a parameter, so the value is never spliced into SQL.
pub const PIN_EXPR: &str = "set_config('app.tenant_id', $1, true)";

/// The value bound to [`PIN_EXPR`]'s `$1`: built only from a parsed id.
pub fn pin_value(tenant: TenantId) -> sea_orm::Value {
    tenant.to_string().into()
}

/// Pins `tx` (a transaction) to `tenant`. A no-op on SQLite, which has no row-level
/// security: there the application's own tenant filters are the only layer.
///
/// # Errors
/// `DbErr` when the statement fails.
pub async fn pin<C: ConnectionTrait>(tx: &C, tenant: TenantId) -> Result<(), DbErr> {
    if tx.get_database_backend() == DatabaseBackend::Postgres {
        tx.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            format!("SELECT {PIN_EXPR}"),
            [pin_value(tenant)],
        ))
        .await?;
    }
    Ok(())
}

/// Opens `tx` to the platform-read policies (PostgreSQL): the platform admin's listing of
/// every tenant's objections to a subprocessor, and nothing else.
///
/// # Errors
/// `DbErr` when the statement fails.
pub async fn open_platform_read<C: ConnectionTrait>(tx: &C) -> Result<(), DbErr> {
    if tx.get_database_backend() == DatabaseBackend::Postgres {
        tx.execute_unprepared("SELECT set_config('app.platform_read', 'on', true)")
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
