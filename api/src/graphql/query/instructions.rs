use async_graphql::{Context, ID, Object};

use crate::error::{GqlResult, IntoGql};
use crate::graphql::types::access_record::{AccessLogVerification, AccessRecordConnection};
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

    /// Recomputes the tenant's hash chain from the first record (controller admin).
    async fn verify_access_log(&self, ctx: &Context<'_>) -> GqlResult<AccessLogVerification> {
        crate::service::access_log::verify(&request_ctx(ctx))
            .await
            .map(AccessLogVerification::from)
            .gql()
    }
}
