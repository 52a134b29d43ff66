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
pub(super) fn link_all(
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

#[cfg(test)]
pub(super) mod tests {
    use sea_orm::Iterable;

    use super::*;

    /// The chain table's columns in its order, with their PostgreSQL types: what the
    /// `ledger_append` function (in `migration/`) reads out of its JSON batch. The test below
    /// holds this list, the entity, the canonical form and the function to the same columns.
    pub(in crate::ledger) const COLUMNS: [(&str, &str); 19] = [
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

    pub(in crate::ledger) fn sample() -> access_record::Model {
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
}
