use async_graphql::{Context, ID, Object};

use crate::error::{GqlResult, IntoGql};
use crate::graphql::types::offboarding::{Offboarding, ReturnExport};
use crate::graphql::{parse_id, request_ctx};
use crate::service::offboarding;

#[derive(Default)]
pub struct OffboardingQuery;

#[Object]
impl OffboardingQuery {
    /// A tenant's offboarding: its own for the controller's users (`tenantId` absent),
    /// any tenant's for the platform admin.
    async fn offboarding(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
    ) -> GqlResult<Offboarding> {
        let tenant = tenant_id
            .map(|id| parse_id("tenantId", &id))
            .transpose()
            .gql()?;
        offboarding::get(&request_ctx(ctx), tenant)
            .await
            .map(Offboarding)
            .gql()
    }

    /// The return export of the caller's tenant, as the controller's admin downloads it
    /// (recorded in the ledger).
    async fn return_export(&self, ctx: &Context<'_>, tenant_id: ID) -> GqlResult<ReturnExport> {
        let tenant = parse_id("tenantId", &tenant_id).gql()?;
        offboarding::download(&request_ctx(ctx), tenant)
            .await
            .map(|e| ReturnExport {
                sha256: e.sha256,
                content: e.content,
            })
            .gql()
    }
}
