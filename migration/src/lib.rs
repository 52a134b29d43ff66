//! Custodian's schema. Each migration carries its DDL for PostgreSQL (the production
//! backend) and for SQLite (the embedded default) side by side, so the two stay in step
//! and the PostgreSQL-only safeguards (row-level security) are visible where they are made.

pub use sea_orm_migration::prelude::*;

mod m20261129_000001_core;
mod m20261129_000002_row_level_security;
mod m20261129_000003_instructions_and_ledger;
mod m20261129_000004_subprocessors;
mod m20261129_000005_imports;
mod m20261129_000006_ledger_sealing;
mod m20261201_000007_privacy_requests;
mod m20261201_000008_retention;
mod m20261201_000009_breaches;
mod m20261201_000010_terms;
mod m20261201_000011_offboarding;
mod m20261201_000012_disclosures;
mod m20261201_000013_webhooks;
mod m20261201_000014_ledger_proofs;
mod m20261201_000015_ledger_heads_from_creation;
mod m20261201_000016_ledger_append;
mod m20261201_000017_tree_trigger_on_shards;

/// The group committer's one-statement append (PostgreSQL), for the test that holds it to
/// the chain's columns.
pub use m20261201_000016_ledger_append::POSTGRES as LEDGER_APPEND_SQL;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261129_000001_core::Migration),
            Box::new(m20261129_000002_row_level_security::Migration),
            Box::new(m20261129_000003_instructions_and_ledger::Migration),
            Box::new(m20261129_000004_subprocessors::Migration),
            Box::new(m20261129_000005_imports::Migration),
            Box::new(m20261129_000006_ledger_sealing::Migration),
            Box::new(m20261201_000007_privacy_requests::Migration),
            Box::new(m20261201_000008_retention::Migration),
            Box::new(m20261201_000009_breaches::Migration),
            Box::new(m20261201_000010_terms::Migration),
            Box::new(m20261201_000011_offboarding::Migration),
            Box::new(m20261201_000012_disclosures::Migration),
            Box::new(m20261201_000013_webhooks::Migration),
            Box::new(m20261201_000014_ledger_proofs::Migration),
            Box::new(m20261201_000015_ledger_heads_from_creation::Migration),
            Box::new(m20261201_000016_ledger_append::Migration),
            Box::new(m20261201_000017_tree_trigger_on_shards::Migration),
        ]
    }
}

/// The one tenant predicate of row-level security. `NULLIF(.., '')` turns "never set in
/// this session" (NULL) and "set by an earlier transaction, now reset" ('') alike into
/// NULL, which matches no row and admits no write: the policy fails closed.
const TENANT_MATCH: &str = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid";

/// Row-level security for tenant-owned tables (PostgreSQL): enabled, forced (so it binds
/// the owner too), one policy for reads (`USING`) and writes (`WITH CHECK`).
fn tenant_isolation(tables: &[&str]) -> String {
    tables
        .iter()
        .map(|t| {
            format!(
                "ALTER TABLE {t} ENABLE ROW LEVEL SECURITY;\nALTER TABLE {t} FORCE ROW LEVEL SECURITY;\n\
                 CREATE POLICY tenant_isolation ON {t} USING ({TENANT_MATCH}) WITH CHECK ({TENANT_MATCH});\n"
            )
        })
        .collect()
}

/// Runs each `;`-separated statement of the script for the connected backend.
async fn run_script(
    manager: &SchemaManager<'_>,
    postgres: &str,
    sqlite: &str,
) -> Result<(), DbErr> {
    let script = match manager.get_database_backend() {
        sea_orm_migration::sea_orm::DatabaseBackend::Postgres => postgres,
        sea_orm_migration::sea_orm::DatabaseBackend::Sqlite => sqlite,
        other => {
            return Err(DbErr::Migration(format!(
                "unsupported database backend {other:?}"
            )));
        }
    };
    let db = manager.get_connection();
    for statement in statements(script) {
        db.execute_unprepared(&statement).await?;
    }
    Ok(())
}

/// Splits a script at `;` line ends, except inside a `$fn$ … $fn$` function body.
fn statements(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for piece in script.split(";\n") {
        if !current.is_empty() {
            current.push_str(";\n");
        }
        current.push_str(piece);
        if current.matches("$fn$").count().is_multiple_of(2) {
            let statement = current.trim();
            if !statement.is_empty() {
                out.push(statement.to_owned());
            }
            current.clear();
        }
    }
    out
}
