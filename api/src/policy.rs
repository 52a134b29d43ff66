//! The one place that decides access to personal data, and records it.
//!
//! Every service call that touches tenant data begins its transaction with [`begin`]:
//! the caller's right to the operation is decided against the controller's processing
//! instructions, the tenant is pinned for the transaction (in the application, and on
//! PostgreSQL in the database too, for row-level security), and the access is recorded
//! in the ledger by [`TenantTx::commit`] — or, when refused, by [`begin`] itself.

use std::collections::BTreeSet;
use std::ops::Deref;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use entities::processing_instruction;
use sea_orm::{
    AccessMode, ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, EntityTrait, IsolationLevel, QueryFilter, QueryOrder,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use uuid::Uuid;

use crate::auth::{ActorKind, Caller, Role};
use crate::domain::TenantId;
use crate::domain::instruction::{AccessOperation, DataCategory, Purpose};
use crate::error::ServiceError;
use crate::service::ledger::{Ledger, NewRecord, Outcome, ResourceType};

/// What a service call needs to know about the request it serves.
pub struct RequestCtx<'a> {
    pub db: &'a DatabaseConnection,
    pub ledger: &'a Ledger,
    pub caller: Option<&'a Caller>,
    pub request_id: Option<&'a str>,
    pub now: DateTime<Utc>,
}

/// An access a request asks for.
#[derive(Debug, Clone)]
pub struct Access {
    pub operation: AccessOperation,
    pub resource: ResourceType,
    /// The resource's fields the request reads or writes, as GraphQL names them.
    pub fields: Vec<String>,
}

impl Access {
    pub fn new(operation: AccessOperation, resource: ResourceType, fields: Vec<String>) -> Self {
        Self {
            operation,
            resource,
            fields,
        }
    }

    fn category(&self, field: &str) -> Option<DataCategory> {
        match self.resource {
            ResourceType::Contact => crate::domain::instruction::contact_field_category(field),
            ResourceType::Appointment => {
                crate::domain::instruction::appointment_field_category(field)
            }
        }
    }
}

/// What the caller was granted: under which instruction, for which data categories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub tenant: TenantId,
    pub actor_kind: ActorKind,
    pub actor_id: String,
    pub purpose: Purpose,
    pub instruction_id: Uuid,
    pub categories: BTreeSet<DataCategory>,
    /// The subprocessor acting, for partner tokens.
    pub subprocessor: Option<Uuid>,
}

impl Grant {
    pub fn allows(&self, category: DataCategory) -> bool {
        self.categories.contains(&category)
    }
}

/// A transaction pinned to one tenant, carrying the grant it was opened under. Dropping it
/// without [`TenantTx::commit`] rolls back and records nothing.
pub struct TenantTx<'a> {
    tx: DatabaseTransaction,
    ctx: &'a RequestCtx<'a>,
    grant: Arc<Grant>,
    access: Access,
    refused: Vec<String>,
    touched: Option<(Vec<Uuid>, usize)>,
}

