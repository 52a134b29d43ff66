use async_graphql::{ComplexObject, Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entities::tenant;

use super::page::PageInfo;
use crate::domain::tenant::{Jurisdiction, TenantStatus};
use crate::graphql::to_id;
use crate::pagination::{Page, timestamp_cursor};

/// A controller account.
pub struct Tenant(pub tenant::Model);

#[Object]
impl Tenant {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Where the controller's data subjects are.
    async fn jurisdictions(&self) -> Vec<Jurisdiction> {
        serde_json::from_value(self.0.jurisdictions.clone()).unwrap_or_default()
    }
    /// The owner attested to being 18 or older when the account was opened.
    async fn owner_attests_adult(&self) -> bool {
        self.0.owner_attests_adult
    }
    async fn status(&self) -> TenantStatus {
        TenantStatus::from_db(&self.0.status)
    }
    /// The processor's contractual window for assisting with a data-subject request, in
    /// days from its opening: the processor's own due date.
    async fn request_assistance_days(&self) -> i32 {
        self.0.request_assistance_days
    }
    /// The contractual window for notifying the controller of a breach, in hours from
    /// detection.
    async fn breach_notice_hours(&self) -> i32 {
        self.0.breach_notice_hours
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

#[derive(SimpleObject)]
pub struct TenantEdge {
    pub cursor: String,
    pub node: Tenant,
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct TenantConnection {
    pub edges: Vec<TenantEdge>,
    pub page_info: PageInfo,
}

#[ComplexObject]
impl TenantConnection {
    async fn nodes(&self, _ctx: &Context<'_>) -> Vec<Tenant> {
        self.edges
            .iter()
            .map(|e| Tenant(e.node.0.clone()))
            .collect()
    }
}

impl From<Page<tenant::Model>> for TenantConnection {
    fn from(page: Page<tenant::Model>) -> Self {
        let cursor = |t: &tenant::Model| timestamp_cursor(t.created_at, t.id);
        let page_info = PageInfo::of(&page, cursor);
        Self {
            edges: page
                .items
                .into_iter()
                .map(|t| TenantEdge {
                    cursor: cursor(&t),
                    node: Tenant(t),
                })
                .collect(),
            page_info,
        }
    }
}
