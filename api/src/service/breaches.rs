//! Breach incidents (platform admin) and the notice each affected controller reads and
//! acknowledges, measured against the controller's contractual window (GDPR Art. 33(2):
//! without undue delay).

use chrono::{DateTime, Duration, Utc};
use entities::{breach_incident, breach_notice, tenant};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder,
};

use super::to_json;
use crate::domain::instruction::DataCategory;
use crate::domain::{BreachNoticeId, IncidentId, Invalid, TenantId, bounded_text};
use crate::error::ServiceError;
use crate::policy::{self, Mode, RequestCtx, Viewer};

/// A controller's notification window when its contract says nothing else.
pub const DEFAULT_NOTICE_HOURS: i32 = 24;

/// One affected controller, and how many of its records the incident may touch.
#[derive(Debug, Clone)]
pub struct Affected {
    pub tenant: TenantId,
    pub estimated_records: i64,
}

/// A validated incident to record or update.
#[derive(Debug, Clone)]
pub struct IncidentChanges {
    pub detected_at: Option<DateTime<Utc>>,
    pub summary: Option<String>,
    pub data_categories: Option<Vec<DataCategory>>,
    /// Controllers to notify (besides those already notified).
    pub affected: Vec<Affected>,
}

impl IncidentChanges {
    /// # Errors
    /// [`Invalid`] naming the field at fault.
    pub fn parse(
        detected_at: Option<DateTime<Utc>>,
        summary: Option<&str>,
        data_categories: Option<Vec<DataCategory>>,
        affected: Vec<Affected>,
        now: DateTime<Utc>,
    ) -> Result<Self, Invalid> {
        if detected_at.is_some_and(|d| d > now) {
            return Err(Invalid::new(
                "detectedAt",
                "detectedAt must not be in the future",
            ));
        }
        let summary = summary
            .map(|s| bounded_text("summary", s, 4_000, true))
            .transpose()?;
        if data_categories.as_ref().is_some_and(Vec::is_empty) {
            return Err(Invalid::new(
                "dataCategories",
                "name at least one data category",
            ));
        }
        for (i, a) in affected.iter().enumerate() {
            if a.estimated_records < 0 {
                return Err(Invalid::new(
                    format!("affected[{i}].estimatedRecords"),
                    "estimatedRecords must not be negative",
                ));
            }
            if affected[..i].iter().any(|b| b.tenant == a.tenant) {
                return Err(Invalid::new(
                    format!("affected[{i}].tenantId"),
                    "a controller is named twice",
                ));
            }
        }
        Ok(Self {
            detected_at,
            summary,
            data_categories,
            affected,
        })
    }
}

/// Records an incident and notifies every affected controller at once (platform admin).
///
/// # Errors
/// `Validation` (field `affected[i].tenantId`) for an unknown tenant, or a missing
/// detection time, summary or categories; `Db`.
#[tracing::instrument(skip_all)]
pub async fn record(
    ctx: &RequestCtx<'_>,
    changes: IncidentChanges,
) -> Result<breach_incident::Model, ServiceError> {
    let (Some(detected_at), Some(summary), Some(categories)) = (
        changes.detected_at,
        changes.summary.clone(),
        changes.data_categories.clone(),
    ) else {
        return Err(Invalid::new(
            "input",
            "detectedAt, summary and dataCategories are required",
        )
        .into());
    };
    if changes.affected.is_empty() {
        return Err(Invalid::new("affected", "name at least one affected controller").into());
    }
    let tx = policy::registry(ctx, Mode::Write).await?;
    known_tenants(&*tx, &changes.affected).await?;
    let incident = breach_incident::Entity::insert(breach_incident::ActiveModel {
        id: Set(IncidentId::new()),
        detected_at: Set(detected_at),
        summary: Set(summary),
        data_categories: Set(to_json(&categories)),
        version: Set(1),
        created_by: Set(tx.actor().id.clone()),
        created_at: Set(ctx.now),
        updated_at: Set(ctx.now),
    })
    .exec_with_returning(&*tx)
    .await?;
    tx.commit().await?;
    notify(ctx, &incident, &changes.affected).await?;
    tracing::info!(incident_id = %incident.id, affected = changes.affected.len(), "breach recorded");
    Ok(incident)
}

