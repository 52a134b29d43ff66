//! The processor's processing terms as clients see them.

use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entities::{terms_response, terms_version};

use crate::graphql::{now, to_id};

/// A version of the processor's processing terms.
pub struct TermsVersion(pub terms_version::Model, pub Vec<terms_response::Model>);

#[Object]
impl TermsVersion {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn text(&self) -> &str {
        &self.0.text
    }
    async fn announced_at(&self) -> DateTime<Utc> {
        self.0.announced_at
    }
    /// No earlier than 30 days after the announcement.
    async fn effective_at(&self) -> DateTime<Utc> {
        self.0.effective_at
    }
    /// Taken effect by now (the latest such version is the one in force).
    async fn effective(&self, ctx: &Context<'_>) -> bool {
        self.0.effective_at <= now(ctx)
    }
    /// The caller's tenant's answer; every tenant's for the platform admin.
    async fn responses(&self) -> Vec<TermsResponse> {
        self.1
            .iter()
            .map(|r| TermsResponse {
                tenant_id: to_id(r.tenant_id),
                response: if r.response == "OBJECTED" {
                    TermsAnswer::Object
                } else {
                    TermsAnswer::Acknowledge
                },
                reason: r.reason.clone(),
                responded_by: r.responded_by.clone(),
                responded_at: r.responded_at,
            })
            .collect()
    }
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TermsAnswer {
    Acknowledge,
    Object,
}

#[derive(SimpleObject)]
pub struct TermsResponse {
    pub tenant_id: ID,
    pub response: TermsAnswer,
    pub reason: Option<String>,
    pub responded_by: String,
    pub responded_at: DateTime<Utc>,
}
