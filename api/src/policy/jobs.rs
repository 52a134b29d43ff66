//! The gates of the processor's own work on a tenant's personal data: its scheduled
//! jobs under the controller's instructions (the retention purge), and the steps it
//! takes under instructions of its own making (offboarding, compelled disclosures).

use std::collections::BTreeSet;

use entities::processing_instruction;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::RequestCtx;
use super::exclusions::Exclusions;
use super::personal::{Access, Grant, TenantTx, json_has};
use crate::auth::{ActorKind, Role};
use crate::domain::instruction::{DataCategory, Purpose};
use crate::domain::{InstructionId, TenantId};
use crate::error::ServiceError;
use crate::tenancy::Pinned;

/// Begins one of the processor's jobs' accesses to a tenant's personal data, under the
/// controller's instruction `instruction`: it must be in force, name the `SYSTEM` actor
/// kind, and cover the operation and every category of `access`. Refused otherwise, and
/// the refusal recorded like anyone's.
///
/// # Errors
/// `Forbidden` outside a job or without such an instruction; `Db`.
pub async fn begin_job<'a>(
    ctx: &'a RequestCtx<'a>,
    tenant: TenantId,
    instruction: InstructionId,
    access: Access,
) -> Result<TenantTx<'a>, ServiceError> {
    let name = ctx
        .job
        .ok_or_else(|| ServiceError::Forbidden("only the processor's own jobs may".into()))?;
    let tx = access.begin(ctx, tenant).await?;
    let found = processing_instruction::Entity::find()
        .filter(processing_instruction::Column::TenantId.eq(tenant))
        .filter(processing_instruction::Column::Id.eq(instruction))
        .one(&tx)
        .await?
        .filter(|i| {
            i.revoked_at.is_none()
                && i.valid_from <= ctx.now
                && i.valid_until.is_none_or(|u| u > ctx.now)
                && json_has(&i.actor_kinds, ActorKind::System.as_str())
                && json_has(&i.operations, access.operation.as_str())
        });
    let categories: BTreeSet<DataCategory> = found
        .as_ref()
        .map(|i| serde_json::from_value(i.data_categories.clone()).unwrap_or_default())
        .unwrap_or_default();
    let covered = access
        .fields
        .iter()
        .filter_map(|f| access.category(f))
        .all(|c| categories.contains(&c));
    let Some(found) = found.filter(|_| covered) else {
        return Err(ServiceError::Forbidden(format!(
            "no instruction in force lets {name} {} here",
            access.operation.as_str()
        )));
    };
    let purpose = Purpose::parse(&found.purpose).unwrap_or(Purpose::LegalCompliance);
    Ok(TenantTx::granted(
        tx,
        ctx,
        Grant {
            tenant,
            actor_kind: ActorKind::System,
            actor_id: name.to_owned(),
            purpose,
            instruction_id: instruction,
            categories,
            subprocessor: None,
            exclusions: Exclusions::default(),
        },
        access,
    ))
}

/// Begins a step the processor takes on a tenant's personal data under an instruction of
/// its own making (offboarding's return and deletion, a compelled disclosure): the
/// platform admin, one of the processor's jobs, and — with `controller_admin_too` — the
/// tenant's own admin (downloading its return export). The tenant's pending records are
/// sealed first, so what follows sees its whole chain.
///
/// # Errors
/// `Unauthenticated`; `Forbidden` for anyone else; `Db`.
pub async fn begin_processor_step<'a>(
    ctx: &'a RequestCtx<'a>,
    tenant: TenantId,
    instruction: InstructionId,
    access: Access,
    controller_admin_too: bool,
) -> Result<TenantTx<'a>, ServiceError> {
    let (actor_kind, actor_id) = match (ctx.job, ctx.caller) {
        (Some(job), _) => (ActorKind::System, job.to_owned()),
        (None, None) => return Err(ServiceError::Unauthenticated),
        (None, Some(caller)) => {
            let allowed = match caller.role {
                Role::PlatformAdmin => true,
                Role::ControllerAdmin => controller_admin_too && caller.tenant == Some(tenant),
                _ => false,
            };
            if !allowed {
                return Err(ServiceError::Forbidden(
                    "this is the platform admin's to do".into(),
                ));
            }
            (caller.actor_kind(), caller.subject.clone())
        }
    };
    crate::ledger::seal(ctx.db, tenant).await?;
    let tx = Pinned::begin(ctx.db, tenant, false, ctx.metrics).await?;
    Ok(TenantTx::granted(
        tx,
        ctx,
        Grant {
            tenant,
            actor_kind,
            actor_id,
            purpose: Purpose::LegalCompliance,
            instruction_id: instruction,
            categories: DataCategory::ALL.into_iter().collect(),
            subprocessor: None,
            exclusions: Exclusions::default(),
        },
        access,
    ))
}
