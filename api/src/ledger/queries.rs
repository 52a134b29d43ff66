//! Reading a tenant's ledger: pages and counts of its records, the walk that verifies
//! its chain, and the export anyone can re-hash.

use std::ops::ControlFlow;

use chrono::{DateTime, Utc};
use entities::{access_pending, access_record, ledger_head};
use futures_util::TryStreamExt;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, StreamTrait, Value,
};
use sha2::{Digest, Sha256};

use super::chain::{canonical_bytes, exported};
use super::{GENESIS, Outcome, ResourceType};
use crate::auth::ActorKind;
use crate::domain::instruction::AccessOperation;
use crate::domain::{ContactId, InstructionId, TenantId};
use crate::error::ServiceError;
use crate::pagination::{Ordering, Page, PageRequest, fetch_page};
use crate::tenancy::{self, Mode};

/// How many of a tenant's records are written but not yet sealed.
///
/// # Errors
/// `Db`.
pub async fn unsealed<C: ConnectionTrait>(db: &C, tenant: TenantId) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    access_pending::Entity::find()
        .filter(access_pending::Column::TenantId.eq(tenant))
        .count(db)
        .await
}

#[derive(Debug, Clone, Default)]
pub struct RecordFilter {
    pub actor_kind: Option<ActorKind>,
    pub operation: Option<AccessOperation>,
    pub outcome: Option<Outcome>,
    pub contact_id: Option<ContactId>,
    pub instruction_id: Option<InstructionId>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Leaves out records made under these instructions (a subquery of their ids).
    pub hidden_instructions: Option<sea_orm::sea_query::SelectStatement>,
}

fn filtered<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    filter: &RecordFilter,
) -> sea_orm::Select<access_record::Entity> {
    use access_record::Column as C;
    let mut select = access_record::Entity::find().filter(C::TenantId.eq(tenant));
    if let Some(kind) = filter.actor_kind {
        select = select.filter(C::ActorKind.eq(kind.as_str()));
    }
    if let Some(op) = filter.operation {
        select = select.filter(C::Operation.eq(op.as_str()));
    }
    if let Some(outcome) = filter.outcome {
        select = select.filter(C::Outcome.eq(outcome.as_str()));
    }
    if let Some(contact) = filter.contact_id {
        select = select
            .filter(C::ResourceType.eq(ResourceType::Contact.as_str()))
            .filter(crate::db::json_array_contains(
                db.get_database_backend(),
                "access_records.resource_ids",
                contact.to_string(),
            ));
    }
    if let Some(instruction) = filter.instruction_id {
        select = select.filter(C::InstructionId.eq(instruction));
    }
    if let Some(hidden) = &filter.hidden_instructions {
        select = select.filter(
            sea_orm::Condition::any()
                .add(C::InstructionId.is_null())
                .add(C::InstructionId.not_in_subquery(hidden.clone())),
        );
    }
    if let Some(since) = filter.since {
        select = select.filter(C::RecordedAt.gte(since));
    }
    if let Some(until) = filter.until {
        select = select.filter(C::RecordedAt.lt(until));
    }
    select
}

/// One page of a tenant's records, oldest first.
///
/// # Errors
/// `Validation` for a bad cursor; `Db`.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    filter: &RecordFilter,
    page: &PageRequest,
) -> Result<Page<access_record::Model>, ServiceError> {
    let ordering = Ordering {
        column: access_record::Column::Seq,
        id: access_record::Column::Id,
        descending: false,
        key_value: |k| k.parse::<i64>().ok().map(Value::from),
    };
    Ok(fetch_page(db, filtered(db, tenant, filter), &ordering, page).await?)
}

/// How many of a tenant's records match.
///
/// # Errors
/// `Db`.
pub async fn count<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    filter: &RecordFilter,
) -> Result<u64, ServiceError> {
    use sea_orm::PaginatorTrait;
    Ok(filtered(db, tenant, filter).count(db).await?)
}

pub fn cursor(record: &access_record::Model) -> String {
    crate::pagination::Cursor {
        key: record.seq.to_string(),
        id: record.id.into(),
    }
    .encode()
}

/// What `verifyAccessLog` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub valid: bool,
    /// Records checked, from the first.
    pub checked: u64,
    /// The chain position (`seq`) of the first record that does not hold, if any.
    pub first_broken_at: Option<i64>,
    pub reason: Option<String>,
    /// The chain head: keep it, and a later verification proves the log was only appended to.
    pub head_seq: i64,
    pub head_hash: String,
    /// Records written but not yet sealed into the chain (the sealer's backlog).
    pub unsealed: u64,
    /// The latest signed checkpoint, whose root was recomputed from the records.
    pub checkpoint: Option<super::tree::CheckpointRow>,
}

