//! The access ledger: one record per access to personal data, allowed or denied,
//! hash-chained per tenant so the controller can verify nobody rewrote it.
//!
//! A record is durable before the access it records is answered. A write's record goes
//! into `access_pending` inside the write's own transaction (both commit or neither, and
//! the write never waits on the tenant's chain); a background sealer chains those in
//! batches. Reads' and denials' records go through a group committer that chains the
//! records of concurrent requests in one transaction: one flush for many, and the reads'
//! own transactions write nothing. All chaining happens under the tenant's head lock, so
//! the chain never forks or skips; a pending record can leave only into the chain,
//! unchanged.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SecondsFormat, Utc};
use entities::{access_pending, access_record, ledger_head};
use futures_util::TryStreamExt;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, SqliteTransactionMode, Statement, StreamTrait,
    TransactionOptions, TransactionTrait, Value,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, mpsc, oneshot};
use uuid::Uuid;

use super::pagination::{Ordering, Page, PageRequest, fetch_page};
use crate::auth::ActorKind;
use crate::domain::TenantId;
use crate::domain::instruction::{AccessOperation, Purpose};
use crate::error::ServiceError;
use crate::metrics::Metrics;

/// The `prev_hash` of a tenant's first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Records written per group commit at most.
const MAX_BATCH: usize = 1024;
/// How long the sealer lets records gather after the first one it is told of.
const SEAL_DELAY: std::time::Duration = std::time::Duration::from_millis(20);
/// How long the sealer waits before retrying after a failure (the database is away).
const SEAL_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "ALLOWED",
            Self::Denied => "DENIED",
        }
    }
}

#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    Contact,
    Appointment,
}

impl ResourceType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Contact => "CONTACT",
            Self::Appointment => "APPOINTMENT",
        }
    }
}

/// A record before it is placed in its tenant's chain.
#[derive(Debug, Clone)]
pub struct NewRecord {
    pub tenant: TenantId,
    pub recorded_at: DateTime<Utc>,
    pub actor_kind: ActorKind,
    pub actor_id: String,
    pub subprocessor_id: Option<Uuid>,
    pub operation: AccessOperation,
    pub resource_type: ResourceType,
    pub resource_ids: Vec<Uuid>,
    /// For a listing, how many rows it returned; otherwise the number of ids.
    pub resource_count: usize,
    pub fields: Vec<String>,
    pub purpose: Option<Purpose>,
    pub instruction_id: Option<Uuid>,
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub request_id: Option<String>,
}

/// The canonical form a record's hash covers: every column but `hash`, as a JSON object
/// with its keys in sorted order, compact. `custodian ledger export` prints the same
/// object plus `hash`, so anyone can recompute the chain. Declared in key order and
/// serialized straight from the row: no intermediate map on the hot paths (chain and
/// verify).
#[derive(serde::Serialize)]
struct Canonical<'a> {
    actor_id: &'a str,
    actor_kind: &'a str,
    fields: &'a serde_json::Value,
    id: Uuid,
    instruction_id: Option<Uuid>,
    operation: &'a str,
    outcome: &'a str,
    prev_hash: &'a str,
    purpose: Option<&'a str>,
    reason: Option<&'a str>,
    recorded_at: String,
    request_id: Option<&'a str>,
    resource_count: i32,
    resource_ids: &'a serde_json::Value,
    resource_type: &'a str,
    seq: i64,
    subprocessor_id: Option<Uuid>,
    tenant_id: Uuid,
}

impl<'a> From<&'a access_record::Model> for Canonical<'a> {
    fn from(m: &'a access_record::Model) -> Self {
        Self {
            actor_id: &m.actor_id,
            actor_kind: &m.actor_kind,
            fields: &m.fields,
            id: m.id,
            instruction_id: m.instruction_id,
            operation: &m.operation,
            outcome: &m.outcome,
            prev_hash: &m.prev_hash,
            purpose: m.purpose.as_deref(),
            reason: m.reason.as_deref(),
            recorded_at: m.recorded_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            request_id: m.request_id.as_deref(),
            resource_count: m.resource_count,
            resource_ids: &m.resource_ids,
            resource_type: &m.resource_type,
            seq: m.seq,
            subprocessor_id: m.subprocessor_id,
            tenant_id: m.tenant_id,
        }
    }
}

