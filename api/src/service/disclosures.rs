//! Disclosures under legal process (GDPR Art. 28(3)(a)): the platform admin records the
//! demand; the data is produced only under that record (a `LEGAL_COMPLIANCE` access in
//! the tenant's ledger); the controller is told at once, or when a non-disclosure order
//! expires; a transparency report counts them per half-year.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};
use entities::{contact, disclosure};
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::to_json;
use crate::auth::ActorKind;
use crate::domain::instruction::{AccessOperation, DataCategory, Purpose, contact_field_category};
use crate::domain::{ContactId, DisclosureId, InstructionId, Invalid, TenantId, bounded_text};
use crate::error::ServiceError;
use crate::ledger::ResourceType;
use crate::policy::{self, Access, Mode, RequestCtx, Viewer};

/// A validated demand to record.
#[derive(Debug, Clone)]
pub struct NewDisclosure {
    pub tenant: TenantId,
    pub authority: String,
    pub legal_basis: String,
    pub reference: String,
    pub contact_ids: Vec<ContactId>,
    pub data_categories: Vec<DataCategory>,
    pub nondisclosure_until: Option<DateTime<Utc>>,
}

impl NewDisclosure {
    /// # Errors
    /// [`Invalid`] naming the field at fault.
    #[allow(clippy::too_many_arguments)]
    pub fn parse(
        tenant: TenantId,
        authority: &str,
        legal_basis: &str,
        reference: &str,
        contact_ids: Vec<ContactId>,
        data_categories: Vec<DataCategory>,
        nondisclosure_until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Self, Invalid> {
        if contact_ids.is_empty() {
            return Err(Invalid::new("contactIds", "name the contacts demanded"));
        }
        if data_categories.is_empty() {
            return Err(Invalid::new(
                "dataCategories",
                "name the data categories demanded",
            ));
        }
        if nondisclosure_until.is_some_and(|u| u <= now) {
            return Err(Invalid::new(
                "nondisclosureUntil",
                "a non-disclosure order that has expired applies no longer",
            ));
        }
        Ok(Self {
            tenant,
            authority: bounded_text("authority", authority, 300, true)?,
            legal_basis: bounded_text("legalBasis", legal_basis, 500, true)?,
            reference: bounded_text("reference", reference, 200, true)?,
            contact_ids,
            data_categories,
            nondisclosure_until,
        })
    }
}

fn disclosure_instruction(id: DisclosureId) -> InstructionId {
    InstructionId(id.as_uuid())
}

/// Records a compelled disclosure (platform admin), with the instruction the data will
/// be produced under.
///
/// # Errors
/// `Validation` (`tenantId`, `contactIds[i]`); `Db`.
pub async fn record(
    ctx: &RequestCtx<'_>,
    new: NewDisclosure,
) -> Result<disclosure::Model, ServiceError> {
    let tx = policy::platform_admin_on(ctx, new.tenant, Mode::Write).await?;
    if entities::tenant::Entity::find_by_id(new.tenant)
        .one(&*tx)
        .await?
        .is_none()
    {
        return Err(Invalid::new("tenantId", "no such tenant").into());
    }
    let found = contact::Entity::find()
        .filter(contact::Column::TenantId.eq(new.tenant))
        .filter(contact::Column::Id.is_in(new.contact_ids.iter().copied()))
        .all(&*tx)
        .await?;
    if let Some(i) = new
        .contact_ids
        .iter()
        .position(|c| !found.iter().any(|f| f.id == *c))
    {
        return Err(Invalid::new(format!("contactIds[{i}]"), "no such contact").into());
    }
    let id = DisclosureId::new();
    let instruction = super::instructions::row(
        new.tenant,
        disclosure_instruction(id),
        super::instructions::NewInstruction {
            purpose: Purpose::LegalCompliance,
            actor_kinds: vec![ActorKind::PlatformAdmin],
            subprocessor_ids: Vec::new(),
            data_categories: new.data_categories.clone(),
            operations: vec![AccessOperation::Export],
            valid_from: Some(ctx.now),
            valid_until: None,
            external_reference: Some(new.reference.clone()),
            description: Some("Disclosure compelled by legal process".into()),
            involves_sale: false,
            involves_sharing: false,
        },
        false,
        &tx.actor().id,
        ctx.now,
    );
    entities::processing_instruction::Entity::insert(instruction)
        .exec(&*tx)
        .await?;
    let created = disclosure::Entity::insert(disclosure::ActiveModel {
        tenant_id: Set(new.tenant),
        id: Set(id),
        authority: Set(new.authority),
        legal_basis: Set(new.legal_basis),
        reference: Set(new.reference),
        contact_ids: Set(to_json(&new.contact_ids)),
        data_categories: Set(to_json(&new.data_categories)),
        nondisclosure_until: Set(new.nondisclosure_until),
        recorded_by: Set(tx.actor().id.clone()),
        recorded_at: Set(ctx.now),
        notice_at: Set(new.nondisclosure_until.unwrap_or(ctx.now)),
        produced_at: Set(None),
        produced_sha256: Set(None),
    })
    .exec_with_returning(&*tx)
    .await?;
    tx.commit().await?;
    Ok(created)
}

/// Produces the demanded data (platform admin): the named contacts' fields in the named
/// categories, as JSON, recorded as an export under the disclosure's instruction.
///
/// # Errors
/// `NotFound`; `Conflict` when already produced; `Db`.
pub async fn produce(
    ctx: &RequestCtx<'_>,
    tenant: TenantId,
    id: DisclosureId,
) -> Result<(disclosure::Model, String), ServiceError> {
    let fields: Vec<String> = super::contacts::personal_fields();
    let probe = policy::platform_admin_on(ctx, tenant, Mode::Read).await?;
    let model = find(&*probe, tenant, id).await?;
    probe.commit().await?;
    if model.produced_at.is_some() {
        return Err(ServiceError::Conflict(
            "the disclosure was already produced".into(),
        ));
    }
    let categories: Vec<DataCategory> =
        serde_json::from_value(model.data_categories.clone()).unwrap_or_default();
    let fields: Vec<String> = fields
        .into_iter()
        .filter(|f| contact_field_category(f).is_some_and(|c| categories.contains(&c)))
        .collect();
    let access = Access::new(
        AccessOperation::Export,
        ResourceType::Contact,
        fields.clone(),
    )
    .writing_rows();
    let mut tx =
        policy::begin_processor_step(ctx, tenant, disclosure_instruction(id), access, false)
            .await?;
    let ids: Vec<ContactId> = serde_json::from_value(model.contact_ids.clone()).unwrap_or_default();
    let contacts = contact::Entity::find()
        .filter(contact::Column::TenantId.eq(tenant))
        .filter(contact::Column::Id.is_in(ids.iter().copied()))
        .order_by_asc(contact::Column::Id)
        .all(&*tx)
        .await?;
    let rows: Vec<Value> = contacts.iter().map(|c| only(c, &fields)).collect();
    let content = crate::signing::canonical(&json!({
        "disclosureId": id,
        "authority": model.authority,
        "reference": model.reference,
        "contacts": rows,
    }));
    let sha = hex::encode(Sha256::digest(content.as_bytes()));
    let mut active = model.into_active_model();
    active.produced_at = Set(Some(ctx.now));
    active.produced_sha256 = Set(Some(sha));
    let updated = disclosure::Entity::update(active).exec(&*tx).await?;
    tx.touched(contacts.iter().map(|c| c.id));
    tx.commit().await?;
    Ok((updated, content))
}

/// A contact's demanded fields only.
fn only(c: &contact::Model, fields: &[String]) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("id".into(), json!(c.id));
    for f in fields {
        let v = match f.as_str() {
            "firstName" => json!(c.first_name),
            "lastName" => json!(c.last_name),
            "tags" => c.tags.clone(),
            "source" => json!(c.source),
            "emails" => c.emails.clone(),
            "phones" => c.phones.clone(),
            "addresses" => c.addresses.clone(),
            "employer" => json!(c.employer),
            "jobTitle" => json!(c.job_title),
            "customFields" => c.custom_fields.clone(),
            "marketingPreferences" => {
                json!({"email": c.marketing_email, "sms": c.marketing_sms, "phone": c.marketing_phone})
            }
            "optOutOfSale" => json!(c.opt_out_sale),
            "optOutOfSharing" => json!(c.opt_out_sharing),
            _ => continue,
        };
        out.insert(f.clone(), v);
    }
    Value::Object(out)
}

