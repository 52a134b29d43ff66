use sea_orm::entity::prelude::*;

use crate::ids::*;

/// One attempt to deliver an event, and what the receiver answered.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_attempts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: TenantId,
    #[sea_orm(primary_key, auto_increment = false)]
    pub delivery_id: DeliveryId,
    #[sea_orm(primary_key, auto_increment = false)]
    pub attempt: i32,
    pub at: DateTimeUtc,
    pub status: Option<i32>,
    pub error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
