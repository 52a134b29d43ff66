//! Access to personal data (contacts, appointments): decided against the controller's
//! processing instructions, pinned to the tenant, recorded in the ledger.

use std::collections::BTreeSet;
use std::ops::Deref;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use entities::processing_instruction;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::exclusions::Exclusions;
use super::{RequestCtx, partner};
use crate::auth::{ActorKind, Caller, Role};
use crate::domain::instruction::{AccessOperation, DataCategory, Purpose};
use crate::domain::{InstructionId, SubprocessorId, TenantId};
use crate::error::ServiceError;
use crate::ledger::{Attribution, NewRecord, Reach, ResourceType};
use crate::tenancy::Pinned;

/// An access a request asks for.
#[derive(Debug, Clone)]
pub struct Access {
    pub operation: AccessOperation,
    pub resource: ResourceType,
    /// The resource's fields the request reads or writes, as GraphQL names them.
    pub fields: Vec<String>,
    /// The transaction writes rows though the access itself only reads (an export that
    /// stores its document): it begins as a writer, and its records are written inside it.
    pub writes_rows: bool,
    /// Only the controller's admin may: no other user of the controller, nobody acting
    /// under an instruction (lifting a restriction).
    pub controller_admin_only: bool,
}

impl Access {
    pub fn new(operation: AccessOperation, resource: ResourceType, fields: Vec<String>) -> Self {
        Self {
            operation,
            resource,
            fields,
            writes_rows: false,
            controller_admin_only: false,
        }
    }

    /// See [`Access::controller_admin_only`].
    #[must_use]
    pub fn controller_admin_only(self) -> Self {
        Self {
            controller_admin_only: true,
            ..self
        }
    }

    /// Whether the access's transaction only reads: it then begins read-only (enforced on
    /// PostgreSQL) and ends without a commit's round trip (see [`TenantTx::commit`]).
    pub fn reads_only(&self) -> bool {
        !(self.operation.writes() || self.writes_rows)
    }

    /// Begins the access's transaction, pinned to `tenant`: read-only for an access that
    /// [only reads](Access::reads_only) (enforced on PostgreSQL, so that dropping it is
    /// committing it), a writer otherwise.
    ///
    /// # Errors
    /// `DbErr` when the transaction cannot begin or be pinned.
    pub(super) async fn begin(
        &self,
        ctx: &RequestCtx<'_>,
        tenant: TenantId,
    ) -> Result<Pinned, sea_orm::DbErr> {
        Pinned::begin(ctx.db, tenant, self.reads_only(), ctx.metrics).await
    }

    /// See [`Access::writes_rows`].
    #[must_use]
    pub fn writing_rows(self) -> Self {
        Self {
            writes_rows: true,
            ..self
        }
    }

    fn reach(&self, fields: Vec<String>) -> Reach {
        Reach {
            operation: self.operation,
            resource: self.resource,
            fields,
        }
    }

    pub(super) fn category(&self, field: &str) -> Option<DataCategory> {
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
    /// Contacts this grant may not reach at all (restricted, opted out).
    pub exclusions: Exclusions,
}

impl Grant {
    pub fn allows(&self, category: DataCategory) -> bool {
        self.categories.contains(&category)
    }
}

/// A transaction pinned to one tenant, carrying the grant it was opened under. Dropping it
/// without [`TenantTx::commit`] rolls back and records nothing.
pub struct TenantTx<'a> {
    tx: Pinned,
    ctx: &'a RequestCtx<'a>,
    grant: Arc<Grant>,
    access: Access,
    refused: Vec<String>,
    touched: Option<(Vec<Uuid>, usize)>,
    /// Contacts out of the grant's reach that the access met, by reason: ids for an
    /// access by id, a count for a listing that skipped them.
    excluded: Vec<(&'static str, Vec<Uuid>, usize)>,
}

impl<'a> TenantTx<'a> {
    /// Whether the database is a Citus coordinator (see [`crate::citus`]).
    pub fn on_citus(&self) -> bool {
        self.ctx.ledger.citus()
    }

    /// A transaction under `grant`, nothing refused or touched yet: how the job gates
    /// ([`super::jobs`]) open theirs.
    pub(super) fn granted(
        tx: Pinned,
        ctx: &'a RequestCtx<'a>,
        grant: Grant,
        access: Access,
    ) -> Self {
        Self {
            tx,
            ctx,
            grant: Arc::new(grant),
            access,
            refused: Vec::new(),
            touched: None,
            excluded: Vec::new(),
        }
    }
}

impl TenantTx<'_> {
    pub fn tenant(&self) -> TenantId {
        self.grant.tenant
    }