impl TenantTx<'_> {
    pub fn tenant(&self) -> TenantId {
        self.grant.tenant
    }

    pub fn grant(&self) -> Arc<Grant> {
        self.grant.clone()
    }

    /// Notes the resources this access actually reached; they go into its record.
    pub fn touched(&mut self, ids: impl IntoIterator<Item = Uuid>) {
        let ids: Vec<Uuid> = ids.into_iter().collect();
        let (all, count) = self.touched.get_or_insert_with(|| (Vec::new(), 0));
        *count += ids.len();
        all.extend(ids);
    }

    /// Commits, with the access's ledger records: inside the transaction for writes (both
    /// or neither), through the ledger's group committer for reads. Either way the
    /// records are durable before this returns.
    ///
    /// # Errors
    /// `Db` when the transaction or its records cannot be committed.
    pub async fn commit(self) -> Result<Arc<Grant>, ServiceError> {
        let mut records = Vec::new();
        if let Some((ids, count)) = &self.touched {
            records.push(self.record(
                Outcome::Allowed,
                ids.clone(),
                *count,
                self.access.fields.clone(),
                None,
            ));
        }
        if !self.refused.is_empty() {
            records.push(self.record(
                Outcome::Denied,
                Vec::new(),
                0,
                self.refused.clone(),
                Some("fields outside the instruction's data categories".to_owned()),
            ));
        }
        let ledger = self.ctx.ledger;
        if records.is_empty() {
            self.tx.commit().await?;
        } else if self.access.operation.writes() {
            ledger.write_in(&self.tx, &records).await?;
            self.tx.commit().await?;
            ledger.committed(self.grant.tenant);
        } else {
            self.tx.commit().await?;
            ledger.record(records).await?;
        }
        Ok(self.grant)
    }

    fn record(
        &self,
        outcome: Outcome,
        ids: Vec<Uuid>,
        count: usize,
        fields: Vec<String>,
        reason: Option<String>,
    ) -> NewRecord {
        NewRecord {
            tenant: self.grant.tenant,
            recorded_at: self.ctx.now,
            actor_kind: self.grant.actor_kind,
            actor_id: self.grant.actor_id.clone(),
            subprocessor_id: self.grant.subprocessor,
            operation: self.access.operation,
            resource_type: self.access.resource,
            resource_ids: ids,
            resource_count: count,
            fields,
            purpose: Some(self.grant.purpose),
            instruction_id: Some(self.grant.instruction_id),
            outcome,
            reason,
            request_id: self.ctx.request_id.map(str::to_owned),
        }
    }
}

impl Deref for TenantTx<'_> {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

/// Decides whether the caller may perform `access` on its tenant's personal data and
/// begins a transaction pinned to that tenant.
///
/// Controllers act under their tenant's standing direct-request instruction, with every
/// data category. Processor staff and platform admins act only under an active
/// instruction of the tenant that covers their actor kind, the purpose in their token,
/// the operation and the data categories; fields outside its categories are refused (and
/// that refusal is recorded), a write touching any is refused whole. A refusal is
/// recorded in the tenant's ledger before it is returned.
///
/// # Errors
/// `Unauthenticated` without a caller; `Forbidden` when no instruction covers the access;
/// `Db`.
pub async fn begin<'a>(
    ctx: &'a RequestCtx<'a>,
    access: Access,
) -> Result<TenantTx<'a>, ServiceError> {
    let caller = ctx.caller.ok_or(ServiceError::Unauthenticated)?;
    let Some(tenant) = caller.tenant else {
        return Err(match caller.actor_kind() {
            ActorKind::Controller => ServiceError::Unauthenticated,
            _ => ServiceError::Forbidden(
                "access to contact data needs a tenant and a processing instruction".into(),
            ),
        });
    };
    let tx = begin_for_tenant(ctx.db, tenant, access.operation.writes()).await?;
    let decision = match caller.actor_kind() {
        ActorKind::Controller => Ok(Grant {
            tenant,
            actor_kind: ActorKind::Controller,
            actor_id: caller.subject.clone(),
            purpose: Purpose::ServiceDelivery,
            instruction_id: standing_instruction_id(tenant),
            categories: DataCategory::ALL.into_iter().collect(),
            subprocessor: None,
        }),
        kind => instructed_grant(&tx, ctx.now, caller, kind, tenant, &access).await?,
    };
    let grant = match decision {
        Ok(grant) => grant,
        Err((reason, instruction)) => {
            drop(tx);
            return Err(deny(
                ctx,
                caller,
                tenant,
                &access,
                access.fields.clone(),
                instruction,
                reason,
            )
            .await);
        }
    };
    let (permitted, refused): (Vec<String>, Vec<String>) = access
        .fields
        .iter()
        .cloned()
        .partition(|f| access.category(f).is_none_or(|c| grant.allows(c)));
    let personal_permitted = permitted.iter().any(|f| access.category(f).is_some());
    if !refused.is_empty() && (access.operation.writes() || !personal_permitted) {
        drop(tx);
        let reason = "the instruction does not cover these data categories".to_owned();
        return Err(deny(
            ctx,
            caller,
            tenant,
            &access,
            refused,
            Some(grant.instruction_id),
            reason,
        )
        .await);
    }
    Ok(TenantTx {
        tx,
        ctx,
        grant: Arc::new(grant),
        access: Access {
            fields: permitted,
            ..access
        },
        refused,
        touched: None,
    })
}

