//! A controller's own access log (controller admin): its records, a page at a time, and
//! the verification of its chain. Every access committed before a call is on it.

use entities::access_record;

use crate::error::ServiceError;
use crate::ledger::checkpoint::{ConsistencyBundle, InclusionBundle};
use crate::ledger::queries::{self, RecordFilter, Verification};
use crate::ledger::tree::{self, CheckpointRow};
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

/// The caller's tenant's checkpoint of `size` records, or its latest.
///
/// # Errors
/// As [`page`].
pub async fn checkpoint(
    ctx: &RequestCtx<'_>,
    size: Option<u64>,
) -> Result<Option<CheckpointRow>, ServiceError> {
    let tx = policy::access_log(ctx, Mode::Read).await?;
    let found = tree::checkpoint(&*tx, tx.tenant(), size).await?;
    tx.commit().await?;
    Ok(found)
}

/// The proof that the caller's tenant's record `seq` is in its checkpoint of `tree_size`
/// records (default: the latest), as a bundle anyone can check offline.
///
/// # Errors
/// As [`page`] and [`tree::inclusion_bundle`].
pub async fn inclusion_proof(
    ctx: &RequestCtx<'_>,
    seq: i64,
    tree_size: Option<u64>,
) -> Result<InclusionBundle, ServiceError> {
    let tx = policy::access_log(ctx, Mode::Snapshot).await?;
    let bundle = tree::inclusion_bundle(&*tx, tx.tenant(), seq, tree_size).await?;
    tx.commit().await?;
    Ok(bundle)
}

/// The proof that the caller's tenant's checkpoint of `to` records (default: the latest)
/// extends its checkpoint of `from`; with the two sizes.
///
/// # Errors
/// As [`page`] and [`tree::consistency_bundle`].
pub async fn consistency_proof(
    ctx: &RequestCtx<'_>,
    from: u64,
    to: Option<u64>,
) -> Result<(ConsistencyBundle, u64, u64), ServiceError> {
    let tx = policy::access_log(ctx, Mode::Snapshot).await?;
    let proof = tree::consistency_bundle(&*tx, tx.tenant(), from, to).await?;
    tx.commit().await?;
    Ok(proof)
}
