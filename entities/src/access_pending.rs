use sea_orm::entity::prelude::*;

use crate::ids::*;

/// An access record not yet sealed into its tenant's chain. It leaves only into
/// `access_records`, unchanged (a trigger checks).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "access_pending")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: TenantId,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: AccessRecordId,
    pub recorded_at: DateTimeUtc,
    pub actor_kind: String,
    pub actor_id: String,
    pub subprocessor_id: Option<SubprocessorId>,
    pub operation: String,
    pub resource_type: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub resource_ids: Json,
    pub resource_count: i32,
    #[sea_orm(column_type = "JsonBinary")]
    pub fields: Json,
    pub purpose: Option<String>,
    pub instruction_id: Option<InstructionId>,
    pub outcome: String,
    pub reason: Option<String>,
    pub request_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
