//! A controller's own access log (controller admin): its records, a page at a time, and
//! the verification of its chain. Every access committed before a call is on it.

use entities::access_record;

use crate::error::ServiceError;
use crate::ledger::queries::{self, RecordFilter, Verification};
use crate::pagination::{Page, PageRequest};
use crate::policy::{self, Mode, RequestCtx};

/// `filter`, leaving out what a non-disclosure order still holds from the controller.
fn shown(
    filter: &RecordFilter,
    tenant: crate::domain::TenantId,
    ctx: &RequestCtx<'_>,
) -> RecordFilter {
    RecordFilter {
        hidden_instructions: Some(super::held::instructions(tenant, ctx.now)),
        ..filter.clone()
    }
}

/// One page of the caller's tenant's ledger.
///
/// # Errors
/// `Unauthenticated`/`Forbidden` for anyone but the tenant's admin; `Validation`; `Db`.
pub async fn page(
    ctx: &RequestCtx<'_>,
    filter: &RecordFilter,
    page: &PageRequest,
) -> Result<Page<access_record::Model>, ServiceError> {
    let tx = policy::access_log(ctx, Mode::Read).await?;
    let filter = &shown(filter, tx.tenant(), ctx);
    let result = queries::list(&*tx, tx.tenant(), filter, page).await?;
    tx.commit().await?;
    Ok(result)
}

/// How many of the caller's tenant's records match.
///
/// # Errors
/// As [`page`].
pub async fn count(ctx: &RequestCtx<'_>, filter: &RecordFilter) -> Result<u64, ServiceError> {
    let tx = policy::access_log(ctx, Mode::Read).await?;
    let filter = &shown(filter, tx.tenant(), ctx);
    let n = queries::count(&*tx, tx.tenant(), filter).await?;
    tx.commit().await?;
    Ok(n)
}

/// Verifies the caller's tenant's chain, as of one snapshot.
///
/// # Errors
/// As [`page`].
pub async fn verify(ctx: &RequestCtx<'_>) -> Result<Verification, ServiceError> {
    let tx = policy::access_log(ctx, Mode::Snapshot).await?;
    let result = queries::verify(&*tx, tx.tenant()).await?;
    tx.commit().await?;
    Ok(result)
}
