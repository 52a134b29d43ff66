//! Carrying out a request, with its evidence: an access or portability request exports
//! everything held about the subject; an erasure removes it except what a legal hold
//! keeps, and reports every exception; a restriction, an objection or an opt-out sets the
//! contact's flags, which the policy then enforces; a rectification applies corrections
//! one by one before completion. Completion returns a receipt signed by the deployment's
//! key and forwards what subprocessors must also do.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use entities::{
    access_pending, access_record, appointment, contact, legal_hold, privacy_request,
    privacy_request_export, subprocessor, subprocessor_objection, tenant, transfer_record,
};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{
    ensure_open, find, kind_of, record_event, request_instruction, revoke_instruction, status_of,
    subject_of,
};
use crate::domain::contact::{Consent, ContactChanges};
use crate::domain::instruction::AccessOperation;
use crate::domain::privacy::{ExportFormat, ForwardAction, RequestKind, RequestStatus};
use crate::domain::subprocessor::{SubprocessorStatus, status_at};
use crate::domain::{ContactId, Invalid, PrivacyRequestId, TenantId};
use crate::error::ServiceError;
use crate::ledger::ResourceType;
use crate::policy::{self, Access, Grant, RequestCtx, TenantTx};
use crate::signing::Signer;

/// The type of a receipt document.
pub const RECEIPT_TYPE: &str = "custodian.privacy-request-receipt.v1";
fn all_fields() -> Vec<String> {
    super::super::contacts::personal_fields()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The step's operation on the subject's contacts, by kind.
fn operation(kind: RequestKind) -> AccessOperation {
    match kind {
        RequestKind::Access | RequestKind::Portability => AccessOperation::Export,
        RequestKind::Erasure => AccessOperation::Erase,
        _ => AccessOperation::Write,
    }
}

/// Begins a step of an open request on its subject, inside one transaction that also
/// holds the request row.
async fn begin_step<'a>(
    ctx: &'a RequestCtx<'a>,
    id: PrivacyRequestId,
    access: Access,
) -> Result<(TenantTx<'a>, privacy_request::Model), ServiceError> {
    let tx = policy::begin_request_step(ctx, request_instruction(id), access).await?;
    let model = find(&*tx, tx.tenant(), id).await?;
    Ok((tx, model))
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
            export(&tx, &request, &subject, kind, now).await?
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

/// Builds, stores and hashes the subject's export: every field of the subject's contacts,
/// their appointments, the ledger's records about them (who accessed their data, when,
/// under which instruction: the recipients of Art. 15(1)(c)), and the subprocessors and
/// transfers that apply to the tenant with their safeguards (Art. 15(2)). JSON always;
/// CSV too for portability.
async fn export(
    tx: &TenantTx<'_>,
    request: &privacy_request::Model,
    subject: &[ContactId],
    kind: RequestKind,
    now: DateTime<Utc>,
) -> Result<(Value, String), ServiceError> {
    let tenant = tx.tenant();
    let contacts = super::existing_contacts(&**tx, tenant, subject, "subjectContactIds").await?;
    let appointments = appointment::Entity::find()
        .filter(appointment::Column::TenantId.eq(tenant))
        .filter(appointment::Column::ContactId.is_in(subject.iter().copied()))
        .order_by_asc(appointment::Column::StartsAt)
        .order_by_asc(appointment::Column::Id)
        .all(&**tx)
        .await?;
    let controller = tenant::Entity::find_by_id(tenant)
        .one(&**tx)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let mut subjects = Vec::new();
    let mut record_count = 0;
    for c in &contacts {
        let mine: Vec<&appointment::Model> = appointments
            .iter()
            .filter(|a| a.contact_id == c.id)
            .collect();
        let records = records_about(tx, c.id, &mine).await?;
        record_count += records.len();
        let mut doc = contact_json(c);
        doc["appointments"] = Value::Array(mine.iter().map(|a| appointment_json(a)).collect());
        doc["accessRecords"] = Value::Array(records);
        subjects.push(doc);
    }
    let document = json!({
        "format": "custodian.subject-export.v1",
        "generatedAt": ts(now),
        "controller": {"id": controller.id, "name": controller.name},
        "request": {
            "id": request.id,
            "kind": request.kind,
            "regime": request.regime,
            "receivedAt": ts(request.received_at),
        },
        "subjects": subjects,
        "recipients": recipients(tx, tenant, now).await?,
    });
    let json_text = crate::signing::canonical(&document);
    let digest = sha256_hex(json_text.as_bytes());
    let mut formats = vec![(ExportFormat::Json, json_text)];
    if kind.export_formats().contains(&ExportFormat::Csv) {
        formats.push((ExportFormat::Csv, csv_of(&contacts, &appointments)?));
    }
    let mut hashes = serde_json::Map::new();
    for (format, content) in formats {
        let sha = sha256_hex(content.as_bytes());
        hashes.insert(format.as_str().to_owned(), json!(sha));
        privacy_request_export::Entity::insert(privacy_request_export::ActiveModel {
            tenant_id: Set(tenant),
            request_id: Set(request.id),
            format: Set(format.as_str().to_owned()),
            content: Set(content),
            sha256: Set(sha),
            created_at: Set(now),
        })
        .exec(&**tx)
        .await?;
    }
    let summary = json!({
        "contacts": contacts.len(),
        "appointments": appointments.len(),
        "accessRecords": record_count,
        "sha256": hashes,
    });
    Ok((summary, digest))
}

/// The ledger's records about a contact and its appointments, sealed or pending, oldest
/// first: what a record says of who acted, never what they saw.
async fn records_about(
    tx: &TenantTx<'_>,
    contact: ContactId,
    appointments: &[&appointment::Model],
) -> Result<Vec<Value>, ServiceError> {
    let backend = tx.get_database_backend();
    let mut targets = vec![(ResourceType::Contact, contact.to_string())];
    targets.extend(
        appointments
            .iter()
            .map(|a| (ResourceType::Appointment, a.id.to_string())),
    );
    let mut out: Vec<(DateTime<Utc>, Value)> = Vec::new();
    for (resource, id) in targets {
        let chained = access_record::Entity::find()
            .filter(access_record::Column::TenantId.eq(tx.tenant()))
            .filter(access_record::Column::ResourceType.eq(resource.as_str()))
            .filter(crate::db::json_array_contains(
                backend,
                "access_records.resource_ids",
                id.clone(),
            ))
            .order_by_asc(access_record::Column::Seq)
            .all(&**tx)
            .await?;
        for r in chained {
            out.push((
                r.recorded_at,
                json!({
                    "seq": r.seq, "recordedAt": ts(r.recorded_at), "actorKind": r.actor_kind,
                    "actorId": r.actor_id, "subprocessorId": r.subprocessor_id,
                    "operation": r.operation, "resourceType": r.resource_type,
                    "fields": r.fields, "purpose": r.purpose, "instructionId": r.instruction_id,
                    "outcome": r.outcome,
                }),
            ));
        }
        let pending = access_pending::Entity::find()
            .filter(access_pending::Column::TenantId.eq(tx.tenant()))
            .filter(access_pending::Column::ResourceType.eq(resource.as_str()))
            .filter(crate::db::json_array_contains(
                backend,
                "access_pending.resource_ids",
                id,
            ))
            .all(&**tx)
            .await?;
        for r in pending {
            out.push((
                r.recorded_at,
                json!({
                    "seq": null, "recordedAt": ts(r.recorded_at), "actorKind": r.actor_kind,
                    "actorId": r.actor_id, "subprocessorId": r.subprocessor_id,
                    "operation": r.operation, "resourceType": r.resource_type,
                    "fields": r.fields, "purpose": r.purpose, "instructionId": r.instruction_id,
                    "outcome": r.outcome,
                }),
            ));
        }
    }
    out.sort_by_key(|(at, _)| *at);
    Ok(out.into_iter().map(|(_, v)| v).collect())
}

/// The subprocessors engaged for the tenant (active or announced, not retired), with
/// whether the controller objected, and the transfers to them with their safeguards.
async fn recipients(
    tx: &TenantTx<'_>,
    tenant: TenantId,
    now: DateTime<Utc>,
) -> Result<Value, ServiceError> {
    let objected: Vec<_> = subprocessor_objection::Entity::find()
        .filter(subprocessor_objection::Column::TenantId.eq(tenant))
        .all(&**tx)
        .await?
        .into_iter()
        .map(|o| o.subprocessor_id)
        .collect();
    let engaged: Vec<subprocessor::Model> = subprocessor::Entity::find()
        .filter(subprocessor::Column::AnnouncedAt.is_not_null())
        .order_by_asc(subprocessor::Column::CreatedAt)
        .all(&**tx)
        .await?
        .into_iter()
        .filter(|s| status_at(s.effective_at, s.retired_at, now) != SubprocessorStatus::Retired)
        .collect();
    let transfers = transfer_record::Entity::find()
        .filter(transfer_record::Column::SubprocessorId.is_in(engaged.iter().map(|s| s.id)))
        .order_by_asc(transfer_record::Column::CreatedAt)
        .all(&**tx)
        .await?;
    Ok(json!({
        "subprocessors": engaged.iter().map(|s| json!({
            "id": s.id, "name": s.name, "service": s.service,
            "dataCategories": s.data_categories, "locations": s.locations,
            "status": format!("{:?}", status_at(s.effective_at, s.retired_at, now)).to_uppercase(),
            "objected": objected.contains(&s.id),
        })).collect::<Vec<_>>(),
        "transfers": transfers.iter().map(|t| json!({
            "id": t.id, "subprocessorId": t.subprocessor_id, "originRegion": t.origin_region,
            "destinationCountry": t.destination_country, "dataCategories": t.data_categories,
            "safeguard": t.safeguard, "sccModule": t.scc_module,
            "instrumentReference": t.instrument_reference,
            "supplementaryMeasures": t.supplementary_measures,
            "validFrom": ts(t.valid_from), "validUntil": t.valid_until.map(ts),
        })).collect::<Vec<_>>(),
    }))
}

fn contact_json(c: &contact::Model) -> Value {
    json!({
        "id": c.id,
        "firstName": c.first_name,
        "lastName": c.last_name,
        "emails": c.emails,
        "phones": c.phones,
        "addresses": c.addresses,
        "employer": c.employer,
        "jobTitle": c.job_title,
        "customFields": c.custom_fields,
        "tags": c.tags,
        "source": c.source,
        "marketingPreferences": {
            "email": c.marketing_email, "sms": c.marketing_sms, "phone": c.marketing_phone,
        },
        "optOutOfSale": c.opt_out_sale,
        "optOutOfSharing": c.opt_out_sharing,
        "restricted": c.restricted_at.is_some(),
        "createdAt": ts(c.created_at),
        "updatedAt": ts(c.updated_at),
    })
}

fn appointment_json(a: &appointment::Model) -> Value {
    json!({
        "id": a.id,
        "startsAt": ts(a.starts_at),
        "endsAt": ts(a.ends_at),
        "title": a.title,
        "location": a.location,
        "notes": a.notes,
        "createdAt": ts(a.created_at),
        "updatedAt": ts(a.updated_at),
    })
}

/// The portability CSV: one row per contact and per appointment (`recordType`), lists and
/// objects as JSON in their cells.
fn csv_of(
    contacts: &[contact::Model],
    appointments: &[appointment::Model],
) -> Result<String, ServiceError> {
    let fault = |e: csv::Error| ServiceError::Internal(format!("the CSV export failed: {e}"));
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "recordType",
        "id",
        "contactId",
        "firstName",
        "lastName",
        "emails",
        "phones",
        "addresses",
        "employer",
        "jobTitle",
        "customFields",
        "tags",
        "source",
        "marketingEmail",
        "marketingSms",
        "marketingPhone",
        "optOutOfSale",
        "optOutOfSharing",
        "startsAt",
        "endsAt",
        "title",
        "location",
        "notes",
        "createdAt",
        "updatedAt",
    ])
    .map_err(fault)?;
    for c in contacts {
        w.write_record([
            "contact".to_owned(),
            c.id.to_string(),
            c.id.to_string(),
            c.first_name.clone(),
            c.last_name.clone(),
            c.emails.to_string(),
            c.phones.to_string(),
            c.addresses.to_string(),
            c.employer.clone().unwrap_or_default(),
            c.job_title.clone().unwrap_or_default(),
            c.custom_fields.to_string(),
            c.tags.to_string(),
            c.source.clone(),
            c.marketing_email.clone(),
            c.marketing_sms.clone(),
            c.marketing_phone.clone(),
            c.opt_out_sale.to_string(),
            c.opt_out_sharing.to_string(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            ts(c.created_at),
            ts(c.updated_at),
        ])
        .map_err(fault)?;
    }
    for a in appointments {
        let mut row = vec![
            "appointment".to_owned(),
            a.id.to_string(),
            a.contact_id.to_string(),
        ];
        row.extend(std::iter::repeat_n(String::new(), 15));
        row.extend([
            ts(a.starts_at),
            ts(a.ends_at),
            a.title.clone(),
            a.location.clone().unwrap_or_default(),
            a.notes.clone().unwrap_or_default(),
            ts(a.created_at),
            ts(a.updated_at),
        ]);
        w.write_record(row).map_err(fault)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| ServiceError::Internal(format!("the CSV export failed: {e}")))?;
    String::from_utf8(bytes).map_err(|e| ServiceError::Internal(e.to_string()))
}

/// A completed request's stored export, as downloaded: the same document every time.
/// Reading it is an access to the subject's data, recorded under the request.
///
/// # Errors
/// `NotFound` when the request has no export in `format` (not an access or portability
/// request, not completed, or its subject since erased); `Db`.
pub async fn download(
    ctx: &RequestCtx<'_>,
    id: PrivacyRequestId,
    format: ExportFormat,
) -> Result<privacy_request_export::Model, ServiceError> {
    let access = Access::new(AccessOperation::Export, ResourceType::Contact, all_fields());
    let (mut tx, request) = begin_step(ctx, id, access).await?;
    if status_of(&request) != RequestStatus::Completed {
        return Err(ServiceError::NotFound);
    }
    let export = privacy_request_export::Entity::find()
        .filter(privacy_request_export::Column::TenantId.eq(tx.tenant()))
        .filter(privacy_request_export::Column::RequestId.eq(id))
        .filter(privacy_request_export::Column::Format.eq(format.as_str()))
        .one(&*tx)
        .await?
        .ok_or(ServiceError::NotFound)?;
    tx.touched(subject_of(&request));
    tx.commit().await?;
    Ok(export)
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
