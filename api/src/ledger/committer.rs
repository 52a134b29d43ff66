//! The ledger's running parts: the group committer that chains reads' and denials'
//! records, many requests to a commit, and the sealer that chains writes' pending
//! records in the background.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use entities::access_pending;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QuerySelect, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use uuid::Uuid;

use super::NewRecord;
use super::chain::{Head, append_after, append_batch, chain, write};
use crate::domain::TenantId;
use crate::error::ServiceError;
use crate::metrics::Metrics;
use crate::tenancy::{self, Mode};

/// Records written per group commit at most.
const MAX_BATCH: usize = 1024;
/// How long the sealer lets records gather after the first one it is told of.
const SEAL_DELAY: std::time::Duration = std::time::Duration::from_millis(20);
/// How long the sealer waits before retrying after a failure (the database is away).
const SEAL_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// Seals a tenant's pending records into its chain and returns how many, in batches of
/// one transaction each (see [`chain::chain`]).
///
/// # Errors
/// `Db`; nothing of the failed batch is sealed, and the next call retries it.
pub async fn seal(db: &DatabaseConnection, tenant: TenantId) -> Result<u64, ServiceError> {
    const BATCH: u64 = 2_000;
    // A read first: with nothing pending, no write transaction (and no flush) at all.
    let tx = tenancy::begin_pinned(db, tenant, Mode::Read).await?;
    let any = access_pending::Entity::find()
        .filter(access_pending::Column::TenantId.eq(tenant))
        .one(&tx)
        .await?
        .is_some();
    tx.commit().await?;
    if !any {
        return Ok(0);
    }
    let mut sealed = 0;
    loop {
        let tx = tenancy::begin_pinned(db, tenant, Mode::Write).await?;
        let (n, _) = chain(&tx, tenant, Vec::new(), BATCH).await?;
        tx.commit().await?;
        sealed += n;
        if n < BATCH {
            return Ok(sealed);
        }
    }
}

/// Chains `records` now, in a transaction of their own, after whatever of the tenant's
/// records are pending: for loading a ledger in bulk (the benchmark), and for appending
/// as another server's committer would.
///
/// # Errors
/// `Db`; nothing is appended.
pub async fn append(
    db: &DatabaseConnection,
    tenant: TenantId,
    records: &[NewRecord],
) -> Result<Head, ServiceError> {
    let tx = tenancy::begin_pinned(db, tenant, Mode::Write).await?;
    let (_, head) = chain(
        &tx,
        tenant,
        records.iter().map(NewRecord::pending).collect(),
        MAX_BATCH as u64,
    )
    .await?;
    tx.commit().await?;
    Ok(head)
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
    /// The database is a Citus coordinator: no transaction may span two tenants.
    citus: bool,
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
    /// `None` in the benchmark's ledger-off mode and for jobs run from the command line.
    shared: Option<Arc<Shared>>,
    /// Writes' records go into their transactions (they are sealed later, by a server's
    /// sealer or `custodian ledger verify`); off only in the benchmark's ledger-off mode.
    writes: bool,
}