    pub fn grant(&self) -> Arc<Grant> {
        self.grant.clone()
    }

    /// Who acts.
    pub fn actor(&self) -> super::Actor {
        super::Actor {
            kind: self.grant.actor_kind,
            id: self.grant.actor_id.clone(),
        }
    }

    /// Notes the resources this access actually reached; they go into its record.
    pub fn touched<I: Into<Uuid>>(&mut self, ids: impl IntoIterator<Item = I>) {
        let ids: Vec<Uuid> = ids.into_iter().map(Into::into).collect();
        let (all, count) = self.touched.get_or_insert_with(|| (Vec::new(), 0));
        *count += ids.len();
        all.extend(ids);
    }

    /// Notes that the access reached `count` resources too many to list (a whole tenant's
    /// export): the record carries the count alone.
    pub fn touched_count(&mut self, count: usize) {
        let (_, total) = self.touched.get_or_insert_with(|| (Vec::new(), 0));
        *total += count;
    }

    /// Notes that the access met contacts out of the grant's reach (see [`Exclusions`]):
    /// `ids` by id, or `count` skipped by a listing. The refusal goes into the ledger.
    pub fn excluded(&mut self, reason: &'static str, ids: Vec<Uuid>, count: usize) {
        self.excluded.push((reason, ids, count));
    }

    /// Commits, with the access's ledger records: inside the transaction for writes (both
    /// or neither), through the ledger's group committer for reads. Either way the
    /// records are durable before this returns.
    ///
    /// # Errors
    /// `Db` when the transaction or its records cannot be committed.
    pub async fn commit(mut self) -> Result<Arc<Grant>, ServiceError> {
        let records = self.take_records();
        let ledger = self.ctx.ledger;
        if self.access.reads_only() {
            // It could write nothing, so rolling it back is committing it: dropped, its
            // `ROLLBACK` is queued and leaves with the connection's return to the pool,
            // after the answer, which waits one round trip fewer.
            drop(self.tx);
            ledger.record(records).await?;
        } else if records.is_empty() {
            self.tx.commit().await?;
        } else {
            ledger.write_in(&self.tx, &records).await?;
            self.tx.commit().await?;
            ledger.committed(self.grant.tenant);
        }
        Ok(self.grant)
    }

    /// Chains the access's records into the tenant's ledger now, inside this transaction
    /// (under the tenant's head lock, after whatever is pending), and returns the new
    /// head: for evidence that must name the head its own record is under (a receipt).
    /// The records leave the transaction with [`TenantTx::commit`], or not at all.
    ///
    /// # Errors
    /// `Db`.
    pub async fn chain_now(&mut self) -> Result<crate::ledger::Head, ServiceError> {
        let records: Vec<_> = self.take_records().iter().map(NewRecord::pending).collect();
        let (_, head) =
            crate::ledger::chain::chain(&self.tx, self.grant.tenant, records, CHAIN_SWEEP).await?;
        Ok(head)
    }

    /// The records this access has earned so far, leaving none behind.
    fn take_records(&mut self) -> Vec<NewRecord> {
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
        for (reason, ids, count) in &self.excluded {
            let mut record = NewRecord::denied(
                self.attribution(),
                self.access.reach(self.access.fields.clone()),
                *reason,
            );
            record.resource_ids.clone_from(ids);
            record.resource_count = *count;
            records.push(record);
        }
        self.touched = None;
        self.refused.clear();
        self.excluded.clear();
        records
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
    type Target = Pinned;

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
    begin_with(ctx, access, None).await
}

/// Begins a step of a data-subject request: an access to the subject's data under the
/// request's own instruction (`request`), which every record of the step names. The
/// controller's admin may take it; processor staff only under an active instruction of
/// the tenant for `DATA_SUBJECT_REQUESTS` covering the operation and the categories (the
/// purpose in their token). Nobody else. The caller checks that the request is open and
/// that the ids it reaches are the request's subject.
///
/// # Errors
/// As [`begin`].
pub async fn begin_request_step<'a>(
    ctx: &'a RequestCtx<'a>,
    request: InstructionId,
    access: Access,
) -> Result<TenantTx<'a>, ServiceError> {
    begin_with(ctx, access, Some(request)).await
}

