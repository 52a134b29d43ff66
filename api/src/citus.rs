//! Citus: the layout that keeps each tenant on one worker, and how to reach it.
//!
//! Every table with a `tenant_id` is distributed by it into one colocation group (the
//! group of `contacts`), so all of a tenant's rows, in every table, sit in one shard
//! group on one worker and every statement of a request that names the tenant is
//! router-planned to it. The registry tables, which no tenant owns, are reference tables
//! (a copy on every node). The tenant pin reaches the workers as `SET LOCAL` (see
//! [`crate::tenancy::pin`]); the ledger's group committer gives each tenant its own
//! transaction there (see [`crate::ledger`]), so no request commits on two workers.

use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement, TransactionTrait,
};

/// The table every tenant table is colocated with.
const ANCHOR: &str = "contacts";
/// Tables no tenant owns: a copy on every node.
const REFERENCE_TABLES: [&str; 7] = [
    "tenants",
    "subprocessors",
    "transfer_records",
    "breach_incidents",
    "terms_versions",
    "offboardings",
    "ledger_erasures",
];
/// Shards per distributed table: enough to spread tenants over many more workers than
/// a cluster starts with (Citus's default).
pub const SHARD_COUNT: u32 = 32;

/// Whether `db` is a Citus coordinator (the extension is installed in its database).
///
/// # Errors
/// `DbErr` when the catalog cannot be read.
pub async fn is_citus(db: &impl ConnectionTrait) -> Result<bool, DbErr> {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(false);
    }
    let row = db
        .query_one_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') AS citus",
        ))
        .await?;
    Ok(row
        .map(|r| r.try_get::<bool>("", "citus"))
        .transpose()?
        .unwrap_or(false))
}

/// What [`distribute`] did.
#[derive(Debug, Default, serde::Serialize)]
pub struct Distribution {
    /// Tables it distributed by `tenant_id` (colocated with `contacts`).
    pub distributed: Vec<String>,
    /// Tables it made reference tables.
    pub referenced: Vec<String>,
    /// Foreign keys it took off and put back around the change.
    pub foreign_keys_restored: usize,
}

async fn strings(tx: &impl ConnectionTrait, sql: &str) -> Result<Vec<String>, DbErr> {
    tx.query_all_raw(Statement::from_string(DatabaseBackend::Postgres, sql))
        .await?
        .iter()
        .map(|r| r.try_get::<String>("", "name"))
        .collect()
}

/// The public tables with a `tenant_id` column (the migration history aside).
const TENANT_TABLES_SQL: &str = "SELECT c.relname::text AS name FROM pg_class c \
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') \
    AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid \
        AND a.attname = 'tenant_id' AND NOT a.attisdropped) ORDER BY 1";

