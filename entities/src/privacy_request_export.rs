use sea_orm::entity::prelude::*;

use crate::ids::*;

/// The export an access or portability request produced, kept so every download is the
/// same document (and its hash the one in the receipt) until the subject is erased.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "privacy_request_exports")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: TenantId,
    #[sea_orm(primary_key, auto_increment = false)]
    pub request_id: PrivacyRequestId,
    #[sea_orm(primary_key, auto_increment = false)]
    pub format: String,
    pub content: String,
    pub sha256: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
