use async_graphql::{Context, ID, Object};

use crate::domain::TenantId;
use crate::error::{GqlResult, IntoGql};
use crate::graphql::types::instruction::Instruction;
use crate::graphql::types::subprocessor::{
    EngagedSubprocessor, PartnerToken, ProcessorDetails, RecordOfProcessing, Subprocessor,
    TransferRecord,
};
use crate::graphql::types::tenant::Tenant;
use crate::graphql::{db, now, parse_id, request_ctx};
use crate::service::{partners, subprocessors, transfers};

#[derive(Default)]
pub struct SubprocessorQuery;

#[Object]
impl SubprocessorQuery {
    /// The registry: every subprocessor for a platform admin; those announced to
    /// controllers for a controller's users.
    async fn subprocessors(&self, ctx: &Context<'_>) -> GqlResult<Vec<Subprocessor>> {
        subprocessors::list(&request_ctx(ctx))
            .await
            .map(|rows| rows.into_iter().map(Subprocessor).collect())
            .gql()
    }

    async fn subprocessor(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Subprocessor> {
        let id = parse_id("id", &id).gql()?;
        subprocessors::get(&request_ctx(ctx), id)
            .await
            .map(Subprocessor)
            .gql()
    }

    /// Announced subprocessors not yet in effect: the notice of a change, with the date it
    /// takes effect and the chance to object before.
    async fn subprocessor_notices(&self, ctx: &Context<'_>) -> GqlResult<Vec<Subprocessor>> {
        let now = now(ctx);
        subprocessors::list(&request_ctx(ctx))
            .await
            .map(|rows| {
                rows.into_iter()
                    .filter(|s| s.retired_at.is_none() && s.effective_at.is_some_and(|e| e > now))
                    .map(Subprocessor)
                    .collect()
            })
            .gql()
    }

    /// Transfers to third countries, optionally of one subprocessor.
    async fn transfers(
        &self,
        ctx: &Context<'_>,
        subprocessor_id: Option<ID>,
    ) -> GqlResult<Vec<TransferRecord>> {
        let id = subprocessor_id
            .map(|id| parse_id("subprocessorId", &id))
            .transpose()
            .gql()?;
        transfers::list(&request_ctx(ctx), id)
            .await
            .map(|rows| rows.into_iter().map(TransferRecord).collect())
            .gql()
    }

    /// The record of processing carried out for the caller's tenant (GDPR Art. 30(2)).
    async fn record_of_processing(&self, ctx: &Context<'_>) -> GqlResult<RecordOfProcessing> {
        let record = transfers::record_of_processing(&request_ctx(ctx))
            .await
            .gql()?;
        let postgres = db(ctx).get_database_backend() == sea_orm::DatabaseBackend::Postgres;
        Ok(RecordOfProcessing {
            generated_at: record.generated_at,
            controller: Tenant(record.controller),
            processor: ctx.data_unchecked::<ProcessorDetails>().clone(),
            processing_activities: record.activities.into_iter().map(Instruction).collect(),
            subprocessors: record
                .subprocessors
                .into_iter()
                .map(|(s, objected)| EngagedSubprocessor {
                    subprocessor: Subprocessor(s),
                    objected,
                })
                .collect(),
            transfers: record.transfers.into_iter().map(TransferRecord).collect(),
            security_measures: transfers::security_measures(postgres),
            terms_in_force: record
                .terms
                .map(|t| crate::graphql::types::terms::TermsVersion(t, Vec::new())),
            ledger_verifier_key: ctx
                .data_unchecked::<crate::ledger::checkpoint::LogKey>()
                .verifier_key(),
        })
    }

    /// A tenant's partner tokens (platform admin).
    async fn partner_tokens(
        &self,
        ctx: &Context<'_>,
        tenant_id: ID,
    ) -> GqlResult<Vec<PartnerToken>> {
        let tenant = parse_id::<TenantId>("tenantId", &tenant_id).gql()?;
        partners::list(&request_ctx(ctx), tenant)
            .await
            .map(|rows| rows.into_iter().map(PartnerToken).collect())
            .gql()
    }
}
