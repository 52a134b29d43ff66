//! The subprocessor registry (platform admin), its notices and controllers' objections.

use chrono::{DateTime, Utc};
use entities::{subprocessor, subprocessor_objection};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, TransactionTrait,
};
use uuid::Uuid;

use super::to_json;
use crate::auth::ActorKind;
use crate::domain::subprocessor::{NewSubprocessor, earliest_effective};
use crate::domain::{Invalid, TenantId};
use crate::error::ServiceError;
use crate::policy::{self, RequestCtx};

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
    let admin = policy::require_platform_admin(ctx.caller)?;
    let taken = subprocessor::Entity::find()
        .all(ctx.db)
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
        id: Set(Uuid::now_v7()),
        name: Set(new.name),
        service: Set(new.service),
        data_categories: Set(to_json(&new.data_categories)),
        locations: Set(to_json(&new.locations)),
        contact_email: Set(new.contact_email),
        announced_at: Set(None),
        effective_at: Set(None),
        retired_at: Set(None),
        created_by: Set(admin.subject.clone()),
        created_at: Set(ctx.now),
        updated_at: Set(ctx.now),
    };
    let created = subprocessor::Entity::insert(model)
        .exec_with_returning(ctx.db)
        .await?;
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
    id: Uuid,
    effective_at: Option<DateTime<Utc>>,
) -> Result<subprocessor::Model, ServiceError> {
    policy::require_platform_admin(ctx.caller)?;
    let model = find(ctx.db, id).await?;
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
    Ok(subprocessor::Entity::update(active).exec(ctx.db).await?)
}

/// Retires a subprocessor from now on; its partner tokens stop working at once.
///
/// # Errors
/// `NotFound`; `Conflict` when already retired; `Db`.
pub async fn retire(ctx: &RequestCtx<'_>, id: Uuid) -> Result<subprocessor::Model, ServiceError> {
    policy::require_platform_admin(ctx.caller)?;
    let model = find(ctx.db, id).await?;
    if model.retired_at.is_some() {
        return Err(ServiceError::Conflict(
            "the subprocessor is already retired".into(),
        ));
    }
    let mut active = model.into_active_model();
    active.retired_at = Set(Some(ctx.now));
    active.updated_at = Set(ctx.now);
    Ok(subprocessor::Entity::update(active).exec(ctx.db).await?)
}

/// The subprocessors the caller may see: all of them for a platform admin; for a
/// controller's users, those announced to controllers.
///
/// # Errors
/// `Forbidden` for staff and partners; `Db`.
pub async fn list(ctx: &RequestCtx<'_>) -> Result<Vec<subprocessor::Model>, ServiceError> {
    let admin = viewer_is_admin(ctx)?;
    let mut select = subprocessor::Entity::find().order_by_asc(subprocessor::Column::CreatedAt);
    if !admin {
        select = select.filter(subprocessor::Column::AnnouncedAt.is_not_null());
    }
    Ok(select.all(ctx.db).await?)
}

/// One subprocessor, as [`list`] would show it.
///
/// # Errors
/// `NotFound` when the caller may not see it; `Db`.
pub async fn get(ctx: &RequestCtx<'_>, id: Uuid) -> Result<subprocessor::Model, ServiceError> {
    let admin = viewer_is_admin(ctx)?;
    let model = find(ctx.db, id).await?;
    if !admin && model.announced_at.is_none() {
        return Err(ServiceError::NotFound);
    }
    Ok(model)
}

/// `true` for a platform admin, `false` for a controller's user; refuses everyone else.
fn viewer_is_admin(ctx: &RequestCtx<'_>) -> Result<bool, ServiceError> {
    let caller = ctx.caller.ok_or(ServiceError::Unauthenticated)?;
    match caller.actor_kind() {
        ActorKind::PlatformAdmin => Ok(true),
        ActorKind::Controller => policy::require_controller(ctx.caller).map(|_| false),
        _ => Err(ServiceError::Forbidden(
            "the registry is not open to this caller".into(),
        )),
    }
}

pub(crate) async fn find<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
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
    id: Uuid,
    reason: Option<String>,
) -> Result<subprocessor_objection::Model, ServiceError> {
    let tenant = policy::require_controller_admin(ctx.caller)?;
    get(ctx, id).await?;
    let tx = policy::begin_for_tenant(ctx.db, tenant, true).await?;
    if objection(&tx, tenant, id).await?.is_some() {
        return Err(ServiceError::Conflict(
            "the tenant already objects to this subprocessor".into(),
        ));
    }
    let model = subprocessor_objection::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        subprocessor_id: Set(id),
        reason: Set(reason),
        objected_by: Set(ctx.caller.map(|c| c.subject.clone()).unwrap_or_default()),
        objected_at: Set(ctx.now),
    };
    let created = subprocessor_objection::Entity::insert(model)
        .exec_with_returning(&tx)
        .await?;
    tx.commit().await?;
    tracing::info!(tenant_id = %tenant, "subprocessor objected to");
    Ok(created)
}

/// Withdraws the caller's tenant's objection (controller admin).
///
/// # Errors
/// `NotFound` when there is none; `Db`.
pub async fn withdraw_objection(ctx: &RequestCtx<'_>, id: Uuid) -> Result<Uuid, ServiceError> {
    let tenant = policy::require_controller_admin(ctx.caller)?;
    let tx = policy::begin_for_tenant(ctx.db, tenant, true).await?;
    let result = subprocessor_objection::Entity::delete_many()
        .filter(subprocessor_objection::Column::TenantId.eq(tenant.as_uuid()))
        .filter(subprocessor_objection::Column::SubprocessorId.eq(id))
        .exec(&tx)
        .await?;
    if result.rows_affected == 0 {
        return Err(ServiceError::NotFound);
    }
    tx.commit().await?;
    Ok(id)
}

/// The tenant's objection to a subprocessor, inside a transaction pinned to the tenant.
///
/// # Errors
/// `Db`.
pub(crate) async fn objection<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    subprocessor: Uuid,
) -> Result<Option<subprocessor_objection::Model>, DbErr> {
    subprocessor_objection::Entity::find()
        .filter(subprocessor_objection::Column::TenantId.eq(tenant.as_uuid()))
        .filter(subprocessor_objection::Column::SubprocessorId.eq(subprocessor))
        .one(db)
        .await
}

/// Objections to a subprocessor: every tenant's for a platform admin (read under the
/// objections table's platform-read policy), the caller's own for a controller.
///
/// # Errors
/// As [`list`].
pub async fn objections(
    ctx: &RequestCtx<'_>,
    subprocessor: Uuid,
) -> Result<Vec<subprocessor_objection::Model>, ServiceError> {
    if viewer_is_admin(ctx)? {
        let tx = ctx.db.begin().await?;
        if tx.get_database_backend() == DatabaseBackend::Postgres {
            tx.execute_unprepared("SELECT set_config('app.platform_read', 'on', true)")
                .await?;
        }
        let rows = subprocessor_objection::Entity::find()
            .filter(subprocessor_objection::Column::SubprocessorId.eq(subprocessor))
            .order_by_asc(subprocessor_objection::Column::ObjectedAt)
            .all(&tx)
            .await?;
        tx.commit().await?;
        return Ok(rows);
    }
    let tenant = policy::require_controller(ctx.caller)?;
    let tx = policy::begin_for_tenant(ctx.db, tenant, false).await?;
    let row = objection(&tx, tenant, subprocessor).await?;
    tx.commit().await?;
    Ok(row.into_iter().collect())
}
