//! Each tenant's Merkle tree in the database, extended as its chain grows, and the
//! checkpoints and proofs read from it (see [`super::checkpoint`] for the format).
//!
//! The tree stores what Go's `sumdb/tlog` stores (via `tlog_tiles`): for record `n`, its
//! leaf hash and the hashes of the subtrees it completes, at their positions in the dense
//! order of Crosby and Wallach — about two hashes a record, `1 + log₂ n` at most. Extending
//! reads only the `log₂ n` roots of the tree's complete subtrees; a root, an inclusion or a
//! consistency proof reads only the `O(log n)` stored hashes it is made of. Nothing is ever
//! rebuilt, and nothing of it runs on a request's path: the tree catches up with the chain
//! when a checkpoint is issued (on demand, or on the server's schedule).

use std::cell::RefCell;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement, Value};
use tlog_tiles::{
    Hash, HashReader, prove_record, prove_tree, record_hash, stored_hash_index,
    stored_hashes_for_record_hash, sub_tree_index, tree_hash,
};

use super::checkpoint::{self, ConsistencyBundle, InclusionBundle, LogKey};
use crate::domain::{Invalid, TenantId};
use crate::error::ServiceError;
use crate::tenancy::{self, Mode};

/// Records added to a tree per transaction.
const EXTEND_BATCH: u64 = 20_000;
/// Rows per insert statement (3 parameters each, under both backends' limits).
const INSERT_ROWS: usize = 3_000;

/// A signed checkpoint as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRow {
    pub tree_size: u64,
    pub root_hash: [u8; 32],
    pub issued_at: DateTime<Utc>,
    /// The signed note, exactly as issued.
    pub note: String,
}

/// Asks for hashes and remembers which, answering zeros: the tree functions' reads depend
/// only on sizes and indexes, never on the hashes read, so a first pass with this learns
/// what to fetch in one query.
#[derive(Default)]
struct Wanted(RefCell<Vec<u64>>);

impl HashReader for Wanted {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        self.0.borrow_mut().extend_from_slice(indexes);
        Ok(vec![Hash::default(); indexes.len()])
    }
}

/// Hashes fetched (or just computed), by stored index.
struct Known(HashMap<u64, Hash>);

impl HashReader for Known {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|i| {
                self.0
                    .get(i)
                    .copied()
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

fn as_i64(n: u64) -> Value {
    Value::from(i64::try_from(n).unwrap_or(i64::MAX))
}

fn tree_error(e: tlog_tiles::Error) -> ServiceError {
    ServiceError::Internal(format!("the ledger's tree is incomplete: {e}"))
}

/// The stored hashes at `indexes`.
async fn fetch<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    indexes: &[u64],
) -> Result<Known, ServiceError> {
    let mut known = HashMap::with_capacity(indexes.len());
    for chunk in indexes.chunks(1_000) {
        let placeholders: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
        let mut values = vec![Value::from(tenant)];
        values.extend(chunk.iter().map(|i| as_i64(*i)));
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                db.get_database_backend(),
                format!(
                    "SELECT idx, hash FROM ledger_tree_hashes WHERE tenant_id = $1 AND idx IN ({})",
                    placeholders.join(", ")
                ),
                values,
            ))
            .await?;
        for row in rows {
            let idx: i64 = row.try_get("", "idx")?;
            let hash: Vec<u8> = row.try_get("", "hash")?;
            let hash = <[u8; 32]>::try_from(hash)
                .map_err(|_| ServiceError::Internal("a stored tree hash is not 32 bytes".into()))?;
            known.insert(u64::try_from(idx).unwrap_or_default(), Hash(hash));
        }
    }
    Ok(Known(known))
}

/// A tree function's reader: first [`Wanted`], then [`Known`].
enum Pass {
    Wanted(Wanted),
    Known(Known),
}

impl HashReader for Pass {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        match self {
            Self::Wanted(r) => r.read_hashes(indexes),
            Self::Known(r) => r.read_hashes(indexes),
        }
    }
}

