//! Access to personal data (contacts, appointments): decided against the controller's
//! processing instructions, pinned to the tenant, recorded in the ledger.

use std::collections::BTreeSet;
use std::ops::Deref;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use entities::processing_instruction;
use sea_orm::{ColumnTrait, Condition, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::{RequestCtx, partner};
use crate::auth::{ActorKind, Caller};
use crate::domain::instruction::{AccessOperation, DataCategory, Purpose};
use crate::domain::{InstructionId, SubprocessorId, TenantId};
use crate::error::ServiceError;
use crate::ledger::{Attribution, NewRecord, Reach, ResourceType};
use crate::tenancy::{self, Mode};

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

    fn reach(&self, fields: Vec<String>) -> Reach {
        Reach {
            operation: self.operation,
            resource: self.resource,
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
    pub instruction_id: InstructionId,
    pub categories: BTreeSet<DataCategory>,
    /// The subprocessor acting, for partner tokens.
    pub subprocessor: Option<SubprocessorId>,
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
    pub fn touched<I: Into<Uuid>>(&mut self, ids: impl IntoIterator<Item = I>) {
        let ids: Vec<Uuid> = ids.into_iter().map(Into::into).collect();
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
        let by = self.attribution();
        let mut records = Vec::new();
        if let Some((ids, count)) = &self.touched {
            let reach = self.access.reach(self.access.fields.clone());
            records.push(NewRecord::allowed(by.clone(), reach, ids.clone(), *count));
        }
        if !self.refused.is_empty() {
            records.push(NewRecord::denied(
                by,
                self.access.reach(self.refused.clone()),
                "fields outside the instruction's data categories",
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

    fn attribution(&self) -> Attribution {
        Attribution {
            tenant: self.grant.tenant,
            at: self.ctx.now,
            actor_kind: self.grant.actor_kind,
            actor_id: self.grant.actor_id.clone(),
            subprocessor_id: self.grant.subprocessor,
            purpose: Some(self.grant.purpose),
            instruction_id: Some(self.grant.instruction_id),
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
    let mode = if access.operation.writes() {
        Mode::Write
    } else {
        Mode::Read
    };
    let tx = tenancy::begin_pinned(ctx.db, tenant, mode).await?;
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
pub fn standing_instruction_id(tenant: TenantId) -> InstructionId {
    InstructionId(tenant.as_uuid())
}

type Refusal = (String, Option<InstructionId>);

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
        if let Some(reason) = partner::refusal(tx, tenant, token, sp, now).await? {
            return Ok(Err((reason, None)));
        }
        match partner::scope_categories(&caller.scopes, access.resource, access.operation) {
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
        .filter(processing_instruction::Column::TenantId.eq(tenant))
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
            None::<(usize, InstructionId, BTreeSet<DataCategory>)>,
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
    instruction: Option<InstructionId>,
    reason: String,
) -> ServiceError {
    let by = Attribution {
        tenant,
        at: ctx.now,
        actor_kind: caller.actor_kind(),
        actor_id: caller.subject.clone(),
        subprocessor_id: caller.subprocessor,
        purpose: caller.purpose,
        instruction_id: instruction,
        request_id: ctx.request_id.map(str::to_owned),
    };
    let record = NewRecord::denied(by, access.reach(fields), reason.clone());
    match ctx.ledger.record(vec![record]).await {
        Ok(()) => ServiceError::Forbidden(reason),
        Err(e) => e,
    }
}
