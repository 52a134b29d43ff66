use sea_orm::entity::prelude::*;

use crate::ids::*;

/// A third party the processor engages to process controllers' personal data.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "subprocessors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: SubprocessorId,
    pub name: String,
    pub service: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub data_categories: Json,
    /// ISO 3166-1 alpha-2 codes of where it processes.
    #[sea_orm(column_type = "JsonBinary")]
    pub locations: Json,
    pub contact_email: Option<String>,
    pub announced_at: Option<DateTimeUtc>,
    pub effective_at: Option<DateTimeUtc>,
    pub retired_at: Option<DateTimeUtc>,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
