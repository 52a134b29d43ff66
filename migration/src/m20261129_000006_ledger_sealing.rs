use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000006_ledger_sealing"
    }
}

// Access records are written unchained, inside the transaction of the access they record
// (one insert, durable with it), and sealed into the tenant's hash chain by a background
// sealer. A pending record can leave `access_pending` in one way only: deleted in the
// transaction that copies it, unchanged, into the sealed chain (`access_records`, which
// stays append-only). So from its insert on, no record can be altered or dropped by the
// application role, sealed or not.
const POSTGRES: &str = r#"
CREATE TABLE access_pending (
    tenant_id uuid NOT NULL,
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
    PRIMARY KEY (tenant_id, id)
);
CREATE FUNCTION access_pending_move_only() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp AS $fn$
BEGIN
    IF TG_OP = 'DELETE' THEN
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
CREATE TRIGGER access_pending_move_only BEFORE UPDATE OR DELETE ON access_pending
    FOR EACH ROW EXECUTE FUNCTION access_pending_move_only();
CREATE TRIGGER access_pending_no_truncate BEFORE TRUNCATE ON access_pending
    FOR EACH STATEMENT EXECUTE FUNCTION access_pending_move_only();
"#;

const SQLITE: &str = r#"
CREATE TABLE access_pending (
    tenant_id blob NOT NULL,
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
    PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;
CREATE TRIGGER access_pending_no_update BEFORE UPDATE ON access_pending
BEGIN SELECT RAISE(ABORT, 'a pending access record leaves only into the sealed chain, unchanged'); END;
CREATE TRIGGER access_pending_move_only BEFORE DELETE ON access_pending
WHEN NOT EXISTS (
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
        let postgres = format!("{POSTGRES}{}", crate::tenant_isolation(&["access_pending"]));
        run_script(manager, &postgres, SQLITE).await
    }
}
