//! Carrying out a request, with its evidence: an access or portability request exports
//! everything held about the subject; an erasure removes it except what a legal hold
//! keeps, and reports every exception; a restriction, an objection or an opt-out sets the
//! contact's flags, which the policy then enforces; a rectification applies corrections
//! one by one before completion. Completion returns a receipt signed by the deployment's
//! key and forwards what subprocessors must also do.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use entities::{appointment, contact, legal_hold, privacy_request, privacy_request_export};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use super::{
    all_fields, begin_step, ensure_open, kind_of, lifecycle::revoke_instruction, record_event,
    request_instruction, sha256_hex, subject_of, ts,
};
use crate::domain::contact::{Consent, ContactChanges};
use crate::domain::instruction::AccessOperation;
use crate::domain::privacy::{ForwardAction, RequestKind, RequestStatus};
use crate::domain::{ContactId, Invalid, PrivacyRequestId, TenantId};
use crate::error::ServiceError;
use crate::ledger::ResourceType;
use crate::policy::{self, Access, Grant, RequestCtx, TenantTx};
use crate::signing::Signer;

/// The type of a receipt document.
pub const RECEIPT_TYPE: &str = "custodian.privacy-request-receipt.v1";

/// The step's operation on the subject's contacts, by kind.
fn operation(kind: RequestKind) -> AccessOperation {
    match kind {
        RequestKind::Access | RequestKind::Portability => AccessOperation::Export,
        RequestKind::Erasure => AccessOperation::Erase,
        _ => AccessOperation::Write,
    }
}

/// Refuses a step once the request's instruction is no longer in force (revoked by the
/// controller, or the request closed).
async fn instructed(
    tx: &TenantTx<'_>,
    id: PrivacyRequestId,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let instruction = entities::processing_instruction::Entity::find()
        .filter(entities::processing_instruction::Column::TenantId.eq(tx.tenant()))
        .filter(entities::processing_instruction::Column::Id.eq(request_instruction(id)))
        .one(&**tx)
        .await?;
    match instruction {
        Some(i) if super::super::instructions::is_active(&i, now) => Ok(()),
        _ => Err(ServiceError::Conflict(
            "the request's instruction is no longer in force".into(),
        )),
    }
}

/// Applies the controller's corrections to one of the subject's contacts through the
/// normal validation (rectification requests only); the request moves to `IN_PROGRESS`.
///
/// # Errors
/// `NotFound`; `Conflict` when the request is not an open rectification, not running, or
/// the contact's version moved on; `Validation` (field `contactId`) for a contact outside
/// the subject; `Db`.
#[tracing::instrument(skip_all, fields(request_id = %id, contact_id = %contact))]
pub async fn rectify(
    ctx: &RequestCtx<'_>,
    id: PrivacyRequestId,
    contact: ContactId,
    changes: ContactChanges,
    expected_version: i32,
    returned: Vec<String>,
) -> Result<(contact::Model, Arc<Grant>), ServiceError> {
    let fields = super::super::touched_fields(changes.field_names(), returned);
    let access = Access::new(AccessOperation::Write, ResourceType::Contact, fields);
    let (mut tx, request) = begin_step(ctx, id, access).await?;
    running(&request, RequestKind::Rectification)?;
    instructed(&tx, id, ctx.now).await?;
    if !subject_of(&request).contains(&contact) {
        return Err(Invalid::new("contactId", "the contact is not the request's subject").into());
    }
    let updated =
        super::super::contacts::apply_update(&tx, contact, changes, expected_version, ctx.now)
            .await?;
    let mut rectified: Vec<ContactId> = request
        .result
        .as_ref()
        .and_then(|r| serde_json::from_value(r["rectified"].clone()).ok())
        .unwrap_or_default();
    if !rectified.contains(&contact) {
        rectified.push(contact);
    }
    let mut active = request.clone().into_active_model();
    active.status = Set(RequestStatus::InProgress.as_str().to_owned());
    active.result = Set(Some(json!({ "rectified": rectified })));
    active.updated_at = Set(ctx.now);
    let request = privacy_request::Entity::update(active).exec(&*tx).await?;
    let actor = tx.actor();
    record_event(&*tx, &request, &actor, "RECTIFIED", None, ctx.now).await?;
    tx.touched([contact]);
    let grant = tx.commit().await?;
    Ok((updated, grant))
}

/// Refuses a step unless the request is of `kind`, open and not paused.
fn running(request: &privacy_request::Model, kind: RequestKind) -> Result<(), ServiceError> {
    if kind_of(request) != kind {
        return Err(ServiceError::Conflict(format!(
            "the request is a {} request",
            request.kind
        )));
    }
    runnable(request)
}

