//! The subprocessor registry (platform admin), its notices and controllers' objections.

use chrono::{DateTime, Utc};
use entities::{subprocessor, subprocessor_objection};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
};

use super::to_json;
use crate::domain::subprocessor::{NewSubprocessor, earliest_effective};
use crate::domain::{Invalid, SubprocessorId};
use crate::error::ServiceError;
use crate::policy::{self, Mode, RequestCtx, Viewer};

/// Registers a subprocessor as proposed (platform admin).
///
/// # Errors
/// `Unauthenticated`/`Forbidden` for anyone but a platform admin; `Conflict` for a name
/// already registered; `Db`.
#[tracing::instrument(skip_all)]
pub async fn register(
    ctx: &RequestCtx<'_>,
    new: NewSubprocessor,
) -> Result<subprocessor::Model, ServiceError> {
    let tx = policy::registry(ctx, Mode::Write).await?;
    let taken = subprocessor::Entity::find()
        .all(&*tx)
        .await?
        .iter()
        .any(|s| s.name.eq_ignore_ascii_case(&new.name));
    if taken {
        return Err(ServiceError::Conflict(format!(
            "a subprocessor named {:?} is already registered",
            new.name
        )));
    }
    let model = subprocessor::ActiveModel {
        id: Set(SubprocessorId::new()),
        name: Set(new.name),
        service: Set(new.service),
        data_categories: Set(to_json(&new.data_categories)),
        locations: Set(to_json(&new.locations)),
        contact_email: Set(new.contact_email),
        announced_at: Set(None),
        effective_at: Set(None),
        retired_at: Set(None),
        created_by: Set(tx.actor().id.clone()),
        created_at: Set(ctx.now),
        updated_at: Set(ctx.now),
    };
    let created = subprocessor::Entity::insert(model)
        .exec_with_returning(&*tx)
        .await?;
    tx.commit().await?;
    tracing::info!(subprocessor_id = %created.id, "subprocessor registered");
    Ok(created)
}

/// Announces a subprocessor to every controller. It takes effect at `effective_at`, which
/// must be at least the notice period after now (default: exactly that).
///
/// # Errors
/// `NotFound`; `Conflict` when already announced or retired; `Validation` for an
/// effective date inside the notice period; `Db`.
#[tracing::instrument(skip_all, fields(subprocessor_id = %id))]
pub async fn announce(
    ctx: &RequestCtx<'_>,
    id: SubprocessorId,
    effective_at: Option<DateTime<Utc>>,
) -> Result<subprocessor::Model, ServiceError> {
    let tx = policy::registry(ctx, Mode::Write).await?;
    let model = find(&*tx, id).await?;
    if model.retired_at.is_some() {
        return Err(ServiceError::Conflict("the subprocessor is retired".into()));
    }
    if model.announced_at.is_some() {
        return Err(ServiceError::Conflict(
            "the subprocessor is already announced".into(),
        ));
    }
    let earliest = earliest_effective(ctx.now);
    let effective = effective_at.unwrap_or(earliest);
    if effective < earliest {
        return Err(Invalid::new(
            "effectiveAt",
            format!(
                "a subprocessor takes effect no earlier than {} days after its announcement ({earliest})",
                crate::domain::subprocessor::NOTICE_DAYS
            ),
        )
        .into());
    }
    let mut active = model.into_active_model();
    active.announced_at = Set(Some(ctx.now));
    active.effective_at = Set(Some(effective));
    active.updated_at = Set(ctx.now);
    let updated = subprocessor::Entity::update(active).exec(&*tx).await?;
    tx.commit().await?;
    if updated.announced_at == Some(ctx.now) && updated.retired_at.is_none() {
        super::webhooks::enqueue_for_all(
            ctx,
            &format!("subprocessor:{}", updated.id),
            "subprocessor.announced",
            serde_json::json!({"subprocessorId": updated.id, "name": updated.name, "effectiveAt": updated.effective_at}),
        )
        .await?;
    }
    Ok(updated)
}

/// Retires a subprocessor from now on; its partner tokens stop working at once.
///
/// # Errors
/// `NotFound`; `Conflict` when already retired; `Db`.
pub async fn retire(
    ctx: &RequestCtx<'_>,
    id: SubprocessorId,
) -> Result<subprocessor::Model, ServiceError> {
    let tx = policy::registry(ctx, Mode::Write).await?;
    let model = find(&*tx, id).await?;
    if model.retired_at.is_some() {
        return Err(ServiceError::Conflict(
            "the subprocessor is already retired".into(),
        ));
    }
    let mut active = model.into_active_model();
    active.retired_at = Set(Some(ctx.now));
    active.updated_at = Set(ctx.now);
    let updated = subprocessor::Entity::update(active).exec(&*tx).await?;
    tx.commit().await?;
    Ok(updated)
}