/// A tenant's whole chain, first record first.
fn in_chain_order(tenant: TenantId) -> sea_orm::Select<access_record::Entity> {
    access_record::Entity::find()
        .filter(access_record::Column::TenantId.eq(tenant))
        .order_by_asc(access_record::Column::Seq)
}

/// A tenant's records in chain order, a page at a time, each page its own statement: a
/// walk of a long chain never makes one statement outlive the statement timeout (one
/// streamed query over a million records did, on a slow machine). The caller's
/// transaction keeps the pages one snapshot.
///
/// Up to the head a page is a range of positions, `after < seq <= after + SIZE`: the
/// chain's positions are dense there, and a range with both ends is read through the
/// primary key in order whatever the table's statistics say. A page as `seq > after …
/// LIMIT` was not: on a table never analyzed (a fresh bulk of records, autovacuum off)
/// PostgreSQL fetched every record after `after` and sorted them for each page, a walk
/// quadratic in the chain's length (a million records verified at 93,000 a second
/// against 290,000 streamed). Past the head (records a tampered chain holds beyond it),
/// and past a range with no record in it (the chain is broken there), pages are `seq >
/// after … LIMIT`: nearly nothing is left to read, and no walk follows a head that could
/// say anything.
struct ChainPages {
    tenant: TenantId,
    head: i64,
    after: i64,
    done: bool,
}

impl ChainPages {
    /// Records a page.
    const SIZE: i64 = 5_000;

    /// The pages of `tenant`'s chain, whose head (as the caller's snapshot sees it) is at
    /// `head`.
    fn new(tenant: TenantId, head: i64) -> Self {
        Self {
            tenant,
            head,
            after: 0,
            done: false,
        }
    }

    /// The next page's statement, or none once the walk is over.
    fn next(&self) -> Option<sea_orm::Select<access_record::Entity>> {
        if self.done {
            return None;
        }
        let from = in_chain_order(self.tenant).filter(access_record::Column::Seq.gt(self.after));
        Some(if self.after < self.head {
            from.filter(access_record::Column::Seq.lte(self.after.saturating_add(Self::SIZE)))
        } else {
            from.limit(Self::SIZE.unsigned_abs())
        })
    }

    /// What the page [`ChainPages::next`] gave held: `count` records, the last at `last`.
    fn read(&mut self, count: i64, last: Option<i64>) {
        if self.after < self.head {
            self.after = self.after.saturating_add(Self::SIZE);
            if count == 0 {
                self.head = self.after;
            }
        } else {
            self.done = count < Self::SIZE;
            self.after = last.unwrap_or(self.after);
        }
    }
}

/// Hands `tenant`'s records to `each` in chain order (see [`ChainPages`]), each page
/// streamed, so that the database reads the page while `each` works, until `each` says
/// to stop.
async fn walk<C, F>(db: &C, tenant: TenantId, head: i64, mut each: F) -> Result<(), ServiceError>
where
    C: ConnectionTrait + StreamTrait,
    F: FnMut(access_record::Model) -> Result<ControlFlow<()>, ServiceError>,
{
    let mut pages = ChainPages::new(tenant, head);
    while let Some(page) = pages.next() {
        let mut records = page.stream(db).await?;
        let (mut count, mut last) = (0, None);
        while let Some(record) = records.try_next().await? {
            count += 1;
            last = Some(record.seq);
            if each(record)?.is_break() {
                return Ok(());
            }
        }
        pages.read(count, last);
    }
    Ok(())
}