impl Ledger {
    /// Starts the committer and the sealer on the current runtime, with every tenant
    /// marked for sealing whatever an earlier run left pending (listed before this
    /// returns, so only tenants that exist now are visited for that). `citus`: the
    /// database is a Citus coordinator (see [`crate::citus`]).
    pub async fn start(db: DatabaseConnection, metrics: Arc<Metrics>, citus: bool) -> Self {
        let (committer, receiver) = mpsc::channel(4 * MAX_BATCH);
        let shared = Arc::new(Shared {
            db,
            committer,
            dirty: Mutex::new(BTreeSet::new()),
            unswept: Mutex::new(BTreeSet::new()),
            wake: Notify::new(),
            metrics,
            citus,
        });
        let one_statement = shared.db.get_database_backend() == DatabaseBackend::Postgres;
        let committers = Arc::new(Committers {
            receiver: tokio::sync::Mutex::new(receiver),
            heads: Mutex::new((0, std::collections::HashMap::new())),
            // On Citus one statement would be planned on the coordinator and commit on
            // every worker.
            one_statement: one_statement && !citus,
        });
        for _ in 0..if one_statement { IN_FLIGHT } else { 1 } {
            tokio::spawn(crate::metrics::as_ledger_work(commit_loop(
                shared.clone(),
                committers.clone(),
            )));
        }
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
            writes: true,
        }
    }

    /// A ledger for a job run from the command line (the purge): its writes' records go
    /// into their own transactions, to be sealed by the next server or `ledger verify`.
    /// It cannot record reads: a job that reads personal data needs [`Ledger::start`].
    pub fn for_jobs() -> Self {
        Self {
            shared: None,
            writes: true,
        }
    }

    /// Benchmark only: a ledger that records nothing.
    pub fn disabled() -> Self {
        Self {
            shared: None,
            writes: false,
        }
    }

    /// Whether the database is a Citus coordinator, as the running ledger found at start
    /// (`false` for a ledger that is not running).
    pub fn citus(&self) -> bool {
        self.shared.as_ref().is_some_and(|s| s.citus)
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
        if self.writes {
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
        let denied = records
            .iter()
            .filter(|r| r.outcome == super::Outcome::Denied)
            .count();
        shared.metrics.denied_accesses.inc_by(denied as u64);
        let (done, wait) = oneshot::channel();
        let gone = || ServiceError::Internal("the ledger is not running".into());
        shared
            .committer
            .send(Job { records, done })
            .await
            .map_err(|_| gone())?;
        wait.await
            .map_err(|_| gone())?
            .map_err(|e| ServiceError::Internal(format!("the ledger batch failed: {e}")))
    }
}

/// Batches in flight at once on PostgreSQL: while one flushes, the next is already
/// executing (on one tenant's chain it waits in the database on the first's head lock,
/// with no round trip to the server in between). SQLite has one writer.
const IN_FLIGHT: usize = 2;

/// What a batch appended, per tenant, once it has committed: `None` while in flight.
type Landed = watch::Receiver<Option<Arc<BTreeMap<TenantId, Head>>>>;

/// What the committers know of a tenant's head, and which batch told them.
enum Known {
    /// The head after batch `by`'s records for the tenant: committed if `landed` says
    /// so, predicted (the batch is in flight) until then.
    Head { head: Head, by: u64, landed: Landed },
    /// Batch `by` takes the tenant's locking path (it sweeps the tenant's writes): no
    /// batch may append after a predicted head until that one has landed.
    Locking(u64),
}

/// The committers' shared state: the queue and the heads. Batches are numbered and
/// planned one at a time, under `receiver`, so each plans after the one before it.
struct Committers {
    receiver: tokio::sync::Mutex<mpsc::Receiver<Job>>,
    heads: Mutex<(u64, std::collections::HashMap<TenantId, Known>)>,
    /// One statement for the whole batch (plain PostgreSQL; see [`append_after`]).
    one_statement: bool,
}

/// One tenant's part of a batch on the fast path.
struct Fast {
    tenant: TenantId,
    expected: Head,
    /// The head after its records.
    predicted: Head,
    records: Vec<access_pending::Model>,
    /// The batch whose records `expected` follows, if the committers predicted it.
    after: Landed,
}

struct Batch {
    jobs: Vec<Job>,
    count: usize,
    unswept: BTreeSet<TenantId>,
    plan: Plan,
}

/// A batch's tenants split between the two paths.
struct Plan {
    n: u64,
    fast: Vec<Fast>,
    /// The fast part's statement, prepared while planning.
    json: String,
    slow: BTreeMap<TenantId, Vec<access_pending::Model>>,
    landed: watch::Sender<Option<Arc<BTreeMap<TenantId, Head>>>>,
}

