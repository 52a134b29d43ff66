//! Notices of material change: the processor announces new processing terms at least 30
//! days before they take effect; every controller sees them and may acknowledge or
//! object; the record of processing shows the terms in force.

use chrono::{DateTime, Duration, Utc};
use entities::{terms_response, terms_version};
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::domain::{Invalid, TermsId, bounded_text, optional_text};
use crate::error::ServiceError;
use crate::policy::{self, Mode, RequestCtx, Viewer};

/// The notice a change of terms gives before it takes effect, in days.
pub const NOTICE_DAYS: i64 = 30;

/// Announces new terms (platform admin), effective `effective_at` (default: exactly the
/// notice period from now).
///
/// # Errors
/// `Validation` (`text`, `effectiveAt` inside the notice period); `Db`.
pub async fn announce(
    ctx: &RequestCtx<'_>,
    text: &str,
    effective_at: Option<DateTime<Utc>>,
) -> Result<terms_version::Model, ServiceError> {
    let text = bounded_text("text", text, 100_000, true)?;
    let earliest = ctx.now + Duration::days(NOTICE_DAYS);
    let effective = effective_at.unwrap_or(earliest);
    if effective < earliest {
        return Err(Invalid::new(
            "effectiveAt",
            format!("new terms take effect no earlier than {NOTICE_DAYS} days after their announcement ({earliest})"),
        )
        .into());
    }
    let tx = policy::registry(ctx, Mode::Write).await?;
    let created = terms_version::Entity::insert(terms_version::ActiveModel {
        id: Set(TermsId::new()),
        text: Set(text),
        announced_at: Set(ctx.now),
        effective_at: Set(effective),
        created_by: Set(tx.actor().id.clone()),
    })
    .exec_with_returning(&*tx)
    .await?;
    tx.commit().await?;
    super::webhooks::enqueue_for_all(
        ctx,
        &format!("terms:{}", created.id),
        "terms.announced",
        serde_json::json!({"termsId": created.id, "effectiveAt": created.effective_at}),
    )
    .await?;
    Ok(created)
}

/// Terms with the responses the caller may see: its own tenant's for a controller's
/// users, every tenant's for the platform admin.
pub type TermsWithResponses = (terms_version::Model, Vec<terms_response::Model>);

/// Every version of the terms, newest first, with responses.
///
/// # Errors
/// `Forbidden` for staff and partners; `Db`.
pub async fn list(ctx: &RequestCtx<'_>) -> Result<Vec<TermsWithResponses>, ServiceError> {
    let tx = policy::registry_view(ctx).await?;
    let versions = terms_version::Entity::find()
        .order_by_desc(terms_version::Column::AnnouncedAt)
        .all(&*tx)
        .await?;
    let mut responses = terms_response::Entity::find();
    if let Viewer::Tenant(tenant) = tx.viewer() {
        responses = responses.filter(terms_response::Column::TenantId.eq(tenant));
    }
    let responses = responses.all(&*tx).await?;
    tx.commit().await?;
    Ok(versions
        .into_iter()
        .map(|v| {
            let mine = responses
                .iter()
                .filter(|r| r.terms_id == v.id)
                .cloned()
                .collect();
            (v, mine)
        })
        .collect())
}

/// The terms in force at `now`: the latest to have taken effect.
///
/// # Errors
/// `Db`.
pub async fn in_force<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
) -> Result<Option<terms_version::Model>, ServiceError> {
    Ok(terms_version::Entity::find()
        .filter(terms_version::Column::EffectiveAt.lte(now))
        .order_by_desc(terms_version::Column::EffectiveAt)
        .one(db)
        .await?)
}

/// The controller's admin acknowledges, or objects to, announced terms (once).
///
/// # Errors
/// `NotFound`; `Conflict` when the tenant already answered; `Db`.
pub async fn respond(
    ctx: &RequestCtx<'_>,
    id: TermsId,
    objects: bool,
    reason: Option<&str>,
) -> Result<terms_response::Model, ServiceError> {
    let reason = optional_text("reason", reason, 2_000)?;
    let tx = policy::controller_admin(ctx, Mode::Write).await?;
    terms_version::Entity::find_by_id(id)
        .one(&*tx)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let answered = terms_response::Entity::find_by_id((tx.tenant(), id))
        .one(&*tx)
        .await?;
    if answered.is_some() {
        return Err(ServiceError::Conflict(
            "the tenant already answered these terms".into(),
        ));
    }
    let created = terms_response::Entity::insert(terms_response::ActiveModel {
        tenant_id: Set(tx.tenant()),
        terms_id: Set(id),
        response: Set(if objects { "OBJECTED" } else { "ACKNOWLEDGED" }.to_owned()),
        reason: Set(reason),
        responded_by: Set(tx.actor().id.clone()),
        responded_at: Set(ctx.now),
    })
    .exec_with_returning(&*tx)
    .await?;
    tx.commit().await?;
    Ok(created)
}
