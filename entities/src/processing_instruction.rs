use sea_orm::entity::prelude::*;

use crate::ids::*;

/// A controller's documented instruction to the processor.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "processing_instructions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: TenantId,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: InstructionId,
    pub purpose: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub actor_kinds: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub subprocessor_ids: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub data_categories: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub operations: Json,
    pub valid_from: DateTimeUtc,
    pub valid_until: Option<DateTimeUtc>,
    pub external_reference: Option<String>,
    pub description: Option<String>,
    /// The tenant's standing direct-request instruction, created with the tenant.
    pub standing: bool,
    /// Whether the purpose involves selling the contacts' data (CCPA, Nevada): contacts
    /// that opted out of sale are invisible under it.
    pub involves_sale: bool,
    /// Whether the purpose involves sharing for cross-context behavioural advertising
    /// (CCPA): contacts that opted out of sharing are invisible under it.
    pub involves_sharing: bool,
    pub issued_by: String,
    pub issued_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
    pub revoked_by: Option<String>,
    pub revocation_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