impl Committers {
    fn heads(
        &self,
    ) -> std::sync::MutexGuard<'_, (u64, std::collections::HashMap<TenantId, Known>)> {
        self.heads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes the next batch off the queue: whatever queued while the batches in flight
    /// were committing (batching grows with load and adds no wait when idle), planned
    /// after them.
    async fn next(&self, shared: &Shared) -> Option<Batch> {
        let mut receiver = self.receiver.lock().await;
        let first = receiver.recv().await?;
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
                by_tenant.entry(r.tenant()).or_default().push(r.pending());
            }
        }
        // Tenants with writes to sweep take the locking path, and so does any tenant whose
        // head the committers do not know; the rest append after the head they predict.
        let unswept: BTreeSet<TenantId> = {
            let mut marked = shared.unswept();
            by_tenant
                .keys()
                .filter(|t| marked.remove(t))
                .copied()
                .collect()
        };
        let plan = self.plan(by_tenant, &unswept);
        Some(Batch {
            jobs,
            count,
            unswept,
            plan,
        })
    }

    /// Numbers the next batch and splits `by_tenant` into the fast path (a head known,
    /// nothing to sweep: the records hashed after it, the head after them predicted for
    /// the next batch) and the locking path.
    fn plan(
        &self,
        by_tenant: BTreeMap<TenantId, Vec<access_pending::Model>>,
        unswept: &BTreeSet<TenantId>,
    ) -> Plan {
        let (landed, after) = watch::channel(None);
        let mut guard = self.heads();
        let (next, heads) = &mut *guard;
        let n = *next;
        *next += 1;
        let mut fast = Vec::new();
        let mut slow = BTreeMap::new();
        for (tenant, records) in by_tenant {
            match heads.get(&tenant) {
                Some(Known::Head { head, landed, .. })
                    if self.one_statement && !unswept.contains(&tenant) =>
                {
                    fast.push(Fast {
                        tenant,
                        expected: head.clone(),
                        predicted: head.clone(),
                        records,
                        after: landed.clone(),
                    });
                }
                _ => {
                    // Until this batch lands, nothing appends after a head it may sweep past.
                    heads.insert(tenant, Known::Locking(n));
                    slow.insert(tenant, records);
                }
            }
        }
        let (json, predicted) = prepare(&fast);
        for (f, (_, head)) in fast.iter_mut().zip(predicted) {
            heads.insert(
                f.tenant,
                Known::Head {
                    head: head.clone(),
                    by: n,
                    landed: after.clone(),
                },
            );
            f.predicted = head;
        }
        drop(guard);
        Plan {
            n,
            fast,
            json,
            slow,
            landed,
        }
    }

    /// Records what batch `n` appended: a head it last told of becomes the head it
    /// committed (a later batch's word on a tenant stands), and a tenant it failed is
    /// forgotten; then the batches that appended after its predictions may go on.
    fn land(
        &self,
        n: u64,
        appended: BTreeMap<TenantId, Head>,
        failed: &BTreeSet<TenantId>,
        landed: watch::Sender<Option<Arc<BTreeMap<TenantId, Head>>>>,
    ) {
        let appended = Arc::new(appended);
        {
            let mut guard = self.heads();
            let heads = &mut guard.1;
            let ours = |k: Option<&Known>| match k {
                Some(Known::Head { by, .. } | Known::Locking(by)) => *by == n,
                None => false,
            };
            for (tenant, head) in appended.iter() {
                if ours(heads.get(tenant)) {
                    heads.insert(
                        *tenant,
                        Known::Head {
                            head: head.clone(),
                            by: n,
                            landed: landed.subscribe(),
                        },
                    );
                }
            }
            for tenant in failed {
                if ours(heads.get(tenant)) {
                    heads.remove(tenant);
                }
            }
        }
        let _ = landed.send(Some(appended));
    }
}

/// The fast path's statement for `fast`, and the heads it leaves.
fn prepare(fast: &[Fast]) -> (String, Vec<(TenantId, Head)>) {
    let batch: Vec<(TenantId, Head, &[access_pending::Model])> = fast
        .iter()
        .map(|f| (f.tenant, f.expected.clone(), f.records.as_slice()))
        .collect();
    append_batch(&batch)
}