/// Runs a tree function twice: once to learn the hashes it reads, once with them.
async fn with_stored<C, T>(
    db: &C,
    tenant: TenantId,
    f: impl Fn(&Pass) -> Result<T, tlog_tiles::Error>,
) -> Result<T, ServiceError>
where
    C: ConnectionTrait,
{
    let wanted = Pass::Wanted(Wanted::default());
    f(&wanted).map_err(tree_error)?;
    let Pass::Wanted(wanted) = wanted else {
        return Err(ServiceError::Internal(
            "the first pass is the wanted one".into(),
        ));
    };
    let indexes = wanted.0.into_inner();
    let known = Pass::Known(fetch(db, tenant, &indexes).await?);
    f(&known).map_err(tree_error)
}

/// How many of the tenant's records its tree covers.
///
/// # Errors
/// `Db`.
pub async fn size<C: ConnectionTrait>(db: &C, tenant: TenantId) -> Result<u64, DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT size FROM ledger_trees WHERE tenant_id = $1",
            [tenant.into()],
        ))
        .await?;
    Ok(row
        .map(|r| r.try_get::<i64>("", "size"))
        .transpose()?
        .map_or(0, |s| u64::try_from(s).unwrap_or_default()))
}

/// Adds the tenant's sealed records the tree does not cover yet, in transactions of
/// [`EXTEND_BATCH`] records; returns the tree's size. Two servers extending at once take
/// turns on the tree's row.
///
/// # Errors
/// `Db`; `Internal` when the chain has a gap where the tree expects the next record.
pub async fn extend(db: &DatabaseConnection, tenant: TenantId) -> Result<u64, ServiceError> {
    loop {
        let tx = tenancy::begin_pinned(db, tenant, Mode::Write).await?;
        let backend = tx.get_database_backend();
        tx.execute_raw(Statement::from_sql_and_values(
            backend,
            "INSERT INTO ledger_trees (tenant_id, size) VALUES ($1, 0) ON CONFLICT (tenant_id) DO NOTHING",
            [tenant.into()],
        ))
        .await?;
        let lock = if backend == DatabaseBackend::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let start: i64 = tx
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                format!("SELECT size FROM ledger_trees WHERE tenant_id = $1{lock}"),
                [tenant.into()],
            ))
            .await?
            .ok_or_else(|| ServiceError::Internal("the ledger's tree row is gone".into()))?
            .try_get("", "size")?;
        let start = u64::try_from(start).unwrap_or_default();
        // A range of positions, not `seq > $2 … LIMIT`: the range is read through the
        // primary key in order whatever the table's statistics say (see the ledger's
        // `ChainPages`); the chain's positions are dense, so it holds the next records.
        let records = tx
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                "SELECT seq, hash FROM access_records WHERE tenant_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq",
                [tenant.into(), as_i64(start), as_i64(start + EXTEND_BATCH)],
            ))
            .await?;
        if records.is_empty() {
            tx.commit().await?;
            return Ok(start);
        }
        let mut known = fetch(&tx, tenant, &sub_tree_index(0, start, Vec::new())).await?;
        let mut new: Vec<(u64, Hash)> = Vec::with_capacity(records.len() * 2 + 8);
        let mut n = start;
        for row in &records {
            let seq: i64 = row.try_get("", "seq")?;
            let hash: String = row.try_get("", "hash")?;
            if u64::try_from(seq).ok() != Some(n + 1) {
                return Err(ServiceError::Internal(format!(
                    "the chain has no record {} where the tree goes on",
                    n + 1
                )));
            }
            let mut entry = [0u8; 32];
            hex::decode_to_slice(&hash, &mut entry)
                .map_err(|_| ServiceError::Internal("a record's hash is not hex".into()))?;
            let hashes = stored_hashes_for_record_hash(n, record_hash(&entry), &known)
                .map_err(tree_error)?;
            let base = stored_hash_index(0, n);
            for (i, h) in hashes.into_iter().enumerate() {
                known.0.insert(base + i as u64, h);
                new.push((base + i as u64, h));
            }
            n += 1;
        }
        for chunk in new.chunks(INSERT_ROWS) {
            let mut values = Vec::with_capacity(chunk.len() * 3);
            let rows: Vec<String> = chunk
                .iter()
                .enumerate()
                .map(|(i, (idx, h))| {
                    values.push(Value::from(tenant));
                    values.push(as_i64(*idx));
                    values.push(Value::from(h.0.to_vec()));
                    format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3)
                })
                .collect();
            tx.execute_raw(Statement::from_sql_and_values(
                backend,
                format!(
                    "INSERT INTO ledger_tree_hashes (tenant_id, idx, hash) VALUES {}",
                    rows.join(", ")
                ),
                values,
            ))
            .await?;
        }
        tx.execute_raw(Statement::from_sql_and_values(
            backend,
            "UPDATE ledger_trees SET size = $2 WHERE tenant_id = $1",
            [tenant.into(), as_i64(n)],
        ))
        .await?;
        tx.commit().await?;
        if (records.len() as u64) < EXTEND_BATCH {
            return Ok(n);
        }
    }
}

