use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000011_offboarding"
    }
}

// Offboarding: the record of it (and its signed deletion certificate) outlives the tenant,
// so it has no foreign key to it (and names it `tenant`, not `tenant_id`: it is not a
// tenant's row); the return export is the tenant's and goes with it.
// The ledger stays append-only for the server, with one exception for the owner: a tenant
// listed in ledger_erasures may have its records deleted. The application role may read
// that table (the triggers do) but never write it, and has no DELETE on the ledger; so
// only the owner — the operator's `custodian offboard complete` — erases a ledger, and
// only by listing the tenant for the length of its transaction. (On SQLite
// the replaced triggers get new names: a pooled connection may still hold the old
// schema, and would refuse a trigger of the old name as existing.)
const POSTGRES: &str = r#"
CREATE TABLE offboardings (
    tenant uuid PRIMARY KEY,
    status text NOT NULL,
    instruction_id uuid NOT NULL,
    started_by text NOT NULL,
    started_at timestamptz NOT NULL,
    deadline_at timestamptz NOT NULL,
    export_sha256 text NOT NULL,
    confirmed_at timestamptz,
    confirmed_by text,
    completed_at timestamptz,
    certificate text
);
CREATE TABLE offboarding_exports (
    tenant_id uuid PRIMARY KEY REFERENCES tenants (id),
    content text NOT NULL,
    sha256 text NOT NULL
);
CREATE TABLE ledger_erasures (
    tenant uuid PRIMARY KEY
);
CREATE OR REPLACE FUNCTION access_records_append_only() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp AS $fn$
BEGIN
    IF TG_OP = 'DELETE'
        AND EXISTS (SELECT 1 FROM public.ledger_erasures e WHERE e.tenant = OLD.tenant_id) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'access records are append-only' USING ERRCODE = 'insufficient_privilege';
END
$fn$;
CREATE OR REPLACE FUNCTION access_pending_move_only() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp AS $fn$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF EXISTS (SELECT 1 FROM public.ledger_erasures e WHERE e.tenant = OLD.tenant_id) THEN
            RETURN OLD;
        END IF;
        -- Schema-qualified: a temporary table named access_records must not stand in.
        IF EXISTS (
            SELECT 1 FROM public.access_records r
            WHERE r.tenant_id = OLD.tenant_id AND r.id = OLD.id
              AND r.recorded_at = OLD.recorded_at
              AND r.actor_kind = OLD.actor_kind AND r.actor_id = OLD.actor_id
              AND r.subprocessor_id IS NOT DISTINCT FROM OLD.subprocessor_id
              AND r.operation = OLD.operation AND r.resource_type = OLD.resource_type
              AND r.resource_ids = OLD.resource_ids AND r.resource_count = OLD.resource_count
              AND r.fields = OLD.fields
              AND r.purpose IS NOT DISTINCT FROM OLD.purpose
              AND r.instruction_id IS NOT DISTINCT FROM OLD.instruction_id
              AND r.outcome = OLD.outcome
              AND r.reason IS NOT DISTINCT FROM OLD.reason
              AND r.request_id IS NOT DISTINCT FROM OLD.request_id
        ) THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION 'a pending access record leaves only into the sealed chain, unchanged'
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;
"#;

const SQLITE: &str = r#"
CREATE TABLE offboardings (
    tenant blob PRIMARY KEY NOT NULL,
    status text NOT NULL,
    instruction_id blob NOT NULL,
    started_by text NOT NULL,
    started_at text NOT NULL,
    deadline_at text NOT NULL,
    export_sha256 text NOT NULL,
    confirmed_at text,
    confirmed_by text,
    completed_at text,
    certificate text
);
CREATE TABLE offboarding_exports (
    tenant_id blob PRIMARY KEY NOT NULL REFERENCES tenants (id),
    content text NOT NULL,
    sha256 text NOT NULL
);
CREATE TABLE ledger_erasures (
    tenant blob PRIMARY KEY NOT NULL
);
DROP TRIGGER access_records_no_delete;
CREATE TRIGGER access_records_delete_only_erased BEFORE DELETE ON access_records
WHEN NOT EXISTS (SELECT 1 FROM ledger_erasures e WHERE e.tenant = OLD.tenant_id)
BEGIN SELECT RAISE(ABORT, 'access records are append-only'); END;
DROP TRIGGER access_pending_move_only;
CREATE TRIGGER access_pending_moves_or_erased BEFORE DELETE ON access_pending
WHEN NOT EXISTS (SELECT 1 FROM ledger_erasures e WHERE e.tenant = OLD.tenant_id)
AND NOT EXISTS (
    SELECT 1 FROM access_records r
    WHERE r.tenant_id = OLD.tenant_id AND r.id = OLD.id
      AND r.recorded_at = OLD.recorded_at
      AND r.actor_kind = OLD.actor_kind AND r.actor_id = OLD.actor_id
      AND r.subprocessor_id IS OLD.subprocessor_id
      AND r.operation = OLD.operation AND r.resource_type = OLD.resource_type
      AND r.resource_ids = OLD.resource_ids AND r.resource_count = OLD.resource_count
      AND r.fields = OLD.fields
      AND r.purpose IS OLD.purpose
      AND r.instruction_id IS OLD.instruction_id
      AND r.outcome = OLD.outcome
      AND r.reason IS OLD.reason
      AND r.request_id IS OLD.request_id
)
BEGIN SELECT RAISE(ABORT, 'a pending access record leaves only into the sealed chain, unchanged'); END;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let postgres = format!(
            "{POSTGRES}{}",
            crate::tenant_isolation(&["offboarding_exports"])
        );
        run_script(manager, &postgres, SQLITE).await
    }
}
