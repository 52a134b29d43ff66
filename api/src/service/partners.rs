//! Scoped partner tokens: minted by the platform admin for one subprocessor, one tenant,
//! a purpose and scopes; recorded, so they can be listed and revoked.

use chrono::Duration;
use entities::{partner_token, tenant};
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder};

use crate::auth::{Role, TokenAuthority, TokenRequest};
use crate::domain::instruction::Purpose;
use crate::domain::subprocessor::{Scope, SubprocessorStatus, status_at};
use crate::domain::{Invalid, PartnerTokenId, SubprocessorId, TenantId};
use crate::error::ServiceError;
use crate::policy::{self, Mode, RequestCtx};

pub const MAX_TTL_SECONDS: i64 = 90 * 86_400;

/// A validated request for a partner token.
#[derive(Debug, Clone)]
pub struct NewPartnerToken {
    pub tenant: TenantId,
    pub subprocessor: SubprocessorId,
    pub purpose: Purpose,
    pub scopes: Vec<String>,
    pub ttl_seconds: i64,
}

impl NewPartnerToken {
    /// # Errors
    /// [`Invalid`] naming the field at fault.
    pub fn parse(
        tenant: TenantId,
        subprocessor: SubprocessorId,
        purpose: Purpose,
        scopes: &[String],
        ttl_seconds: i64,
    ) -> Result<Self, Invalid> {
        if scopes.is_empty() {
            return Err(Invalid::new("scopes", "scopes must not be empty"));
        }
        let mut out = Vec::new();
        for (i, s) in scopes.iter().enumerate() {
            Scope::parse(&format!("scopes[{i}]"), s)?;
            let s = s.trim().to_owned();
            if !out.contains(&s) {
                out.push(s);
            }
        }
        if !(60..=MAX_TTL_SECONDS).contains(&ttl_seconds) {
            return Err(Invalid::new(
                "ttlSeconds",
                format!("ttlSeconds must be between 60 and {MAX_TTL_SECONDS}"),
            ));
        }
        Ok(Self {
            tenant,
            subprocessor,
            purpose,
            scopes: out,
            ttl_seconds,
        })
    }
}

/// Mints and records a partner token (platform admin). The token works only while the
/// subprocessor is active and not objected to, and an instruction of the tenant names
/// it; minting does not require that yet.
///
/// # Errors
/// `NotFound` for an unknown tenant or subprocessor; `Validation` for a retired
/// subprocessor; `Forbidden` when this server cannot sign tokens; `Db`.
#[tracing::instrument(skip_all, fields(tenant_id = %new.tenant, subprocessor_id = %new.subprocessor))]
pub async fn mint(
    ctx: &RequestCtx<'_>,
    authority: &TokenAuthority,
    new: NewPartnerToken,
) -> Result<(partner_token::Model, String), ServiceError> {
    let tx = policy::platform_admin_on(ctx, new.tenant, Mode::Write).await?;
    tenant::Entity::find_by_id(new.tenant)
        .one(&*tx)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let sp = super::subprocessors::find(&*tx, new.subprocessor).await?;
    if status_at(sp.effective_at, sp.retired_at, ctx.now) == SubprocessorStatus::Retired {
        return Err(Invalid::new("subprocessorId", "the subprocessor is retired").into());
    }
    let id = PartnerTokenId::new();
    let token = authority
        .mint(&TokenRequest {
            subject: sp.id.to_string(),
            role: Role::Subprocessor,
            tenant: Some(new.tenant),
            purpose: Some(new.purpose),
            instruction: None,
            scopes: new.scopes.clone(),
            ttl_seconds: new.ttl_seconds,
            token_id: Some(id),
        })
        .map_err(|e| ServiceError::Forbidden(e.to_string()))?;
    let model = partner_token::ActiveModel {
        tenant_id: Set(new.tenant),
        id: Set(id),
        subprocessor_id: Set(sp.id),
        purpose: Set(new.purpose.as_str().to_owned()),
        scopes: Set(serde_json::json!(new.scopes)),
        issued_by: Set(tx.actor().id.clone()),
        issued_at: Set(ctx.now),
        expires_at: Set(ctx.now + Duration::seconds(new.ttl_seconds)),
        revoked_at: Set(None),
        revoked_by: Set(None),
    };
    let created = partner_token::Entity::insert(model)
        .exec_with_returning(&*tx)
        .await?;
    tx.commit().await?;
    tracing::info!(token_id = %id, "partner token minted");
    Ok((created, token))
}

/// Revokes a partner token; its next request is refused (platform admin).
///
/// # Errors
/// `NotFound`; `Conflict` when already revoked; `Db`.
pub async fn revoke(
    ctx: &RequestCtx<'_>,
    tenant: TenantId,
    id: PartnerTokenId,
) -> Result<partner_token::Model, ServiceError> {
    let tx = policy::platform_admin_on(ctx, tenant, Mode::Write).await?;
    let model = partner_token::Entity::find()
        .filter(partner_token::Column::TenantId.eq(tenant))
        .filter(partner_token::Column::Id.eq(id))
        .one(&*tx)
        .await?
        .ok_or(ServiceError::NotFound)?;
    if model.revoked_at.is_some() {
        return Err(ServiceError::Conflict(
            "the token is already revoked".into(),
        ));
    }
    let mut active = model.into_active_model();
    active.revoked_at = Set(Some(ctx.now));
    active.revoked_by = Set(Some(tx.actor().id.clone()));
    let updated = partner_token::Entity::update(active).exec(&*tx).await?;
    tx.commit().await?;
    Ok(updated)
}

/// A tenant's partner tokens, newest last (platform admin).
///
/// # Errors
/// `Db`.
pub async fn list(
    ctx: &RequestCtx<'_>,
    tenant: TenantId,
) -> Result<Vec<partner_token::Model>, ServiceError> {
    let tx = policy::platform_admin_on(ctx, tenant, Mode::Read).await?;
    let rows = partner_token::Entity::find()
        .filter(partner_token::Column::TenantId.eq(tenant))
        .order_by_asc(partner_token::Column::IssuedAt)
        .all(&*tx)
        .await?;
    tx.commit().await?;
    Ok(rows)
}
