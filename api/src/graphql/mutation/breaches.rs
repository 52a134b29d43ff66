use async_graphql::{Context, ID, Object};

use crate::error::{GqlResult, IntoGql};
use crate::graphql::types::breach::{BreachIncident, BreachIncidentInput, BreachNotice};
use crate::graphql::types::tenant::Tenant;
use crate::graphql::{now, parse_id, request_ctx};
use crate::service::breaches;

#[derive(Default)]
pub struct BreachMutation;

#[Object]
impl BreachMutation {
    /// Records a breach and notifies every affected controller at once (platform admin).
    async fn record_breach_incident(
        &self,
        ctx: &Context<'_>,
        input: BreachIncidentInput,
    ) -> GqlResult<BreachIncident> {
        let rc = request_ctx(ctx);
        crate::policy::check_platform_admin(&rc).gql()?;
        let changes = input.parse(now(ctx)).gql()?;
        breaches::record(&rc, changes)
            .await
            .map(BreachIncident)
            .gql()
    }

    /// Updates a breach: every notice shows it and asks to be acknowledged again; newly
    /// named controllers are notified (platform admin).
    async fn update_breach_incident(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: BreachIncidentInput,
    ) -> GqlResult<BreachIncident> {
        let rc = request_ctx(ctx);
        crate::policy::check_platform_admin(&rc).gql()?;
        let id = parse_id("id", &id).gql()?;
        let changes = input.parse(now(ctx)).gql()?;
        breaches::update(&rc, id, changes)
            .await
            .map(BreachIncident)
            .gql()
    }

    /// Acknowledges a breach notice as the incident stands now (controller admin).
    async fn acknowledge_breach_notice(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> GqlResult<BreachNotice> {
        let id = parse_id("id", &id).gql()?;
        breaches::acknowledge(&request_ctx(ctx), id)
            .await
            .map(|(n, i)| BreachNotice(n, i))
            .gql()
    }

    /// Sets a tenant's contractual breach-notification window in hours from detection
    /// (platform admin).
    async fn set_breach_notice_window(
        &self,
        ctx: &Context<'_>,
        tenant_id: ID,
        hours: i32,
    ) -> GqlResult<Tenant> {
        let tenant = parse_id("tenantId", &tenant_id).gql()?;
        breaches::set_window(&request_ctx(ctx), tenant, hours)
            .await
            .map(Tenant)
            .gql()
    }
}
