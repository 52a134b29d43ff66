//! The chain: each record's canonical form and hash, its place after its predecessor,
//! and the statements that append to a tenant's chain under its head.

use std::io::Write as _;

use chrono::SecondsFormat;
use entities::{access_pending, access_record, ledger_head};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement, Value,
};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{GENESIS, NewRecord};
use crate::domain::{AccessRecordId, InstructionId, SubprocessorId, TenantId};

/// object plus `hash`, so anyone can recompute the chain. Declared in key order and
/// serialized straight from the row: no intermediate map on the hot paths (chain and
/// verify).
#[derive(serde::Serialize)]
pub(super) struct Canonical<'a> {
    actor_id: &'a str,
    actor_kind: &'a str,
    fields: &'a serde_json::Value,
    id: AccessRecordId,
    instruction_id: Option<InstructionId>,
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
    subprocessor_id: Option<SubprocessorId>,
    tenant_id: TenantId,
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

/// A record as `custodian ledger export` prints it and the fast path ships it: the
/// canonical object plus `hash`.
pub fn exported(m: &access_record::Model) -> serde_json::Value {
    let mut row = canonical(m);
    row["hash"] = json!(m.hash);
    row
}

/// `canonical(record)` serialized into `buffer` (cleared first): the bytes its hash
/// covers, without allocating per record.
pub(super) fn canonical_bytes(m: &access_record::Model, buffer: &mut Vec<u8>) {
    buffer.clear();
    // Serializing strings, numbers and ids into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *buffer, &Canonical::from(m));
}

/// `sha256(canonical(record))`, hex.
pub fn hash_of(m: &access_record::Model) -> String {
    let bytes = serde_json::to_vec(&Canonical::from(m)).unwrap_or_default();
    hex::encode(Sha256::digest(&bytes))
}

impl NewRecord {
    /// The row this record is written as, before it is sealed.
    pub fn pending(&self) -> access_pending::Model {
        let by = &self.by;
        access_pending::Model {
            tenant_id: by.tenant,
            id: AccessRecordId::new(),
            recorded_at: by.at,
            actor_kind: by.actor_kind.as_str().to_owned(),
            actor_id: by.actor_id.clone(),
            subprocessor_id: by.subprocessor_id,
            operation: self.reach.operation.as_str().to_owned(),
            resource_type: self.reach.resource.as_str().to_owned(),
            resource_ids: json!(self.resource_ids),
            resource_count: i32::try_from(self.resource_count).unwrap_or(i32::MAX),
            fields: json!(self.reach.fields),
            purpose: by.purpose.map(|p| p.as_str().to_owned()),
            instruction_id: by.instruction_id,
            outcome: self.outcome.as_str().to_owned(),
            reason: self.reason.clone(),
            request_id: by.request_id.clone(),
        }
    }
}

/// A pending record placed in the chain at `seq` after `prev_hash`: every column copied
/// unchanged (the pending table's trigger insists), then hashed.
fn link(p: access_pending::Model, seq: i64, prev_hash: &str) -> access_record::Model {
    let mut m = place(p, seq, prev_hash);
    m.hash = hash_of(&m);
    m
}

/// [`link`] without the hash.
fn place(p: access_pending::Model, seq: i64, prev_hash: &str) -> access_record::Model {
    access_record::Model {
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
    }
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
/// record's tenant (see [`crate::tenancy`]); they are durable when it commits and sealed
/// after.
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

/// Creates the empty chain's head of a new tenant, in the tenant's creating transaction
/// `db` (pinned to it).
///
/// # Errors
/// `DbErr`; the caller's transaction then rolls back.
pub async fn create_head<C: ConnectionTrait>(db: &C, tenant: TenantId) -> Result<(), DbErr> {
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "INSERT INTO ledger_heads (tenant_id, seq, hash) VALUES ($1, 0, $2)",
        [tenant.into(), GENESIS.into()],
    ))
    .await?;
    Ok(())
}

