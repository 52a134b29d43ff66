//! Breach incidents and notices as clients see them.

use async_graphql::{ID, InputObject, Object};
use chrono::{DateTime, Utc};
use entities::{breach_incident, breach_notice};

use super::decode_list as decode;
use crate::domain::instruction::DataCategory;
use crate::graphql::{parse_id, to_id};
use crate::service::breaches::{self, Affected, IncidentChanges};

/// A breach the processor detected.
pub struct BreachIncident(pub breach_incident::Model);

#[Object]
impl BreachIncident {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn detected_at(&self) -> DateTime<Utc> {
        self.0.detected_at
    }
    async fn summary(&self) -> &str {
        &self.0.summary
    }
    async fn data_categories(&self) -> Vec<DataCategory> {
        decode(&self.0.data_categories)
    }
    /// Increases with every update.
    async fn version(&self) -> i32 {
        self.0.version
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// One controller's notice of a breach.
pub struct BreachNotice(pub breach_notice::Model, pub breach_incident::Model);

#[Object]
impl BreachNotice {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn tenant_id(&self) -> ID {
        to_id(self.0.tenant_id)
    }
    /// The incident as it stands now (updates reach every notice).
    async fn incident(&self) -> BreachIncident {
        BreachIncident(self.1.clone())
    }
    async fn estimated_records(&self) -> i64 {
        self.0.estimated_records
    }
    /// Detection plus the controller's contractual window.
    async fn deadline_at(&self) -> DateTime<Utc> {
        self.0.deadline_at
    }
    async fn sent_at(&self) -> DateTime<Utc> {
        self.0.sent_at
    }
    /// Sent within the deadline.
    async fn deadline_met(&self) -> bool {
        breaches::met(&self.0)
    }
    async fn acknowledged_at(&self) -> Option<DateTime<Utc>> {
        self.0.acknowledged_at
    }
    async fn acknowledged_by(&self) -> Option<&str> {
        self.0.acknowledged_by.as_deref()
    }
    /// Acknowledged as the incident stands now (an update asks again).
    async fn acknowledged(&self) -> bool {
        breaches::acknowledged(&self.0, &self.1)
    }
}

#[derive(InputObject)]
pub struct AffectedControllerInput {
    pub tenant_id: ID,
    pub estimated_records: i64,
}

#[derive(InputObject)]
pub struct BreachIncidentInput {
    pub detected_at: Option<DateTime<Utc>>,
    pub summary: Option<String>,
    pub data_categories: Option<Vec<DataCategory>>,
    /// Controllers to notify (on an update, those not yet notified).
    #[graphql(default)]
    pub affected: Vec<AffectedControllerInput>,
}

impl BreachIncidentInput {
    /// # Errors
    /// [`crate::domain::Invalid`] naming the field at fault.
    pub fn parse(&self, now: DateTime<Utc>) -> Result<IncidentChanges, crate::domain::Invalid> {
        let affected = self
            .affected
            .iter()
            .enumerate()
            .map(|(i, a)| {
                Ok(Affected {
                    tenant: parse_id(&format!("affected[{i}].tenantId"), &a.tenant_id)?,
                    estimated_records: a.estimated_records,
                })
            })
            .collect::<Result<Vec<_>, crate::domain::Invalid>>()?;
        IncidentChanges::parse(
            self.detected_at,
            self.summary.as_deref(),
            self.data_categories.clone(),
            affected,
            now,
        )
    }
}
