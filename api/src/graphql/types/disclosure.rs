//! Disclosures under legal process as clients see them.

use async_graphql::{ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entities::disclosure;

use super::decode_list as decode;
use crate::domain::instruction::DataCategory;
use crate::graphql::to_id;

/// A disclosure the processor was compelled to make.
pub struct Disclosure(pub disclosure::Model);

#[Object]
impl Disclosure {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn tenant_id(&self) -> ID {
        to_id(self.0.tenant_id)
    }
    async fn authority(&self) -> &str {
        &self.0.authority
    }
    async fn legal_basis(&self) -> &str {
        &self.0.legal_basis
    }
    async fn reference(&self) -> &str {
        &self.0.reference
    }
    async fn contact_ids(&self) -> Vec<ID> {
        decode::<uuid::Uuid>(&self.0.contact_ids)
            .into_iter()
            .map(to_id)
            .collect()
    }
    async fn data_categories(&self) -> Vec<DataCategory> {
        decode(&self.0.data_categories)
    }
    async fn nondisclosure_until(&self) -> Option<DateTime<Utc>> {
        self.0.nondisclosure_until
    }
    async fn recorded_at(&self) -> DateTime<Utc> {
        self.0.recorded_at
    }
    /// When the controller is told: at once, or when the order expires.
    async fn notice_at(&self) -> DateTime<Utc> {
        self.0.notice_at
    }
    async fn produced_at(&self) -> Option<DateTime<Utc>> {
        self.0.produced_at
    }
    async fn produced_sha256(&self) -> Option<&str> {
        self.0.produced_sha256.as_deref()
    }
}

#[derive(InputObject)]
pub struct RecordDisclosureInput {
    pub tenant_id: ID,
    pub authority: String,
    pub legal_basis: String,
    pub reference: String,
    pub contact_ids: Vec<ID>,
    pub data_categories: Vec<DataCategory>,
    /// A non-disclosure order applies until then.
    pub nondisclosure_until: Option<DateTime<Utc>>,
}

/// What was produced.
#[derive(SimpleObject)]
pub struct DisclosureProduction {
    pub disclosure: Disclosure,
    pub content: String,
}

/// Disclosures in one half-year.
#[derive(SimpleObject)]
pub struct TransparencyPeriod {
    /// `2026-H2`.
    pub period: String,
    pub total: u64,
    pub by_tenant: Vec<TenantCount>,
}

#[derive(SimpleObject)]
pub struct TenantCount {
    pub tenant_id: ID,
    pub count: u64,
}
