//! Opening a request: the controller's decision (with the subject named or matched),
//! and the platform admin's referral of a subject who contacted the processor.

use super::*;

/// Records a referral (platform admin): a subject who contacted the processor is
/// directed to the controller, and the request waits in the controller's queue as
/// `REFERRED` until the controller opens it. No contact data is touched.
///
/// # Errors
/// `Validation` (field `tenantId`) for an unknown tenant; `Db`.
#[tracing::instrument(skip_all, fields(tenant_id = %new.tenant))]
pub async fn refer(
    ctx: &RequestCtx<'_>,
    new: NewReferral,
) -> Result<privacy_request::Model, ServiceError> {
    let tx = policy::platform_admin_on(ctx, new.tenant, Mode::Write).await?;
    if tenant::Entity::find_by_id(new.tenant)
        .one(&*tx)
        .await?
        .is_none()
    {
        return Err(Invalid::new("tenantId", "no such tenant").into());
    }
    let model = privacy_request::ActiveModel {
        tenant_id: Set(new.tenant),
        id: Set(PrivacyRequestId::new()),
        kind: Set(new.kind.as_str().to_owned()),
        regime: Set(None),
        status: Set(RequestStatus::Referred.as_str().to_owned()),
        channel: Set(Some(new.channel.as_str().to_owned())),
        subject_contact_ids: Set(serde_json::json!([])),
        candidate_contact_ids: Set(serde_json::json!([])),
        identifier_kind: Set(None),
        received_at: Set(new.received_at),
        opened_at: Set(None),
        statutory_due_at: Set(None),
        processor_due_at: Set(None),
        extended_at: Set(None),
        extension_reason: Set(None),
        paused_at: Set(None),
        pause_reason: Set(None),
        paused_seconds: Set(0),
        external_reference: Set(new.external_reference),
        denial_reason: Set(None),
        completed_at: Set(None),
        result: Set(None),
        result_sha256: Set(None),
        receipt: Set(None),
        referred_by: Set(Some(tx.actor().id.clone())),
        opened_by: Set(None),
        created_at: Set(ctx.now),
        updated_at: Set(ctx.now),
    };
    let created = privacy_request::Entity::insert(model)
        .exec_with_returning(&*tx)
        .await?;
    record_event(&*tx, &created, tx.actor(), "REFERRED", None, ctx.now).await?;
    tx.commit().await?;
    tracing::info!(request_id = %created.id, "data-subject request referred");
    Ok(created)
}