async fn commit_loop(shared: Arc<Shared>, committers: Arc<Committers>) {
    while let Some(batch) = committers.next(&shared).await {
        let started = std::time::Instant::now();
        let Batch {
            jobs,
            count,
            unswept,
            plan:
                Plan {
                    n,
                    fast,
                    json,
                    mut slow,
                    landed,
                },
        } = batch;
        let mut appended: BTreeMap<TenantId, Head> = BTreeMap::new();
        let mut fast = fast;
        let mut json = Some(json);
        // The fast path, and once more for the tenants it lost only because their
        // predicted head's batch had not reached the database yet.
        for attempt in 0..2 {
            if fast.is_empty() {
                break;
            }
            let statement = json.take().unwrap_or_else(|| prepare(&fast).0);
            let moved = match append_after(&shared.db, statement).await {
                Ok(moved) => moved,
                Err(e) => {
                    tracing::warn!(error = %e, "ledger fast path failed");
                    slow.extend(fast.drain(..).map(|f| (f.tenant, f.records)));
                    break;
                }
            };
            let mut lost = Vec::new();
            for f in fast.drain(..) {
                if moved.contains(&f.tenant) {
                    appended.insert(f.tenant, f.predicted);
                } else {
                    lost.push(f);
                }
            }
            // A head another appender moved takes the locking path; one that the batch
            // before had yet to write is tried again once that batch has landed as
            // predicted.
            for mut f in lost {
                let retry = attempt == 0 && {
                    let landed = f.after.wait_for(Option::is_some).await;
                    landed.is_ok_and(|l| {
                        l.as_ref()
                            .and_then(|heads| heads.get(&f.tenant))
                            .is_some_and(|h| *h == f.expected)
                    })
                };
                if retry {
                    fast.push(f);
                } else {
                    slow.insert(f.tenant, f.records);
                }
            }
        }
        // The locking path: one transaction for all of them on PostgreSQL; on Citus one
        // per tenant, side by side, so each commits on its tenant's one worker.
        let groups: Vec<Vec<(TenantId, &[access_pending::Model])>> = if shared.citus {
            slow.iter().map(|(t, r)| vec![(*t, r.as_slice())]).collect()
        } else if slow.is_empty() {
            Vec::new()
        } else {
            vec![slow.iter().map(|(t, r)| (*t, r.as_slice())).collect()]
        };
        let outcomes = futures_util::future::join_all(
            groups.iter().map(|g| lock_and_chain(&shared, g, &unswept)),
        )
        .await;
        let mut failed: BTreeSet<TenantId> = BTreeSet::new();
        let mut failure = String::new();
        for (group, outcome) in groups.iter().zip(outcomes) {
            match outcome {
                Ok(moved) => appended.extend(moved),
                Err(e) => {
                    tracing::error!(error = %e, records = count, "ledger batch failed");
                    // What it swept and what it knew of these heads is unknown now.
                    failed.extend(group.iter().map(|(tenant, _)| *tenant));
                    failure = e.to_string();
                }
            }
        }
        committers.land(n, appended, &failed, landed);
        shared.metrics.ledger_batch(count, started.elapsed());
        for job in jobs {
            let outcome = if job.records.iter().any(|r| failed.contains(&r.tenant())) {
                Err(failure.clone())
            } else {
                Ok(())
            };
            let _ = job.done.send(outcome);
        }
    }
}

/// The locking path for one group of tenants: [`commit_batch`], and if that fails (a
/// pending record that cannot move, see the sealer's errors, must not cost other requests
/// their answers) once more without sweeping.
async fn lock_and_chain(
    shared: &Shared,
    group: &[(TenantId, &[access_pending::Model])],
    unswept: &BTreeSet<TenantId>,
) -> Result<Vec<(TenantId, Head)>, DbErr> {
    match commit_batch(&shared.db, group, MAX_BATCH as u64).await {
        Err(e) => {
            tracing::error!(error = %e, "ledger batch failed; retrying without pending records");
            shared.unswept().extend(
                group
                    .iter()
                    .map(|(t, _)| *t)
                    .filter(|t| unswept.contains(t)),
            );
            commit_batch(&shared.db, group, 0).await
        }
        ok => ok,
    }
}

