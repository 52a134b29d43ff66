//! Data-subject requests: the controller's decision to have the processor answer one,
//! with the statutory clock of its regime and the processor's own, every transition
//! recorded, and each step that reaches the subject's data recorded in the ledger under
//! the request's own instruction.
//!
//! - this module: the request's vocabulary and the helpers its steps share;
//!   [`opening`]: opening a request (and referrals);
//! - [`lifecycle`]: the subject, the clock (pause, resume, extension), denial and
//!   withdrawal; [`queue`]: listings and history;
//! - [`execute`]: completing a request of each kind, with its evidence (erasure report,
//!   receipt); [`export`]: the export of an access or portability request;
//! - [`forwards`]: what is passed on to subprocessors, and their confirmations.

pub mod execute;
pub mod export;
pub mod forwards;
mod lifecycle;
mod opening;
mod queue;

pub use lifecycle::{close, confirm_subject, extend, pause, resume};
pub use opening::{open, refer};
pub use queue::{count, events, get, list, set_assistance_window};

use chrono::{DateTime, Duration, Utc};
use entities::{contact, privacy_request, privacy_request_event, tenant};
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};

use super::to_json;
use crate::auth::ActorKind;
use crate::domain::contact::{Email, Phone};
use crate::domain::instruction::{AccessOperation, DataCategory, Purpose};
use crate::domain::privacy::{Channel, Regime, RequestKind, RequestStatus, processor_due};
use crate::domain::{ContactId, InstructionId, Invalid, PrivacyRequestId, TenantId, optional_text};
use crate::error::ServiceError;
use crate::ledger::ResourceType;
use crate::policy::{self, Access, Actor, Mode, PinnedTx, RequestCtx, TenantTx};

/// Who the request is about, as the controller names them.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    pub contact_ids: Vec<ContactId>,
    /// Matched against the tenant's contacts; the matches are listed for the controller
    /// to confirm. Not kept.
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// A validated request to open.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub kind: RequestKind,
    pub regime: Regime,
    pub subject: Subject,
    pub received_at: DateTime<Utc>,
    pub external_reference: Option<String>,
    /// A referral of the tenant's to open as this request.
    pub referral: Option<PrivacyRequestId>,
}

impl NewRequest {
    /// # Errors
    /// [`Invalid`] naming the field at fault.
    pub fn parse(
        kind: RequestKind,
        regime: Regime,
        subject: Subject,
        received_at: Option<DateTime<Utc>>,
        external_reference: Option<&str>,
        referral: Option<PrivacyRequestId>,
        now: DateTime<Utc>,
    ) -> Result<Self, Invalid> {
        let received_at = received_at.unwrap_or(now);
        if received_at > now {
            return Err(Invalid::new(
                "receivedAt",
                "receivedAt must not be in the future",
            ));
        }
        if now - received_at > Duration::days(366) {
            return Err(Invalid::new(
                "receivedAt",
                "receivedAt is more than a year ago",
            ));
        }
        let email = subject
            .email
            .as_deref()
            .map(|e| {
                Email::parse(
                    "subject.email",
                    e,
                    crate::domain::contact::EmailKind::default(),
                )
                .map(|e| e.address)
            })
            .transpose()?;
        let phone = subject
            .phone
            .as_deref()
            .map(|p| {
                Phone::parse(
                    "subject.phone",
                    p,
                    crate::domain::contact::PhoneKind::default(),
                )
                .map(|p| p.number)
            })
            .transpose()?;
        if subject.contact_ids.is_empty()
            && email.is_none()
            && phone.is_none()
            && referral.is_none()
        {
            return Err(Invalid::new(
                "subject",
                "name the subject by contactIds, email or phone",
            ));
        }
        if subject.contact_ids.len() > 100 {
            return Err(Invalid::new(
                "subject.contactIds",
                "at most 100 contacts per request",
            ));
        }
        Ok(Self {
            kind,
            regime,
            subject: Subject {
                contact_ids: dedup(&subject.contact_ids),
                email,
                phone,
            },
            received_at,
            external_reference: optional_text("externalReference", external_reference, 200)?,
            referral,
        })
    }
}

pub(super) fn dedup<T: PartialEq + Copy>(items: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    for i in items {
        if !out.contains(i) {
            out.push(*i);
        }
    }
    out
}