async fn find<C: sea_orm::ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    id: DisclosureId,
) -> Result<disclosure::Model, ServiceError> {
    disclosure::Entity::find()
        .filter(disclosure::Column::TenantId.eq(tenant))
        .filter(disclosure::Column::Id.eq(id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound)
}

/// Disclosures the caller may see, newest first: every tenant's for the platform admin;
/// for a controller's users, their tenant's whose notice is due (held while a
/// non-disclosure order applies).
///
/// # Errors
/// `Forbidden` for staff and partners; `Db`.
pub async fn list(ctx: &RequestCtx<'_>) -> Result<Vec<disclosure::Model>, ServiceError> {
    let tx = policy::registry_view(ctx).await?;
    let mut select = disclosure::Entity::find().order_by_desc(disclosure::Column::RecordedAt);
    if let Viewer::Tenant(tenant) = tx.viewer() {
        select = select
            .filter(disclosure::Column::TenantId.eq(tenant))
            .filter(disclosure::Column::NoticeAt.lte(ctx.now));
    }
    let rows = select.all(&*tx).await?;
    tx.commit().await?;
    Ok(rows)
}

/// How many disclosures were recorded per half-year (`2026-H2`), per tenant and in all,
/// as the caller may see them (see [`list`]).
///
/// # Errors
/// As [`list`].
pub async fn transparency(
    ctx: &RequestCtx<'_>,
) -> Result<BTreeMap<String, (u64, BTreeMap<TenantId, u64>)>, ServiceError> {
    let mut out: BTreeMap<String, (u64, BTreeMap<TenantId, u64>)> = BTreeMap::new();
    for d in list(ctx).await? {
        let half = format!(
            "{}-H{}",
            d.recorded_at.year(),
            if d.recorded_at.month() <= 6 { 1 } else { 2 }
        );
        let entry = out.entry(half).or_default();
        entry.0 += 1;
        *entry.1.entry(d.tenant_id).or_default() += 1;
    }
    Ok(out)
}
