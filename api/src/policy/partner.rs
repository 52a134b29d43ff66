//! A partner subprocessor's conditions: what its token's scopes grant, and whether its
//! token, its subprocessor's status and the controller's objections let it in at all.

use std::collections::BTreeSet;

use entities::{partner_token, subprocessor, subprocessor_objection};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use crate::domain::instruction::{AccessOperation, DataCategory};
use crate::domain::subprocessor::{Scope, ScopeResource, SubprocessorStatus, status_at};
use crate::domain::{PartnerTokenId, SubprocessorId, TenantId};
use crate::error::ServiceError;
use crate::ledger::ResourceType;

/// The data categories the scopes grant for `operation` on `resource`; `None` when no
/// scope grants the operation on the resource at all.
pub fn scope_categories(
    scopes: &[String],
    resource: ResourceType,
    operation: AccessOperation,
) -> Option<BTreeSet<DataCategory>> {
    let mut granted: Option<BTreeSet<DataCategory>> = None;
    for s in scopes.iter().filter_map(|s| Scope::parse("scope", s).ok()) {
        if s.operation != operation {
            continue;
        }
        let categories: Vec<DataCategory> = match (resource, s.resource, s.category) {
            (ResourceType::Contact, ScopeResource::Contacts, None) => DataCategory::ALL.to_vec(),
            (ResourceType::Contact, ScopeResource::Contacts, Some(c)) => vec![c],
            (ResourceType::Contact, ScopeResource::Appointments, _)
            | (ResourceType::Appointment, ScopeResource::Appointments, _) => {
                vec![DataCategory::Appointments]
            }
            (ResourceType::Appointment, ScopeResource::Contacts, _) => continue,
        };
        granted.get_or_insert_with(BTreeSet::new).extend(categories);
    }
    granted
}

/// Why a partner's request must be refused, or `None` when its token, its subprocessor
/// and the tenant's objections let it through (instructions are checked after).
///
/// # Errors
/// `Db`.
pub async fn refusal<C: sea_orm::ConnectionTrait>(
    tx: &C,
    tenant: TenantId,
    token_id: PartnerTokenId,
    subprocessor_id: SubprocessorId,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<String>, ServiceError> {
    let token = partner_token::Entity::find()
        .filter(partner_token::Column::TenantId.eq(tenant))
        .filter(partner_token::Column::Id.eq(token_id))
        .one(tx)
        .await?;
    let Some(token) = token.filter(|t| t.subprocessor_id == subprocessor_id) else {
        return Ok(Some(
            "the partner token is not recorded for this tenant".into(),
        ));
    };
    if token.revoked_at.is_some() {
        return Ok(Some("the partner token was revoked".into()));
    }
    if token.expires_at <= now {
        return Ok(Some("the partner token expired".into()));
    }
    let sp: Option<subprocessor::Model> = subprocessor::Entity::find_by_id(subprocessor_id)
        .one(tx)
        .await?;
    let Some(sp) = sp else {
        return Ok(Some("the subprocessor is not registered".into()));
    };
    match status_at(sp.effective_at, sp.retired_at, now) {
        SubprocessorStatus::Active => {}
        SubprocessorStatus::Proposed => {
            return Ok(Some("the subprocessor is not active yet".into()));
        }
        SubprocessorStatus::Retired => return Ok(Some("the subprocessor is retired".into())),
    }
    if objection(tx, tenant, subprocessor_id).await?.is_some() {
        return Ok(Some("the controller objected to this subprocessor".into()));
    }
    Ok(None)
}

/// The tenant's objection to a subprocessor, inside a transaction pinned to the tenant.
///
/// # Errors
/// `Db`.
pub async fn objection<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    subprocessor: SubprocessorId,
) -> Result<Option<subprocessor_objection::Model>, DbErr> {
    subprocessor_objection::Entity::find()
        .filter(subprocessor_objection::Column::TenantId.eq(tenant))
        .filter(subprocessor_objection::Column::SubprocessorId.eq(subprocessor))
        .one(db)
        .await
}