/// The canonical object (see [`Canonical`]), for export.
pub fn canonical(m: &access_record::Model) -> serde_json::Value {
    serde_json::to_value(Canonical::from(m)).unwrap_or_default()
}

/// `sha256(canonical(record))`, hex.
pub fn hash_of(m: &access_record::Model) -> String {
    let bytes = serde_json::to_vec(&Canonical::from(m)).unwrap_or_default();
    hex::encode(Sha256::digest(&bytes))
}

impl NewRecord {
    /// The row this record is written as, before it is sealed.
    pub fn pending(&self) -> access_pending::Model {
        access_pending::Model {
            tenant_id: self.tenant.as_uuid(),
            id: Uuid::now_v7(),
            recorded_at: self.recorded_at,
            actor_kind: self.actor_kind.as_str().to_owned(),
            actor_id: self.actor_id.clone(),
            subprocessor_id: self.subprocessor_id,
            operation: self.operation.as_str().to_owned(),
            resource_type: self.resource_type.as_str().to_owned(),
            resource_ids: json!(self.resource_ids),
            resource_count: i32::try_from(self.resource_count).unwrap_or(i32::MAX),
            fields: json!(self.fields),
            purpose: self.purpose.map(|p| p.as_str().to_owned()),
            instruction_id: self.instruction_id,
            outcome: self.outcome.as_str().to_owned(),
            reason: self.reason.clone(),
            request_id: self.request_id.clone(),
        }
    }
}

/// A pending record placed in the chain at `seq` after `prev_hash`: every column copied
/// unchanged (the pending table's trigger insists), then hashed.
fn link(p: access_pending::Model, seq: i64, prev_hash: &str) -> access_record::Model {
    let mut m = access_record::Model {
        tenant_id: p.tenant_id,
        seq,
        id: p.id,
        recorded_at: p.recorded_at,
        actor_kind: p.actor_kind,
        actor_id: p.actor_id,
        subprocessor_id: p.subprocessor_id,
        operation: p.operation,
        resource_type: p.resource_type,
        resource_ids: p.resource_ids,
        resource_count: p.resource_count,
        fields: p.fields,
        purpose: p.purpose,
        instruction_id: p.instruction_id,
        outcome: p.outcome,
        reason: p.reason,
        request_id: p.request_id,
        prev_hash: prev_hash.to_owned(),
        hash: String::new(),
    };
    m.hash = hash_of(&m);
    m
}

/// `records` placed in the chain, in order, after `head`; with the new head.
fn link_all(
    records: impl IntoIterator<Item = access_pending::Model>,
    (mut seq, mut prev): Head,
) -> (Vec<access_record::Model>, Head) {
    let linked = records
        .into_iter()
        .map(|r| {
            seq += 1;
            let m = link(r, seq, &prev);
            prev.clone_from(&m.hash);
            m
        })
        .collect();
    (linked, (seq, prev))
}

/// Writes `records` unchained on `db`, which must be a transaction pinned to each
/// record's tenant (see [`crate::policy::begin_for_tenant`]); they are durable when it
/// commits and sealed after.
///
/// # Errors
/// `DbErr`; the caller's transaction then rolls back.
pub async fn write<C: ConnectionTrait>(db: &C, records: &[NewRecord]) -> Result<(), DbErr> {
    // Under the bound-parameter limits of both backends (16 columns a row).
    for chunk in records.chunks(1_000) {
        access_pending::Entity::insert_many(
            chunk
                .iter()
                .map(|r| access_pending::ActiveModel::from(r.pending())),
        )
        .exec(db)
        .await?;
    }
    Ok(())
}

/// A chain head: the last record's `seq` and hash.
pub type Head = (i64, String);