/// Updates an incident (platform admin): every notice shows the update, and its controller
/// is asked to acknowledge again; newly named controllers are notified.
///
/// # Errors
/// `NotFound`; `Validation` as for [`record`]; `Db`.
pub async fn update(
    ctx: &RequestCtx<'_>,
    id: IncidentId,
    changes: IncidentChanges,
) -> Result<breach_incident::Model, ServiceError> {
    let tx = policy::registry(ctx, Mode::Write).await?;
    known_tenants(&*tx, &changes.affected).await?;
    let model = breach_incident::Entity::find_by_id(id)
        .one(&*tx)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let version = model.version + 1;
    let mut active = model.into_active_model();
    if let Some(d) = changes.detected_at {
        active.detected_at = Set(d);
    }
    if let Some(s) = changes.summary.clone() {
        active.summary = Set(s);
    }
    if let Some(c) = &changes.data_categories {
        active.data_categories = Set(to_json(c));
    }
    active.version = Set(version);
    active.updated_at = Set(ctx.now);
    let updated = breach_incident::Entity::update(active).exec(&*tx).await?;
    tx.commit().await?;
    notify(ctx, &updated, &changes.affected).await?;
    Ok(updated)
}

/// Refuses, before anything is written, a controller that does not exist.
async fn known_tenants<C: ConnectionTrait>(
    db: &C,
    affected: &[Affected],
) -> Result<(), ServiceError> {
    for (i, a) in affected.iter().enumerate() {
        if tenant::Entity::find_by_id(a.tenant)
            .one(db)
            .await?
            .is_none()
        {
            return Err(Invalid::new(format!("affected[{i}].tenantId"), "no such tenant").into());
        }
    }
    Ok(())
}

/// Creates the notices of `affected` controllers not yet notified of `incident`, each in
/// a transaction pinned to its tenant.
async fn notify(
    ctx: &RequestCtx<'_>,
    incident: &breach_incident::Model,
    affected: &[Affected],
) -> Result<(), ServiceError> {
    for (i, a) in affected.iter().enumerate() {
        let tx = policy::platform_admin_on(ctx, a.tenant, Mode::Write).await?;
        let Some(terms) = tenant::Entity::find_by_id(a.tenant).one(&*tx).await? else {
            return Err(Invalid::new(format!("affected[{i}].tenantId"), "no such tenant").into());
        };
        let known = breach_notice::Entity::find()
            .filter(breach_notice::Column::TenantId.eq(a.tenant))
            .filter(breach_notice::Column::IncidentId.eq(incident.id))
            .one(&*tx)
            .await?;
        if known.is_none() {
            breach_notice::Entity::insert(breach_notice::ActiveModel {
                tenant_id: Set(a.tenant),
                id: Set(BreachNoticeId::new()),
                incident_id: Set(incident.id),
                estimated_records: Set(a.estimated_records),
                deadline_at: Set(
                    incident.detected_at + Duration::hours(i64::from(terms.breach_notice_hours))
                ),
                sent_at: Set(ctx.now),
                acknowledged_at: Set(None),
                acknowledged_by: Set(None),
                acknowledged_version: Set(None),
            })
            .exec(&*tx)
            .await?;
        }
        super::webhooks::enqueue(
            &*tx,
            a.tenant,
            &format!("breach:{}:v{}", incident.id, incident.version),
            "breach_notice",
            serde_json::json!({
                "incidentId": incident.id,
                "version": incident.version,
                "summary": incident.summary,
                "detectedAt": incident.detected_at,
            }),
            ctx.now,
        )
        .await?;
        tx.commit().await?;
    }
    Ok(())
}

/// A notice with the incident it tells of.
pub type NoticeOf = (breach_notice::Model, breach_incident::Model);

/// Whether a notice reached its controller within the deadline.
pub fn met(notice: &breach_notice::Model) -> bool {
    notice.sent_at <= notice.deadline_at
}

/// Whether the controller acknowledged the incident as it stands now.
pub fn acknowledged(notice: &breach_notice::Model, incident: &breach_incident::Model) -> bool {
    notice
        .acknowledged_version
        .is_some_and(|v| v >= incident.version)
}