/// A chain head: the last record's `seq` and hash.
pub type Head = (i64, String);

/// Extends a tenant's chain on `db`, a transaction pinned to the tenant (see
/// [`crate::tenancy::pin`]): first with whatever of the tenant's
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
    // Lock and read the head. It exists from the tenant's creation and is never created
    // here: an appender racing the tenant's erasure must not leave a head behind it.
    let head = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            "UPDATE ledger_heads SET seq = seq WHERE tenant_id = $1 RETURNING seq, hash",
            [tenant.into()],
        ))
        .await?;
    let Some(head) = head else {
        if fresh.is_empty() {
            // The tenant is gone (offboarded) or never was: nothing of it to seal.
            return Ok((0, (0, GENESIS.to_owned())));
        }
        return Err(DbErr::RecordNotFound("the tenant's ledger head".into()));
    };
    let head: Head = (head.try_get("", "seq")?, head.try_get("", "hash")?);
    // Read after the lock: what an appender that held it before us moved is gone.
    let mut records = access_pending::Entity::find()
        .filter(access_pending::Column::TenantId.eq(tenant))
        .order_by_asc(access_pending::Column::RecordedAt)
        .order_by_asc(access_pending::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    let moved: Vec<AccessRecordId> = records.iter().map(|p| p.id).collect();
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
                Value::from(tenant),
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
            .filter(ledger_head::Column::TenantId.eq(tenant))
            .exec(db)
            .await?;
    }
    for chunk in moved.chunks(1_000) {
        access_pending::Entity::delete_many()
            .filter(access_pending::Column::TenantId.eq(tenant))
            .filter(access_pending::Column::Id.is_in(chunk.iter().copied()))
            .exec(db)
            .await?;
    }
    Ok((moved.len() as u64, (seq, prev)))
}