/// Extends a tenant's chain on `db`, a transaction: first with whatever of the tenant's
/// records are pending (oldest first, at most `limit`), then with `fresh` ones; the moved
/// pending rows are removed in the same transaction. Returns how many pending records
/// moved. The tenant's head row is locked for the rest of the transaction, so
/// appenders (the group committer, sealers, other servers) take turns per tenant and the
/// chain never forks or skips; and a record follows the writes committed before it was
/// submitted (all of them while the tenant's backlog is under `limit`).
///
/// # Errors
/// `DbErr` from any statement; the caller's transaction then rolls back.
pub async fn chain<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    fresh: Vec<access_pending::Model>,
    limit: u64,
) -> Result<(u64, Head), DbErr> {
    let backend = db.get_database_backend();
    let postgres = backend == DatabaseBackend::Postgres;
    // One round trip pins the tenant (PostgreSQL) and locks and reads its head.
    let head = if postgres {
        Statement::from_sql_and_values(
            backend,
            "WITH pinned AS (SELECT set_config('app.tenant_id', $1, true)) \
             INSERT INTO ledger_heads (tenant_id, seq, hash) SELECT $2, 0, $3 FROM pinned \
             ON CONFLICT (tenant_id) DO UPDATE SET seq = ledger_heads.seq RETURNING seq, hash",
            [
                tenant.to_string().into(),
                tenant.as_uuid().into(),
                GENESIS.into(),
            ],
        )
    } else {
        Statement::from_sql_and_values(
            backend,
            "INSERT INTO ledger_heads (tenant_id, seq, hash) VALUES ($1, 0, $2) \
             ON CONFLICT (tenant_id) DO UPDATE SET seq = ledger_heads.seq RETURNING seq, hash",
            [tenant.as_uuid().into(), GENESIS.into()],
        )
    };
    let head = db
        .query_one_raw(head)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("ledger head".into()))?;
    let head: Head = (head.try_get("", "seq")?, head.try_get("", "hash")?);
    // Read after the lock: what an appender that held it before us moved is gone.
    let mut records = access_pending::Entity::find()
        .filter(access_pending::Column::TenantId.eq(tenant.as_uuid()))
        .order_by_asc(access_pending::Column::RecordedAt)
        .order_by_asc(access_pending::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    let moved: Vec<Uuid> = records.iter().map(|p| p.id).collect();
    records.extend(fresh);
    let (linked, (seq, prev)) = link_all(records, head);
    let mut rows: Vec<access_record::ActiveModel> = linked.into_iter().map(Into::into).collect();
    // Under the bound-parameter limits of both backends (19 columns a row); on
    // PostgreSQL the last chunk moves the head in the same statement.
    let mut head_moved = rows.is_empty();
    while !rows.is_empty() {
        let rest = rows.split_off(rows.len().min(1_000));
        let chunk = std::mem::replace(&mut rows, rest);
        let insert = access_record::Entity::insert_many(chunk);
        if postgres && rows.is_empty() {
            let stmt = sea_orm::QueryTrait::build(&insert, backend);
            let mut values = stmt.values.map(|v| v.0).unwrap_or_default();
            let n = values.len();
            values.extend([
                Value::from(seq),
                Value::from(prev.clone()),
                Value::from(tenant.as_uuid()),
            ]);
            let sql = format!(
                "WITH appended AS ({}) UPDATE ledger_heads SET seq = ${}, hash = ${} WHERE tenant_id = ${}",
                stmt.sql,
                n + 1,
                n + 2,
                n + 3
            );
            db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
                .await?;
            head_moved = true;
        } else {
            insert.exec(db).await?;
        }
    }
    if !head_moved {
        ledger_head::Entity::update_many()
            .col_expr(ledger_head::Column::Seq, Expr::value(seq))
            .col_expr(ledger_head::Column::Hash, Expr::value(prev.clone()))
            .filter(ledger_head::Column::TenantId.eq(tenant.as_uuid()))
            .exec(db)
            .await?;
    }
    for chunk in moved.chunks(1_000) {
        access_pending::Entity::delete_many()
            .filter(access_pending::Column::TenantId.eq(tenant.as_uuid()))
            .filter(access_pending::Column::Id.is_in(chunk.iter().copied()))
            .exec(db)
            .await?;
    }
    Ok((moved.len() as u64, (seq, prev)))
}

/// Seals a tenant's pending records into its chain and returns how many, in batches of
/// one transaction each (see [`chain`]).
///
/// # Errors
/// `Db`; nothing of the failed batch is sealed, and the next call retries it.
pub async fn seal(db: &DatabaseConnection, tenant: TenantId) -> Result<u64, ServiceError> {
    const BATCH: u64 = 2_000;
    // A read first: with nothing pending, no write transaction (and no flush) at all.
    let tx = crate::policy::begin_for_tenant(db, tenant, false).await?;
    let any = access_pending::Entity::find()
        .filter(access_pending::Column::TenantId.eq(tenant.as_uuid()))
        .one(&tx)
        .await?
        .is_some();
    tx.commit().await?;
    if !any {
        return Ok(0);
    }
    let mut sealed = 0;
    loop {
        let tx = crate::policy::begin_for_tenant(db, tenant, true).await?;
        let (n, _) = chain(&tx, tenant, Vec::new(), BATCH).await?;
        tx.commit().await?;
        sealed += n;
        if n < BATCH {
            return Ok(sealed);
        }
    }
}

