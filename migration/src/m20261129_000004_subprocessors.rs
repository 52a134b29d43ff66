use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000004_subprocessors"
    }
}

// The subprocessor registry and transfer records are the processor's own records (no
// tenant): reference tables on Citus. Objections and partner tokens belong to a tenant
// and sit under row-level security; objections carry one more, read-only policy so the
// platform admin can see every tenant's objections when the server marks the transaction
// as the platform's (`app.platform_read`), which it does only for that listing.
const POSTGRES: &str = r#"
CREATE TABLE subprocessors (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    service text NOT NULL,
    data_categories jsonb NOT NULL,
    locations jsonb NOT NULL,
    contact_email text,
    announced_at timestamptz,
    effective_at timestamptz,
    retired_at timestamptz,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE TABLE transfer_records (
    id uuid PRIMARY KEY,
    subprocessor_id uuid NOT NULL REFERENCES subprocessors (id),
    origin_region text NOT NULL,
    destination_country text NOT NULL,
    data_categories jsonb NOT NULL,
    safeguard text NOT NULL,
    scc_module text,
    instrument_reference text,
    impact_assessed_at timestamptz,
    supplementary_measures text,
    valid_from timestamptz NOT NULL,
    valid_until timestamptz,
    review_due_at timestamptz NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX transfer_records_by_subprocessor ON transfer_records (subprocessor_id);
CREATE TABLE subprocessor_objections (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    subprocessor_id uuid NOT NULL REFERENCES subprocessors (id),
    reason text,
    objected_by text NOT NULL,
    objected_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, subprocessor_id)
);
CREATE TABLE partner_tokens (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    id uuid NOT NULL,
    subprocessor_id uuid NOT NULL REFERENCES subprocessors (id),
    purpose text NOT NULL,
    scopes jsonb NOT NULL,
    issued_by text NOT NULL,
    issued_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    revoked_by text,
    PRIMARY KEY (tenant_id, id)
);
CREATE POLICY platform_read ON subprocessor_objections FOR SELECT
    USING (current_setting('app.platform_read', true) = 'on');
"#;

const SQLITE: &str = r#"
CREATE TABLE subprocessors (
    id blob PRIMARY KEY NOT NULL,
    name text NOT NULL,
    service text NOT NULL,
    data_categories text NOT NULL,
    locations text NOT NULL,
    contact_email text,
    announced_at text,
    effective_at text,
    retired_at text,
    created_by text NOT NULL,
    created_at text NOT NULL,
    updated_at text NOT NULL
) WITHOUT ROWID;
CREATE TABLE transfer_records (
    id blob PRIMARY KEY NOT NULL,
    subprocessor_id blob NOT NULL REFERENCES subprocessors (id),
    origin_region text NOT NULL,
    destination_country text NOT NULL,
    data_categories text NOT NULL,
    safeguard text NOT NULL,
    scc_module text,
    instrument_reference text,
    impact_assessed_at text,
    supplementary_measures text,
    valid_from text NOT NULL,
    valid_until text,
    review_due_at text NOT NULL,
    created_by text NOT NULL,
    created_at text NOT NULL
) WITHOUT ROWID;
CREATE INDEX transfer_records_by_subprocessor ON transfer_records (subprocessor_id);
CREATE TABLE subprocessor_objections (
    tenant_id blob NOT NULL REFERENCES tenants (id),
    subprocessor_id blob NOT NULL REFERENCES subprocessors (id),
    reason text,
    objected_by text NOT NULL,
    objected_at text NOT NULL,
    PRIMARY KEY (tenant_id, subprocessor_id)
) WITHOUT ROWID;
CREATE TABLE partner_tokens (
    tenant_id blob NOT NULL REFERENCES tenants (id),
    id blob NOT NULL,
    subprocessor_id blob NOT NULL REFERENCES subprocessors (id),
    purpose text NOT NULL,
    scopes text NOT NULL,
    issued_by text NOT NULL,
    issued_at text NOT NULL,
    expires_at text NOT NULL,
    revoked_at text,
    revoked_by text,
    PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let postgres = format!(
            "{POSTGRES}{}",
            crate::tenant_isolation(&["subprocessor_objections", "partner_tokens"])
        );
        run_script(manager, &postgres, SQLITE).await
    }
}
