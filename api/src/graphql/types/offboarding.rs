//! Offboarding as clients see it.

use async_graphql::{ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entities::offboarding;

use crate::graphql::to_id;

/// A tenant's offboarding, and once completed its signed deletion certificate.
pub struct Offboarding(pub offboarding::Model);

#[Object]
impl Offboarding {
    async fn tenant_id(&self) -> ID {
        to_id(self.0.tenant)
    }
    /// `STARTED`, `CONFIRMED`, `COMPLETED`.
    async fn status(&self) -> &str {
        &self.0.status
    }
    async fn started_at(&self) -> DateTime<Utc> {
        self.0.started_at
    }
    /// When the deletion may go ahead without the controller's confirmation.
    async fn deadline_at(&self) -> DateTime<Utc> {
        self.0.deadline_at
    }
    async fn export_sha256(&self) -> &str {
        &self.0.export_sha256
    }
    async fn confirmed_at(&self) -> Option<DateTime<Utc>> {
        self.0.confirmed_at
    }
    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.0.completed_at
    }
    /// The signed deletion certificate (JSON text): check it offline with
    /// `custodian dsr verify-receipt`.
    async fn certificate(&self) -> Option<&str> {
        self.0.certificate.as_deref()
    }
}

/// The return export.
#[derive(SimpleObject)]
pub struct ReturnExport {
    pub sha256: String,
    pub content: String,
}
