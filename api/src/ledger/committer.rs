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
use tokio::sync::{Notify, mpsc, oneshot};
use uuid::Uuid;

use super::NewRecord;
use super::chain::{Head, append_after, chain, write};
use super::sqlite_append::SqliteAppender;
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
        start_committer(shared.clone(), receiver);
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

/// Starts the group committer. Every answer waits for its batch, and a batch for the one
/// before it: the committer is the one serial step of a read, so it runs on a thread of
/// its own (on PostgreSQL with connections of its own). On the request runtime its task
/// and its socket's readiness queued behind the requests' own work (their I/O is polled
/// every 61 tasks when the workers are busy): a five-record batch spent about 3 ms there
/// for half a millisecond in the database, which sat idle on the committer's connection
/// most of the time. The thread ends with the runtime that started it.
fn start_committer(shared: Arc<Shared>, receiver: mpsc::Receiver<Job>) {
    // PostgreSQL: connections of its own, so their readiness is this thread's to notice,
    // opened as the server's own pool's are (`db::pool_of_this_runtime`). On Citus a
    // batch's tenants commit side by side, one connection each: as many as that pool
    // has; elsewhere the pool serves only the locking path, and the one-statement path
    // holds a connection of its own (see [`FastPath`]). SQLite's pooled connections run
    // on threads of their own and answer any runtime: the pool serves the locking path,
    // and the fast path drives a connection of its own on this thread.
    let (size, fast) = if shared.db.get_database_backend() == DatabaseBackend::Postgres {
        let pool = shared.db.get_postgres_connection_pool();
        let fast = (!shared.citus).then(|| {
            FastPath::Postgres(Box::new(Held::new(
                (*pool.connect_options()).clone(),
                pool.options().get_acquire_timeout(),
            )))
        });
        let size = if shared.citus {
            pool.options().get_max_connections()
        } else {
            2
        };
        (size, fast)
    } else {
        // An in-memory database is the pool's alone: no connection of ours could see it.
        use sea_orm::sqlx::ConnectOptions as _;
        let options = shared.db.get_sqlite_connection_pool().connect_options();
        let in_memory = options
            .to_url_lossy()
            .query_pairs()
            .any(|(key, value)| key == "mode" && value == "memory");
        let fast = (!in_memory)
            .then(|| FastPath::Sqlite(SqliteAppender::new(options.get_filename().to_owned())));
        (0, fast)
    };
    // Dropped with the starting runtime's tasks: the committer's thread then ends.
    let (alive, ended) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _alive = alive;
        std::future::pending::<()>().await;
    });
    let thread = std::thread::Builder::new()
        .name("ledger-committer".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the group committer's runtime");
                    return;
                }
            };
            runtime.block_on(async move {
                // Connected on first use (and again after a loss), on this thread.
                let db = crate::db::pool_of_this_runtime(&shared.db, size, &shared.metrics)
                    .unwrap_or_else(|| shared.db.clone());
                tokio::select! {
                    () = crate::metrics::as_ledger_work(commit_loop(shared, receiver, db, fast)) => {}
                    _ = ended => {}
                }
            });
        });
    if let Err(e) = thread {
        tracing::error!(error = %e, "cannot start the group committer's thread");
    }
}

/// The fast path's connection, held from batch to batch: on plain PostgreSQL a batch is
/// then one round trip (checked out of a pool it was three, because sqlx pings a pooled
/// connection when it is checked out and again when it is returned); on SQLite a
/// connection driven on the committer's own thread (see [`SqliteAppender`]).
enum FastPath {
    Postgres(Box<Held<sea_orm::sqlx::PgConnection>>),
    Sqlite(SqliteAppender),
}

/// A connection opened on first use, and again after a failure.
struct Held<C: sea_orm::sqlx::Connection> {
    connect: <C as sea_orm::sqlx::Connection>::Options,
    timeout: std::time::Duration,
    conn: Option<C>,
}

impl<C: sea_orm::sqlx::Connection> Held<C> {
    fn new(
        connect: <C as sea_orm::sqlx::Connection>::Options,
        timeout: std::time::Duration,
    ) -> Self {
        Self {
            connect,
            timeout,
            conn: None,
        }
    }