/// The root of the tenant's tree of its first `size` records.
///
/// # Errors
/// `Db`; `Internal` when the tree does not cover `size`.
pub async fn root<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    size: u64,
) -> Result<[u8; 32], ServiceError> {
    with_stored(db, tenant, |r| tree_hash(size, r))
        .await
        .map(|h| h.0)
}

/// The audit path of leaf `index` in the tenant's tree of `size` records.
///
/// # Errors
/// As [`root`].
pub async fn inclusion<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    size: u64,
    index: u64,
) -> Result<Vec<Hash>, ServiceError> {
    with_stored(db, tenant, |r| prove_record(size, index, r)).await
}

/// The consistency path from the tenant's tree of `old` records to its tree of `new`.
///
/// # Errors
/// As [`root`].
pub async fn consistency<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, ServiceError> {
    if old == 0 {
        return Ok(Vec::new());
    }
    with_stored(db, tenant, |r| prove_tree(new, old, r)).await
}

fn checkpoint_row(row: &sea_orm::QueryResult) -> Result<CheckpointRow, ServiceError> {
    let size: i64 = row.try_get("", "tree_size")?;
    let root: Vec<u8> = row.try_get("", "root_hash")?;
    Ok(CheckpointRow {
        tree_size: u64::try_from(size).unwrap_or_default(),
        root_hash: <[u8; 32]>::try_from(root)
            .map_err(|_| ServiceError::Internal("a checkpoint's root is not 32 bytes".into()))?,
        issued_at: row.try_get("", "issued_at")?,
        note: row.try_get("", "note")?,
    })
}

/// The tenant's checkpoint of `size` records, or its latest when `size` is `None`.
///
/// # Errors
/// `Db`.
pub async fn checkpoint<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    size: Option<u64>,
) -> Result<Option<CheckpointRow>, ServiceError> {
    let backend = db.get_database_backend();
    let columns =
        "SELECT tree_size, root_hash, issued_at, note FROM ledger_checkpoints WHERE tenant_id = $1";
    let statement = match size {
        Some(size) => Statement::from_sql_and_values(
            backend,
            format!("{columns} AND tree_size = $2"),
            [tenant.into(), as_i64(size)],
        ),
        None => Statement::from_sql_and_values(
            backend,
            format!("{columns} ORDER BY tree_size DESC LIMIT 1"),
            [tenant.into()],
        ),
    };
    db.query_one_raw(statement)
        .await?
        .as_ref()
        .map(checkpoint_row)
        .transpose()
}

