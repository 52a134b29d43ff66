use async_graphql::{Context, ID, Object};

use crate::domain::retention::RetentionRule;
use crate::error::{GqlResult, IntoGql};
use crate::graphql::types::retention::RetentionPolicy;
use crate::graphql::{parse_id, request_ctx, to_id};
use crate::service::retention;

#[derive(Default)]
pub struct RetentionMutation;

#[Object]
impl RetentionMutation {
    /// Keeps one kind of data so many months (controller admin): contacts after their
    /// last update, appointments after they end, imported contacts never used after
    /// their import. Documented as an instruction for the processor's purge.
    async fn set_retention_policy(
        &self,
        ctx: &Context<'_>,
        rule: RetentionRule,
        months: i32,
    ) -> GqlResult<RetentionPolicy> {
        retention::set_policy(&request_ctx(ctx), rule, months)
            .await
            .map(RetentionPolicy)
            .gql()
    }

    /// Removes a retention policy; its instruction is revoked (controller admin).
    async fn remove_retention_policy(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let id = parse_id("id", &id).gql()?;
        retention::remove_policy(&request_ctx(ctx), id)
            .await
            .map(to_id)
            .gql()
    }
}