/// The standing direct-request instruction of a tenant has the tenant's own id: it exists
/// from the tenant's creation and is never revoked, so no lookup is needed to name it.
pub fn standing_instruction_id(tenant: TenantId) -> Uuid {
    tenant.as_uuid()
}

type Refusal = (String, Option<Uuid>);

async fn instructed_grant(
    tx: &DatabaseTransaction,
    now: DateTime<Utc>,
    caller: &Caller,
    kind: ActorKind,
    tenant: TenantId,
    access: &Access,
) -> Result<Result<Grant, Refusal>, ServiceError> {
    let Some(purpose) = caller.purpose else {
        return Ok(Err((
            "the token names no purpose of processing".into(),
            None,
        )));
    };
    // A partner: its recorded token, its subprocessor's status and the controller's
    // objections come first, then its scopes bound what any instruction may grant.
    let mut scope_limit: Option<BTreeSet<DataCategory>> = None;
    if kind == ActorKind::Subprocessor {
        let (Some(token), Some(sp)) = (caller.token_id, caller.subprocessor) else {
            return Ok(Err(("not a partner token".into(), None)));
        };
        if let Some(reason) = crate::service::partners::refusal(tx, tenant, token, sp, now).await? {
            return Ok(Err((reason, None)));
        }
        match crate::service::partners::scope_categories(
            &caller.scopes,
            access.resource,
            access.operation,
        ) {
            Some(categories) => scope_limit = Some(categories),
            None => {
                return Ok(Err((
                    format!(
                        "the token's scopes do not allow {} on {}",
                        access.operation.as_str(),
                        access.resource.as_str()
                    ),
                    None,
                )));
            }
        }
    }
    let mut query = processing_instruction::Entity::find()
        .filter(processing_instruction::Column::TenantId.eq(tenant.as_uuid()))
        .filter(processing_instruction::Column::Purpose.eq(purpose.as_str()))
        .filter(processing_instruction::Column::RevokedAt.is_null())
        .filter(processing_instruction::Column::ValidFrom.lte(now))
        .filter(
            Condition::any()
                .add(processing_instruction::Column::ValidUntil.is_null())
                .add(processing_instruction::Column::ValidUntil.gt(now)),
        )
        .order_by_asc(processing_instruction::Column::IssuedAt);
    if let Some(named) = caller.instruction {
        query = query.filter(processing_instruction::Column::Id.eq(named));
    }
    let kind_name = kind.as_str();
    let wanted: BTreeSet<DataCategory> = access
        .fields
        .iter()
        .filter_map(|f| access.category(f))
        .collect();
    let best = query
        .all(tx)
        .await?
        .into_iter()
        .filter(|i| {
            json_has(&i.actor_kinds, kind_name)
                && json_has(&i.operations, access.operation.as_str())
                && caller
                    .subprocessor
                    .is_none_or(|sp| json_has(&i.subprocessor_ids, &sp.to_string()))
        })
        .map(|i| {
            let mut categories: BTreeSet<DataCategory> =
                serde_json::from_value(i.data_categories.clone()).unwrap_or_default();
            if let Some(limit) = &scope_limit {
                categories.retain(|c| limit.contains(c));
            }
            let covered = wanted.intersection(&categories).count();
            (covered, i.id, categories)
        })
        // The instruction covering the most of what is asked; the oldest among equals.
        .fold(
            None::<(usize, Uuid, BTreeSet<DataCategory>)>,
            |best, next| match best {
                Some(b) if b.0 >= next.0 => Some(b),
                _ => Some(next),
            },
        );
    Ok(match best {
        Some((_, id, categories)) => Ok(Grant {
            tenant,
            actor_kind: kind,
            actor_id: caller.subject.clone(),
            purpose,
            instruction_id: id,
            categories,
            subprocessor: caller.subprocessor,
        }),
        None => Err((
            format!(
                "no active instruction covers {kind_name} {} for {}",
                access.operation.as_str(),
                purpose.as_str()
            ),
            None,
        )),
    })
}