fn runnable(request: &privacy_request::Model) -> Result<(), ServiceError> {
    match ensure_open(request)? {
        RequestStatus::Paused => Err(ServiceError::Conflict(
            "the request is paused: resume it first".into(),
        )),
        _ => Ok(()),
    }
}

/// Carries out an open request on its confirmed subject and completes it, with its
/// evidence and a signed receipt; forwards what the subprocessors holding the data must
/// also do.
///
/// # Errors
/// `NotFound`; `Conflict` when it is not open or paused; `Validation` (field
/// `subjectContactIds`) when no subject is confirmed; `Db`.
#[tracing::instrument(skip_all, fields(request_id = %id))]
pub async fn complete(
    ctx: &RequestCtx<'_>,
    signer: &Signer,
    id: PrivacyRequestId,
) -> Result<privacy_request::Model, ServiceError> {
    // The kind decides the operation the step is recorded as: read it first (a
    // read-only look, no data).
    let kind = kind_of(&super::get(ctx, id).await?);
    let fields = match kind {
        RequestKind::Restriction => Vec::new(),
        RequestKind::Objection => vec!["marketingPreferences".to_owned()],
        RequestKind::OptOutOfSale => vec!["optOutOfSale".to_owned()],
        RequestKind::OptOutOfSharing => vec!["optOutOfSharing".to_owned()],
        RequestKind::Rectification => Vec::new(),
        _ => all_fields(),
    };
    let access = Access::new(operation(kind), ResourceType::Contact, fields).writing_rows();
    let (mut tx, request) = begin_step(ctx, id, access).await?;
    runnable(&request)?;
    if kind_of(&request) != kind {
        // Opened from a referral as another kind since it was first read.
        return Err(ServiceError::Conflict(
            "the request changed while it was being completed; retry".into(),
        ));
    }
    instructed(&tx, id, ctx.now).await?;
    let subject = subject_of(&request);
    if subject.is_empty() {
        return Err(
            Invalid::new("subjectContactIds", "confirm the request's subject first").into(),
        );
    }
    let tenant = tx.tenant();
    let now = ctx.now;
    let (result, digest) = match kind {
        RequestKind::Access | RequestKind::Portability => {
            super::export::export(&tx, &request, &subject, kind, now).await?
        }
        RequestKind::Erasure => erase(&tx, &request, &subject, now).await?,
        RequestKind::Rectification => {
            let report = json!({
                "rectified": request.result.as_ref().map_or(json!([]), |r| r["rectified"].clone()),
            });
            let digest = sha256_hex(crate::signing::canonical(&report).as_bytes());
            (report, digest)
        }
        _ => set_flags(&tx, tenant, &subject, kind, now).await?,
    };
    let reached: Vec<ContactId> = match &result["erased"]["contacts"] {
        Value::Array(_) => {
            serde_json::from_value(result["erased"]["contacts"].clone()).unwrap_or_default()
        }
        _ => subject.clone(),
    };
    // What the subprocessors must also do: for an erasure, only what was erased here
    // (a held contact is not to be erased anywhere).
    if let Some(action) = kind.forward_action()
        && !reached.is_empty()
    {
        super::forwards::forward(&*tx, &request, action, &reached, now).await?;
    }
    // The step's record is chained now, so the receipt names a head that includes it.
    tx.touched(reached);
    let head = tx.chain_now().await?;
    let receipt = signer.sign(
        RECEIPT_TYPE,
        json!({
            "tenantId": tenant,
            "requestId": request.id,
            "kind": request.kind,
            "regime": request.regime,
            "subjectContactIds": subject,
            "receivedAt": ts(request.received_at),
            "completedAt": ts(now),
            "resultSha256": digest,
            "ledgerHead": {"seq": head.0, "hash": head.1},
        }),
    );
    let mut active = request.clone().into_active_model();
    active.status = Set(RequestStatus::Completed.as_str().to_owned());
    active.completed_at = Set(Some(now));
    active.result = Set(Some(result));
    active.result_sha256 = Set(Some(digest));
    active.receipt = Set(Some(receipt));
    active.updated_at = Set(now);
    let completed = privacy_request::Entity::update(active).exec(&*tx).await?;
    let actor = tx.actor();
    record_event(&*tx, &completed, &actor, "COMPLETED", None, now).await?;
    revoke_instruction(&*tx, tenant, id, "completed", now).await?;
    tx.commit().await?;
    if kind == RequestKind::Erasure
        && let Err(e) = ctx.reclaim_erased().await
    {
        // The erasure is committed; what failed is only the storage's clean-up, which the
        // next checkpoint completes.
        tracing::warn!(error = %e, request_id = %id, "erased pages not yet reclaimed");
    }
    tracing::info!(tenant_id = %tenant, request_id = %id, "data-subject request completed");
    Ok(completed)
}

