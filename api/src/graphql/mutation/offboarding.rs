use async_graphql::{Context, ID, Object};

use crate::error::{GqlResult, IntoGql};
use crate::graphql::types::offboarding::Offboarding;
use crate::graphql::{parse_id, request_ctx};
use crate::service::offboarding;

#[derive(Default)]
pub struct OffboardingMutation;

#[Object]
impl OffboardingMutation {
    /// Starts offboarding a tenant at the end of its contract (platform admin): nothing
    /// new is added, and the return export is produced for the controller.
    async fn start_offboarding(
        &self,
        ctx: &Context<'_>,
        tenant_id: ID,
        #[graphql(default = 30)] confirmation_days: i64,
    ) -> GqlResult<Offboarding> {
        let tenant = parse_id("tenantId", &tenant_id).gql()?;
        offboarding::start(&request_ctx(ctx), tenant, confirmation_days)
            .await
            .map(Offboarding)
            .gql()
    }

    /// The controller's admin confirms it received the return export.
    async fn confirm_offboarding_receipt(&self, ctx: &Context<'_>) -> GqlResult<Offboarding> {
        offboarding::confirm(&request_ctx(ctx))
            .await
            .map(Offboarding)
            .gql()
    }
}