/// How many of a tenant's records are written but not yet sealed.
///
/// # Errors
/// `Db`.
pub async fn unsealed<C: ConnectionTrait>(db: &C, tenant: TenantId) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    access_pending::Entity::find()
        .filter(access_pending::Column::TenantId.eq(tenant.as_uuid()))
        .count(db)
        .await
}

struct Job {
    records: Vec<NewRecord>,
    done: oneshot::Sender<Result<(), String>>,
}

struct Shared {
    db: DatabaseConnection,
    committer: mpsc::Sender<Job>,
    /// Tenants with records committed since their last sealing.
    dirty: Mutex<BTreeSet<TenantId>>,
    /// Tenants with writes committed since the group committer last swept them.
    unswept: Mutex<BTreeSet<TenantId>>,
    wake: Notify,
    metrics: Arc<Metrics>,
}

/// A tenant set stays consistent whatever a panicking holder did (it is only inserted
/// into, removed from and taken whole), so a poisoned lock is simply taken.
fn locked(set: &Mutex<BTreeSet<TenantId>>) -> std::sync::MutexGuard<'_, BTreeSet<TenantId>> {
    set.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    fn dirty(&self) -> std::sync::MutexGuard<'_, BTreeSet<TenantId>> {
        locked(&self.dirty)
    }

    fn unswept(&self) -> std::sync::MutexGuard<'_, BTreeSet<TenantId>> {
        locked(&self.unswept)
    }

    fn mark(&self, tenant: TenantId) {
        self.dirty().insert(tenant);
        self.wake.notify_one();
    }
}

/// The ledger's running parts: the group committer for reads' and denials' records, and
/// the sealer for writes'. Cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    /// `None` only in the benchmark's ledger-off mode.
    shared: Option<Arc<Shared>>,
}

impl Ledger {
    /// Starts the committer and the sealer on the current runtime, with every tenant
    /// marked for sealing whatever an earlier run left pending (listed before this
    /// returns, so only tenants that exist now are visited for that).
    pub async fn start(db: DatabaseConnection, metrics: Arc<Metrics>) -> Self {
        let (committer, receiver) = mpsc::channel(4 * MAX_BATCH);
        let shared = Arc::new(Shared {
            db,
            committer,
            dirty: Mutex::new(BTreeSet::new()),
            unswept: Mutex::new(BTreeSet::new()),
            wake: Notify::new(),
            metrics,
        });
        tokio::spawn(crate::metrics::as_ledger_work(commit_loop(
            shared.clone(),
            receiver,
        )));
        if let Err(e) = mark_all_tenants(&shared).await {
            tracing::error!(error = %e, "cannot list tenants to seal their leftovers; will retry");
            let shared = shared.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(SEAL_RETRY).await;
                    if mark_all_tenants(&shared).await.is_ok() {
                        break;
                    }
                }
            });
        }
        tokio::spawn(crate::metrics::as_ledger_work(seal_loop(shared.clone())));
        Self {
            shared: Some(shared),
        }
    }

    /// Benchmark only: a ledger that records nothing.
    pub fn disabled() -> Self {
        Self { shared: None }
    }

    pub fn enabled(&self) -> bool {
        self.shared.is_some()
    }

    /// Writes `records` in the caller's transaction `tx` (see [`write`]); after it
    /// commits, tell the sealer with [`Ledger::committed`].
    ///
    /// # Errors
    /// `DbErr`; the caller's transaction must then roll back.
    pub async fn write_in<C: ConnectionTrait>(
        &self,
        tx: &C,
        records: &[NewRecord],
    ) -> Result<(), DbErr> {
        if self.enabled() {
            write(tx, records).await?;
        }
        Ok(())
    }

    /// Tells the sealer that `tenant` has newly committed records.
    pub fn committed(&self, tenant: TenantId) {
        if let Some(shared) = &self.shared {
            shared.unswept().insert(tenant);
            shared.mark(tenant);
        }
    }

    /// Makes `records` durable in a transaction of their own, together with whatever
    /// other requests are recording now (one commit, one flush).
    ///
    /// # Errors
    /// `Db` when the batch could not be committed: the caller must not answer with the
    /// data the records describe.
    pub async fn record(&self, records: Vec<NewRecord>) -> Result<(), ServiceError> {
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        if records.is_empty() {
            return Ok(());
        }
        let (done, wait) = oneshot::channel();
        let gone = || ServiceError::Db(DbErr::Custom("the ledger is not running".into()));
        shared
            .committer
            .send(Job { records, done })
            .await
            .map_err(|_| gone())?;
        wait.await
            .map_err(|_| gone())?
            .map_err(|e| ServiceError::Db(DbErr::Custom(e)))
    }
}

