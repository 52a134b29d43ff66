//! Forwarding: what a subject asks of the processor (erase, restrict, object, opt out) is
//! passed on to every active subprocessor the controller engaged, and each confirms it
//! with its own partner token. The controller sees which confirmations are outstanding.

use chrono::{DateTime, Utc};
use entities::{privacy_request, privacy_request_forward, subprocessor, subprocessor_objection};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
};

use super::super::to_json;
use crate::domain::privacy::ForwardAction;
use crate::domain::subprocessor::{SubprocessorStatus, status_at};
use crate::domain::{ContactId, ForwardId, PrivacyRequestId};
use crate::error::ServiceError;
use crate::policy::{self, Allowed, Mode, RequestCtx};

/// Forwards `action` on `contacts` to every subprocessor that is active now, processes
/// some category of personal data, and was not objected to by the tenant; inside the
/// transaction that completes the request.
///
/// # Errors
/// `Db`.
pub(crate) async fn forward<C: ConnectionTrait>(
    db: &C,
    request: &privacy_request::Model,
    action: ForwardAction,
    contacts: &[ContactId],
    now: DateTime<Utc>,
) -> Result<Vec<privacy_request_forward::Model>, ServiceError> {
    let objected: Vec<_> = subprocessor_objection::Entity::find()
        .filter(subprocessor_objection::Column::TenantId.eq(request.tenant_id))
        .all(db)
        .await?
        .into_iter()
        .map(|o| o.subprocessor_id)
        .collect();
    let targets: Vec<subprocessor::Model> = subprocessor::Entity::find()
        .order_by_asc(subprocessor::Column::CreatedAt)
        .all(db)
        .await?
        .into_iter()
        .filter(|s| status_at(s.effective_at, s.retired_at, now) == SubprocessorStatus::Active)
        .filter(|s| !objected.contains(&s.id))
        .filter(|s| s.data_categories.as_array().is_some_and(|c| !c.is_empty()))
        .collect();
    let mut out = Vec::with_capacity(targets.len());
    for sp in targets {
        let row = privacy_request_forward::ActiveModel {
            tenant_id: Set(request.tenant_id),
            id: Set(ForwardId::new()),
            request_id: Set(request.id),
            subprocessor_id: Set(sp.id),
            action: Set(action.as_str().to_owned()),
            contact_ids: Set(to_json(&contacts)),
            forwarded_at: Set(now),
            confirmed_at: Set(None),
            confirmed_by: Set(None),
        };
        out.push(
            privacy_request_forward::Entity::insert(row)
                .exec_with_returning(db)
                .await?,
        );
    }
    Ok(out)
}

/// What a request was forwarded to, and which confirmations are outstanding (whoever
/// handles the tenant's requests).
///
/// # Errors
/// As [`super::get`].
pub async fn of_request(
    ctx: &RequestCtx<'_>,
    id: PrivacyRequestId,
) -> Result<Vec<privacy_request_forward::Model>, ServiceError> {
    let tx = policy::requests(ctx, Mode::Read).await?;
    let rows = privacy_request_forward::Entity::find()
        .filter(privacy_request_forward::Column::TenantId.eq(tx.tenant()))
        .filter(privacy_request_forward::Column::RequestId.eq(id))
        .order_by_asc(privacy_request_forward::Column::ForwardedAt)
        .order_by_asc(privacy_request_forward::Column::Id)
        .all(&*tx)
        .await?;
    tx.commit().await?;
    Ok(rows)
}

/// What was forwarded to the calling partner by its tenant, oldest first; only the
/// unconfirmed ones when `outstanding`.
///
/// # Errors
/// `Forbidden` for anyone but an admitted partner; `Db`.
pub async fn inbox(
    ctx: &RequestCtx<'_>,
    outstanding: bool,
) -> Result<Vec<privacy_request_forward::Model>, ServiceError> {
    let tx = policy::partner_inbox(ctx, Mode::Read).await?;
    let Allowed::Partner(sp) = tx.allowed() else {
        return Err(ServiceError::Forbidden("not a partner".into()));
    };
    let mut select = privacy_request_forward::Entity::find()
        .filter(privacy_request_forward::Column::TenantId.eq(tx.tenant()))
        .filter(privacy_request_forward::Column::SubprocessorId.eq(sp))
        .order_by_asc(privacy_request_forward::Column::ForwardedAt)
        .order_by_asc(privacy_request_forward::Column::Id);
    if outstanding {
        select = select.filter(privacy_request_forward::Column::ConfirmedAt.is_null());
    }
    let rows = select.all(&*tx).await?;
    tx.commit().await?;
    Ok(rows)
}

/// The calling partner confirms it carried out a forwarded request.
///
/// # Errors
/// `NotFound` for a forward not addressed to it (another partner's or tenant's answers
/// the same); `Conflict` when already confirmed; `Db`.
pub async fn confirm(
    ctx: &RequestCtx<'_>,
    id: ForwardId,
) -> Result<privacy_request_forward::Model, ServiceError> {
    let tx = policy::partner_inbox(ctx, Mode::Write).await?;
    let Allowed::Partner(sp) = tx.allowed() else {
        return Err(ServiceError::Forbidden("not a partner".into()));
    };
    let model = privacy_request_forward::Entity::find()
        .filter(privacy_request_forward::Column::TenantId.eq(tx.tenant()))
        .filter(privacy_request_forward::Column::Id.eq(id))
        .filter(privacy_request_forward::Column::SubprocessorId.eq(sp))
        .one(&*tx)
        .await?
        .ok_or(ServiceError::NotFound)?;
    if model.confirmed_at.is_some() {
        return Err(ServiceError::Conflict(
            "the forward is already confirmed".into(),
        ));
    }
    let mut active = model.into_active_model();
    active.confirmed_at = Set(Some(ctx.now));
    active.confirmed_by = Set(Some(tx.actor().id.clone()));
    let updated = privacy_request_forward::Entity::update(active)
        .exec(&*tx)
        .await?;
    tx.commit().await?;
    Ok(updated)
}