/// A subject's request that reached the processor instead of the controller, recorded by
/// the platform admin without any of the subject's data.
#[derive(Debug, Clone)]
pub struct NewReferral {
    pub tenant: TenantId,
    pub kind: RequestKind,
    pub channel: Channel,
    pub received_at: DateTime<Utc>,
    pub external_reference: Option<String>,
}

/// Which requests a listing returns. Every condition given must hold.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    pub statuses: Vec<RequestStatus>,
    /// Open and statutorily due within this many days (overdue ones included).
    pub due_within_days: Option<i64>,
    /// Open and past the statutory due date.
    pub overdue: Option<bool>,
    /// Open and past the processor's own due date.
    pub processor_overdue: Option<bool>,
}

pub fn cursor(m: &privacy_request::Model) -> String {
    crate::pagination::timestamp_cursor(m.created_at, m.id)
}

/// The ids of `ids` that are contacts of the tenant, in order; an id that is not (another
/// tenant's, or none at all) is refused naming `field[i]`.
///
/// # Errors
/// `Validation`; `Db`.
pub(crate) async fn existing_contacts<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    ids: &[ContactId],
    field: &str,
) -> Result<Vec<contact::Model>, ServiceError> {
    let found = contact::Entity::find()
        .filter(contact::Column::TenantId.eq(tenant))
        .filter(contact::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    for (i, id) in ids.iter().enumerate() {
        if !found.iter().any(|c| c.id == *id) {
            let at = if ids.len() == 1 && !field.ends_with('s') {
                field.to_owned()
            } else {
                format!("{field}[{i}]")
            };
            return Err(Invalid::new(at, "no such contact").into());
        }
    }
    Ok(ids
        .iter()
        .filter_map(|id| found.iter().find(|c| c.id == *id).cloned())
        .collect())
}

/// The contacts whose stored emails or phone numbers hold `email` / `phone` exactly.
async fn matching<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    email: Option<&str>,
    phone: Option<&str>,
) -> Result<Vec<ContactId>, ServiceError> {
    use sea_orm::sea_query::LikeExpr;
    let mut found = Vec::new();
    for (needle, is_email) in [(email, true), (phone, false)] {
        let Some(needle) = needle else { continue };
        let lowered = needle.to_lowercase();
        let escaped = lowered
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let candidates = contact::Entity::find()
            .filter(contact::Column::TenantId.eq(tenant))
            .filter(
                contact::Column::SearchText
                    .like(LikeExpr::new(format!("%{escaped}%")).escape('\\')),
            )
            .all(db)
            .await?;
        for c in candidates {
            let hit = if is_email {
                let emails: Vec<Email> =
                    serde_json::from_value(c.emails.clone()).unwrap_or_default();
                emails.iter().any(|e| e.address.to_lowercase() == lowered)
            } else {
                let phones: Vec<Phone> =
                    serde_json::from_value(c.phones.clone()).unwrap_or_default();
                phones.iter().any(|p| p.number == needle)
            };
            if hit && !found.contains(&c.id) {
                found.push(c.id);
            }
        }
    }
    Ok(found)
}

/// The instruction a request documents: the controller's decision that the processor
/// carry out this request, by the controller's admin, on this subject. It has the
/// request's id and names no other actor, so it reaches nobody's data by itself; every
/// step taken under it is recorded against it.
fn instruction_for(
    tenant: TenantId,
    id: PrivacyRequestId,
    kind: RequestKind,
    regime: Regime,
    reference: Option<String>,
    issued_by: &str,
    now: DateTime<Utc>,
) -> entities::processing_instruction::ActiveModel {
    let operations = match kind {
        RequestKind::Access | RequestKind::Portability => {
            vec![AccessOperation::Read, AccessOperation::Export]
        }
        RequestKind::Erasure => vec![AccessOperation::Read, AccessOperation::Erase],
        _ => vec![AccessOperation::Read, AccessOperation::Write],
    };
    super::instructions::row(
        tenant,
        request_instruction(id),
        super::instructions::NewInstruction {
            purpose: Purpose::DataSubjectRequests,
            actor_kinds: vec![ActorKind::Controller],
            subprocessor_ids: Vec::new(),
            data_categories: DataCategory::ALL.to_vec(),
            operations,
            valid_from: Some(now),
            valid_until: None,
            external_reference: reference,
            description: Some(format!(
                "Data-subject request: {} under {}",
                kind.as_str(),
                regime.as_str()
            )),
            involves_sale: false,
            involves_sharing: false,
        },
        false,
        issued_by,
        now,
    )
}

