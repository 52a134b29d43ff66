use sea_orm::entity::prelude::*;

use crate::ids::*;

/// A data-subject request the controller decided to have carried out (or a referral
/// waiting for it to). Ids, dates and reasons only: never the subject's personal data.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "privacy_requests")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: TenantId,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: PrivacyRequestId,
    pub kind: String,
    /// Absent only while a referral waits for the controller to open it.
    pub regime: Option<String>,
    pub status: String,
    /// How a referral reached the processor.
    pub channel: Option<String>,
    /// The contacts the request is about, as the controller confirmed them.
    #[sea_orm(column_type = "JsonBinary")]
    pub subject_contact_ids: Json,
    /// Contacts an identifier matched, for the controller to confirm.
    #[sea_orm(column_type = "JsonBinary")]
    pub candidate_contact_ids: Json,
    pub identifier_kind: Option<String>,
    pub received_at: DateTimeUtc,
    pub opened_at: Option<DateTimeUtc>,
    pub statutory_due_at: Option<DateTimeUtc>,
    pub processor_due_at: Option<DateTimeUtc>,
    pub extended_at: Option<DateTimeUtc>,
    pub extension_reason: Option<String>,
    pub paused_at: Option<DateTimeUtc>,
    pub pause_reason: Option<String>,
    pub paused_seconds: i64,
    pub external_reference: Option<String>,
    pub denial_reason: Option<String>,
    pub completed_at: Option<DateTimeUtc>,
    /// The erasure report or the export's summary: ids, counts and reasons.
    #[sea_orm(column_type = "JsonBinary")]
    pub result: Option<Json>,
    pub result_sha256: Option<String>,
    /// The signed receipt, once completed.
    pub receipt: Option<String>,
    pub referred_by: Option<String>,
    pub opened_by: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