/// Sets the flags a restriction, objection or opt-out asks for, and reports which
/// contacts changed.
async fn set_flags(
    tx: &TenantTx<'_>,
    tenant: TenantId,
    subject: &[ContactId],
    kind: RequestKind,
    now: DateTime<Utc>,
) -> Result<(Value, String), ServiceError> {
    let mut update = contact::Entity::update_many()
        .filter(contact::Column::TenantId.eq(tenant))
        .filter(contact::Column::Id.is_in(subject.iter().copied()))
        .col_expr(contact::Column::UpdatedAt, Expr::value(now))
        .col_expr(
            contact::Column::Version,
            Expr::col(contact::Column::Version).add(1),
        );
    let set = match kind {
        RequestKind::Restriction => {
            update = update.col_expr(contact::Column::RestrictedAt, Expr::value(Some(now)));
            "restricted"
        }
        RequestKind::Objection => {
            let out = Consent::OptedOut.as_str();
            update = update
                .col_expr(contact::Column::MarketingEmail, Expr::value(out))
                .col_expr(contact::Column::MarketingSms, Expr::value(out))
                .col_expr(contact::Column::MarketingPhone, Expr::value(out));
            "objectedToMarketing"
        }
        RequestKind::OptOutOfSale => {
            update = update.col_expr(contact::Column::OptOutSale, Expr::value(true));
            "optedOutOfSale"
        }
        _ => {
            update = update.col_expr(contact::Column::OptOutSharing, Expr::value(true));
            "optedOutOfSharing"
        }
    };
    update.exec(&**tx).await?;
    let report = json!({ set: subject });
    let digest = sha256_hex(crate::signing::canonical(&report).as_bytes());
    Ok((report, digest))
}

/// Erases the subject's contacts (their appointments go with them) except those a hold
/// in force keeps, removes the exports that held their data, and reports every exception
/// with its legal reason. The ledger keeps its records: they hold ids, never personal
/// data.
async fn erase(
    tx: &TenantTx<'_>,
    request: &privacy_request::Model,
    subject: &[ContactId],
    now: DateTime<Utc>,
) -> Result<(Value, String), ServiceError> {
    let tenant = tx.tenant();
    let holds = legal_hold::Entity::find()
        .filter(legal_hold::Column::TenantId.eq(tenant))
        .filter(legal_hold::Column::ContactId.is_in(subject.iter().copied()))
        .filter(super::super::legal_holds::in_force(now))
        .order_by_asc(legal_hold::Column::PlacedAt)
        .all(&**tx)
        .await?;
    let held: Vec<ContactId> = holds.iter().map(|h| h.contact_id).collect();
    let erased: Vec<ContactId> = subject
        .iter()
        .copied()
        .filter(|c| !held.contains(c))
        .collect();
    let appointments: Vec<appointment::Model> = appointment::Entity::find()
        .filter(appointment::Column::TenantId.eq(tenant))
        .filter(appointment::Column::ContactId.is_in(erased.iter().copied()))
        .all(&**tx)
        .await?;
    appointment::Entity::delete_many()
        .filter(appointment::Column::TenantId.eq(tenant))
        .filter(appointment::Column::ContactId.is_in(erased.iter().copied()))
        .exec(&**tx)
        .await?;
    contact::Entity::delete_many()
        .filter(contact::Column::TenantId.eq(tenant))
        .filter(contact::Column::Id.is_in(erased.iter().copied()))
        .exec(&**tx)
        .await?;
    // Released holds stay as the record that they were placed and lifted; their notes,
    // which may describe the subject, go.
    legal_hold::Entity::update_many()
        .col_expr(
            legal_hold::Column::Note,
            Expr::value(Option::<String>::None),
        )
        .filter(legal_hold::Column::TenantId.eq(tenant))
        .filter(legal_hold::Column::ContactId.is_in(erased.iter().copied()))
        .exec(&**tx)
        .await?;
    let exports_removed = remove_exports_of(tx, tenant, &erased).await?;
    forget_free_text(tx, tenant, &erased).await?;
    let report = json!({
        "requestId": request.id,
        "erased": {
            "contacts": erased,
            "appointments": appointments.iter().map(|a| a.id).collect::<Vec<_>>(),
            "exports": exports_removed,
        },
        "exceptions": holds.iter().map(|h| json!({
            "contactId": h.contact_id,
            "holdId": h.id,
            "reason": h.reason,
            "endsAt": h.ends_at.map(ts),
        })).collect::<Vec<_>>(),
        "kept": [
            "access records: the ledger keeps its records, which hold ids and never personal data, so its chain still verifies",
        ],
    });
    let digest = sha256_hex(crate::signing::canonical(&report).as_bytes());
    Ok((report, digest))
}

