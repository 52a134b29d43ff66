//! A request's clock and its end: confirming the subject, pausing and resuming (both due
//! dates move by the time paused), the one extension, denial and withdrawal.

use chrono::{DateTime, Utc};
use entities::{privacy_request, privacy_request_event};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
};

use super::super::to_json;
use super::{
    dedup, ensure_open, existing_contacts, find, regime_of, request_instruction, save, status_of,
};
use crate::domain::privacy::{PauseReason, RequestStatus};
use crate::domain::{ContactId, Invalid, PrivacyRequestId, TenantId, bounded_text, optional_text};
use crate::error::ServiceError;
use crate::policy::{self, Mode, RequestCtx};
/// Sets the contacts the request is about (from the candidates an identifier matched, or
/// any of the tenant's).
///
/// # Errors
/// `NotFound`; `Conflict` when it is no longer open; `Validation` (field
/// `contactIds[i]`) for unknown contacts; `Db`.
pub async fn confirm_subject(
    ctx: &RequestCtx<'_>,
    id: PrivacyRequestId,
    contact_ids: Vec<ContactId>,
) -> Result<privacy_request::Model, ServiceError> {
    let tx = policy::requests(ctx, Mode::Write).await?;
    let model = find(&*tx, tx.tenant(), id).await?;
    ensure_open(&model)?;
    if contact_ids.is_empty() {
        return Err(Invalid::new("contactIds", "name at least one contact").into());
    }
    let ids = dedup(&contact_ids);
    existing_contacts(&*tx, tx.tenant(), &ids, "contactIds").await?;
    let mut active = model.into_active_model();
    active.subject_contact_ids = Set(to_json(&ids));
    active.updated_at = Set(ctx.now);
    let updated = save(&tx, active, "SUBJECT_CONFIRMED", None, ctx.now).await?;
    tx.commit().await?;
    Ok(updated)
}

/// Stops the request's clock while the controller awaits the subject.
///
/// # Errors
/// `NotFound`; `Conflict` unless it is received or in progress; `Db`.
pub async fn pause(
    ctx: &RequestCtx<'_>,
    id: PrivacyRequestId,
    reason: PauseReason,
    note: Option<&str>,
) -> Result<privacy_request::Model, ServiceError> {
    let note = optional_text("note", note, 500)?;
    let tx = policy::requests(ctx, Mode::Write).await?;
    let model = find(&*tx, tx.tenant(), id).await?;
    if !matches!(
        status_of(&model),
        RequestStatus::Received | RequestStatus::InProgress
    ) {
        return Err(ServiceError::Conflict(format!(
            "a {} request cannot be paused",
            model.status
        )));
    }
    let mut active = model.into_active_model();
    active.status = Set(RequestStatus::Paused.as_str().to_owned());
    active.paused_at = Set(Some(ctx.now));
    active.pause_reason = Set(Some(reason.as_str().to_owned()));
    active.updated_at = Set(ctx.now);
    let updated = save(&tx, active, "PAUSED", note, ctx.now).await?;
    tx.commit().await?;
    Ok(updated)
}

/// Restarts a paused request's clock: both due dates move by the time it was paused.
///
/// # Errors
/// `NotFound`; `Conflict` when it is not paused; `Db`.
pub async fn resume(
    ctx: &RequestCtx<'_>,
    id: PrivacyRequestId,
) -> Result<privacy_request::Model, ServiceError> {
    let tx = policy::requests(ctx, Mode::Write).await?;
    let model = find(&*tx, tx.tenant(), id).await?;
    let (RequestStatus::Paused, Some(paused_at)) = (status_of(&model), model.paused_at) else {
        return Err(ServiceError::Conflict("the request is not paused".into()));
    };
    let before = status_before_pause(&*tx, &model).await?;
    let paused = ctx.now - paused_at;
    let mut active = model.clone().into_active_model();
    active.status = Set(before.as_str().to_owned());
    active.paused_at = Set(None);
    active.pause_reason = Set(None);
    active.paused_seconds = Set(model.paused_seconds + paused.num_seconds());
    active.statutory_due_at = Set(model.statutory_due_at.map(|d| d + paused));
    active.processor_due_at = Set(model.processor_due_at.map(|d| d + paused));
    active.updated_at = Set(ctx.now);
    let updated = save(&tx, active, "RESUMED", None, ctx.now).await?;
    tx.commit().await?;
    Ok(updated)
}

