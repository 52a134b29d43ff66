use sea_orm::entity::prelude::*;

use crate::ids::*;

/// A controller's answer to announced terms: acknowledged, or objected to.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "terms_responses")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: TenantId,
    #[sea_orm(primary_key, auto_increment = false)]
    pub terms_id: TermsId,
    /// `ACKNOWLEDGED` or `OBJECTED`.
    pub response: String,
    pub reason: Option<String>,
    pub responded_by: String,
    pub responded_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
