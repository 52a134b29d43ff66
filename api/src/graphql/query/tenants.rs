use async_graphql::{Context, ID, Object};

use crate::domain::TenantId;
use crate::error::{GqlResult, IntoGql};
use crate::graphql::types::tenant::{Tenant, TenantConnection};
use crate::graphql::{parse_id, request_ctx};
use crate::pagination::PageRequest;
use crate::service::tenants;

#[derive(Default)]
pub struct TenantQuery;

#[Object]
impl TenantQuery {
    /// A controller's own account (omit `id`); a platform admin names any account.
    async fn tenant(&self, ctx: &Context<'_>, id: Option<ID>) -> GqlResult<Tenant> {
        let id = id
            .map(|id| parse_id::<TenantId>("id", &id))
            .transpose()
            .gql()?;
        tenants::get(&request_ctx(ctx), id).await.map(Tenant).gql()
    }

    /// Every controller account, oldest first (platform admin).
    async fn tenants(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<TenantConnection> {
        let page = PageRequest::parse(first, after.as_deref(), last, before.as_deref()).gql()?;
        tenants::list(&request_ctx(ctx), &page)
            .await
            .map(TenantConnection::from)
            .gql()
    }
}
