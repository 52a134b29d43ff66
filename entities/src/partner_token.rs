use sea_orm::entity::prelude::*;

use crate::ids::*;

/// A scoped token minted for one subprocessor and one tenant; its id is the token's `jti`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "partner_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: TenantId,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: PartnerTokenId,
    pub subprocessor_id: SubprocessorId,
    pub purpose: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub scopes: Json,
    pub issued_by: String,
    pub issued_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
    pub revoked_by: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
