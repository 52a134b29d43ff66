use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000016_ledger_append"
    }
}

// The group committer's one statement for a whole batch, whatever the number of tenants
// in it (PostgreSQL). `batch` is a JSON array with, per tenant, the head the committer
// last saw (`expected_seq`, `expected_hash`), the head after its records (`seq`, `hash`)
// and the records, linked and hashed by the server. For each tenant in turn the function
// pins the tenant (row-level security then admits that tenant's rows only), moves its
// head only if it is still the expected one, and inserts the records only if it moved it;
// it returns the tenants it appended to. The others (another appender got there first)
// are left as they were, for the committer's locking path. Invoker's rights: it can do
// nothing the application role cannot do statement by statement.
pub const POSTGRES: &str = r#"
CREATE FUNCTION ledger_append(batch text) RETURNS SETOF uuid LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp AS $fn$
DECLARE
    t record;
BEGIN
    FOR t IN
        SELECT * FROM json_to_recordset(batch::json)
            AS x(tenant uuid, expected_seq bigint, expected_hash text, seq bigint, hash text, records json)
    LOOP
        PERFORM set_config('app.tenant_id', t.tenant::text, true);
        UPDATE public.ledger_heads h SET seq = t.seq, hash = t.hash
            WHERE h.tenant_id = t.tenant AND h.seq = t.expected_seq AND h.hash = t.expected_hash;
        IF FOUND THEN
            INSERT INTO public.access_records (tenant_id, seq, id, recorded_at, actor_kind, actor_id,
                subprocessor_id, operation, resource_type, resource_ids, resource_count, fields,
                purpose, instruction_id, outcome, reason, request_id, prev_hash, hash)
            SELECT r.tenant_id, r.seq, r.id, r.recorded_at, r.actor_kind, r.actor_id,
                r.subprocessor_id, r.operation, r.resource_type, r.resource_ids, r.resource_count,
                r.fields, r.purpose, r.instruction_id, r.outcome, r.reason, r.request_id,
                r.prev_hash, r.hash
            FROM json_to_recordset(t.records) AS r(tenant_id uuid, seq bigint, id uuid,
                recorded_at timestamptz, actor_kind text, actor_id text, subprocessor_id uuid,
                operation text, resource_type text, resource_ids jsonb, resource_count integer,
                fields jsonb, purpose text, instruction_id uuid, outcome text, reason text,
                request_id text, prev_hash text, hash text)
            WHERE r.tenant_id = t.tenant;
            RETURN NEXT t.tenant;
        END IF;
    END LOOP;
    PERFORM set_config('app.tenant_id', '', true);
END
$fn$;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, POSTGRES, "").await
    }
}