/// The subprocessors the caller may see: all of them for a platform admin; for a
/// controller's users, those announced to controllers.
///
/// # Errors
/// `Forbidden` for staff and partners; `Db`.
pub async fn list(ctx: &RequestCtx<'_>) -> Result<Vec<subprocessor::Model>, ServiceError> {
    let tx = policy::registry_view(ctx).await?;
    let rows = visible(&*tx, tx.viewer()).await?;
    tx.commit().await?;
    Ok(rows)
}

/// The subprocessors `viewer` may see, oldest first.
pub(crate) async fn visible<C: ConnectionTrait>(
    db: &C,
    viewer: Viewer,
) -> Result<Vec<subprocessor::Model>, ServiceError> {
    let mut select = subprocessor::Entity::find().order_by_asc(subprocessor::Column::CreatedAt);
    if viewer != Viewer::PlatformAdmin {
        select = select.filter(subprocessor::Column::AnnouncedAt.is_not_null());
    }
    Ok(select.all(db).await?)
}

/// One subprocessor, as [`list`] would show it.
///
/// # Errors
/// `NotFound` when the caller may not see it; `Db`.
pub async fn get(
    ctx: &RequestCtx<'_>,
    id: SubprocessorId,
) -> Result<subprocessor::Model, ServiceError> {
    let tx = policy::registry_view(ctx).await?;
    let model = find_visible(&*tx, tx.viewer(), id).await?;
    tx.commit().await?;
    Ok(model)
}

/// One subprocessor if `viewer` may see it; `NotFound` otherwise.
async fn find_visible<C: ConnectionTrait>(
    db: &C,
    viewer: Viewer,
    id: SubprocessorId,
) -> Result<subprocessor::Model, ServiceError> {
    let model = find(db, id).await?;
    if viewer != Viewer::PlatformAdmin && model.announced_at.is_none() {
        return Err(ServiceError::NotFound);
    }
    Ok(model)
}

pub(crate) async fn find<C: ConnectionTrait>(
    db: &C,
    id: SubprocessorId,
) -> Result<subprocessor::Model, ServiceError> {
    subprocessor::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound)
}

/// Objects, for the caller's tenant, to an announced subprocessor: from now on it is
/// blocked from the tenant's data (controller admin).
///
/// # Errors
/// `NotFound`; `Conflict` when already objected; `Db`.
#[tracing::instrument(skip_all, fields(subprocessor_id = %id))]
pub async fn object(
    ctx: &RequestCtx<'_>,
    id: SubprocessorId,
    reason: Option<String>,
) -> Result<subprocessor_objection::Model, ServiceError> {
    let tx = policy::controller_admin(ctx, Mode::Write).await?;
    let tenant = tx.tenant();
    find_visible(&*tx, Viewer::Tenant(tenant), id).await?;
    if policy::partner::objection(&*tx, tenant, id)
        .await?
        .is_some()
    {
        return Err(ServiceError::Conflict(
            "the tenant already objects to this subprocessor".into(),
        ));
    }
    let model = subprocessor_objection::ActiveModel {
        tenant_id: Set(tenant),
        subprocessor_id: Set(id),
        reason: Set(reason),
        objected_by: Set(tx.actor().id.clone()),
        objected_at: Set(ctx.now),
    };
    let created = subprocessor_objection::Entity::insert(model)
        .exec_with_returning(&*tx)
        .await?;
    tx.commit().await?;
    tracing::info!(tenant_id = %tenant, "subprocessor objected to");
    Ok(created)
}

/// Withdraws the caller's tenant's objection (controller admin).
///
/// # Errors
/// `NotFound` when there is none; `Db`.
pub async fn withdraw_objection(
    ctx: &RequestCtx<'_>,
    id: SubprocessorId,
) -> Result<SubprocessorId, ServiceError> {
    let tx = policy::controller_admin(ctx, Mode::Write).await?;
    let tenant = tx.tenant();
    let result = subprocessor_objection::Entity::delete_many()
        .filter(subprocessor_objection::Column::TenantId.eq(tenant))
        .filter(subprocessor_objection::Column::SubprocessorId.eq(id))
        .exec(&*tx)
        .await?;
    if result.rows_affected == 0 {
        return Err(ServiceError::NotFound);
    }
    tx.commit().await?;
    Ok(id)
}

/// Objections to a subprocessor: every tenant's for a platform admin (read under the
/// objections table's platform-read policy), the caller's own for a controller.
///
/// # Errors
/// As [`list`].
pub async fn objections(
    ctx: &RequestCtx<'_>,
    subprocessor: SubprocessorId,
) -> Result<Vec<subprocessor_objection::Model>, ServiceError> {
    let tx = policy::registry_view(ctx).await?;
    let rows = match tx.viewer() {
        Viewer::PlatformAdmin => {
            subprocessor_objection::Entity::find()
                .filter(subprocessor_objection::Column::SubprocessorId.eq(subprocessor))
                .order_by_asc(subprocessor_objection::Column::ObjectedAt)
                .all(&*tx)
                .await?
        }
        Viewer::Tenant(tenant) => policy::partner::objection(&*tx, tenant, subprocessor)
            .await?
            .into_iter()
            .collect(),
    };
    tx.commit().await?;
    Ok(rows)
}
