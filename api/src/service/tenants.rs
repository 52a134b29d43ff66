//! Controller accounts.

use chrono::{DateTime, Utc};
use entities::tenant;
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait, QueryOrder};

use super::pagination::{Ordering, Page, PageRequest, fetch_page, timestamp_key};
use super::to_json;
use crate::auth::{ActorKind, Caller};
use crate::domain::TenantId;
use crate::domain::tenant::{NewTenant, TenantStatus};
use crate::error::ServiceError;
use crate::policy;

/// Opens a controller account (platform admin), with its standing direct-request
/// instruction.
///
/// # Errors
/// `Unauthenticated`/`Forbidden` for anyone but a platform admin; `Db`.
#[tracing::instrument(skip_all)]
pub async fn create(
    db: &DatabaseConnection,
    caller: Option<&Caller>,
    new: NewTenant,
    now: DateTime<Utc>,
) -> Result<tenant::Model, ServiceError> {
    let admin = policy::require_platform_admin(caller)?;
    let id = TenantId::new();
    // The tenant and its standing instruction exist together or not at all.
    let tx = policy::begin_for_tenant(db, id, true).await?;
    let model = tenant::ActiveModel {
        id: Set(id.as_uuid()),
        name: Set(new.name),
        jurisdictions: Set(to_json(&new.jurisdictions)),
        owner_attests_adult: Set(true),
        status: Set(TenantStatus::Active.as_str().to_owned()),
        created_by: Set(admin.subject.clone()),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let created = tenant::Entity::insert(model)
        .exec_with_returning(&tx)
        .await?;
    super::instructions::create_standing(&tx, id, &admin.subject, now).await?;
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
    db: &DatabaseConnection,
    caller: Option<&Caller>,
    page: &PageRequest,
) -> Result<Page<tenant::Model>, ServiceError> {
    policy::require_platform_admin(caller)?;
    let ordering = Ordering {
        column: tenant::Column::CreatedAt,
        id: tenant::Column::Id,
        descending: false,
        key_value: timestamp_key,
    };
    Ok(fetch_page(db, tenant::Entity::find(), &ordering, page).await?)
}

/// One account: a controller's user sees only its own (`id` absent or its own); a platform
/// admin sees any.
///
/// # Errors
/// `NotFound` for any other id, exactly as for one that does not exist.
pub async fn get(
    db: &DatabaseConnection,
    caller: Option<&Caller>,
    id: Option<TenantId>,
) -> Result<tenant::Model, ServiceError> {
    let caller = caller.ok_or(ServiceError::Unauthenticated)?;
    let wanted = match (caller.actor_kind(), caller.tenant, id) {
        (ActorKind::PlatformAdmin, _, Some(id)) => id,
        (ActorKind::PlatformAdmin, _, None) => {
            return Err(ServiceError::Validation {
                field: "id".into(),
                message: "id is required for a platform admin".into(),
            });
        }
        (_, Some(own), None) => own,
        (_, Some(own), Some(id)) if id == own => own,
        _ => return Err(ServiceError::NotFound),
    };
    tenant::Entity::find_by_id(wanted.as_uuid())
        .order_by_asc(tenant::Column::Id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound)
}
