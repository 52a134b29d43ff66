use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000008_retention"
    }
}

// Retention policies, one per rule and tenant; a policy's id is the id of the instruction
// that documents it. Purge reports say what each run removed per tenant and rule, in
// counts (the ledger holds the ids).
const POSTGRES: &str = r#"
CREATE TABLE retention_policies (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    id uuid NOT NULL,
    rule text NOT NULL,
    months integer NOT NULL CHECK (months > 0),
    created_by text NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, rule)
);
CREATE TABLE purge_reports (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    run_id uuid NOT NULL,
    rule text NOT NULL,
    cutoff timestamptz NOT NULL,
    removed integer NOT NULL,
    kept_by_holds integer NOT NULL,
    finished_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, run_id, rule)
);
"#;

const SQLITE: &str = r#"
CREATE TABLE retention_policies (
    tenant_id blob NOT NULL REFERENCES tenants (id),
    id blob NOT NULL,
    rule text NOT NULL,
    months integer NOT NULL CHECK (months > 0),
    created_by text NOT NULL,
    created_at text NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, rule)
) WITHOUT ROWID;
CREATE TABLE purge_reports (
    tenant_id blob NOT NULL REFERENCES tenants (id),
    run_id blob NOT NULL,
    rule text NOT NULL,
    cutoff text NOT NULL,
    removed integer NOT NULL,
    kept_by_holds integer NOT NULL,
    finished_at text NOT NULL,
    PRIMARY KEY (tenant_id, run_id, rule)
) WITHOUT ROWID;
"#;

/// The tenant-owned tables this migration adds, under row-level security.
pub const TENANT_TABLES: [&str; 2] = ["retention_policies", "purge_reports"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let postgres = format!("{POSTGRES}{}", crate::tenant_isolation(&TENANT_TABLES));
        run_script(manager, &postgres, SQLITE).await
    }
}