/// The fast path's batch as `ledger_append` reads it: per tenant the head expected and the
/// head after, and its records linked, each its canonical object plus `hash`. Written
/// straight from the bytes each hash covers (serialized once, no intermediate map): the
/// canonical bytes are a JSON object, so the exported record is they without their
/// closing brace, then `,"hash":"…"}`.
fn append_batch(
    batch: &[(TenantId, Head, &[access_pending::Model])],
) -> (String, Vec<(TenantId, Head)>) {
    let mut moved = Vec::with_capacity(batch.len());
    let mut out: Vec<u8> = Vec::with_capacity(batch.iter().map(|b| b.2.len()).sum::<usize>() * 640);
    let mut canonical = Vec::with_capacity(512);
    out.push(b'[');
    for (i, (tenant, head, records)) in batch.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let (mut seq, mut prev) = head.clone();
        out.extend_from_slice(br#"{"records":["#);
        for (j, record) in records.iter().enumerate() {
            seq += 1;
            let m = place(record.clone(), seq, &prev);
            canonical_bytes(&m, &mut canonical);
            prev = hex::encode(Sha256::digest(&canonical));
            if j > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&canonical[..canonical.len().saturating_sub(1)]);
            out.extend_from_slice(br#","hash":""#);
            out.extend_from_slice(prev.as_bytes());
            out.extend_from_slice(br#""}"#);
        }
        // Ids, numbers and hex digests: writing them into a Vec cannot fail.
        let _ = write!(
            out,
            r#"],"tenant":"{}","expected_seq":{},"expected_hash":{},"seq":{seq},"hash":"{prev}"}}"#,
            uuid::Uuid::from(*tenant),
            head.0,
            serde_json::Value::from(head.1.as_str()),
        );
        moved.push((*tenant, (seq, prev)));
    }
    out.push(b']');
    (String::from_utf8(out).unwrap_or_default(), moved)
}

/// The group committer's fast path on PostgreSQL: appends each tenant's records after
/// the head this committer last saw for it, all tenants in one autocommitted statement
/// (one round trip, one flush however many tenants the batch holds; see the
/// `ledger_append` function in `migration/`), which moves a tenant's head only if it is
/// still that one and inserts its records only if it moved it. Returns the new heads of
/// the tenants appended to; the others (another appender got there first) are untouched.
/// On a connection of the committer's own, not a pooled one (see `committer::FastPath`).
///
/// # Errors
/// When the statement fails: nothing of the batch was written.
pub(super) async fn append_after(
    conn: &mut sea_orm::sqlx::PgConnection,
    batch: &[(TenantId, Head, &[access_pending::Model])],
) -> Result<Vec<(TenantId, Head)>, sea_orm::sqlx::Error> {
    let (json, mut moved) = append_batch(batch);
    let appended: std::collections::HashSet<uuid::Uuid> =
        sea_orm::sqlx::query_scalar("SELECT ledger_append($1)")
            .bind(json)
            .fetch_all(conn)
            .await?
            .into_iter()
            .collect();
    moved.retain(|(tenant, _)| appended.contains(&uuid::Uuid::from(*tenant)));
    Ok(moved)
}

/// [`append_after`] on SQLite, on the committer's own connection and thread (see
/// [`SqliteAppender`]): one `BEGIN IMMEDIATE` (the write lock, which keeps every other
/// appender out), each tenant's head moved from the one this committer last wrote to the
/// one after its records where it still is there, the records of the tenants it moved,
/// and the commit. A tenant whose head had moved appends nothing and is returned absent,
/// for the locking path. On an error nothing is appended: the transaction rolls back.
///
/// # Errors
/// The first failing statement's error.
pub(super) fn append_after_sqlite(
    conn: &mut rusqlite::Connection,
    batch: &[(TenantId, Head, &[access_pending::Model])],
) -> Result<Vec<(TenantId, Head)>, rusqlite::Error> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut heads = Vec::with_capacity(batch.len());
    for (tenant, head, records) in batch {
        let (rows, after) = link_all(records.iter().cloned(), head.clone());
        let moved = tx
            .prepare_cached(
                "UPDATE ledger_heads SET seq = ?1, hash = ?2 \
                 WHERE tenant_id = ?3 AND seq = ?4 AND hash = ?5",
            )?
            .execute(rusqlite::params![
                after.0,
                after.1,
                uuid::Uuid::from(*tenant).as_bytes(),
                head.0,
                head.1
            ])?;
        if moved == 0 {
            continue;
        }
        for row in rows {
            let insert = sea_orm::QueryTrait::build(
                &access_record::Entity::insert(access_record::ActiveModel::from(row)),
                DatabaseBackend::Sqlite,
            );
            let values = insert
                .values
                .map(|v| v.0)
                .unwrap_or_default()
                .into_iter()
                .map(sqlite_value)
                .collect::<Result<Vec<_>, _>>()?;
            tx.prepare_cached(&insert.sql)?
                .execute(rusqlite::params_from_iter(values))?;
        }
        heads.push((*tenant, after));
    }
    tx.commit()?;
    Ok(heads)
}

/// A statement value as sqlx binds it on SQLite (and sea-orm reads it back): UUIDs as
/// their 16 bytes, times as RFC 3339 text, JSON as its text. The ledger's two tables
/// use no other kinds; any other is refused rather than stored in another form.
fn sqlite_value(value: Value) -> Result<rusqlite::types::Value, rusqlite::Error> {
    use rusqlite::types::Value as Sql;
    let unsupported = |v: &Value| {
        rusqlite::Error::ToSqlConversionFailure(
            format!("no SQLite form for the ledger value {v:?}").into(),
        )
    };
    Ok(match value {
        Value::Bool(v) => v.map_or(Sql::Null, |b| Sql::Integer(i64::from(b))),
        Value::Int(v) => v.map_or(Sql::Null, |i| Sql::Integer(i64::from(i))),
        Value::BigInt(v) => v.map_or(Sql::Null, Sql::Integer),
        Value::String(v) => v.map_or(Sql::Null, Sql::Text),
        Value::Uuid(v) => v.map_or(Sql::Null, |u| Sql::Blob(u.as_bytes().to_vec())),
        Value::ChronoDateTimeUtc(v) => v.map_or(Sql::Null, |t| {
            Sql::Text(t.to_rfc3339_opts(SecondsFormat::AutoSi, false))
        }),
        Value::Json(v) => v.map_or(Sql::Null, |j| Sql::Text(j.to_string())),
        other => return Err(unsupported(&other)),
    })
}