async fn with_incidents<C: ConnectionTrait>(
    db: &C,
    notices: Vec<breach_notice::Model>,
) -> Result<Vec<NoticeOf>, ServiceError> {
    let ids: Vec<IncidentId> = notices.iter().map(|n| n.incident_id).collect();
    let incidents = breach_incident::Entity::find()
        .filter(breach_incident::Column::Id.is_in(ids))
        .all(db)
        .await?;
    Ok(notices
        .into_iter()
        .filter_map(|n| {
            incidents
                .iter()
                .find(|i| i.id == n.incident_id)
                .cloned()
                .map(|i| (n, i))
        })
        .collect())
}

/// Notices as the caller may see them, newest first: the tenant's own for its users;
/// every tenant's for the platform admin — only those unacknowledged or late with
/// `outstanding`.
///
/// # Errors
/// `Forbidden` for staff and partners; `Db`.
pub async fn notices(
    ctx: &RequestCtx<'_>,
    outstanding: bool,
) -> Result<Vec<NoticeOf>, ServiceError> {
    let tx = policy::registry_view(ctx).await?;
    let mut select = breach_notice::Entity::find().order_by_desc(breach_notice::Column::SentAt);
    if let Viewer::Tenant(tenant) = tx.viewer() {
        select = select.filter(breach_notice::Column::TenantId.eq(tenant));
    }
    let rows = with_incidents(&*tx, select.all(&*tx).await?).await?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .filter(|(n, i)| !outstanding || !acknowledged(n, i) || !met(n))
        .collect())
}

/// The controller acknowledges a notice, as the incident stands now.
///
/// # Errors
/// `NotFound` (another tenant's notice answers the same); `Db`.
pub async fn acknowledge(
    ctx: &RequestCtx<'_>,
    id: BreachNoticeId,
) -> Result<NoticeOf, ServiceError> {
    let tx = policy::controller_admin(ctx, Mode::Write).await?;
    let notice = breach_notice::Entity::find()
        .filter(breach_notice::Column::TenantId.eq(tx.tenant()))
        .filter(breach_notice::Column::Id.eq(id))
        .one(&*tx)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let incident = breach_incident::Entity::find_by_id(notice.incident_id)
        .one(&*tx)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let mut active = notice.into_active_model();
    active.acknowledged_at = Set(Some(ctx.now));
    active.acknowledged_by = Set(Some(tx.actor().id.clone()));
    active.acknowledged_version = Set(Some(incident.version));
    let updated = breach_notice::Entity::update(active).exec(&*tx).await?;
    tx.commit().await?;
    Ok((updated, incident))
}

/// Sets a tenant's contractual breach-notification window, in hours from detection, for
/// incidents recorded from now on (platform admin).
///
/// # Errors
/// `Validation` (field `hours`) outside 1–720; `NotFound`; `Db`.
pub async fn set_window(
    ctx: &RequestCtx<'_>,
    tenant: TenantId,
    hours: i32,
) -> Result<tenant::Model, ServiceError> {
    if !(1..=720).contains(&hours) {
        return Err(Invalid::new("hours", "hours must be between 1 and 720").into());
    }
    super::tenants::update_terms(ctx, tenant, |t| t.breach_notice_hours = Set(hours)).await
}

/// Every tenant's notices not acknowledged as the incident stands, and those that missed
/// their deadline: the `/metrics` gauges. A job's read, under the platform-read policy.
///
/// # Errors
/// `Db`.
pub async fn outstanding_counts(ctx: &RequestCtx<'_>) -> Result<(u64, u64), ServiceError> {
    let tx = policy::job_platform_read(ctx).await?;
    let late = breach_notice::Entity::find()
        .filter(Condition::all().add(sea_orm::sea_query::ExprTrait::gt(
            sea_orm::sea_query::Expr::col(breach_notice::Column::SentAt),
            sea_orm::sea_query::Expr::col(breach_notice::Column::DeadlineAt),
        )))
        .count(&*tx)
        .await?;
    let all = with_incidents(&*tx, breach_notice::Entity::find().all(&*tx).await?).await?;
    tx.commit().await?;
    let unacknowledged = all.iter().filter(|(n, i)| !acknowledged(n, i)).count() as u64;
    Ok((unacknowledged, late))
}
