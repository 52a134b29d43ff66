use sea_orm::entity::prelude::*;

use crate::ids::*;

/// A controller's objection to a subprocessor: it blocks that subprocessor from the
/// tenant's data.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "subprocessor_objections")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: TenantId,
    #[sea_orm(primary_key, auto_increment = false)]
    pub subprocessor_id: SubprocessorId,
    pub reason: Option<String>,
    pub objected_by: String,
    pub objected_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
