//! The tenant's queue of requests: one, a page, a count, with the due-date filters; a
//! request's history; the contract's assistance window.

use chrono::{DateTime, Duration, Utc};
use entities::{privacy_request, privacy_request_event, tenant};
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};

use super::{RequestFilter, find};
use crate::domain::privacy::RequestStatus;
use crate::domain::{Invalid, PrivacyRequestId, TenantId};
use crate::error::ServiceError;
use crate::pagination::{Ordering, Page, PageRequest, fetch_page, timestamp_key};
use crate::policy::{self, Mode, RequestCtx};
/// One of the tenant's requests.
///
/// # Errors
/// `NotFound`; `Unauthenticated`/`Forbidden` for those who do not handle requests; `Db`.
pub async fn get(
    ctx: &RequestCtx<'_>,
    id: PrivacyRequestId,
) -> Result<privacy_request::Model, ServiceError> {
    let tx = policy::requests(ctx, Mode::Read).await?;
    let model = find(&*tx, tx.tenant(), id).await?;
    tx.commit().await?;
    Ok(model)
}

/// A page of the tenant's requests, oldest first.
///
/// # Errors
/// As [`get`]; `Validation` for a bad cursor.
pub async fn list(
    ctx: &RequestCtx<'_>,
    filter: &RequestFilter,
    page: &PageRequest,
) -> Result<Page<privacy_request::Model>, ServiceError> {
    let tx = policy::requests(ctx, Mode::Read).await?;
    let select = filtered(tx.tenant(), filter, ctx.now);
    let ordering = Ordering {
        column: privacy_request::Column::CreatedAt,
        id: privacy_request::Column::Id,
        descending: false,
        key_value: timestamp_key,
    };
    let result = fetch_page(&*tx, select, &ordering, page).await?;
    tx.commit().await?;
    Ok(result)
}

/// How many of the tenant's requests match.
///
/// # Errors
/// As [`get`].
pub async fn count(ctx: &RequestCtx<'_>, filter: &RequestFilter) -> Result<u64, ServiceError> {
    let tx = policy::requests(ctx, Mode::Read).await?;
    let n = filtered(tx.tenant(), filter, ctx.now).count(&*tx).await?;
    tx.commit().await?;
    Ok(n)
}

fn filtered(
    tenant: TenantId,
    filter: &RequestFilter,
    now: DateTime<Utc>,
) -> sea_orm::Select<privacy_request::Entity> {
    use privacy_request::Column as C;
    let mut select = privacy_request::Entity::find().filter(C::TenantId.eq(tenant));
    if !filter.statuses.is_empty() {
        select = select.filter(C::Status.is_in(filter.statuses.iter().map(|s| s.as_str())));
    }
    let running = [RequestStatus::Received, RequestStatus::InProgress].map(RequestStatus::as_str);
    if let Some(days) = filter.due_within_days {
        select = select
            .filter(C::Status.is_in(running))
            .filter(C::StatutoryDueAt.lte(now + Duration::days(days)));
    }
    match filter.overdue {
        Some(true) => {
            select = select
                .filter(C::Status.is_in(running))
                .filter(C::StatutoryDueAt.lt(now));
        }
        Some(false) => {
            select = select.filter(
                sea_orm::Condition::any()
                    .add(C::Status.is_not_in(running))
                    .add(C::StatutoryDueAt.gte(now)),
            );
        }
        None => {}
    }
    match filter.processor_overdue {
        Some(true) => {
            select = select
                .filter(C::Status.is_in(running))
                .filter(C::ProcessorDueAt.lt(now));
        }
        Some(false) => {
            select = select.filter(
                sea_orm::Condition::any()
                    .add(C::Status.is_not_in(running))
                    .add(C::ProcessorDueAt.gte(now)),
            );
        }
        None => {}
    }
    select
}

/// A request's history, oldest first.
///
/// # Errors
/// As [`get`].
pub async fn events(
    ctx: &RequestCtx<'_>,
    id: PrivacyRequestId,
) -> Result<Vec<privacy_request_event::Model>, ServiceError> {
    let tx = policy::requests(ctx, Mode::Read).await?;
    let rows = privacy_request_event::Entity::find()
        .filter(privacy_request_event::Column::TenantId.eq(tx.tenant()))
        .filter(privacy_request_event::Column::RequestId.eq(id))
        .order_by_asc(privacy_request_event::Column::Seq)
        .all(&*tx)
        .await?;
    tx.commit().await?;
    Ok(rows)
}

/// Sets a tenant's contractual assistance window (platform admin): the processor's own
/// due date of requests opened from now on.
///
/// # Errors
/// `Validation` (field `days`) outside 1–90; `NotFound` for an unknown tenant; `Db`.
pub async fn set_assistance_window(
    ctx: &RequestCtx<'_>,
    tenant: TenantId,
    days: i32,
) -> Result<tenant::Model, ServiceError> {
    if !(1..=90).contains(&days) {
        return Err(Invalid::new("days", "days must be between 1 and 90").into());
    }
    crate::service::tenants::update_terms(ctx, tenant, |t| t.request_assistance_days = Set(days))
        .await
}
