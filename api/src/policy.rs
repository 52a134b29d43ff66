//! The one place that decides access. Every service call that touches tenant data begins
//! its transaction here: the caller's right to the operation is checked, and the tenant is
//! fixed for the transaction — in the application (every query is filtered by the
//! returned [`TenantTx::tenant`]) and, on PostgreSQL, in the database too
//! (`app.tenant_id`, read by the row-level security policies).

use std::ops::Deref;

use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};

use crate::auth::{ActorKind, Caller, Role};
use crate::domain::TenantId;
use crate::error::ServiceError;

/// What a caller wants to do with personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Read,
    Write,
    Erase,
}

impl Operation {
    fn writes(self) -> bool {
        !matches!(self, Self::Read)
    }
}

/// A transaction fixed to one tenant. Dropping it without [`TenantTx::commit`] rolls back.
pub struct TenantTx {
    tx: DatabaseTransaction,
    tenant: TenantId,
}

impl TenantTx {
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// # Errors
    /// When the database refuses the commit.
    pub async fn commit(self) -> Result<(), ServiceError> {
        Ok(self.tx.commit().await?)
    }
}

impl Deref for TenantTx {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

/// Checks that `caller` may perform `operation` on its tenant's personal data and begins a
/// transaction scoped to that tenant.
///
/// Controllers act on their own tenant under its standing direct-request instruction.
/// Processor staff and platform admins reach contact data only under a processing
/// instruction, which this version does not yet issue, so they are refused.
///
/// # Errors
/// `Unauthenticated` without a caller, `Forbidden` when the caller's role may not act on
/// contact data, `Db` when the transaction cannot begin.
pub async fn begin(
    db: &DatabaseConnection,
    caller: Option<&Caller>,
    operation: Operation,
) -> Result<TenantTx, ServiceError> {
    let caller = caller.ok_or(ServiceError::Unauthenticated)?;
    let tenant = match (caller.actor_kind(), caller.tenant) {
        (ActorKind::Controller, Some(tenant)) => tenant,
        (ActorKind::Controller, None) => return Err(ServiceError::Unauthenticated),
        (ActorKind::ProcessorStaff | ActorKind::PlatformAdmin, _) => {
            return Err(ServiceError::Forbidden(
                "access to contact data requires a processing instruction from the controller"
                    .into(),
            ));
        }
    };
    begin_for_tenant(db, tenant, operation.writes()).await
}

/// Begins a transaction fixed to `tenant` without a caller check. Only for work already
/// authorized another way (and for the tests that prove row-level security holds even
/// for a query that forgets its tenant filter); resolvers go through [`begin`].
///
/// # Errors
/// `Db` when the transaction cannot begin or the tenant cannot be set.
pub async fn begin_for_tenant(
    db: &DatabaseConnection,
    tenant: TenantId,
    writes: bool,
) -> Result<TenantTx, ServiceError> {
    let backend = db.get_database_backend();
    let options = TransactionOptions {
        // A deferred SQLite transaction that later writes can fail with SQLITE_BUSY
        // instead of waiting; taking the write lock up front makes writers queue.
        sqlite_transaction_mode: (backend == DatabaseBackend::Sqlite && writes)
            .then_some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    };
    let tx = db.begin_with_options(options).await?;
    if backend == DatabaseBackend::Postgres {
        // Local to this transaction (`true`), bound as a parameter: the setting cannot
        // survive into the pooled connection's next use.
        tx.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT set_config('app.tenant_id', $1, true)",
            [tenant.to_string().into()],
        ))
        .await?;
    }
    Ok(TenantTx { tx, tenant })
}

/// # Errors
/// `Unauthenticated` without a caller, `Forbidden` for anyone but a platform admin.
pub fn require_platform_admin(caller: Option<&Caller>) -> Result<&Caller, ServiceError> {
    let caller = caller.ok_or(ServiceError::Unauthenticated)?;
    if caller.role == Role::PlatformAdmin {
        Ok(caller)
    } else {
        Err(ServiceError::Forbidden(
            "platform admin role required".into(),
        ))
    }
}

/// The tenant a controller's user belongs to.
///
/// # Errors
/// `Unauthenticated` without a caller, `Forbidden` for callers outside a controller.
pub fn require_controller(caller: Option<&Caller>) -> Result<TenantId, ServiceError> {
    let caller = caller.ok_or(ServiceError::Unauthenticated)?;
    match (caller.actor_kind(), caller.tenant) {
        (ActorKind::Controller, Some(tenant)) => Ok(tenant),
        (ActorKind::Controller, None) => Err(ServiceError::Unauthenticated),
        _ => Err(ServiceError::Forbidden(
            "only the controller's own users may do this".into(),
        )),
    }
}
