use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000012_disclosures"
    }
}

// Compelled disclosures under legal process: the tenant's, under row-level security, and
// readable across tenants by the platform admin (for its own transparency report).
const POSTGRES: &str = r#"
CREATE TABLE disclosures (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    id uuid NOT NULL,
    authority text NOT NULL,
    legal_basis text NOT NULL,
    reference text NOT NULL,
    contact_ids jsonb NOT NULL,
    data_categories jsonb NOT NULL,
    nondisclosure_until timestamptz,
    recorded_by text NOT NULL,
    recorded_at timestamptz NOT NULL,
    notice_at timestamptz NOT NULL,
    produced_at timestamptz,
    produced_sha256 text,
    PRIMARY KEY (tenant_id, id)
);
CREATE POLICY platform_read ON disclosures FOR SELECT
    USING (current_setting('app.platform_read', true) = 'on');
"#;

const SQLITE: &str = r#"
CREATE TABLE disclosures (
    tenant_id blob NOT NULL REFERENCES tenants (id),
    id blob NOT NULL,
    authority text NOT NULL,
    legal_basis text NOT NULL,
    reference text NOT NULL,
    contact_ids text NOT NULL,
    data_categories text NOT NULL,
    nondisclosure_until text,
    recorded_by text NOT NULL,
    recorded_at text NOT NULL,
    notice_at text NOT NULL,
    produced_at text,
    produced_sha256 text,
    PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let postgres = format!("{POSTGRES}{}", crate::tenant_isolation(&["disclosures"]));
        run_script(manager, &postgres, SQLITE).await
    }
}
