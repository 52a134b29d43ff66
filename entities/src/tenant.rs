use sea_orm::entity::prelude::*;

use crate::ids::*;

/// A controller account. Not itself tenant-owned: its `id` is the tenant key.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tenants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: TenantId,
    pub name: String,
    /// JSON array of jurisdiction codes (`EEA`, `UK`, `CH`, `US_CA`, `US_NV`, `OTHER`).
    #[sea_orm(column_type = "JsonBinary")]
    pub jurisdictions: Json,
    pub owner_attests_adult: bool,
    pub status: String,
    /// The processor's contractual window for assisting with a data-subject request, in
    /// days from its opening (the processor's own due date).
    pub request_assistance_days: i32,
    /// The contractual window, in hours from detection, for notifying the controller of a
    /// breach.
    pub breach_notice_hours: i32,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// Relations are declared child to parent only (a contact belongs to a tenant), so the
/// models do not depend on each other both ways; the foreign keys are in the migrations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
