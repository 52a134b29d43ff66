//! What a non-disclosure order keeps from the controller until it expires: the
//! instruction a compelled disclosure was produced under (its id is the disclosure's)
//! and the ledger records made under it. The chain still covers them, so
//! `verifyAccessLog` stays valid; they appear when the notice does.

use chrono::{DateTime, Utc};
use entities::disclosure;
use sea_orm::sea_query::{Query, SelectStatement};
use sea_orm::{ColumnTrait, Condition};

use crate::domain::TenantId;

/// The ids of `tenant`'s instructions held from it at `now`.
pub(crate) fn instructions(tenant: TenantId, now: DateTime<Utc>) -> SelectStatement {
    Query::select()
        .column(disclosure::Column::Id)
        .from(disclosure::Entity)
        .and_where(disclosure::Column::TenantId.eq(tenant))
        .and_where(disclosure::Column::NoticeAt.gt(now))
        .to_owned()
}

/// Rows whose `column` (an instruction id, possibly null) names no instruction held from
/// `tenant` at `now`.
pub(crate) fn not_held<C: ColumnTrait>(
    column: C,
    tenant: TenantId,
    now: DateTime<Utc>,
) -> Condition {
    Condition::any()
        .add(column.is_null())
        .add(column.not_in_subquery(instructions(tenant, now)))
}
