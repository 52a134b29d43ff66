use async_graphql::{Context, ID, Object};

use crate::error::{GqlResult, IntoGql};
use crate::graphql::types::access_record::{
    AccessLogVerification, AccessRecordConnection, ConsistencyProof, InclusionProof,
    LedgerCheckpoint,
};
use crate::graphql::types::inputs::AccessLogFilterInput;
use crate::graphql::types::instruction::{Instruction, InstructionConnection};
use crate::graphql::{parse_id, request_ctx};
use crate::pagination::PageRequest;
use crate::service::instructions;

#[derive(Default)]
pub struct InstructionQuery;

#[Object]
impl InstructionQuery {
    /// The tenant's processing instructions, oldest first (the controller's users).
    async fn instructions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        #[graphql(default)] active_only: bool,
    ) -> GqlResult<InstructionConnection> {
        let page = PageRequest::parse(first, after.as_deref(), last, before.as_deref()).gql()?;
        instructions::list(&request_ctx(ctx), active_only, &page)
            .await
            .map(InstructionConnection::from)
            .gql()
    }

    async fn instruction(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Instruction> {
        let id = parse_id("id", &id).gql()?;
        instructions::get(&request_ctx(ctx), id)
            .await
            .map(Instruction)
            .gql()
    }

    /// The tenant's access ledger, oldest first (controller admin): every access to its
    /// personal data, allowed or denied.
    async fn access_log(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<AccessLogFilterInput>,
    ) -> GqlResult<AccessRecordConnection> {
        let page = PageRequest::parse(first, after.as_deref(), last, before.as_deref()).gql()?;
        let filter = filter.unwrap_or_default().parse().gql()?;
        let result = crate::service::access_log::page(&request_ctx(ctx), &filter, &page)
            .await
            .gql()?;
        Ok(AccessRecordConnection::new(result, filter))
    }

    /// The tenant's latest signed checkpoint, or the one of `treeSize` records
    /// (controller admin); null before the first is issued.
    async fn ledger_checkpoint(
        &self,
        ctx: &Context<'_>,
        tree_size: Option<i64>,
    ) -> GqlResult<Option<LedgerCheckpoint>> {
        let size = tree_size.map(|s| size("treeSize", s)).transpose().gql()?;
        crate::service::access_log::checkpoint(&request_ctx(ctx), size)
            .await
            .map(|c| c.map(LedgerCheckpoint::from))
            .gql()
    }

    /// The proof that record `seq` is in the checkpoint of `treeSize` records (default:
    /// the latest), to check offline (controller admin).
    async fn access_record_proof(
        &self,
        ctx: &Context<'_>,
        seq: i64,
        tree_size: Option<i64>,
    ) -> GqlResult<InclusionProof> {
        let size = tree_size.map(|s| size("treeSize", s)).transpose().gql()?;
        crate::service::access_log::inclusion_proof(&request_ctx(ctx), seq, size)
            .await
            .map(InclusionProof::from)
            .gql()
    }

    /// The proof that the checkpoint of `toSize` records (default: the latest) extends the
    /// one of `fromSize` (controller admin).
    async fn ledger_consistency_proof(
        &self,
        ctx: &Context<'_>,
        from_size: i64,
        to_size: Option<i64>,
    ) -> GqlResult<ConsistencyProof> {
        let from = size("fromSize", from_size).gql()?;
        let to = to_size.map(|s| size("toSize", s)).transpose().gql()?;
        crate::service::access_log::consistency_proof(&request_ctx(ctx), from, to)
            .await
            .map(|(b, from, to)| ConsistencyProof::of(b, from, to))
            .gql()
    }

    /// Recomputes the tenant's hash chain from the first record (controller admin).
    async fn verify_access_log(&self, ctx: &Context<'_>) -> GqlResult<AccessLogVerification> {
        crate::service::access_log::verify(&request_ctx(ctx))
            .await
            .map(AccessLogVerification::from)
            .gql()
    }
}

/// A tree size argument: 0 or more.
fn size(field: &str, value: i64) -> Result<u64, crate::error::ServiceError> {
    u64::try_from(value)
        .map_err(|_| crate::domain::Invalid::new(field, "a tree size is 0 or more").into())
}
