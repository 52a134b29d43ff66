use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};

use crate::auth::TokenAuthority;
use crate::domain::TenantId;
use crate::error::{GqlResult, IntoGql};
use crate::graphql::types::inputs::{
    MintPartnerTokenInput, RecordTransferInput, RegisterSubprocessorInput,
};
use crate::graphql::types::subprocessor::{
    MintedPartnerToken, PartnerToken, Subprocessor, SubprocessorObjection, TransferRecord,
};
use crate::graphql::{now, parse_id, request_ctx, to_id};
use crate::service::{partners, subprocessors, transfers};

#[derive(Default)]
pub struct SubprocessorMutation;

#[Object]
impl SubprocessorMutation {
    /// Registers a subprocessor as `PROPOSED` (platform admin).
    async fn register_subprocessor(
        &self,
        ctx: &Context<'_>,
        input: RegisterSubprocessorInput,
    ) -> GqlResult<Subprocessor> {
        let new = input.parse().gql()?;
        subprocessors::register(&request_ctx(ctx), new)
            .await
            .map(Subprocessor)
            .gql()
    }

    /// Notifies every controller; the subprocessor takes effect at `effectiveAt`, no
    /// earlier than 30 days from now (the default) (platform admin).
    async fn announce_subprocessor(
        &self,
        ctx: &Context<'_>,
        id: ID,
        effective_at: Option<DateTime<Utc>>,
    ) -> GqlResult<Subprocessor> {
        let id = parse_id("id", &id).gql()?;
        subprocessors::announce(&request_ctx(ctx), id, effective_at)
            .await
            .map(Subprocessor)
            .gql()
    }

    /// Retires a subprocessor from now on (platform admin).
    async fn retire_subprocessor(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Subprocessor> {
        let id = parse_id("id", &id).gql()?;
        subprocessors::retire(&request_ctx(ctx), id)
            .await
            .map(Subprocessor)
            .gql()
    }

    /// Objects, for your tenant, to a subprocessor: it is blocked from your data at once
    /// (controller admin).
    async fn object_to_subprocessor(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: Option<String>,
    ) -> GqlResult<SubprocessorObjection> {
        let id = parse_id("id", &id).gql()?;
        let reason = crate::domain::optional_text("reason", reason.as_deref(), 1000).gql()?;
        subprocessors::object(&request_ctx(ctx), id, reason)
            .await
            .map(SubprocessorObjection)
            .gql()
    }

    /// Withdraws your tenant's objection (controller admin).
    async fn withdraw_subprocessor_objection(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let id = parse_id("id", &id).gql()?;
        subprocessors::withdraw_objection(&request_ctx(ctx), id)
            .await
            .map(to_id)
            .gql()
    }

    /// Records a transfer to a subprocessor and its safeguard (platform admin).
    async fn record_transfer(
        &self,
        ctx: &Context<'_>,
        input: RecordTransferInput,
    ) -> GqlResult<TransferRecord> {
        let (subprocessor, new) = input.parse(now(ctx)).gql()?;
        transfers::record(&request_ctx(ctx), subprocessor, new)
            .await
            .map(TransferRecord)
            .gql()
    }

    /// Mints a token for one subprocessor, one tenant, a purpose and scopes (platform
    /// admin). The token is returned once; its record can be listed and revoked.
    async fn mint_partner_token(
        &self,
        ctx: &Context<'_>,
        input: MintPartnerTokenInput,
    ) -> GqlResult<MintedPartnerToken> {
        let new = input.parse().gql()?;
        let authority = ctx.data_unchecked::<TokenAuthority>();
        partners::mint(&request_ctx(ctx), authority, new)
            .await
            .map(|(model, token)| MintedPartnerToken {
                token,
                partner_token: PartnerToken(model),
            })
            .gql()
    }

    /// Revokes a partner token; its next request is refused (platform admin).
    async fn revoke_partner_token(
        &self,
        ctx: &Context<'_>,
        tenant_id: ID,
        id: ID,
    ) -> GqlResult<PartnerToken> {
        let tenant = parse_id::<TenantId>("tenantId", &tenant_id).gql()?;
        let id = parse_id("id", &id).gql()?;
        partners::revoke(&request_ctx(ctx), tenant, id)
            .await
            .map(PartnerToken)
            .gql()
    }
}