/// Clears the free text the controller wrote on its requests about any of `erased`
/// (references, reasons, notes) and on the instructions they documented: it may name the
/// subject. Ids, dates, statuses and hashes stay.
async fn forget_free_text(
    tx: &TenantTx<'_>,
    tenant: TenantId,
    erased: &[ContactId],
) -> Result<(), ServiceError> {
    use entities::{privacy_request_event, processing_instruction};
    let none = || Expr::value(Option::<String>::None);
    for request in privacy_request::Entity::find()
        .filter(privacy_request::Column::TenantId.eq(tenant))
        .all(&**tx)
        .await?
    {
        if !subject_of(&request).iter().any(|c| erased.contains(c)) {
            continue;
        }
        privacy_request::Entity::update_many()
            .col_expr(privacy_request::Column::ExternalReference, none())
            .col_expr(privacy_request::Column::DenialReason, none())
            .col_expr(privacy_request::Column::ExtensionReason, none())
            .filter(privacy_request::Column::TenantId.eq(tenant))
            .filter(privacy_request::Column::Id.eq(request.id))
            .exec(&**tx)
            .await?;
        privacy_request_event::Entity::update_many()
            .col_expr(privacy_request_event::Column::Reason, none())
            .filter(privacy_request_event::Column::TenantId.eq(tenant))
            .filter(privacy_request_event::Column::RequestId.eq(request.id))
            .exec(&**tx)
            .await?;
        processing_instruction::Entity::update_many()
            .col_expr(processing_instruction::Column::ExternalReference, none())
            .filter(processing_instruction::Column::TenantId.eq(tenant))
            .filter(processing_instruction::Column::Id.eq(request_instruction(request.id)))
            .exec(&**tx)
            .await?;
    }
    Ok(())
}

/// Deletes the stored exports of the tenant's requests about any of `erased` (their
/// hashes stay on the requests); returns those requests' ids.
async fn remove_exports_of(
    tx: &TenantTx<'_>,
    tenant: TenantId,
    erased: &[ContactId],
) -> Result<Vec<PrivacyRequestId>, ServiceError> {
    let exports = privacy_request_export::Entity::find()
        .filter(privacy_request_export::Column::TenantId.eq(tenant))
        .all(&**tx)
        .await?;
    let mut removed = Vec::new();
    for e in exports {
        if removed.contains(&e.request_id) {
            continue;
        }
        let about = super::find(&**tx, tenant, e.request_id).await?;
        if subject_of(&about).iter().any(|c| erased.contains(c)) {
            privacy_request_export::Entity::delete_many()
                .filter(privacy_request_export::Column::TenantId.eq(tenant))
                .filter(privacy_request_export::Column::RequestId.eq(e.request_id))
                .exec(&**tx)
                .await?;
            removed.push(e.request_id);
        }
    }
    Ok(removed)
}

/// Lifts a contact's restriction (controller admin): it is processed again. Recorded on
/// the restriction request that set it, and forwarded to the subprocessors it was.
///
/// # Errors
/// `NotFound`; `Forbidden` for anyone but the controller's admin; `Conflict` when it is
/// not restricted; `Db`.
pub async fn lift_restriction(
    ctx: &RequestCtx<'_>,
    id: ContactId,
) -> Result<(contact::Model, Arc<Grant>), ServiceError> {
    let access = Access::new(AccessOperation::Write, ResourceType::Contact, Vec::new())
        .controller_admin_only();
    let tx = policy::begin(ctx, access).await?;
    let (mut tx, model) = super::super::contacts::reach(tx, id).await?;
    if model.restricted_at.is_none() {
        return Err(ServiceError::Conflict(
            "the contact is not restricted".into(),
        ));
    }
    let mut active = model.clone().into_active_model();
    active.restricted_at = Set(None);
    active.version = Set(model.version + 1);
    active.updated_at = Set(ctx.now);
    let updated = contact::Entity::update(active).exec(&*tx).await?;
    let restriction = privacy_request::Entity::find()
        .filter(privacy_request::Column::TenantId.eq(tx.tenant()))
        .filter(privacy_request::Column::Kind.eq(RequestKind::Restriction.as_str()))
        .filter(privacy_request::Column::Status.eq(RequestStatus::Completed.as_str()))
        .order_by_desc(privacy_request::Column::CompletedAt)
        .all(&*tx)
        .await?
        .into_iter()
        .find(|r| subject_of(r).contains(&id));
    if let Some(request) = restriction {
        let actor = tx.actor();
        record_event(&*tx, &request, &actor, "RESTRICTION_LIFTED", None, ctx.now).await?;
        super::forwards::forward(
            &*tx,
            &request,
            ForwardAction::LiftRestriction,
            &[id],
            ctx.now,
        )
        .await?;
    }
    tx.touched([id]);
    let grant = tx.commit().await?;
    Ok((updated, grant))
}