/// The SQLite committer's own connection, opened as sqlx opens the server's (foreign
/// keys on, the default `FULL` synchronous flush, `secure_delete`, sqlx's 5 s busy
/// timeout) on the same file and the same linked SQLite (one `libsqlite3-sys` serves
/// both crates), and driven on the committer's thread: a batch costs no trips to a
/// connection's thread, where through sqlx it cost two, each a hand-off and a wake-up.
pub(super) struct SqliteAppender {
    path: std::path::PathBuf,
    conn: Option<rusqlite::Connection>,
}

impl SqliteAppender {
    pub(super) fn new(path: std::path::PathBuf) -> Self {
        Self { path, conn: None }
    }

    /// [`append_after_sqlite`], connecting first if need be; a connection that failed is
    /// dropped and opened again for the next batch.
    ///
    /// # Errors
    /// Connecting's or the batch's error, as text.
    pub(super) fn append(
        &mut self,
        batch: &[(TenantId, Head, &[access_pending::Model])],
    ) -> Result<Vec<(TenantId, Head)>, String> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => self
                .conn
                .insert(open_sqlite(&self.path).map_err(|e| e.to_string())?),
        };
        let outcome = append_after_sqlite(conn, batch).map_err(|e| e.to_string());
        if outcome.is_err() {
            self.conn = None;
        }
        outcome
    }
}