/// The status a paused request had when it was paused.
async fn status_before_pause<C: ConnectionTrait>(
    db: &C,
    model: &privacy_request::Model,
) -> Result<RequestStatus, ServiceError> {
    let events = privacy_request_event::Entity::find()
        .filter(privacy_request_event::Column::TenantId.eq(model.tenant_id))
        .filter(privacy_request_event::Column::RequestId.eq(model.id))
        .order_by_desc(privacy_request_event::Column::Seq)
        .all(db)
        .await?;
    Ok(events
        .iter()
        .filter_map(|e| RequestStatus::from_db(&e.status))
        .find(|s| *s != RequestStatus::Paused)
        .unwrap_or(RequestStatus::Received))
}

/// Extends the statutory due date once, as the regime allows, with the reason the subject
/// is told.
///
/// # Errors
/// `NotFound`; `Conflict` when it is not open or already extended; `Validation` (field
/// `reason`); `Db`.
pub async fn extend(
    ctx: &RequestCtx<'_>,
    id: PrivacyRequestId,
    reason: &str,
) -> Result<privacy_request::Model, ServiceError> {
    let reason = bounded_text("reason", reason, 1000, true)?;
    let tx = policy::requests(ctx, Mode::Write).await?;
    let model = find(&*tx, tx.tenant(), id).await?;
    ensure_open(&model)?;
    if model.extended_at.is_some() {
        return Err(ServiceError::Conflict(
            "the request was already extended: the regime allows one extension".into(),
        ));
    }
    let regime = regime_of(&model).ok_or(ServiceError::NotFound)?;
    if model.statutory_due_at.is_some_and(|due| ctx.now > due) {
        return Err(ServiceError::Conflict(
            "an extension must be decided, and the subject told, within the original period".into(),
        ));
    }
    let mut active = model.clone().into_active_model();
    active.extended_at = Set(Some(ctx.now));
    active.extension_reason = Set(Some(reason.clone()));
    active.statutory_due_at = Set(model.statutory_due_at.map(|d| regime.extended(d)));
    active.updated_at = Set(ctx.now);
    let updated = save(&tx, active, "EXTENDED", Some(reason), ctx.now).await?;
    tx.commit().await?;
    Ok(updated)
}

/// Closes an open request without carrying it out: denied (a reason is required) or
/// withdrawn by the subject. The instruction it documents is revoked.
///
/// # Errors
/// `NotFound`; `Conflict` when it is not open; `Validation` (field `reason`); `Db`.
pub async fn close(
    ctx: &RequestCtx<'_>,
    id: PrivacyRequestId,
    status: RequestStatus,
    reason: Option<&str>,
) -> Result<privacy_request::Model, ServiceError> {
    let reason = match status {
        RequestStatus::Denied => Some(bounded_text("reason", reason.unwrap_or(""), 1000, true)?),
        _ => optional_text("reason", reason, 1000)?,
    };
    let tx = policy::requests(ctx, Mode::Write).await?;
    let model = find(&*tx, tx.tenant(), id).await?;
    // A referral the controller will not take up can be closed too.
    if status_of(&model) != RequestStatus::Referred {
        ensure_open(&model)?;
    }
    let mut active = model.into_active_model();
    active.status = Set(status.as_str().to_owned());
    active.paused_at = Set(None);
    if status == RequestStatus::Denied {
        active.denial_reason = Set(reason.clone());
    }
    active.completed_at = Set(Some(ctx.now));
    active.updated_at = Set(ctx.now);
    let updated = save(&tx, active, status.as_str(), reason, ctx.now).await?;
    revoke_instruction(&*tx, tx.tenant(), id, status.as_str(), ctx.now).await?;
    tx.commit().await?;
    Ok(updated)
}

/// Revokes the instruction a closed request documented.
pub(super) async fn revoke_instruction<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    id: PrivacyRequestId,
    why: &str,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    use entities::processing_instruction as pi;
    pi::Entity::update_many()
        .col_expr(pi::Column::RevokedAt, sea_orm::sea_query::Expr::value(now))
        .col_expr(
            pi::Column::RevokedBy,
            sea_orm::sea_query::Expr::value("custodian"),
        )
        .col_expr(
            pi::Column::RevocationReason,
            sea_orm::sea_query::Expr::value(format!("the request was {why}")),
        )
        .filter(pi::Column::TenantId.eq(tenant))
        .filter(pi::Column::Id.eq(request_instruction(id)))
        .filter(pi::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}