/// The instruction a request documents has the request's id.
pub fn request_instruction(id: PrivacyRequestId) -> InstructionId {
    InstructionId(id.as_uuid())
}

/// Appends an event to a request's history.
pub(super) async fn record_event<C: ConnectionTrait>(
    db: &C,
    request: &privacy_request::Model,
    actor: &Actor,
    action: &str,
    reason: Option<String>,
    at: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let seq = privacy_request_event::Entity::find()
        .filter(privacy_request_event::Column::TenantId.eq(request.tenant_id))
        .filter(privacy_request_event::Column::RequestId.eq(request.id))
        .count(db)
        .await?;
    let event = privacy_request_event::ActiveModel {
        tenant_id: Set(request.tenant_id),
        request_id: Set(request.id),
        seq: Set(i32::try_from(seq + 1).unwrap_or(i32::MAX)),
        at: Set(at),
        actor_kind: Set(actor.kind.as_str().to_owned()),
        actor_id: Set(actor.id.clone()),
        action: Set(action.to_owned()),
        status: Set(request.status.clone()),
        reason: Set(reason),
    };
    privacy_request_event::Entity::insert(event)
        .exec(db)
        .await?;
    Ok(())
}

/// Loads one of the tenant's requests.
///
/// # Errors
/// `NotFound` (another tenant's request answers the same); `Db`.
pub(crate) async fn find<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    id: PrivacyRequestId,
) -> Result<privacy_request::Model, ServiceError> {
    privacy_request::Entity::find()
        .filter(privacy_request::Column::TenantId.eq(tenant))
        .filter(privacy_request::Column::Id.eq(id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound)
}

pub(crate) fn status_of(m: &privacy_request::Model) -> RequestStatus {
    RequestStatus::from_db(&m.status).unwrap_or(RequestStatus::Received)
}

pub(crate) fn kind_of(m: &privacy_request::Model) -> RequestKind {
    RequestKind::from_db(&m.kind).unwrap_or(RequestKind::Access)
}

pub(crate) fn regime_of(m: &privacy_request::Model) -> Option<Regime> {
    m.regime.as_deref().and_then(Regime::from_db)
}

pub(crate) fn subject_of(m: &privacy_request::Model) -> Vec<ContactId> {
    serde_json::from_value(m.subject_contact_ids.clone()).unwrap_or_default()
}

/// Refuses unless the request is open (received, in progress or paused).
pub(super) fn ensure_open(m: &privacy_request::Model) -> Result<RequestStatus, ServiceError> {
    let status = status_of(m);
    if status.is_open() {
        Ok(status)
    } else {
        Err(ServiceError::Conflict(format!(
            "the request is {}: nothing more can be done with it",
            status.as_str()
        )))
    }
}

/// Saves `active` and appends the event that moved it.
pub(super) async fn save(
    tx: &PinnedTx,
    active: privacy_request::ActiveModel,
    action: &str,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<privacy_request::Model, ServiceError> {
    let updated = privacy_request::Entity::update(active).exec(&**tx).await?;
    record_event(&**tx, &updated, tx.actor(), action, reason, now).await?;
    Ok(updated)
}

/// Every personal field of a contact: what an export or an erasure step reaches.
pub(super) fn all_fields() -> Vec<String> {
    super::contacts::personal_fields()
}

pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes))
}

/// A timestamp as exports and receipts write it.
pub(super) fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Begins a step of an open request on its subject, inside one transaction that also
/// holds the request row.
pub(super) async fn begin_step<'a>(
    ctx: &'a RequestCtx<'a>,
    id: PrivacyRequestId,
    access: Access,
) -> Result<(TenantTx<'a>, privacy_request::Model), ServiceError> {
    let tx = policy::begin_request_step(ctx, request_instruction(id), access).await?;
    let model = find(&*tx, tx.tenant(), id).await?;
    Ok((tx, model))
}