async fn begin_with<'a>(
    ctx: &'a RequestCtx<'a>,
    access: Access,
    request: Option<InstructionId>,
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
    let tx = access.begin(ctx, tenant).await?;
    let controller = |purpose, instruction_id| Grant {
        tenant,
        actor_kind: ActorKind::Controller,
        actor_id: caller.subject.clone(),
        purpose,
        instruction_id,
        categories: DataCategory::ALL.into_iter().collect(),
        subprocessor: None,
        exclusions: Exclusions::default(),
    };
    let decision = match (caller.actor_kind(), request) {
        _ if access.controller_admin_only && caller.role != Role::ControllerAdmin => {
            Err(("only the controller's admin may do this".to_owned(), None))
        }
        (ActorKind::Controller, None) => Ok(controller(
            Purpose::ServiceDelivery,
            standing_instruction_id(tenant),
        )),
        (ActorKind::Controller, Some(_)) if caller.role != Role::ControllerAdmin => Err((
            "only the controller's admin carries out data-subject requests".to_owned(),
            None,
        )),
        (ActorKind::Controller, Some(id)) => Ok(controller(Purpose::DataSubjectRequests, id)),
        (ActorKind::ProcessorStaff, Some(id))
            if caller.purpose == Some(Purpose::DataSubjectRequests) =>
        {
            instructed_grant(
                &tx,
                ctx.now,
                caller,
                ActorKind::ProcessorStaff,
                tenant,
                &access,
            )
            .await?
            .map(|grant| Grant {
                instruction_id: id,
                // The request is about this subject: what it must reach is reached.
                exclusions: Exclusions::default(),
                ..grant
            })
        }
        (_, Some(id)) => Err((
            "data-subject requests are carried out by the controller's admin, or by \
             processor staff acting for DATA_SUBJECT_REQUESTS under an instruction"
                .to_owned(),
            Some(id),
        )),
        (kind, None) => instructed_grant(&tx, ctx.now, caller, kind, tenant, &access).await?,
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
    // A write, and any step of a data-subject request (whose evidence must be whole), is
    // refused whole when it reaches a category it may not.
    let whole = access.operation.writes() || request.is_some();
    if !refused.is_empty() && (whole || !personal_permitted) {
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
        excluded: Vec::new(),
    })
}

/// The standing direct-request instruction of a tenant has the tenant's own id: it exists
/// from the tenant's creation and is never revoked, so no lookup is needed to name it.
pub fn standing_instruction_id(tenant: TenantId) -> InstructionId {
    InstructionId(tenant.as_uuid())
}

type Refusal = (String, Option<InstructionId>);

/// Pending records a receipt's chaining sweeps in before its own (as the sealer would).
const CHAIN_SWEEP: u64 = 2_000;

async fn instructed_grant(
    tx: &Pinned,
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
    let kind_name = kind.as_str();
    let wanted: BTreeSet<DataCategory> = access
        .fields
        .iter()
        .filter_map(|f| access.category(f))
        .collect();
    let best = active_instructions(tx, tenant, purpose, caller.instruction, now)
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
            (covered, i.id, categories, Exclusions::under(&i, purpose))
        })
        // The instruction covering the most of what is asked; the oldest among equals.
        .fold(
            None::<(usize, InstructionId, BTreeSet<DataCategory>, Exclusions)>,
            |best, next| match best {
                Some(b) if b.0 >= next.0 => Some(b),
                _ => Some(next),
            },
        );
    Ok(match best {
        Some((_, id, categories, exclusions)) => Ok(Grant {
            tenant,
            actor_kind: kind,
            actor_id: caller.subject.clone(),
            purpose,
            instruction_id: id,
            categories,
            subprocessor: caller.subprocessor,
            exclusions,
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

/// The tenant's instructions in force at `now` for `purpose` (only `named`, when the
/// token names one), oldest first.
///
/// # Errors
/// `Db`.
pub(super) async fn active_instructions<C: sea_orm::ConnectionTrait>(
    tx: &C,
    tenant: TenantId,
    purpose: Purpose,
    named: Option<InstructionId>,
    now: DateTime<Utc>,
) -> Result<Vec<processing_instruction::Model>, ServiceError> {
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
    if let Some(named) = named {
        query = query.filter(processing_instruction::Column::Id.eq(named));
    }
    Ok(query.all(tx).await?)
}

pub(super) fn json_has(list: &serde_json::Value, item: &str) -> bool {
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