async fn commit_loop(shared: Arc<Shared>, mut receiver: mpsc::Receiver<Job>) {
    let postgres = shared.db.get_database_backend() == DatabaseBackend::Postgres;
    // The heads this committer last wrote or read, per tenant.
    let mut heads: std::collections::HashMap<TenantId, Head> = std::collections::HashMap::new();
    while let Some(first) = receiver.recv().await {
        // Whatever queued while the last batch was committing joins this one: batching
        // grows with load and adds no wait when idle.
        let mut jobs = vec![first];
        let mut count = jobs[0].records.len();
        while count < MAX_BATCH {
            match receiver.try_recv() {
                Ok(job) => {
                    count += job.records.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let mut by_tenant: BTreeMap<TenantId, Vec<access_pending::Model>> = BTreeMap::new();
        for job in &jobs {
            for r in &job.records {
                by_tenant.entry(r.tenant).or_default().push(r.pending());
            }
        }
        Metrics::add(&shared.metrics.ledger_batches, 1);
        Metrics::add(&shared.metrics.ledger_records, count as u64);
        // Tenants whose head this committer knows and that have no writes to sweep take
        // the one-statement path; the rest (and any it loses) one transaction together.
        let unswept: BTreeSet<TenantId> = {
            let mut marked = shared.unswept();
            by_tenant
                .keys()
                .filter(|t| marked.remove(t))
                .copied()
                .collect()
        };
        let mut slow = BTreeMap::new();
        for (tenant, records) in by_tenant {
            let fast = match heads.get(&tenant) {
                Some(head) if postgres && !unswept.contains(&tenant) => {
                    append_after(&shared.db, tenant, head, &records).await
                }
                _ => Ok(None),
            };
            match fast {
                Ok(Some(head)) => {
                    heads.insert(tenant, head);
                }
                Ok(None) => {
                    slow.insert(tenant, records);
                }
                Err(e) => {
                    tracing::warn!(tenant = %tenant, error = %e, "ledger fast path failed");
                    slow.insert(tenant, records);
                }
            }
        }
        let result = if slow.is_empty() {
            Ok(Vec::new())
        } else {
            match commit_batch(&shared.db, &slow, MAX_BATCH as u64).await {
                Err(e) => {
                    // A pending record that cannot move (see the sealer's errors) must not
                    // cost other requests their answers: chain without sweeping.
                    tracing::error!(error = %e, records = count, "ledger batch failed; retrying without pending records");
                    shared.unswept().extend(unswept.iter().copied());
                    commit_batch(&shared.db, &slow, 0).await
                }
                ok => ok,
            }
        };
        let result = match result {
            Ok(moved) => {
                heads.extend(moved);
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, records = count, "ledger batch failed");
                // What it swept and what it knew of these heads is unknown now.
                slow.keys().for_each(|t| {
                    heads.remove(t);
                });
                Err((slow.keys().copied().collect::<BTreeSet<_>>(), e.to_string()))
            }
        };
        for job in jobs {
            let failed = match &result {
                Err((tenants, e)) if job.records.iter().any(|r| tenants.contains(&r.tenant)) => {
                    Err(e.clone())
                }
                _ => Ok(()),
            };
            let _ = job.done.send(failed);
        }
    }
}

/// The group committer's fast path on PostgreSQL: appends a tenant's records after the
/// head this committer last wrote, in one autocommitted statement (one round trip, one
/// flush), which moves the head only if it is still that one and inserts the records
/// only if it moved it. `None` when another appender got there first: nothing written.
async fn append_after(
    db: &DatabaseConnection,
    tenant: TenantId,
    head: &Head,
    records: &[access_pending::Model],
) -> Result<Option<Head>, DbErr> {
    let (rows, (seq, prev)) = link_all(records.iter().cloned(), head.clone());
    let json = serde_json::to_string(
        &rows
            .iter()
            .map(|m| {
                let mut row = canonical(m);
                row["hash"] = json!(m.hash);
                row
            })
            .collect::<Vec<_>>(),
    )
    .map_err(|e| DbErr::Custom(e.to_string()))?;
    let appended = db
        .query_all_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "WITH pinned AS (SELECT set_config('app.tenant_id', $1, true)), \
             moved AS (INSERT INTO ledger_heads (tenant_id, seq, hash) SELECT $2, $3, $4 FROM pinned \
               ON CONFLICT (tenant_id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash \
               WHERE ledger_heads.seq = $5 AND ledger_heads.hash = $6 RETURNING 1) \
             INSERT INTO access_records (tenant_id, seq, id, recorded_at, actor_kind, actor_id, \
               subprocessor_id, operation, resource_type, resource_ids, resource_count, fields, \
               purpose, instruction_id, outcome, reason, request_id, prev_hash, hash) \
             SELECT $2, r.seq, r.id, r.recorded_at, r.actor_kind, r.actor_id, r.subprocessor_id, \
               r.operation, r.resource_type, r.resource_ids, r.resource_count, r.fields, r.purpose, \
               r.instruction_id, r.outcome, r.reason, r.request_id, r.prev_hash, r.hash \
             FROM json_to_recordset($7::text::json) AS r(seq bigint, id uuid, \
               recorded_at timestamptz, actor_kind text, actor_id text, subprocessor_id uuid, \
               operation text, resource_type text, resource_ids jsonb, resource_count integer, \
               fields jsonb, purpose text, instruction_id uuid, outcome text, reason text, \
               request_id text, prev_hash text, hash text) \
             WHERE EXISTS (SELECT 1 FROM moved) RETURNING 1",
            [
                tenant.to_string().into(),
                tenant.as_uuid().into(),
                seq.into(),
                prev.clone().into(),
                head.0.into(),
                head.1.clone().into(),
                json.into(),
            ],
        ))
        .await?;
    Ok((appended.len() == rows.len()).then_some((seq, prev)))
}