fn open_sqlite(path: &std::path::Path) -> Result<rusqlite::Connection, rusqlite::Error> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; PRAGMA secure_delete = ON;",
    )?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use sea_orm::Iterable;

    use super::*;

    /// The chain table's columns in its order, with their PostgreSQL types: what the
    /// `ledger_append` function (in `migration/`) reads out of its JSON batch. The test below
    /// holds this list, the entity, the canonical form and the function to the same columns.
    const COLUMNS: [(&str, &str); 19] = [
        ("tenant_id", "uuid"),
        ("seq", "bigint"),
        ("id", "uuid"),
        ("recorded_at", "timestamptz"),
        ("actor_kind", "text"),
        ("actor_id", "text"),
        ("subprocessor_id", "uuid"),
        ("operation", "text"),
        ("resource_type", "text"),
        ("resource_ids", "jsonb"),
        ("resource_count", "integer"),
        ("fields", "jsonb"),
        ("purpose", "text"),
        ("instruction_id", "uuid"),
        ("outcome", "text"),
        ("reason", "text"),
        ("request_id", "text"),
        ("prev_hash", "text"),
        ("hash", "text"),
    ];

    /// The canonical bytes are the published rule (every column but `hash`, keys sorted,
    /// compact): the direct serialization must equal it byte for byte.
    #[test]
    fn the_canonical_form_is_the_sorted_compact_json_object() {
        let m = sample();
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

    fn sample() -> access_record::Model {
        access_record::Model {
            tenant_id: TenantId::new(),
            seq: 7,
            id: AccessRecordId::new(),
            recorded_at: chrono::Utc::now(),
            actor_kind: "PROCESSOR_STAFF".into(),
            actor_id: "sam \"the\" ünïcode".into(),
            subprocessor_id: None,
            operation: "READ".into(),
            resource_type: "CONTACT".into(),
            resource_ids: json!([uuid::Uuid::now_v7()]),
            resource_count: 1,
            fields: json!(["firstName", "emails"]),
            purpose: Some("SUPPORT".into()),
            instruction_id: Some(InstructionId::new()),
            outcome: "ALLOWED".into(),
            reason: None,
            request_id: Some("r-1".into()),
            prev_hash: GENESIS.into(),
            hash: String::new(),
        }
    }

    /// The fast path's batch, written by hand from the hashed bytes, says exactly what
    /// linking the records and exporting them says.
    #[test]
    fn the_fast_paths_batch_is_the_linked_records_exported() {
        let m = sample();
        let pending = |reason: Option<&str>| access_pending::Model {
            tenant_id: m.tenant_id,
            id: AccessRecordId::new(),
            recorded_at: m.recorded_at,
            actor_kind: m.actor_kind.clone(),
            actor_id: m.actor_id.clone(),
            subprocessor_id: m.subprocessor_id,
            operation: m.operation.clone(),
            resource_type: m.resource_type.clone(),
            resource_ids: m.resource_ids.clone(),
            resource_count: m.resource_count,
            fields: m.fields.clone(),
            purpose: m.purpose.clone(),
            instruction_id: m.instruction_id,
            outcome: m.outcome.clone(),
            reason: reason.map(str::to_owned),
            request_id: m.request_id.clone(),
        };
        let records = vec![pending(None), pending(Some("a \"quoted\" reason"))];
        let head: Head = (41, "ab".repeat(32));
        let (json, moved) = append_batch(&[(m.tenant_id, head.clone(), &records)]);
        let (linked, next) = link_all(records.clone(), head.clone());
        let batch: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        assert_eq!(
            batch,
            json!([{
                "tenant": m.tenant_id,
                "expected_seq": 41,
                "expected_hash": head.1,
                "seq": next.0,
                "hash": next.1,
                "records": linked.iter().map(exported).collect::<Vec<_>>(),
            }])
        );
        assert_eq!(moved, vec![(m.tenant_id, next)]);
    }

    /// Adding a column to the chain table without adding it to the canonical form would
    /// leave it out of every hash: the two, and the fast path's column list, must agree.
    #[test]
    fn the_canonical_form_covers_exactly_the_chain_tables_columns() {
        let m = sample();
        let mut keys: Vec<String> = exported(&m)
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        let mut columns: Vec<String> = access_record::Column::iter()
            .map(|c| sea_orm::IdenStatic::as_str(&c).to_owned())
            .collect();
        let in_order = columns.clone();
        columns.sort();
        assert_eq!(keys, columns);
        let listed: Vec<String> = COLUMNS.iter().map(|(n, _)| (*n).to_owned()).collect();
        assert_eq!(listed, in_order);
        let function: String = migration::LEDGER_APPEND_SQL
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let typed: Vec<String> = COLUMNS.iter().map(|(n, t)| format!("{n} {t}")).collect();
        assert!(
            function.contains(&typed.join(", ")),
            "ledger_append reads the columns in this order, with these types"
        );
        let names: Vec<String> = COLUMNS.iter().map(|(n, _)| format!("r.{n}")).collect();
        assert!(
            function.contains(&names.join(", ")),
            "and inserts them in it"
        );
    }

    /// The SQLite fast path (its own connection, its own binding of values) stores a
    /// record exactly as sea-orm stores it on the locking path and in the sealer: the same
    /// kind and the same text for every column of the same content, so every reader of
    /// the chain (verification, the access log, exports) sees one chain. And a head that
    /// moved under it appends nothing.
    #[tokio::test]
    async fn the_sqlite_fast_path_stores_records_as_the_locking_path_does() {
        use sea_orm::TransactionTrait;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ledger.db");
        let db = sea_orm::Database::connect(format!("sqlite://{}?mode=rwc", file.display()))
            .await
            .unwrap();
        db.execute_unprepared("PRAGMA journal_mode=WAL")
            .await
            .unwrap();
        crate::db::migrate(&db).await.unwrap();
        let tenant = TenantId::new();
        db.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Sqlite,
            "INSERT INTO tenants (id, name, jurisdictions, owner_attests_adult, status, \
             created_by, created_at, updated_at) VALUES ($1, 'T', '[]', 1, 'ACTIVE', 'test', \
             '2026-12-07T00:00:00Z', '2026-12-07T00:00:00Z')",
            [tenant.into()],
        ))
        .await
        .unwrap();
        create_head(&db, tenant).await.unwrap();
        let record = |subprocessor: Option<SubprocessorId>| {
            let m = sample();
            access_pending::Model {
                tenant_id: tenant,
                id: AccessRecordId::new(),
                recorded_at: chrono::DateTime::from_timestamp(1_796_688_000, 123_456_000).unwrap(),
                actor_kind: m.actor_kind,
                actor_id: m.actor_id,
                subprocessor_id: subprocessor,
                operation: m.operation,
                resource_type: m.resource_type,
                resource_ids: json!(["0193f8a2-0000-7000-8000-000000000001"]),
                resource_count: m.resource_count,
                fields: m.fields,
                purpose: m.purpose,
                instruction_id: None,
                outcome: m.outcome,
                reason: Some("r\u{e9}ason".into()),
                request_id: m.request_id,
            }
        };
        let subprocessor = Some(SubprocessorId::new());
        // seq 1 and 2 through sea-orm (the locking path), 3 and 4 through the fast path.
        let tx = db.begin().await.unwrap();
        let (_, head) = chain(&tx, tenant, vec![record(None), record(subprocessor)], 0)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut appender = SqliteAppender::new(file.clone());
        let fast = [record(None), record(subprocessor)];
        let moved = appender
            .append(&[(tenant, head.clone(), fast.as_slice())])
            .unwrap();
        assert_eq!(moved.len(), 1, "the head was where the committer left it");
        assert_eq!(moved[0].1.0, 4);
        // A stale head (another appender moved it): nothing appended, the tenant absent.
        let stale = [record(None)];
        let moved_again = appender
            .append(&[(tenant, head, stale.as_slice())])
            .unwrap();
        assert!(moved_again.is_empty());

        let forms = |seq: i64| {
            let db = &db;
            async move {
                let mut forms = Vec::new();
                for (column, _) in COLUMNS {
                    let row = db
                        .query_one_raw(Statement::from_sql_and_values(
                            DatabaseBackend::Sqlite,
                            format!(
                                "SELECT typeof({column}), quote({column}) FROM access_records \
                                 WHERE seq = $1"
                            ),
                            [seq.into()],
                        ))
                        .await
                        .unwrap()
                        .unwrap_or_else(|| panic!("no record at {seq}"));
                    let kind: String = row.try_get_by_index(0).unwrap();
                    let text: String = row.try_get_by_index(1).unwrap();
                    forms.push((column, kind, text));
                }
                forms
            }
        };
        for (sea_orm_seq, fast_seq) in [(1, 3), (2, 4)] {
            let (by_sea_orm, by_fast_path) = (forms(sea_orm_seq).await, forms(fast_seq).await);
            for ((column, kind, text), (_, fast_kind, fast_text)) in
                by_sea_orm.iter().zip(&by_fast_path)
            {
                assert_eq!(kind, fast_kind, "{column}: stored as another kind");
                // The record's own identity and place differ; its content must not.
                if !["seq", "id", "prev_hash", "hash"].contains(column) {
                    assert_eq!(text, fast_text, "{column}: stored in another form");
                }
            }
        }
        let tx = db.begin().await.unwrap();
        let verified = super::super::queries::verify(&tx, tenant).await.unwrap();
        tx.commit().await.unwrap();
        assert!(verified.valid, "{verified:?}");
        assert_eq!((verified.checked, verified.head_seq), (4, 4));
    }
}
