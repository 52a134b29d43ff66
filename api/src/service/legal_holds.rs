//! Legal holds on contacts (controller admin): while one is in force, erasure and
//! retention keep the contact, and the contact cannot be deleted.

use chrono::{DateTime, Utc};
use entities::legal_hold;
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
};

use crate::domain::privacy::HoldReason;
use crate::domain::{ContactId, Invalid, LegalHoldId, TenantId, optional_text};
use crate::error::ServiceError;
use crate::policy::{self, Mode, RequestCtx};

/// A validated hold to place.
#[derive(Debug, Clone)]
pub struct NewHold {
    pub contact_id: ContactId,
    pub reason: HoldReason,
    pub note: Option<String>,
    pub ends_at: Option<DateTime<Utc>>,
}

impl NewHold {
    /// # Errors
    /// [`Invalid`] naming the field at fault.
    pub fn parse(
        contact_id: ContactId,
        reason: HoldReason,
        note: Option<&str>,
        ends_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Self, Invalid> {
        if ends_at.is_some_and(|e| e <= now) {
            return Err(Invalid::new("endsAt", "endsAt must be in the future"));
        }
        Ok(Self {
            contact_id,
            reason,
            note: optional_text("note", note, 1000)?,
            ends_at,
        })
    }
}

/// Holds that are in force at `now`: placed, not released, not past their end.
pub(crate) fn in_force(now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(legal_hold::Column::ReleasedAt.is_null())
        .add(
            Condition::any()
                .add(legal_hold::Column::EndsAt.is_null())
                .add(legal_hold::Column::EndsAt.gt(now)),
        )
}

/// The hold in force on a contact, if any.
///
/// # Errors
/// `Db`.
pub(crate) async fn active_hold<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    contact: ContactId,
    now: DateTime<Utc>,
) -> Result<Option<legal_hold::Model>, ServiceError> {
    Ok(legal_hold::Entity::find()
        .filter(legal_hold::Column::TenantId.eq(tenant))
        .filter(legal_hold::Column::ContactId.eq(contact))
        .filter(in_force(now))
        .order_by_asc(legal_hold::Column::PlacedAt)
        .one(db)
        .await?)
}

/// Places a hold on one of the tenant's contacts (controller admin).
///
/// # Errors
/// `Validation` (field `contactId`) for a contact that is not the tenant's; `Db`.
#[tracing::instrument(skip_all, fields(contact_id = %new.contact_id))]
pub async fn place(ctx: &RequestCtx<'_>, new: NewHold) -> Result<legal_hold::Model, ServiceError> {
    let tx = policy::controller_admin(ctx, Mode::Write).await?;
    let tenant = tx.tenant();
    // Another tenant's contact is no contact.
    let exists = entities::contact::Entity::find()
        .filter(entities::contact::Column::TenantId.eq(tenant))
        .filter(entities::contact::Column::Id.eq(new.contact_id))
        .one(&*tx)
        .await?
        .is_some();
    if !exists {
        return Err(Invalid::new("contactId", "no such contact").into());
    }
    let model = legal_hold::ActiveModel {
        tenant_id: Set(tenant),
        id: Set(LegalHoldId::new()),
        contact_id: Set(new.contact_id),
        reason: Set(new.reason.as_str().to_owned()),
        note: Set(new.note),
        ends_at: Set(new.ends_at),
        placed_by: Set(tx.actor().id.clone()),
        placed_at: Set(ctx.now),
        released_by: Set(None),
        released_at: Set(None),
    };
    let created = legal_hold::Entity::insert(model)
        .exec_with_returning(&*tx)
        .await?;
    tx.commit().await?;
    tracing::info!(tenant_id = %tenant, hold_id = %created.id, "legal hold placed");
    Ok(created)
}

/// Releases a hold from now on (controller admin).
///
/// # Errors
/// `NotFound`; `Conflict` when already released; `Db`.
#[tracing::instrument(skip_all, fields(hold_id = %id))]
pub async fn release(
    ctx: &RequestCtx<'_>,
    id: LegalHoldId,
) -> Result<legal_hold::Model, ServiceError> {
    let tx = policy::controller_admin(ctx, Mode::Write).await?;
    let model = legal_hold::Entity::find()
        .filter(legal_hold::Column::TenantId.eq(tx.tenant()))
        .filter(legal_hold::Column::Id.eq(id))
        .one(&*tx)
        .await?
        .ok_or(ServiceError::NotFound)?;
    if model.released_at.is_some() {
        return Err(ServiceError::Conflict(
            "the hold is already released".into(),
        ));
    }
    let mut active = model.into_active_model();
    active.released_at = Set(Some(ctx.now));
    active.released_by = Set(Some(tx.actor().id.clone()));
    let updated = legal_hold::Entity::update(active).exec(&*tx).await?;
    tx.commit().await?;
    Ok(updated)
}

/// The tenant's holds, optionally of one contact, oldest first (controller's users).
///
/// # Errors
/// `Unauthenticated`/`Forbidden` outside the controller; `Db`.
pub async fn list(
    ctx: &RequestCtx<'_>,
    contact: Option<ContactId>,
) -> Result<Vec<legal_hold::Model>, ServiceError> {
    let tx = policy::controller(ctx, Mode::Read).await?;
    let mut select = legal_hold::Entity::find()
        .filter(legal_hold::Column::TenantId.eq(tx.tenant()))
        .order_by_asc(legal_hold::Column::PlacedAt);
    if let Some(c) = contact {
        select = select.filter(legal_hold::Column::ContactId.eq(c));
    }
    let rows = select.all(&*tx).await?;
    tx.commit().await?;
    Ok(rows)
}

/// Whether a hold is in force at `now`.
pub fn is_in_force(m: &legal_hold::Model, now: DateTime<Utc>) -> bool {
    m.released_at.is_none() && m.ends_at.is_none_or(|e| e > now)
}