/// Chains a batch into its tenants' chains in one transaction, tenants in a fixed order
/// (so two appenders can never wait on each other's heads), each after up to `sweep` of
/// its pending records.
async fn commit_batch(
    db: &DatabaseConnection,
    group: &[(TenantId, &[access_pending::Model])],
    sweep: u64,
) -> Result<Vec<(TenantId, Head)>, DbErr> {
    let options = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    };
    let tx = db.begin_with_options(options).await?;
    let mut heads = Vec::with_capacity(group.len());
    for (tenant, records) in group {
        tenancy::pin(&tx, *tenant).await?;
        let (_, head) = chain(&tx, *tenant, records.to_vec(), sweep).await?;
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
                Ok(n) => {
                    shared.metrics.ledger_sealed.inc_by(n);
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn committers() -> Committers {
        Committers {
            receiver: tokio::sync::Mutex::new(mpsc::channel(1).1),
            heads: Mutex::new((0, std::collections::HashMap::new())),
            one_statement: true,
        }
    }

    fn record(tenant: TenantId) -> access_pending::Model {
        access_pending::Model {
            tenant_id: tenant,
            id: crate::domain::AccessRecordId::new(),
            recorded_at: chrono::Utc::now(),
            actor_kind: "CONTROLLER_APP".into(),
            actor_id: "app".into(),
            subprocessor_id: None,
            operation: "READ".into(),
            resource_type: "CONTACT".into(),
            resource_ids: serde_json::json!([]),
            resource_count: 0,
            fields: serde_json::json!(["firstName"]),
            purpose: None,
            instruction_id: None,
            outcome: "ALLOWED".into(),
            reason: None,
            request_id: None,
        }
    }

    fn plan(c: &Committers, tenant: TenantId, sweep: bool) -> Plan {
        let unswept = if sweep {
            BTreeSet::from([tenant])
        } else {
            BTreeSet::new()
        };
        c.plan(BTreeMap::from([(tenant, vec![record(tenant)])]), &unswept)
    }

    /// Lands `p` as having appended `head` to `tenant`, or failed it (`None`).
    fn land(c: &Committers, p: Plan, tenant: TenantId, head: Option<Head>) {
        let failed = match head {
            Some(_) => BTreeSet::new(),
            None => BTreeSet::from([tenant]),
        };
        let appended = head.map(|h| (tenant, h)).into_iter().collect();
        c.land(p.n, appended, &failed, p.landed);
    }

    fn head(seq: i64) -> Head {
        (seq, format!("{seq:064}"))
    }

    /// A tenant's first batch learns its head on the locking path; the next appends after
    /// it, and the one after that after the head the one before predicted.
    #[test]
    fn batches_in_flight_append_after_each_others_predicted_heads() {
        let c = committers();
        let t = TenantId::new();
        let first = plan(&c, t, false);
        assert!(first.fast.is_empty() && first.slow.contains_key(&t));
        land(&c, first, t, Some(head(3)));
        let second = plan(&c, t, false);
        assert_eq!(second.fast[0].expected, head(3));
        let third = plan(&c, t, false);
        assert_eq!(third.fast[0].expected, second.fast[0].predicted);
        assert_eq!(third.fast[0].predicted.0, 5);
    }

    /// A batch sweeping a tenant's writes takes its locking path, and so does every batch
    /// planned before that one lands — even when an earlier batch lands in between and
    /// would otherwise teach the committers a head from before the sweep.
    #[test]
    fn no_batch_appends_after_a_head_from_before_a_sweep_in_flight() {
        let c = committers();
        let t = TenantId::new();
        let learn = plan(&c, t, false);
        land(&c, learn, t, Some(head(1)));
        let before = plan(&c, t, true);
        assert!(before.fast.is_empty(), "a sweep takes the locking path");
        let sweeping = plan(&c, t, true);
        assert!(sweeping.fast.is_empty());
        land(&c, before, t, Some(head(4)));
        let after = plan(&c, t, false);
        assert!(
            after.fast.is_empty(),
            "the sweep in flight has not landed: no head is known"
        );
        land(&c, sweeping, t, Some(head(9)));
        land(&c, after, t, Some(head(10)));
        let known = plan(&c, t, false);
        assert_eq!(known.fast[0].expected, head(10));
    }

    /// A batch whose tenant failed leaves no head behind: the next batch locks.
    #[test]
    fn a_failed_tenant_is_forgotten() {
        let c = committers();
        let t = TenantId::new();
        let learn = plan(&c, t, false);
        land(&c, learn, t, Some(head(1)));
        let failing = plan(&c, t, false);
        land(&c, failing, t, None);
        assert!(plan(&c, t, false).fast.is_empty());
    }
}