    async fn get(&mut self) -> Result<&mut C, String> {
        if self.conn.is_none() {
            let connect = C::connect_with(&self.connect);
            let conn = tokio::time::timeout(self.timeout, connect)
                .await
                .map_err(|_| "no connection within the acquire timeout".to_owned())?
                .map_err(|e| e.to_string())?;
            self.conn = Some(conn);
        }
        self.conn
            .as_mut()
            .ok_or_else(|| "the connection was just opened".to_owned())
    }
}

impl FastPath {
    /// Appends `batch` after the heads it names (see [`append_after`]), connecting first if
    /// need be; a connection that failed is dropped (on SQLite that rolls back what it
    /// left open) and opened again for the next batch.
    async fn append(
        &mut self,
        metrics: &Metrics,
        batch: &[(TenantId, Head, &[access_pending::Model])],
    ) -> Result<Vec<(TenantId, Head)>, String> {
        let started = std::time::Instant::now();
        let outcome = match self {
            Self::Postgres(held) => {
                let conn = held.get().await?;
                let outcome = append_after(conn, batch).await;
                if outcome.is_err() {
                    held.conn = None;
                }
                outcome.map_err(|e| e.to_string())
            }
            Self::Sqlite(appender) => appender.append(batch),
        };
        metrics.statement(started.elapsed());
        outcome
    }
}

async fn commit_loop(
    shared: Arc<Shared>,
    mut receiver: mpsc::Receiver<Job>,
    db: DatabaseConnection,
    mut fast_path: Option<FastPath>,
) {
    // One statement for the whole batch on plain PostgreSQL (see `append_after`); on
    // Citus it would be planned on the coordinator and commit on every worker.
    let one_statement = fast_path.is_some();
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
                by_tenant.entry(r.tenant()).or_default().push(r.pending());
            }
        }
        let started = std::time::Instant::now();
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
        // All of them in one statement, however many tenants the batch holds.
        let (fast, mut slow): (BTreeMap<_, _>, BTreeMap<_, _>) =
            by_tenant.into_iter().partition(|(tenant, _)| {
                one_statement && !unswept.contains(tenant) && heads.contains_key(tenant)
            });
        if !fast.is_empty()
            && let Some(fast_path) = fast_path.as_mut()
        {
            let batch: Vec<(TenantId, Head, &[access_pending::Model])> = fast
                .iter()
                .map(|(t, records)| (*t, heads[t].clone(), records.as_slice()))
                .collect();
            let moved: BTreeMap<TenantId, Head> =
                match fast_path.append(&shared.metrics, &batch).await {
                    Ok(moved) => moved.into_iter().collect(),
                    Err(e) => {
                        tracing::warn!(error = %e, "ledger fast path failed");
                        BTreeMap::new()
                    }
                };
            drop(batch);
            // What the fast path did not append (a head another appender moved, or the
            // statement failed: then nothing was written) takes the locking path.
            for (tenant, records) in fast {
                match moved.get(&tenant) {
                    Some(head) => {
                        heads.insert(tenant, head.clone());
                    }
                    None => {
                        slow.insert(tenant, records);
                    }
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
            groups
                .iter()
                .map(|g| lock_and_chain(&shared, &db, g, &unswept)),
        )
        .await;
        let mut failed: BTreeSet<TenantId> = BTreeSet::new();
        let mut failure = String::new();
        for (group, outcome) in groups.iter().zip(outcomes) {
            match outcome {
                Ok(moved) => heads.extend(moved),
                Err(e) => {
                    tracing::error!(error = %e, records = count, "ledger batch failed");
                    // What it swept and what it knew of these heads is unknown now.
                    for (tenant, _) in group {
                        heads.remove(tenant);
                        failed.insert(*tenant);
                    }
                    failure = e.to_string();
                }
            }
        }
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
    db: &DatabaseConnection,
    group: &[(TenantId, &[access_pending::Model])],
    unswept: &BTreeSet<TenantId>,
) -> Result<Vec<(TenantId, Head)>, DbErr> {
    match commit_batch(db, group, MAX_BATCH as u64).await {
        Err(e) => {
            tracing::error!(error = %e, "ledger batch failed; retrying without pending records");
            shared.unswept().extend(
                group
                    .iter()
                    .map(|(t, _)| *t)
                    .filter(|t| unswept.contains(t)),
            );
            commit_batch(db, group, 0).await
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
