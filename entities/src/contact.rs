use sea_orm::entity::prelude::*;

use crate::ids::*;

/// A controller's contact. `tenant_id` leads the key so every lookup is tenant-scoped and
/// the table can be distributed by tenant.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "contacts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: TenantId,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: ContactId,
    pub first_name: String,
    pub last_name: String,
    /// `[{address, kind}]`
    #[sea_orm(column_type = "JsonBinary")]
    pub emails: Json,
    /// `[{number, kind}]`, numbers in E.164
    #[sea_orm(column_type = "JsonBinary")]
    pub phones: Json,
    /// `[{kind, lines, city, region, postal_code, country}]`
    #[sea_orm(column_type = "JsonBinary")]
    pub addresses: Json,
    pub employer: Option<String>,
    pub job_title: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub custom_fields: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub tags: Json,
    pub source: String,
    pub marketing_email: String,
    pub marketing_sms: String,
    pub marketing_phone: String,
    pub opt_out_sale: bool,
    pub opt_out_sharing: bool,
    /// Lower-cased names, emails, phone numbers and employer, kept by the service layer so
    /// the text filter is one plain `LIKE` (no function call that would defeat RLS-safe
    /// index use on PostgreSQL).
    pub search_text: String,
    pub version: i32,
    /// Set while processing is restricted (GDPR Art. 18): kept, shown to the controller
    /// flagged, refused to everyone else, written only to lift the restriction.
    pub restricted_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::tenant::Entity",
        from = "Column::TenantId",
        to = "super::tenant::Column::Id"
    )]
    Tenant,
}

impl Related<super::tenant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenant.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
