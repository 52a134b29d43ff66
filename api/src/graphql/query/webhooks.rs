use async_graphql::{Context, Object};

use crate::error::{GqlResult, IntoGql};
use crate::graphql::request_ctx;
use crate::graphql::types::webhook::{WebhookDelivery, WebhookEndpoint};
use crate::service::webhooks;

#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// The tenant's webhook endpoints (the controller's users).
    async fn webhook_endpoints(&self, ctx: &Context<'_>) -> GqlResult<Vec<WebhookEndpoint>> {
        webhooks::endpoints(&request_ctx(ctx))
            .await
            .map(|rows| rows.into_iter().map(WebhookEndpoint).collect())
            .gql()
    }

    /// The tenant's webhook deliveries, newest first, with every attempt.
    async fn webhook_deliveries(&self, ctx: &Context<'_>) -> GqlResult<Vec<WebhookDelivery>> {
        webhooks::deliveries(&request_ctx(ctx))
            .await
            .map(|rows| {
                rows.into_iter()
                    .map(|(d, a)| WebhookDelivery(d, a))
                    .collect()
            })
            .gql()
    }
}