fn json_has(list: &serde_json::Value, item: &str) -> bool {
    list.as_array()
        .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(item)))
}

/// Records a refusal in the tenant's ledger (durably) and returns the error to answer.
async fn deny(
    ctx: &RequestCtx<'_>,
    caller: &Caller,
    tenant: TenantId,
    access: &Access,
    fields: Vec<String>,
    instruction: Option<Uuid>,
    reason: String,
) -> ServiceError {
    let record = NewRecord {
        tenant,
        recorded_at: ctx.now,
        actor_kind: caller.actor_kind(),
        actor_id: caller.subject.clone(),
        subprocessor_id: caller.subprocessor,
        operation: access.operation,
        resource_type: access.resource,
        resource_ids: Vec::new(),
        resource_count: 0,
        fields,
        purpose: caller.purpose,
        instruction_id: instruction,
        outcome: Outcome::Denied,
        reason: Some(reason.clone()),
        request_id: ctx.request_id.map(str::to_owned),
    };
    match ctx.ledger.record(vec![record]).await {
        Ok(()) => ServiceError::Forbidden(reason),
        Err(e) => e,
    }
}

/// Begins a transaction pinned to `tenant` without a caller check. Only for work already
/// authorized another way (and for the tests that prove row-level security holds even
/// for a query that forgets its tenant filter); resolvers go through [`begin`].
///
/// # Errors
/// `Db` when the transaction cannot begin or the tenant cannot be set.
pub async fn begin_for_tenant(
    db: &DatabaseConnection,
    tenant: TenantId,
    writes: bool,
) -> Result<DatabaseTransaction, ServiceError> {
    let backend = db.get_database_backend();
    let options = TransactionOptions {
        // A deferred SQLite transaction that later writes can fail with SQLITE_BUSY
        // instead of waiting; taking the write lock up front makes writers queue.
        sqlite_transaction_mode: (backend == DatabaseBackend::Sqlite && writes)
            .then_some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    };
    begin_pinned(db, tenant, options).await
}

/// Begins a read-only transaction pinned to `tenant` that sees one snapshot throughout
/// (PostgreSQL `REPEATABLE READ`; a SQLite transaction always does): for reading a chain
/// and its head as of one moment while appenders go on.
///
/// # Errors
/// `Db` when the transaction cannot begin or the tenant cannot be set.
pub async fn begin_snapshot_for_tenant(
    db: &DatabaseConnection,
    tenant: TenantId,
) -> Result<DatabaseTransaction, ServiceError> {
    let options = if db.get_database_backend() == DatabaseBackend::Postgres {
        TransactionOptions {
            isolation_level: Some(IsolationLevel::RepeatableRead),
            access_mode: Some(AccessMode::ReadOnly),
            ..TransactionOptions::default()
        }
    } else {
        TransactionOptions::default()
    };
    begin_pinned(db, tenant, options).await
}

async fn begin_pinned(
    db: &DatabaseConnection,
    tenant: TenantId,
    options: TransactionOptions,
) -> Result<DatabaseTransaction, ServiceError> {
    let tx = db.begin_with_options(options).await?;
    if db.get_database_backend() == DatabaseBackend::Postgres {
        // Local to this transaction (`true`), bound as a parameter: the setting cannot
        // survive into the pooled connection's next use.
        tx.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT set_config('app.tenant_id', $1, true)",
            [tenant.to_string().into()],
        ))
        .await?;
    }
    Ok(tx)
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

/// The tenant of a controller's user.
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

/// The tenant of a controller's admin (instructions, the ledger).
///
/// # Errors
/// As [`require_controller`], and `Forbidden` for a controller's plain user.
pub fn require_controller_admin(caller: Option<&Caller>) -> Result<TenantId, ServiceError> {
    let tenant = require_controller(caller)?;
    match caller.map(|c| c.role) {
        Some(Role::ControllerAdmin) => Ok(tenant),
        _ => Err(ServiceError::Forbidden(
            "controller admin role required".into(),
        )),
    }
}
