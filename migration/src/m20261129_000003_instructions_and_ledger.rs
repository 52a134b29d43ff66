use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000003_instructions_and_ledger"
    }
}

// Processing instructions, the access ledger and its per-tenant chain heads. The ledger is
// append-only in two layers: the application role is granted only SELECT and INSERT on
// `access_records` (see `custodian migrate`), and a trigger refuses UPDATE, DELETE and
// TRUNCATE from anyone, the owner included.
const POSTGRES: &str = r#"
CREATE TABLE processing_instructions (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    id uuid NOT NULL,
    purpose text NOT NULL,
    actor_kinds jsonb NOT NULL,
    subprocessor_ids jsonb NOT NULL,
    data_categories jsonb NOT NULL,
    operations jsonb NOT NULL,
    valid_from timestamptz NOT NULL,
    valid_until timestamptz,
    external_reference text,
    description text,
    standing boolean NOT NULL,
    issued_by text NOT NULL,
    issued_at timestamptz NOT NULL,
    revoked_at timestamptz,
    revoked_by text,
    revocation_reason text,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX processing_instructions_by_purpose ON processing_instructions (tenant_id, purpose, valid_from);
CREATE TABLE access_records (
    tenant_id uuid NOT NULL,
    seq bigint NOT NULL,
    id uuid NOT NULL,
    recorded_at timestamptz NOT NULL,
    actor_kind text NOT NULL,
    actor_id text NOT NULL,
    subprocessor_id uuid,
    operation text NOT NULL,
    resource_type text NOT NULL,
    resource_ids jsonb NOT NULL,
    resource_count integer NOT NULL,
    fields jsonb NOT NULL,
    purpose text,
    instruction_id uuid,
    outcome text NOT NULL,
    reason text,
    request_id text,
    prev_hash text NOT NULL,
    hash text NOT NULL,
    PRIMARY KEY (tenant_id, seq),
    UNIQUE (tenant_id, id)
);
CREATE INDEX access_records_by_time ON access_records (tenant_id, recorded_at);
CREATE TABLE ledger_heads (
    tenant_id uuid PRIMARY KEY,
    seq bigint NOT NULL,
    hash text NOT NULL
);
CREATE FUNCTION access_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION 'access records are append-only' USING ERRCODE = 'insufficient_privilege';
END
$fn$;
CREATE TRIGGER access_records_no_update BEFORE UPDATE OR DELETE ON access_records
    FOR EACH ROW EXECUTE FUNCTION access_records_append_only();
CREATE TRIGGER access_records_no_truncate BEFORE TRUNCATE ON access_records
    FOR EACH STATEMENT EXECUTE FUNCTION access_records_append_only();
"#;

const SQLITE: &str = r#"
CREATE TABLE processing_instructions (
    tenant_id blob NOT NULL REFERENCES tenants (id),
    id blob NOT NULL,
    purpose text NOT NULL,
    actor_kinds text NOT NULL,
    subprocessor_ids text NOT NULL,
    data_categories text NOT NULL,
    operations text NOT NULL,
    valid_from text NOT NULL,
    valid_until text,
    external_reference text,
    description text,
    standing integer NOT NULL,
    issued_by text NOT NULL,
    issued_at text NOT NULL,
    revoked_at text,
    revoked_by text,
    revocation_reason text,
    PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;
CREATE INDEX processing_instructions_by_purpose ON processing_instructions (tenant_id, purpose, valid_from);
CREATE TABLE access_records (
    tenant_id blob NOT NULL,
    seq integer NOT NULL,
    id blob NOT NULL,
    recorded_at text NOT NULL,
    actor_kind text NOT NULL,
    actor_id text NOT NULL,
    subprocessor_id blob,
    operation text NOT NULL,
    resource_type text NOT NULL,
    resource_ids text NOT NULL,
    resource_count integer NOT NULL,
    fields text NOT NULL,
    purpose text,
    instruction_id blob,
    outcome text NOT NULL,
    reason text,
    request_id text,
    prev_hash text NOT NULL,
    hash text NOT NULL,
    PRIMARY KEY (tenant_id, seq),
    UNIQUE (tenant_id, id)
) WITHOUT ROWID;
CREATE INDEX access_records_by_time ON access_records (tenant_id, recorded_at);
CREATE TABLE ledger_heads (
    tenant_id blob PRIMARY KEY NOT NULL,
    seq integer NOT NULL,
    hash text NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER access_records_no_update BEFORE UPDATE ON access_records
BEGIN SELECT RAISE(ABORT, 'access records are append-only'); END;
CREATE TRIGGER access_records_no_delete BEFORE DELETE ON access_records
BEGIN SELECT RAISE(ABORT, 'access records are append-only'); END;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let postgres = format!(
            "{POSTGRES}{}",
            crate::tenant_isolation(&["processing_instructions", "access_records", "ledger_heads"])
        );
        run_script(manager, &postgres, SQLITE).await
    }
}
