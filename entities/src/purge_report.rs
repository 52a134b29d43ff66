use sea_orm::entity::prelude::*;

use crate::ids::*;

/// What one purge run removed for one tenant and rule: counts only (the ledger's records
/// of the run hold the ids).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "purge_reports")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: TenantId,
    #[sea_orm(primary_key, auto_increment = false)]
    pub run_id: PurgeRunId,
    #[sea_orm(primary_key, auto_increment = false)]
    pub rule: String,
    /// What was older than this had expired.
    pub cutoff: DateTimeUtc,
    pub removed: i32,
    /// Expired, but kept by a legal hold (or a restriction) in force.
    pub kept_by_holds: i32,
    pub finished_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
