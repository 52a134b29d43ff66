//! The `/metrics` gauges that need the database: data-subject requests coming due and
//! overdue, access records not yet sealed, breach notices outstanding. Read by a job of
//! the server's on a schedule (never by a scrape), one tenant at a time under its pin.

use chrono::Duration;
use entities::{access_pending, privacy_request};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::domain::privacy::RequestStatus;
use crate::error::ServiceError;
use crate::policy::{self, Mode, RequestCtx};

/// What the gauges show.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Open requests whose statutory deadline is within the notice window.
    pub requests_due: u64,
    /// Open requests past their statutory deadline.
    pub requests_overdue: u64,
    pub unsealed_records: u64,
    pub breach_unacknowledged: u64,
    pub breach_late: u64,
}

/// Reads every gauge as of `ctx.now`.
///
/// # Errors
/// `Db`.
pub async fn read(ctx: &RequestCtx<'_>) -> Result<Gauges, ServiceError> {
    let tenants = super::tenants::all_ids(ctx).await?;
    let open = [RequestStatus::Received, RequestStatus::InProgress].map(RequestStatus::as_str);
    let window = ctx.now + Duration::days(super::webhooks::DUE_NOTICE_DAYS);
    let mut g = Gauges::default();
    for t in tenants {
        let tx = policy::job_tenant(ctx, t, Mode::Read).await?;
        let running = || {
            privacy_request::Entity::find()
                .filter(privacy_request::Column::TenantId.eq(t))
                .filter(privacy_request::Column::Status.is_in(open))
        };
        g.requests_overdue += running()
            .filter(privacy_request::Column::StatutoryDueAt.lte(ctx.now))
            .count(&*tx)
            .await?;
        g.requests_due += running()
            .filter(privacy_request::Column::StatutoryDueAt.gt(ctx.now))
            .filter(privacy_request::Column::StatutoryDueAt.lte(window))
            .count(&*tx)
            .await?;
        g.unsealed_records += access_pending::Entity::find()
            .filter(access_pending::Column::TenantId.eq(t))
            .count(&*tx)
            .await?;
        tx.commit().await?;
    }
    (g.breach_unacknowledged, g.breach_late) = super::breaches::outstanding_counts(ctx).await?;
    Ok(g)
}
