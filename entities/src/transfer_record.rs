use sea_orm::entity::prelude::*;

use crate::ids::*;

/// An international transfer of personal data to a subprocessor, and its safeguard.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "transfer_records")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: TransferId,
    pub subprocessor_id: SubprocessorId,
    pub origin_region: String,
    pub destination_country: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub data_categories: Json,
    pub safeguard: String,
    /// For standard contractual clauses, the module used.
    pub scc_module: Option<String>,
    pub instrument_reference: Option<String>,
    pub impact_assessed_at: Option<DateTimeUtc>,
    pub supplementary_measures: Option<String>,
    pub valid_from: DateTimeUtc,
    pub valid_until: Option<DateTimeUtc>,
    pub review_due_at: DateTimeUtc,
    pub created_by: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
