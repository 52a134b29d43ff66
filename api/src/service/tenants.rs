//! Controller accounts.

use entities::tenant;
use sea_orm::{ActiveValue::Set, EntityTrait, QueryOrder, QuerySelect};

use super::to_json;
use crate::domain::TenantId;
use crate::domain::tenant::{NewTenant, TenantStatus};
use crate::error::ServiceError;
use crate::pagination::{Ordering, Page, PageRequest, fetch_page, timestamp_key};
use crate::policy::{self, Mode, RequestCtx};

/// Opens a controller account (platform admin), with its standing direct-request
/// instruction.
///
/// # Errors
/// `Unauthenticated`/`Forbidden` for anyone but a platform admin; `Db`.
#[tracing::instrument(skip_all)]
/// Every tenant's id, for one of the processor's jobs that visits them in turn.
///
/// # Errors
/// `Forbidden` outside a job; `Db`.
pub async fn all_ids(ctx: &RequestCtx<'_>) -> Result<Vec<TenantId>, ServiceError> {
    let registry = policy::job_registry(ctx).await?;
    let ids = tenant::Entity::find()
        .select_only()
        .column(tenant::Column::Id)
        .into_tuple::<TenantId>()
        .all(&*registry)
        .await?;
    registry.commit().await?;
    Ok(ids)
}

pub async fn create(ctx: &RequestCtx<'_>, new: NewTenant) -> Result<tenant::Model, ServiceError> {
    let now = ctx.now;
    let id = TenantId::new();
    // The tenant and its standing instruction exist together or not at all.
    let tx = policy::platform_admin_on(ctx, id, Mode::Write).await?;
    let admin = tx.actor().id.clone();
    let model = tenant::ActiveModel {
        id: Set(id),
        name: Set(new.name),
        jurisdictions: Set(to_json(&new.jurisdictions)),
        owner_attests_adult: Set(true),
        status: Set(TenantStatus::Active.as_str().to_owned()),
        request_assistance_days: Set(crate::domain::privacy::DEFAULT_ASSISTANCE_DAYS),
        breach_notice_hours: Set(crate::service::breaches::DEFAULT_NOTICE_HOURS),
        created_by: Set(admin.clone()),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let created = tenant::Entity::insert(model)
        .exec_with_returning(&*tx)
        .await?;
    super::instructions::create_standing(&*tx, id, &admin, now).await?;
    // The chain's head exists from the start: a verification that cannot see it (a
    // tenant pin that did not reach the rows) says so instead of passing on nothing.
    crate::ledger::chain::create_head(&*tx, id).await?;
    tx.commit().await?;
    tracing::info!(tenant_id = %id, "tenant created");
    Ok(created)
}

/// Every controller account, newest last (platform admin).
///
/// # Errors
/// `Unauthenticated`/`Forbidden` for anyone but a platform admin; `Validation` for a bad
/// cursor; `Db`.
pub async fn list(
    ctx: &RequestCtx<'_>,
    page: &PageRequest,
) -> Result<Page<tenant::Model>, ServiceError> {
    let tx = policy::registry(ctx, Mode::Read).await?;
    let ordering = Ordering {
        column: tenant::Column::CreatedAt,
        id: tenant::Column::Id,
        descending: false,
        key_value: timestamp_key,
    };
    let result = fetch_page(&*tx, tenant::Entity::find(), &ordering, page).await?;
    tx.commit().await?;
    Ok(result)
}

/// One account: a controller's user sees only its own (`id` absent or its own); a platform
/// admin sees any.
///
/// # Errors
/// `NotFound` for any other id, exactly as for one that does not exist.
pub async fn get(
    ctx: &RequestCtx<'_>,
    id: Option<TenantId>,
) -> Result<tenant::Model, ServiceError> {
    let (tx, wanted) = policy::account(ctx, id).await?;
    let found = tenant::Entity::find_by_id(wanted)
        .order_by_asc(tenant::Column::Id)
        .one(&*tx)
        .await?
        .ok_or(ServiceError::NotFound)?;
    tx.commit().await?;
    Ok(found)
}

/// Changes one of a tenant's contractual terms (platform admin): `change` sets it on the
/// tenant's row, which is then saved with its `updated_at`.
///
/// # Errors
/// `NotFound` for an unknown tenant; `Unauthenticated`/`Forbidden` for anyone but a
/// platform admin; `Db`.
pub(crate) async fn update_terms(
    ctx: &RequestCtx<'_>,
    tenant: TenantId,
    change: impl FnOnce(&mut tenant::ActiveModel),
) -> Result<tenant::Model, ServiceError> {
    let tx = policy::platform_admin_on(ctx, tenant, Mode::Write).await?;
    let model = tenant::Entity::find_by_id(tenant)
        .one(&*tx)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let mut active = sea_orm::IntoActiveModel::into_active_model(model);
    change(&mut active);
    active.updated_at = Set(ctx.now);
    let updated = tenant::Entity::update(active).exec(&*tx).await?;
    tx.commit().await?;
    Ok(updated)
}
