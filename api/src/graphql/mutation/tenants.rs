use async_graphql::{Context, Object};

use crate::error::{GqlResult, IntoGql};
use crate::graphql::types::inputs::CreateTenantInput;
use crate::graphql::types::tenant::Tenant;
use crate::graphql::{caller, db, now};
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
        crate::policy::require_platform_admin(caller(ctx)).gql()?;
        let new = input.parse().gql()?;
        tenants::create(db(ctx), caller(ctx), new, now(ctx))
            .await
            .map(Tenant)
            .gql()
    }
}
