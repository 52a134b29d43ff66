use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000005_imports"
    }
}

// Progress of keyed bulk imports: how many rows of an import have been committed, moved
// in the same transaction as the rows themselves, so a resumed import skips exactly what
// is already in.
const POSTGRES: &str = r#"
CREATE TABLE import_runs (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    import_key text NOT NULL,
    rows_committed bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, import_key)
);
"#;

const SQLITE: &str = r#"
CREATE TABLE import_runs (
    tenant_id blob NOT NULL REFERENCES tenants (id),
    import_key text NOT NULL,
    rows_committed integer NOT NULL,
    created_at text NOT NULL,
    updated_at text NOT NULL,
    PRIMARY KEY (tenant_id, import_key)
) WITHOUT ROWID;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let postgres = format!("{POSTGRES}{}", crate::tenant_isolation(&["import_runs"]));
        run_script(manager, &postgres, SQLITE).await
    }
}
