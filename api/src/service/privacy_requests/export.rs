//! The evidence of an access or portability request: the export of everything held
//! about the subject (JSON; CSV too for portability), stored once so every download is
//! the same document, and its download, recorded like any export.

use chrono::{DateTime, Utc};
use entities::{
    access_pending, access_record, appointment, contact, privacy_request, privacy_request_export,
    subprocessor, subprocessor_objection, tenant, transfer_record,
};
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use super::{all_fields, begin_step, sha256_hex, status_of, subject_of, ts};
use crate::domain::instruction::AccessOperation;
use crate::domain::privacy::{ExportFormat, RequestKind, RequestStatus};
use crate::domain::subprocessor::{SubprocessorStatus, status_at};
use crate::domain::{ContactId, PrivacyRequestId, TenantId};
use crate::error::ServiceError;
use crate::ledger::ResourceType;
use crate::policy::{Access, RequestCtx, TenantTx};

/// Builds, stores and hashes the subject's export: every field of the subject's contacts,
/// their appointments, the ledger's records about them (who accessed their data, when,
/// under which instruction: the recipients of Art. 15(1)(c)), and the subprocessors and
/// transfers that apply to the tenant with their safeguards (Art. 15(2)). JSON always;
/// CSV too for portability.
pub(super) async fn export(
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
        let records = records_about(tx, c.id, &mine, now).await?;
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
    now: DateTime<Utc>,
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
            .filter(crate::service::held::not_held(
                access_record::Column::InstructionId,
                tx.tenant(),
                now,
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
            .filter(crate::service::held::not_held(
                access_pending::Column::InstructionId,
                tx.tenant(),
                now,
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
