use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000010_terms"
    }
}

// The processor's processing terms, announced at least 30 days before they take effect
// (the processor's own record), and each controller's response under row-level security,
// readable across tenants by the platform admin as objections are.
const POSTGRES: &str = r#"
CREATE TABLE terms_versions (
    id uuid PRIMARY KEY,
    text text NOT NULL,
    announced_at timestamptz NOT NULL,
    effective_at timestamptz NOT NULL,
    created_by text NOT NULL
);
CREATE TABLE terms_responses (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    terms_id uuid NOT NULL REFERENCES terms_versions (id),
    response text NOT NULL,
    reason text,
    responded_by text NOT NULL,
    responded_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, terms_id)
);
CREATE POLICY platform_read ON terms_responses FOR SELECT
    USING (current_setting('app.platform_read', true) = 'on');
"#;

const SQLITE: &str = r#"
CREATE TABLE terms_versions (
    id blob PRIMARY KEY NOT NULL,
    text text NOT NULL,
    announced_at text NOT NULL,
    effective_at text NOT NULL,
    created_by text NOT NULL
);
CREATE TABLE terms_responses (
    tenant_id blob NOT NULL REFERENCES tenants (id),
    terms_id blob NOT NULL REFERENCES terms_versions (id),
    response text NOT NULL,
    reason text,
    responded_by text NOT NULL,
    responded_at text NOT NULL,
    PRIMARY KEY (tenant_id, terms_id)
) WITHOUT ROWID;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let postgres = format!(
            "{POSTGRES}{}",
            crate::tenant_isolation(&["terms_responses"])
        );
        run_script(manager, &postgres, SQLITE).await
    }
}
