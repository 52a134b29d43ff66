use sea_orm::entity::prelude::*;

use crate::ids::*;

/// One step in a request's life: who moved it, to which status, why.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "privacy_request_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: TenantId,
    #[sea_orm(primary_key, auto_increment = false)]
    pub request_id: PrivacyRequestId,
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i32,
    pub at: DateTimeUtc,
    pub actor_kind: String,
    pub actor_id: String,
    pub action: String,
    pub status: String,
    pub reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
