//! Webhook endpoints and deliveries as clients see them.

use async_graphql::{ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entities::{webhook_attempt, webhook_delivery, webhook_endpoint};

use crate::graphql::to_id;

/// A tenant's webhook endpoint (its secret is shown once, at registration).
pub struct WebhookEndpoint(pub webhook_endpoint::Model);

#[Object]
impl WebhookEndpoint {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn url(&self) -> &str {
        &self.0.url
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A newly registered endpoint, with the secret that signs its events.
#[derive(SimpleObject)]
pub struct RegisteredWebhook {
    pub endpoint: WebhookEndpoint,
    /// Shown once: keep it to check `Custodian-Signature`.
    pub secret: String,
}

/// One event queued for one endpoint.
pub struct WebhookDelivery(pub webhook_delivery::Model, pub Vec<webhook_attempt::Model>);

#[Object]
impl WebhookDelivery {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn endpoint_id(&self) -> ID {
        to_id(self.0.endpoint_id)
    }
    /// `breach_notice`, `terms.announced`, `subprocessor.announced`,
    /// `privacy_request.coming_due`.
    async fn event_type(&self) -> &str {
        &self.0.event_type
    }
    async fn payload(&self) -> &str {
        &self.0.payload
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.0.delivered_at
    }
    async fn next_attempt_at(&self) -> DateTime<Utc> {
        self.0.next_attempt_at
    }
    async fn attempts(&self) -> Vec<WebhookAttempt> {
        self.1
            .iter()
            .map(|a| WebhookAttempt {
                attempt: a.attempt,
                at: a.at,
                status: a.status,
                error: a.error.clone(),
            })
            .collect()
    }
}

#[derive(SimpleObject)]
pub struct WebhookAttempt {
    pub attempt: i32,
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status; absent when it could not be reached.
    pub status: Option<i32>,
    pub error: Option<String>,
}