/// Chains a batch into its tenants' chains in one transaction, tenants in a fixed order
/// (so two appenders can never wait on each other's heads), each after up to `sweep` of
/// its pending records.
async fn commit_batch(
    db: &DatabaseConnection,
    by_tenant: &BTreeMap<TenantId, Vec<access_pending::Model>>,
    sweep: u64,
) -> Result<Vec<(TenantId, Head)>, DbErr> {
    let options = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    };
    let tx = db.begin_with_options(options).await?;
    let mut heads = Vec::with_capacity(by_tenant.len());
    for (tenant, records) in by_tenant {
        let (_, head) = chain(&tx, *tenant, records.clone(), sweep).await?;
        heads.push((*tenant, head));
    }
    tx.commit().await?;
    Ok(heads)
}

/// Marks every tenant for sealing: what an earlier run left pending is sealed like any
/// other record.
async fn mark_all_tenants(shared: &Shared) -> Result<(), DbErr> {
    use entities::tenant;
    let ids: Vec<Uuid> = tenant::Entity::find()
        .select_only()
        .column(tenant::Column::Id)
        .into_tuple()
        .all(&shared.db)
        .await?;
    ids.into_iter()
        .for_each(|id| shared.mark(TenantId::from(id)));
    Ok(())
}

/// Seals the tenants that had records committed, a moment after the first of them (so a
/// busy tenant's records are sealed in batches), retrying failures.
async fn seal_loop(shared: Arc<Shared>) {
    loop {
        shared.wake.notified().await;
        tokio::time::sleep(SEAL_DELAY).await;
        let tenants = std::mem::take(&mut *shared.dirty());
        let mut failed = false;
        for tenant in tenants {
            match seal(&shared.db, tenant).await {
                Ok(n) => Metrics::add(&shared.metrics.ledger_sealed, n),
                Err(e) => {
                    tracing::error!(tenant = %tenant, error = %e, "sealing failed; will retry");
                    shared.mark(tenant);
                    failed = true;
                }
            }
        }
        if failed {
            tokio::time::sleep(SEAL_RETRY).await;
        }
    }
}

