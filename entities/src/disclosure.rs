use sea_orm::entity::prelude::*;

use crate::ids::*;

/// A disclosure of a tenant's data the processor was compelled to make under legal
/// process, and when its controller is told.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "disclosures")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: TenantId,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: DisclosureId,
    pub authority: String,
    pub legal_basis: String,
    pub reference: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub contact_ids: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub data_categories: Json,
    /// A non-disclosure order applies until then: the controller's notice is held.
    pub nondisclosure_until: Option<DateTimeUtc>,
    pub recorded_by: String,
    pub recorded_at: DateTimeUtc,
    /// When the controller sees its notice: at once, or when the order expires.
    pub notice_at: DateTimeUtc,
    pub produced_at: Option<DateTimeUtc>,
    pub produced_sha256: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