/// The checkpoint a proof is against: the one of `size` records, or the latest.
async fn signed<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    size: Option<u64>,
    field: &str,
) -> Result<CheckpointRow, ServiceError> {
    checkpoint(db, tenant, size).await?.ok_or_else(|| {
        Invalid::new(
            field,
            match size {
                Some(_) => "no checkpoint of that size was issued",
                None => "no checkpoint was issued yet: issue one (issueLedgerCheckpoint)",
            },
        )
        .into()
    })
}

/// The proof that the tenant's record `seq` is in its checkpoint of `tree_size` records
/// (default: the latest), as a bundle anyone can check offline.
///
/// # Errors
/// `Validation` when no such checkpoint was issued or it does not cover `seq`; `NotFound`
/// when the tenant has no record `seq`; `Db`.
pub async fn inclusion_bundle<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    seq: i64,
    tree_size: Option<u64>,
) -> Result<InclusionBundle, ServiceError> {
    use entities::access_record;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    if seq < 1 {
        return Err(Invalid::new("seq", "a record's seq is 1 or more").into());
    }
    let signed = signed(db, tenant, tree_size, "treeSize").await?;
    let index = u64::try_from(seq - 1).unwrap_or_default();
    if index >= signed.tree_size {
        return Err(Invalid::new(
            "seq",
            format!(
                "record {seq} is not in the checkpoint of {} records: issue a newer one",
                signed.tree_size
            ),
        )
        .into());
    }
    let record = access_record::Entity::find()
        .filter(access_record::Column::TenantId.eq(tenant))
        .filter(access_record::Column::Seq.eq(seq))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let hashes = inclusion(db, tenant, signed.tree_size, index).await?;
    Ok(InclusionBundle {
        kind: checkpoint::INCLUSION_TYPE.into(),
        checkpoint: signed.note,
        record: super::chain::exported(&record),
        leaf_index: index,
        tree_size: signed.tree_size,
        hashes: checkpoint::encode_hashes(&hashes),
    })
}

/// The proof that the tenant's checkpoint of `to` records (default: the latest) extends
/// its checkpoint of `from`; with the two sizes.
///
/// # Errors
/// `Validation` when either checkpoint was not issued, or `from` is the later; `Db`.
pub async fn consistency_bundle<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    from: u64,
    to: Option<u64>,
) -> Result<(ConsistencyBundle, u64, u64), ServiceError> {
    let old = signed(db, tenant, Some(from), "fromSize").await?;
    let new = signed(db, tenant, to, "toSize").await?;
    if new.tree_size < old.tree_size {
        return Err(Invalid::new("toSize", "the later checkpoint must be the larger").into());
    }
    let hashes = consistency(db, tenant, old.tree_size, new.tree_size).await?;
    let bundle = ConsistencyBundle {
        kind: checkpoint::CONSISTENCY_TYPE.into(),
        old: old.note,
        new: new.note,
        hashes: checkpoint::encode_hashes(&hashes),
    };
    Ok((bundle, old.tree_size, new.tree_size))
}

/// A proof bundle as JSON, for the operator's `custodian ledger prove`: inclusion of
/// `seq`, or consistency from the checkpoint of `from` records; against the checkpoint of
/// `size` records, or the latest. One snapshot throughout.
///
/// # Errors
/// As [`inclusion_bundle`] and [`consistency_bundle`].
pub async fn bundle_for_operator(
    db: &DatabaseConnection,
    tenant: TenantId,
    seq: Option<i64>,
    from: Option<u64>,
    size: Option<u64>,
) -> Result<String, ServiceError> {
    let tx = tenancy::begin_pinned(db, tenant, Mode::Snapshot).await?;
    let bundle = match (seq, from) {
        (Some(seq), _) => serde_json::to_value(inclusion_bundle(&tx, tenant, seq, size).await?),
        (None, Some(from)) => {
            serde_json::to_value(consistency_bundle(&tx, tenant, from, size).await?.0)
        }
        (None, None) => return Err(Invalid::new("seq", "give --seq or --from").into()),
    }
    .map_err(|e| ServiceError::Internal(format!("a bundle did not serialize: {e}")))?;
    tx.commit().await?;
    Ok(bundle.to_string())
}

