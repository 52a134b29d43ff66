use async_graphql::{Context, Object};

use crate::error::{GqlResult, IntoGql};
use crate::graphql::request_ctx;
use crate::graphql::types::retention::{PurgeReport, RetentionPolicy};
use crate::service::retention;

#[derive(Default)]
pub struct RetentionQuery;

#[Object]
impl RetentionQuery {
    /// The tenant's retention policies (the controller's users).
    async fn retention_policies(&self, ctx: &Context<'_>) -> GqlResult<Vec<RetentionPolicy>> {
        retention::policies(&request_ctx(ctx))
            .await
            .map(|rows| rows.into_iter().map(RetentionPolicy).collect())
            .gql()
    }

    /// What the purge removed for the tenant, newest first.
    async fn purge_reports(&self, ctx: &Context<'_>) -> GqlResult<Vec<PurgeReport>> {
        retention::reports(&request_ctx(ctx))
            .await
            .map(|rows| rows.into_iter().map(PurgeReport).collect())
            .gql()
    }
}
