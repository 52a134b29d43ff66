use async_graphql::{Context, Object};

use crate::error::{GqlResult, IntoGql};
use crate::graphql::request_ctx;
use crate::graphql::types::breach::BreachNotice;
use crate::service::breaches;

#[derive(Default)]
pub struct BreachQuery;

#[Object]
impl BreachQuery {
    /// Breach notices, newest first: the tenant's own for its users; every tenant's for
    /// the platform admin. With `outstanding`, only those not acknowledged as the incident
    /// stands, or sent after their deadline.
    async fn breach_notices(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] outstanding: bool,
    ) -> GqlResult<Vec<BreachNotice>> {
        breaches::notices(&request_ctx(ctx), outstanding)
            .await
            .map(|rows| rows.into_iter().map(|(n, i)| BreachNotice(n, i)).collect())
            .gql()
    }
}
