use async_graphql::{Context, Object};

use crate::error::{GqlResult, IntoGql};
use crate::graphql::request_ctx;
use crate::graphql::types::webhook::{RegisteredWebhook, WebhookEndpoint};
use crate::service::webhooks;

#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Registers an endpoint for the tenant's notices (controller admin); the secret that
    /// signs them is returned once.
    async fn register_webhook(
        &self,
        ctx: &Context<'_>,
        url: String,
    ) -> GqlResult<RegisteredWebhook> {
        webhooks::register(&request_ctx(ctx), &url)
            .await
            .map(|e| RegisteredWebhook {
                secret: e.secret.clone(),
                endpoint: WebhookEndpoint(e),
            })
            .gql()
    }
}
