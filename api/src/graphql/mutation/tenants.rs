use async_graphql::{Context, Object};

use crate::error::{GqlResult, IntoGql};
use crate::graphql::request_ctx;
use crate::graphql::types::inputs::CreateTenantInput;
use crate::graphql::types::tenant::Tenant;
use crate::service::tenants;

#[derive(Default)]
pub struct TenantMutation;

#[Object]
impl TenantMutation {
    /// Opens a controller account (platform admin).
    async fn create_tenant(
        &self,
        ctx: &Context<'_>,
        input: CreateTenantInput,
    ) -> GqlResult<Tenant> {
        let ctx = request_ctx(ctx);
        crate::policy::check_platform_admin(&ctx).gql()?;
        let new = input.parse().gql()?;
        tenants::create(&ctx, new).await.map(Tenant).gql()
    }
}
