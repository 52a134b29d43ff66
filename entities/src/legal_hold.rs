use sea_orm::entity::prelude::*;

use crate::ids::*;

/// A legal hold on a contact: while it is in force, erasure and retention keep the
/// contact. Released holds stay, as the record that they were placed and lifted.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "legal_holds")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: TenantId,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: LegalHoldId,
    pub contact_id: ContactId,
    pub reason: String,
    pub note: Option<String>,
    pub ends_at: Option<DateTimeUtc>,
    pub placed_by: String,
    pub placed_at: DateTimeUtc,
    pub released_by: Option<String>,
    pub released_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
