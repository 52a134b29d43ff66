use sea_orm::entity::prelude::*;

use crate::ids::*;

/// One affected controller's notice of a breach, with the deadline it is measured
/// against and its acknowledgement.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "breach_notices")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: TenantId,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: BreachNoticeId,
    pub incident_id: IncidentId,
    pub estimated_records: i64,
    /// Detection plus the tenant's contractual window.
    pub deadline_at: DateTimeUtc,
    pub sent_at: DateTimeUtc,
    pub acknowledged_at: Option<DateTimeUtc>,
    pub acknowledged_by: Option<String>,
    /// The incident's version the controller acknowledged.
    pub acknowledged_version: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
