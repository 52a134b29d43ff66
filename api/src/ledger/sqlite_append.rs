//! The group committer's fast path on SQLite: a connection of its own, driven on the
//! committer's thread, binding values as sqlx binds them.

use chrono::SecondsFormat;
use entities::{access_pending, access_record};
use sea_orm::{DatabaseBackend, EntityTrait, Value};

use super::chain::{Head, link_all};
use crate::domain::TenantId;

/// [`super::chain::append_after`] on SQLite, on the committer's own connection and thread (see
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
    use sea_orm::{ConnectionTrait, Statement};
    use serde_json::json;

    use super::*;
    use crate::domain::{AccessRecordId, SubprocessorId};
    use crate::ledger::chain::{chain, create_head, tests::COLUMNS};

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
            let m = crate::ledger::chain::tests::sample();
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
