use sea_orm::entity::prelude::*;

use crate::ids::*;

/// A personal-data breach the processor detected (platform admin's record).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "breach_incidents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: IncidentId,
    pub detected_at: DateTimeUtc,
    pub summary: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub data_categories: Json,
    /// Increases with every update; a notice acknowledged at an older version has an
    /// update its controller has not acknowledged.
    pub version: i32,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
