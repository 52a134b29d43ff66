use sea_orm::entity::prelude::*;

use crate::ids::*;

/// How long a tenant keeps one kind of data; the purge removes what is older.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "retention_policies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: TenantId,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: RetentionPolicyId,
    /// `CONTACTS_AFTER_LAST_UPDATE`, `APPOINTMENTS_AFTER_END`, `IMPORTED_NEVER_USED`.
    pub rule: String,
    pub months: i32,
    pub created_by: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