/// Opens a request (the controller's admin, or staff handling requests): as a new one,
/// or by taking over a referral. Its statutory due date runs from `received_at`, the
/// processor's own from now; the instruction it documents is created with it.
///
/// # Errors
/// `Validation` naming the field for unknown contacts or an identifier that matches
/// nothing; `NotFound` for a referral that is not the tenant's; `Conflict` for one already
/// opened; `Db`.
#[tracing::instrument(skip_all, fields(kind = new.kind.as_str()))]
pub async fn open(
    ctx: &RequestCtx<'_>,
    new: NewRequest,
) -> Result<privacy_request::Model, ServiceError> {
    // Matching an identifier reads the tenant's contacts' emails and phone numbers: a
    // step of the request like any other, recorded against its instruction.
    let id = new.referral.unwrap_or_default(); // a fresh id
    let identified = new.subject.email.is_some() || new.subject.phone.is_some();
    let fields = if identified {
        vec!["emails".to_owned(), "phones".to_owned()]
    } else {
        Vec::new()
    };
    let access = Access::new(AccessOperation::Read, ResourceType::Contact, fields).writing_rows();
    let mut tx = policy::begin_request_step(ctx, request_instruction(id), access).await?;
    let tenant = tx.tenant();
    let actor = tx.actor();
    existing_contacts(&*tx, tenant, &new.subject.contact_ids, "subject.contactIds").await?;
    let matched = matching(
        &*tx,
        tenant,
        new.subject.email.as_deref(),
        new.subject.phone.as_deref(),
    )
    .await?;
    if (new.subject.email.is_some() || new.subject.phone.is_some()) && matched.is_empty() {
        let field = if new.subject.email.is_some() {
            "subject.email"
        } else {
            "subject.phone"
        };
        return Err(Invalid::new(field, "matches no contact of the tenant").into());
    }
    if new.referral.is_none() && new.subject.contact_ids.is_empty() && matched.is_empty() {
        return Err(
            Invalid::new("subject", "name the subject by contactIds, email or phone").into(),
        );
    }
    let identifier_kind = match (&new.subject.email, &new.subject.phone) {
        (Some(_), Some(_)) => Some("EMAIL_AND_PHONE"),
        (Some(_), None) => Some("EMAIL"),
        (None, Some(_)) => Some("PHONE"),
        (None, None) => None,
    };
    let terms = tenant::Entity::find_by_id(tenant)
        .one(&*tx)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let referral = match new.referral {
        Some(id) => {
            let r = find(&*tx, tenant, id).await?;
            if status_of(&r) != RequestStatus::Referred {
                return Err(ServiceError::Conflict(
                    "the referral was already opened".into(),
                ));
            }
            Some(r)
        }
        None => None,
    };
    let received_at = referral.as_ref().map_or(new.received_at, |r| r.received_at);
    let mut active = privacy_request::ActiveModel {
        tenant_id: Set(tenant),
        id: Set(id),
        kind: Set(new.kind.as_str().to_owned()),
        regime: Set(Some(new.regime.as_str().to_owned())),
        status: Set(RequestStatus::Received.as_str().to_owned()),
        channel: Set(referral.as_ref().and_then(|r| r.channel.clone())),
        subject_contact_ids: Set(to_json(&new.subject.contact_ids)),
        candidate_contact_ids: Set(to_json(&matched)),
        identifier_kind: Set(identifier_kind.map(str::to_owned)),
        received_at: Set(received_at),
        opened_at: Set(Some(ctx.now)),
        statutory_due_at: Set(Some(new.regime.due(received_at))),
        processor_due_at: Set(Some(processor_due(ctx.now, terms.request_assistance_days))),
        extended_at: Set(None),
        extension_reason: Set(None),
        paused_at: Set(None),
        pause_reason: Set(None),
        paused_seconds: Set(0),
        external_reference: Set(new
            .external_reference
            .clone()
            .or_else(|| referral.as_ref().and_then(|r| r.external_reference.clone()))),
        denial_reason: Set(None),
        completed_at: Set(None),
        result: Set(None),
        result_sha256: Set(None),
        receipt: Set(None),
        referred_by: Set(referral.as_ref().and_then(|r| r.referred_by.clone())),
        opened_by: Set(Some(actor.id.clone())),
        created_at: Set(referral.as_ref().map_or(ctx.now, |r| r.created_at)),
        updated_at: Set(ctx.now),
    };
    let model = if referral.is_some() {
        privacy_request::Entity::update(active).exec(&*tx).await?
    } else {
        active.id = Set(id);
        privacy_request::Entity::insert(active)
            .exec_with_returning(&*tx)
            .await?
    };
    entities::processing_instruction::Entity::insert(instruction_for(
        tenant,
        id,
        new.kind,
        new.regime,
        model.external_reference.clone(),
        &actor.id,
        ctx.now,
    ))
    .exec(&*tx)
    .await?;
    let action = if referral.is_some() {
        "OPENED_FROM_REFERRAL"
    } else {
        "OPENED"
    };
    record_event(&*tx, &model, &actor, action, None, ctx.now).await?;
    if !matched.is_empty() {
        tx.touched(matched.iter().copied());
    }
    tx.commit().await?;
    tracing::info!(tenant_id = %tenant, request_id = %id, "data-subject request opened");
    Ok(model)
}