/// Seals what is pending, extends the tree to the whole chain and signs a checkpoint of
/// it, recorded; when the latest checkpoint already covers the whole chain, that one.
///
/// # Errors
/// `Db`; `Internal` when the tree cannot be built (see [`extend`]).
pub async fn issue(
    db: &DatabaseConnection,
    key: &LogKey,
    tenant: TenantId,
    now: DateTime<Utc>,
) -> Result<CheckpointRow, ServiceError> {
    super::seal(db, tenant).await?;
    extend(db, tenant).await?;
    let tx = tenancy::begin_pinned(db, tenant, Mode::Write).await?;
    let size = size(&tx, tenant).await?;
    if let Some(latest) = checkpoint(&tx, tenant, None).await?
        && latest.tree_size >= size
    {
        tx.commit().await?;
        return Ok(latest);
    }
    let root = root(&tx, tenant, size).await?;
    let note = key.sign(tenant, size, root, now);
    tx.execute_raw(Statement::from_sql_and_values(
        tx.get_database_backend(),
        "INSERT INTO ledger_checkpoints (tenant_id, tree_size, root_hash, issued_at, note) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, tree_size) DO NOTHING",
        [
            tenant.into(),
            as_i64(size),
            Value::from(root.to_vec()),
            Value::from(now),
            Value::from(note),
        ],
    ))
    .await?;
    let issued = checkpoint(&tx, tenant, Some(size))
        .await?
        .ok_or_else(|| ServiceError::Internal("the checkpoint just issued is gone".into()))?;
    tx.commit().await?;
    Ok(issued)
}

/// The root of the first `size` leaves of a sequence, streamed: push each leaf, then
/// [`Frontier::root`]. For verification, which walks the whole chain anyway.
#[derive(Default)]
pub struct Frontier {
    /// Roots of complete subtrees, left to right, with their heights.
    stack: Vec<(u32, Hash)>,
    size: u64,
}

impl Frontier {
    /// Adds a record by its chain hash (32 bytes).
    pub fn push(&mut self, entry: &[u8; 32]) {
        let mut node = (0, record_hash(entry));
        while let Some(&(height, left)) = self.stack.last() {
            if height != node.0 {
                break;
            }
            self.stack.pop();
            node = (height + 1, tlog_tiles::node_hash(left, node.1));
        }
        self.stack.push(node);
        self.size += 1;
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root of the leaves pushed so far (RFC 9162: the empty tree hashes to
    /// `SHA-256("")`).
    pub fn root(&self) -> [u8; 32] {
        let mut nodes = self.stack.iter().rev();
        match nodes.next() {
            None => tlog_tiles::EMPTY_HASH.0,
            Some(&(_, last)) => {
                nodes
                    .fold(last, |right, &(_, left)| tlog_tiles::node_hash(left, right))
                    .0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The streamed root equals `tlog_tiles`' root over the stored hashes, at every size.
    #[test]
    fn the_frontier_root_matches_the_stored_tree_at_every_size() {
        let mut stored = Known(HashMap::new());
        let mut frontier = Frontier::default();
        assert_eq!(frontier.root(), tlog_tiles::EMPTY_HASH.0);
        for n in 0..70u64 {
            let entry = [u8::try_from(n).unwrap(); 32];
            let hashes = stored_hashes_for_record_hash(n, record_hash(&entry), &stored).unwrap();
            let base = stored_hash_index(0, n);
            for (i, h) in hashes.into_iter().enumerate() {
                stored.0.insert(base + i as u64, h);
            }
            frontier.push(&entry);
            assert_eq!(
                frontier.root(),
                tree_hash(n + 1, &stored).unwrap().0,
                "size {}",
                n + 1
            );
        }
    }
}