/// Distributes a migrated database (empty or populated) in the order that works, in one
/// transaction, as its owner: the foreign keys come off (a table referencing a
/// not-yet-reference `tenants` would otherwise turn local and could not be distributed);
/// `contacts` is distributed, every other tenant table colocated with it, the registry
/// tables made reference tables; the keys go back on. Tables already in place are left
/// alone, so running it again (after a migration adds a table) is safe. Then checks the
/// layout with [`check_layout`].
///
/// # Errors
/// When `db` is not a Citus coordinator, a statement fails (nothing is changed), or the
/// layout check fails afterwards.
pub async fn distribute(db: &DatabaseConnection) -> anyhow::Result<Distribution> {
    if !is_citus(db).await? {
        anyhow::bail!(
            "the database is not a Citus coordinator (no `citus` extension in it): \
             run `CREATE EXTENSION citus` there and add the workers first"
        );
    }
    let tx = db.begin().await?;
    for set in [
        // The ledger's append-only triggers run on each shard, against its colocated
        // shards: safe here because every table a trigger reads is colocated.
        "SET LOCAL citus.enable_unsafe_triggers = on".to_owned(),
        format!("SET LOCAL citus.shard_count = {SHARD_COUNT}"),
        // Reference tables and distributed ones changed in one transaction.
        "SET LOCAL citus.multi_shard_modify_mode = 'sequential'".to_owned(),
    ] {
        tx.execute_unprepared(&set).await?;
    }
    let (missing_tenant, missing_reference) = out_of_place(&tx).await?;
    let mut done = Distribution::default();
    if missing_tenant.is_empty() && missing_reference.is_empty() {
        tx.commit().await?;
        check_layout(db).await?;
        return Ok(done);
    }
    // Every foreign key touching a table about to move, with its definition.
    let moving: Vec<String> = missing_tenant
        .iter()
        .cloned()
        .chain(missing_reference.iter().map(|t| (*t).to_owned()))
        .collect();
    let keys = tx
        .query_all_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT conrelid::regclass::text AS tbl, conname::text AS name, \
                    pg_get_constraintdef(oid) AS def \
             FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace \
               AND (conrelid::regclass::text = ANY($1) OR confrelid::regclass::text = ANY($1))",
            [moving.clone().into()],
        ))
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get::<String>("", "tbl")?,
                r.try_get::<String>("", "name")?,
                r.try_get::<String>("", "def")?,
            ))
        })
        .collect::<Result<Vec<_>, DbErr>>()?;
    for (table, name, _) in &keys {
        tx.execute_unprepared(&format!(
            "ALTER TABLE public.{} DROP CONSTRAINT {}",
            quote(table),
            quote(name)
        ))
        .await?;
    }
    // The anchor first, then the rest colocated with it.
    let mut order: Vec<&String> = missing_tenant.iter().collect();
    order.sort_by_key(|t| t.as_str() != ANCHOR);
    let colocated = format!(
        "SELECT create_distributed_table($1, 'tenant_id', colocate_with => '{ANCHOR}')::text"
    );
    for table in order {
        let sql = if table == ANCHOR {
            "SELECT create_distributed_table($1, 'tenant_id')::text"
        } else {
            colocated.as_str()
        };
        on_table(&tx, sql, table).await?;
        done.distributed.push(table.clone());
    }
    for table in missing_reference {
        on_table(&tx, "SELECT create_reference_table($1)::text", table).await?;
        done.referenced.push(table.to_owned());
    }
    for (table, name, def) in &keys {
        tx.execute_unprepared(&format!(
            "ALTER TABLE public.{} ADD CONSTRAINT {} {def}",
            quote(table),
            quote(name)
        ))
        .await?;
    }
    done.foreign_keys_restored = keys.len();
    tx.commit().await?;
    check_layout(db).await?;
    Ok(done)
}

/// A catalog name as an SQL identifier.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Runs `sql`, a Citus function call taking a table as `$1`, on `public.<table>`.
async fn on_table(tx: &impl ConnectionTrait, sql: &str, table: &str) -> Result<(), DbErr> {
    tx.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        sql,
        [format!("public.{}", quote(table)).into()],
    ))
    .await?;
    Ok(())
}

/// The tables that are not where the layout puts them: tenant tables not distributed by
/// `tenant_id` in the group of `contacts`, and registry tables that are not reference
/// tables.
async fn out_of_place(
    db: &impl ConnectionTrait,
) -> Result<(Vec<String>, Vec<&'static str>), DbErr> {
    let placed = db
        .query_all_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            format!(
                "SELECT logicalrelid::regclass::text AS name, partmethod::text AS kind \
                 FROM pg_dist_partition p \
                 WHERE (partmethod = 'h' \
                        AND column_to_column_name(logicalrelid, partkey) = 'tenant_id' \
                        AND colocationid = (SELECT colocationid FROM pg_dist_partition \
                            WHERE logicalrelid = 'public.{ANCHOR}'::regclass)) \
                    OR (partmethod = 'n' AND repmodel = 't')"
            ),
        ))
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get::<String>("", "name")?,
                r.try_get::<String>("", "kind")?,
            ))
        })
        .collect::<Result<Vec<_>, DbErr>>()?;
    let is = |name: &str, kind: &str| placed.iter().any(|(n, k)| n == name && k == kind);
    let tenant = strings(db, TENANT_TABLES_SQL)
        .await?
        .into_iter()
        .filter(|t| !is(t, "h"))
        .collect();
    let reference = REFERENCE_TABLES
        .into_iter()
        .filter(|t| !is(t, "n"))
        .collect();
    Ok((tenant, reference))
}

/// Checks that every tenant table is distributed by `tenant_id` in the one colocation
/// group of `contacts`, and every registry table is a reference table.
///
/// # Errors
/// Names every table out of place.
pub async fn check_layout(db: &impl ConnectionTrait) -> anyhow::Result<()> {
    let (tenant, reference) = out_of_place(db).await?;
    if tenant.is_empty() && reference.is_empty() {
        return Ok(());
    }
    let wrong: Vec<String> = tenant
        .into_iter()
        .chain(
            reference
                .into_iter()
                .map(|t| format!("{t} (not a reference table)")),
        )
        .collect();
    anyhow::bail!(
        "not laid out for Citus: {} (run `custodian migrate --citus` as the owner)",
        wrong.join(", ")
    )
}