/// Which records a ledger query returns. Every condition given must hold.
#[derive(Debug, Clone, Default)]
pub struct RecordFilter {
    pub actor_kind: Option<ActorKind>,
    pub operation: Option<AccessOperation>,
    pub outcome: Option<Outcome>,
    pub contact_id: Option<Uuid>,
    pub instruction_id: Option<Uuid>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

fn filtered<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    filter: &RecordFilter,
) -> sea_orm::Select<access_record::Entity> {
    use access_record::Column as C;
    let mut select = access_record::Entity::find().filter(C::TenantId.eq(tenant.as_uuid()));
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
            .filter(super::json_array_contains(
                db.get_database_backend(),
                "access_records.resource_ids",
                contact.to_string(),
            ));
    }
    if let Some(instruction) = filter.instruction_id {
        select = select.filter(C::InstructionId.eq(instruction));
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
    super::pagination::Cursor {
        key: record.seq.to_string(),
        id: record.id,
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
}

/// A tenant's whole chain, first record first.
fn in_chain_order(tenant: TenantId) -> sea_orm::Select<access_record::Entity> {
    access_record::Entity::find()
        .filter(access_record::Column::TenantId.eq(tenant.as_uuid()))
        .order_by_asc(access_record::Column::Seq)
}

/// Walks a tenant's whole chain in order: every position present once, each record
/// linked to its predecessor's hash and hashing to its own, the head pointing at the last.
/// The records stream in one query while they are hashed, into one reused buffer.
///
/// # Errors
/// `Db`.
pub async fn verify<C: ConnectionTrait + StreamTrait>(
    db: &C,
    tenant: TenantId,
) -> Result<Verification, ServiceError> {
    let head = ledger_head::Entity::find_by_id(tenant.as_uuid())
        .one(db)
        .await?;
    let (head_seq, head_hash) = head.map_or((0, GENESIS.to_owned()), |h| (h.seq, h.hash));
    let unsealed = unsealed(db, tenant).await?;
    let broken = |checked: u64, at: i64, reason: &str| Verification {
        valid: false,
        checked,
        first_broken_at: Some(at),
        reason: Some(reason.to_owned()),
        head_seq,
        head_hash: head_hash.clone(),
        unsealed,
    };
    let mut expected_seq: i64 = 1;
    let mut prev = GENESIS.to_owned();
    let mut checked: u64 = 0;
    let mut canonical = Vec::with_capacity(1024);
    let mut stream = in_chain_order(tenant).stream(db).await?;
    while let Some(record) = stream.try_next().await? {
        if record.seq != expected_seq {
            return Ok(broken(checked, expected_seq, "a record is missing"));
        }
        if record.prev_hash != prev {
            return Ok(broken(
                checked,
                record.seq,
                "the record does not link to its predecessor",
            ));
        }
        canonical.clear();
        serde_json::to_writer(&mut canonical, &Canonical::from(&record))
            .map_err(|e| DbErr::Custom(e.to_string()))?;
        let mut stored = [0u8; 32];
        let matches = hex::decode_to_slice(&record.hash, &mut stored).is_ok()
            && Sha256::digest(&canonical).as_slice() == stored;
        if !matches {
            return Ok(broken(
                checked,
                record.seq,
                "the record's content does not match its hash",
            ));
        }
        checked += 1;
        expected_seq += 1;
        prev = record.hash;
    }
    drop(stream);
    let last = expected_seq - 1;
    if last != head_seq || prev != head_hash {
        let at = std::cmp::min(last, head_seq) + 1;
        return Ok(broken(checked, at, "the chain does not end at its head"));
    }
    Ok(Verification {
        valid: true,
        checked,
        first_broken_at: None,
        reason: None,
        head_seq,
        head_hash,
        unsealed,
    })
}

/// Streams a tenant's records, oldest first, as JSON Lines (the canonical object plus
/// `hash`).
///
/// # Errors
/// `Db`, or the writer's error as `Db(Custom)`.
pub async fn export<C: ConnectionTrait + StreamTrait, W: std::io::Write>(
    db: &C,
    tenant: TenantId,
    out: &mut W,
) -> Result<u64, ServiceError> {
    let mut written = 0;
    let mut stream = in_chain_order(tenant).stream(db).await?;
    while let Some(record) = stream.try_next().await? {
        let mut line = canonical(&record);
        line["hash"] = json!(record.hash);
        writeln!(out, "{line}").map_err(|e| ServiceError::Db(DbErr::Custom(e.to_string())))?;
        written += 1;
    }
    Ok(written)
}

/// One page of the caller's tenant's ledger (controller admin), after sealing what is
/// pending: every access committed before the call is on it.
///
/// # Errors
/// `Unauthenticated`/`Forbidden` for anyone but the tenant's admin; `Validation`; `Db`.
pub async fn log_page(
    ctx: &crate::policy::RequestCtx<'_>,
    filter: &RecordFilter,
    page: &PageRequest,
) -> Result<Page<access_record::Model>, ServiceError> {
    let tenant = crate::policy::require_controller_admin(ctx.caller)?;
    seal(ctx.db, tenant).await?;
    let tx = crate::policy::begin_for_tenant(ctx.db, tenant, false).await?;
    let result = list(&tx, tenant, filter, page).await?;
    tx.commit().await?;
    Ok(result)
}

/// How many of the caller's tenant's records match (controller admin).
///
/// # Errors
/// As [`log_page`].
pub async fn log_count(
    ctx: &crate::policy::RequestCtx<'_>,
    filter: &RecordFilter,
) -> Result<u64, ServiceError> {
    let tenant = crate::policy::require_controller_admin(ctx.caller)?;
    seal(ctx.db, tenant).await?;
    let tx = crate::policy::begin_for_tenant(ctx.db, tenant, false).await?;
    let n = count(&tx, tenant, filter).await?;
    tx.commit().await?;
    Ok(n)
}

/// Seals what is pending, then verifies the caller's tenant's chain (controller admin).
///
/// # Errors
/// As [`log_page`].
pub async fn verify_log(ctx: &crate::policy::RequestCtx<'_>) -> Result<Verification, ServiceError> {
    let tenant = crate::policy::require_controller_admin(ctx.caller)?;
    seal(ctx.db, tenant).await?;
    let tx = crate::policy::begin_snapshot_for_tenant(ctx.db, tenant).await?;
    let result = verify(&tx, tenant).await?;
    tx.commit().await?;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The canonical bytes are the published rule (every column but `hash`, keys sorted,
    /// compact): the direct serialization must equal it byte for byte.
    #[test]
    fn the_canonical_form_is_the_sorted_compact_json_object() {
        let m = access_record::Model {
            tenant_id: Uuid::now_v7(),
            seq: 7,
            id: Uuid::now_v7(),
            recorded_at: chrono::Utc::now(),
            actor_kind: "PROCESSOR_STAFF".into(),
            actor_id: "sam \"the\" ünïcode".into(),
            subprocessor_id: None,
            operation: "READ".into(),
            resource_type: "CONTACT".into(),
            resource_ids: json!([Uuid::now_v7()]),
            resource_count: 1,
            fields: json!(["firstName", "emails"]),
            purpose: Some("SUPPORT".into()),
            instruction_id: Some(Uuid::now_v7()),
            outcome: "ALLOWED".into(),
            reason: None,
            request_id: Some("r-1".into()),
            prev_hash: GENESIS.into(),
            hash: String::new(),
        };
        let reference = json!({
            "tenant_id": m.tenant_id, "seq": m.seq, "id": m.id,
            "recorded_at": m.recorded_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            "actor_kind": m.actor_kind, "actor_id": m.actor_id, "subprocessor_id": m.subprocessor_id,
            "operation": m.operation, "resource_type": m.resource_type, "resource_ids": m.resource_ids,
            "resource_count": m.resource_count, "fields": m.fields, "purpose": m.purpose,
            "instruction_id": m.instruction_id, "outcome": m.outcome, "reason": m.reason,
            "request_id": m.request_id, "prev_hash": m.prev_hash,
        })
        .to_string();
        let direct = String::from_utf8(serde_json::to_vec(&Canonical::from(&m)).unwrap()).unwrap();
        assert_eq!(direct, reference);
        assert_eq!(
            hash_of(&m),
            hex::encode(Sha256::digest(reference.as_bytes()))
        );
    }
}
