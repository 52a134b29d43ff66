use sea_orm::entity::prelude::*;

use crate::ids::*;

/// A tenant's offboarding at the end of its contract, and the evidence that outlives it:
/// the signed deletion certificate.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "offboardings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant: TenantId,
    /// `STARTED`, `CONFIRMED`, `ERASING` (inside the deleting transaction), `COMPLETED`.
    pub status: String,
    /// The instruction the return export and the deletion act under.
    pub instruction_id: InstructionId,
    pub started_by: String,
    pub started_at: DateTimeUtc,
    /// When the deletion may go ahead without the controller's confirmation.
    pub deadline_at: DateTimeUtc,
    pub export_sha256: String,
    pub confirmed_at: Option<DateTimeUtc>,
    pub confirmed_by: Option<String>,
    pub completed_at: Option<DateTimeUtc>,
    pub certificate: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
