use sea_orm::entity::prelude::*;

use crate::ids::*;

/// A request passed on to a subprocessor that holds the affected data, and its
/// confirmation.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "privacy_request_forwards")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: TenantId,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: ForwardId,
    pub request_id: PrivacyRequestId,
    pub subprocessor_id: SubprocessorId,
    /// `ERASE`, `RESTRICT`, `LIFT_RESTRICTION`, `OPT_OUT_OF_SALE`, `OPT_OUT_OF_SHARING`, `OBJECT`.
    pub action: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub contact_ids: Json,
    pub forwarded_at: DateTimeUtc,
    pub confirmed_at: Option<DateTimeUtc>,
    pub confirmed_by: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
