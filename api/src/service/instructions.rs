//! Processing instructions: the controller's documented instructions to the processor.

use chrono::{DateTime, Utc};
use entities::processing_instruction;
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter};

use super::to_json;
use crate::auth::ActorKind;
use crate::domain::instruction::{AccessOperation, DataCategory, Purpose};
use crate::domain::{InstructionId, Invalid, SubprocessorId, TenantId, optional_text};
use crate::error::ServiceError;
use crate::pagination::{Ordering, Page, PageRequest, fetch_page, timestamp_key};
use crate::policy::{self, Mode, RequestCtx, standing_instruction_id};

/// A validated instruction to issue.
#[derive(Debug, Clone)]
pub struct NewInstruction {
    pub purpose: Purpose,
    pub actor_kinds: Vec<ActorKind>,
    pub subprocessor_ids: Vec<SubprocessorId>,
    pub data_categories: Vec<DataCategory>,
    pub operations: Vec<AccessOperation>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    pub external_reference: Option<String>,
    pub description: Option<String>,
    /// The purpose involves selling, or sharing, the contacts' data (see the entity).
    pub involves_sale: bool,
    pub involves_sharing: bool,
}

/// The unvalidated parts of an instruction, as a client sent them.
pub struct InstructionParts<'a> {
    pub purpose: Purpose,
    pub actor_kinds: &'a [ActorKind],
    pub subprocessor_ids: Vec<SubprocessorId>,
    pub data_categories: &'a [DataCategory],
    pub operations: &'a [AccessOperation],
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    pub external_reference: Option<&'a str>,
    pub description: Option<&'a str>,
    pub involves_sale: bool,
    pub involves_sharing: bool,
}

fn dedup<T: PartialEq + Copy>(items: &[T]) -> Vec<T> {
    let mut out = Vec::with_capacity(items.len());
    for i in items {
        if !out.contains(i) {
            out.push(*i);
        }
    }
    out
}

impl NewInstruction {
    /// # Errors
    /// [`Invalid`] naming the field at fault.
    pub fn parse(parts: InstructionParts<'_>) -> Result<Self, Invalid> {
        if parts.actor_kinds.is_empty() {
            return Err(Invalid::new(
                "actorKinds",
                "actorKinds must name at least one actor kind",
            ));
        }
        if parts.actor_kinds.contains(&ActorKind::Controller) {
            return Err(Invalid::new(
                "actorKinds",
                "the controller's own users act under the standing direct-request instruction",
            ));
        }
        if parts.actor_kinds.contains(&ActorKind::Subprocessor) && parts.subprocessor_ids.is_empty()
        {
            return Err(Invalid::new(
                "subprocessorIds",
                "an instruction for subprocessors must name them",
            ));
        }
        if parts.data_categories.is_empty() {
            return Err(Invalid::new(
                "dataCategories",
                "dataCategories must not be empty",
            ));
        }
        if parts.operations.is_empty() {
            return Err(Invalid::new("operations", "operations must not be empty"));
        }
        if let (Some(from), Some(until)) = (parts.valid_from, parts.valid_until)
            && until <= from
        {
            return Err(Invalid::new(
                "validUntil",
                "validUntil must be after validFrom",
            ));
        }
        Ok(Self {
            purpose: parts.purpose,
            actor_kinds: dedup(parts.actor_kinds),
            subprocessor_ids: parts.subprocessor_ids,
            data_categories: dedup(parts.data_categories),
            operations: dedup(parts.operations),
            valid_from: parts.valid_from,
            valid_until: parts.valid_until,
            external_reference: optional_text("externalReference", parts.external_reference, 200)?,
            description: optional_text("description", parts.description, 2000)?,
            involves_sale: parts.involves_sale,
            involves_sharing: parts.involves_sharing,
        })
    }
}

fn kinds_json(kinds: &[ActorKind]) -> serde_json::Value {
    serde_json::json!(kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>())
}

/// The row an instruction is stored as: the one place an instruction is built, for the
/// standing one, issued ones and those documenting data-subject requests.
pub(crate) fn row(
    tenant: TenantId,
    id: InstructionId,
    new: NewInstruction,
    standing: bool,
    issued_by: &str,
    now: DateTime<Utc>,
) -> processing_instruction::ActiveModel {
    processing_instruction::ActiveModel {
        tenant_id: Set(tenant),
        id: Set(id),
        purpose: Set(new.purpose.as_str().to_owned()),
        actor_kinds: Set(kinds_json(&new.actor_kinds)),
        subprocessor_ids: Set(to_json(&new.subprocessor_ids)),
        data_categories: Set(to_json(&new.data_categories)),
        operations: Set(to_json(&new.operations)),
        valid_from: Set(new.valid_from.unwrap_or(now)),
        valid_until: Set(new.valid_until),
        external_reference: Set(new.external_reference),
        description: Set(new.description),
        standing: Set(standing),
        involves_sale: Set(new.involves_sale),
        involves_sharing: Set(new.involves_sharing),
        issued_by: Set(issued_by.to_owned()),
        issued_at: Set(now),
        revoked_at: Set(None),
        revoked_by: Set(None),
        revocation_reason: Set(None),
    }
}

