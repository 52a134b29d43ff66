use sea_orm::entity::prelude::*;

use crate::ids::*;

/// One event queued for one endpoint: the outbox, so delivery survives a restart.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: TenantId,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: DeliveryId,
    pub endpoint_id: WebhookId,
    /// What the event is about, once per endpoint (`breach-notice:<id>:v2`).
    pub event_key: String,
    pub event_type: String,
    pub payload: String,
    pub created_at: DateTimeUtc,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    pub delivered_at: Option<DateTimeUtc>,
    pub last_status: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