/// Walks a tenant's whole chain in order: every position present once, each record
/// linked to its predecessor's hash and hashing to its own, the head pointing at the last.
/// The records come a page at a time, each page streamed (see [`walk`]), and are hashed
/// into one reused buffer.
///
/// # Errors
/// `Db`.
pub async fn verify<C: ConnectionTrait + StreamTrait>(
    db: &C,
    tenant: TenantId,
) -> Result<Verification, ServiceError> {
    let head = ledger_head::Entity::find_by_id(tenant).one(db).await?;
    let seen = head.is_some();
    let (head_seq, head_hash) = head.map_or((0, GENESIS.to_owned()), |h| (h.seq, h.hash));
    let unsealed = unsealed(db, tenant).await?;
    let checkpoint = super::tree::checkpoint(db, tenant, None).await?;
    let broken = |checked: u64, at: i64, reason: &str| Verification {
        valid: false,
        checked,
        first_broken_at: Some(at),
        reason: Some(reason.to_owned()),
        head_seq,
        head_hash: head_hash.clone(),
        unsealed,
        checkpoint: checkpoint.clone(),
    };
    if !seen {
        // Every tenant's head exists from its creation: not seeing it means this
        // transaction cannot see the tenant's rows, and nothing it checks would count.
        return Ok(broken(0, 1, "the chain's head cannot be seen"));
    }
    let signed_size = checkpoint.as_ref().map(|c| c.tree_size);
    let mut frontier = super::tree::Frontier::default();
    let mut signed_root = (signed_size == Some(0)).then(|| frontier.root());
    let mut expected_seq: i64 = 1;
    let mut prev = GENESIS.to_owned();
    let mut checked: u64 = 0;
    let mut canonical = Vec::with_capacity(1024);
    let mut outcome = None;
    walk(db, tenant, head_seq, |record| {
        let mut broken_at = |at: i64, reason: &'static str| {
            outcome = Some((at, reason));
            Ok(ControlFlow::Break(()))
        };
        if record.seq != expected_seq {
            return broken_at(expected_seq, "a record is missing");
        }
        if record.prev_hash != prev {
            return broken_at(record.seq, "the record does not link to its predecessor");
        }
        canonical_bytes(&record, &mut canonical);
        let mut stored = [0u8; 32];
        let matches = hex::decode_to_slice(&record.hash, &mut stored).is_ok()
            && Sha256::digest(&canonical).as_slice() == stored;
        if !matches {
            return broken_at(record.seq, "the record's content does not match its hash");
        }
        checked += 1;
        expected_seq += 1;
        // The tree is rebuilt only as far as the latest checkpoint signs it.
        if signed_root.is_none() && signed_size.is_some() {
            frontier.push(&stored);
            if Some(frontier.size()) == signed_size {
                signed_root = Some(frontier.root());
            }
        }
        prev = record.hash;
        Ok(ControlFlow::Continue(()))
    })
    .await?;
    if let Some((at, reason)) = outcome {
        return Ok(broken(checked, at, reason));
    }
    let last = expected_seq - 1;
    if last != head_seq || prev != head_hash {
        let at = std::cmp::min(last, head_seq) + 1;
        return Ok(broken(checked, at, "the chain does not end at its head"));
    }
    if let Some(signed) = &checkpoint
        && signed_root != Some(signed.root_hash)
    {
        let at = i64::try_from(signed.tree_size).unwrap_or(i64::MAX);
        return Ok(broken(
            checked,
            at,
            "the latest checkpoint does not sign the tree of these records",
        ));
    }
    Ok(Verification {
        valid: true,
        checked,
        first_broken_at: None,
        reason: None,
        head_seq,
        head_hash,
        unsealed,
        checkpoint,
    })
}

/// Streams a tenant's records, oldest first, as JSON Lines (the canonical object plus
/// `hash`).
///
/// # Errors
/// `Db`, or the writer's error as `Internal`.
pub async fn export<C: ConnectionTrait + StreamTrait, W: std::io::Write>(
    db: &C,
    tenant: TenantId,
    out: &mut W,
) -> Result<u64, ServiceError> {
    let mut written = 0;
    let head = ledger_head::Entity::find_by_id(tenant).one(db).await?;
    walk(db, tenant, head.map_or(0, |h| h.seq), |record| {
        let line = exported(&record);
        writeln!(out, "{line}")
            .map_err(|e| ServiceError::Internal(format!("the export could not be written: {e}")))?;
        written += 1;
        Ok(ControlFlow::Continue(()))
    })
    .await?;
    Ok(written)
}

/// Seals what is pending, then verifies `tenant`'s chain as of one snapshot: for the
/// operator's `custodian ledger verify`, which holds the database's credentials.
///
/// # Errors
/// `Db`.
pub async fn verify_tenant(
    db: &DatabaseConnection,
    tenant: TenantId,
) -> Result<Verification, ServiceError> {
    super::seal(db, tenant).await?;
    let tx = tenancy::begin_pinned(db, tenant, Mode::Snapshot).await?;
    let result = verify(&tx, tenant).await?;
    tx.commit().await?;
    Ok(result)
}

/// Seals what is pending, then exports `tenant`'s chain as of one snapshot (see
/// [`export`]): for the operator's `custodian ledger export`.
///
/// # Errors
/// As [`export`].
pub async fn export_tenant<W: std::io::Write>(
    db: &DatabaseConnection,
    tenant: TenantId,
    out: &mut W,
) -> Result<u64, ServiceError> {
    super::seal(db, tenant).await?;
    let tx = tenancy::begin_pinned(db, tenant, Mode::Snapshot).await?;
    let written = export(&tx, tenant, out).await?;
    tx.commit().await?;
    Ok(written)
}