/// Creates a tenant's standing direct-request instruction, inside the transaction that
/// creates the tenant (pinned to it).
///
/// # Errors
/// `DbErr`.
pub(crate) async fn create_standing<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    issued_by: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let standing = NewInstruction {
        purpose: Purpose::ServiceDelivery,
        actor_kinds: vec![ActorKind::Controller],
        subprocessor_ids: Vec::new(),
        data_categories: DataCategory::ALL.to_vec(),
        operations: AccessOperation::ALL.to_vec(),
        valid_from: Some(now),
        valid_until: None,
        external_reference: Some("standing direct-request instruction".to_owned()),
        description: Some(
            "The controller's own users' requests through the API, recorded as the \
             controller's direct instruction."
                .to_owned(),
        ),
        involves_sale: false,
        involves_sharing: false,
    };
    let model = row(
        tenant,
        standing_instruction_id(tenant),
        standing,
        true,
        issued_by,
        now,
    );
    processing_instruction::Entity::insert(model)
        .exec(db)
        .await?;
    Ok(())
}

/// Issues an instruction (controller admin).
///
/// # Errors
/// `Unauthenticated`/`Forbidden` for anyone but the tenant's admin; `Db`.
#[tracing::instrument(skip_all)]
pub async fn issue(
    ctx: &RequestCtx<'_>,
    new: NewInstruction,
) -> Result<processing_instruction::Model, ServiceError> {
    let tx = policy::controller_admin(ctx, Mode::Write).await?;
    let tenant = tx.tenant();
    let model = row(
        tenant,
        InstructionId::new(),
        new,
        false,
        &tx.actor().id,
        ctx.now,
    );
    let created = processing_instruction::Entity::insert(model)
        .exec_with_returning(&*tx)
        .await?;
    tx.commit().await?;
    tracing::info!(tenant_id = %tenant, instruction_id = %created.id, "instruction issued");
    Ok(created)
}

/// Revokes an instruction from now on (controller admin). The standing instruction cannot
/// be revoked.
///
/// # Errors
/// `NotFound`; `Validation` for the standing instruction; `Conflict` when already
/// revoked; `Db`.
#[tracing::instrument(skip_all, fields(instruction_id = %id))]
pub async fn revoke(
    ctx: &RequestCtx<'_>,
    id: InstructionId,
    reason: Option<String>,
) -> Result<processing_instruction::Model, ServiceError> {
    let tx = policy::controller_admin(ctx, Mode::Write).await?;
    let tenant = tx.tenant();
    let model = find(&*tx, tenant, id).await?;
    if model.standing {
        return Err(Invalid::new(
            "id",
            "the standing direct-request instruction cannot be revoked",
        )
        .into());
    }
    if model.revoked_at.is_some() {
        return Err(ServiceError::Conflict(
            "the instruction is already revoked".into(),
        ));
    }
    let mut active = model.into_active_model();
    active.revoked_at = Set(Some(ctx.now));
    active.revoked_by = Set(Some(tx.actor().id.clone()));
    active.revocation_reason = Set(reason);
    let updated = processing_instruction::Entity::update(active)
        .exec(&*tx)
        .await?;
    tx.commit().await?;
    Ok(updated)
}

/// Whether an instruction is in force at `now`.
pub fn is_active(m: &processing_instruction::Model, now: DateTime<Utc>) -> bool {
    m.revoked_at.is_none() && m.valid_from <= now && m.valid_until.is_none_or(|u| u > now)
}

/// A tenant's instructions, oldest first (the controller's users).
///
/// # Errors
/// `Unauthenticated`/`Forbidden` outside the controller; `Validation`; `Db`.
pub async fn list(
    ctx: &RequestCtx<'_>,
    active_only: bool,
    page: &PageRequest,
) -> Result<Page<processing_instruction::Model>, ServiceError> {
    let tx = policy::controller(ctx, Mode::Read).await?;
    let tenant = tx.tenant();
    let mut select = processing_instruction::Entity::find()
        .filter(processing_instruction::Column::TenantId.eq(tenant))
        .filter(
            processing_instruction::Column::Id
                .not_in_subquery(super::held::instructions(tenant, ctx.now)),
        );
    if active_only {
        use sea_orm::Condition;
        select = select
            .filter(processing_instruction::Column::RevokedAt.is_null())
            .filter(processing_instruction::Column::ValidFrom.lte(ctx.now))
            .filter(
                Condition::any()
                    .add(processing_instruction::Column::ValidUntil.is_null())
                    .add(processing_instruction::Column::ValidUntil.gt(ctx.now)),
            );
    }
    let ordering = Ordering {
        column: processing_instruction::Column::IssuedAt,
        id: processing_instruction::Column::Id,
        descending: false,
        key_value: timestamp_key,
    };
    let result = fetch_page(&*tx, select, &ordering, page).await?;
    tx.commit().await?;
    Ok(result)
}

/// # Errors
/// `NotFound`; `Unauthenticated`/`Forbidden` outside the controller; `Db`.
pub async fn get(
    ctx: &RequestCtx<'_>,
    id: InstructionId,
) -> Result<processing_instruction::Model, ServiceError> {
    let tx = policy::controller(ctx, Mode::Read).await?;
    let tenant = tx.tenant();
    let model = processing_instruction::Entity::find()
        .filter(processing_instruction::Column::TenantId.eq(tenant))
        .filter(processing_instruction::Column::Id.eq(id))
        .filter(
            processing_instruction::Column::Id
                .not_in_subquery(super::held::instructions(tenant, ctx.now)),
        )
        .one(&*tx)
        .await?
        .ok_or(ServiceError::NotFound)?;
    tx.commit().await?;
    Ok(model)
}

async fn find<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    id: InstructionId,
) -> Result<processing_instruction::Model, ServiceError> {
    processing_instruction::Entity::find()
        .filter(processing_instruction::Column::TenantId.eq(tenant))
        .filter(processing_instruction::Column::Id.eq(id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound)
}

pub fn cursor(m: &processing_instruction::Model) -> String {
    crate::pagination::timestamp_cursor(m.issued_at, m.id)
}
