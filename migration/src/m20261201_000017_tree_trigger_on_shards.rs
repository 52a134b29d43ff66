use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000017_tree_trigger_on_shards"
    }
}

// The tree's append-only trigger let `ledger_trees` grow by its table's name; on Citus the
// trigger runs on each shard, whose name is the table's with a shard number
// (`ledger_trees_102040`), so the tree could never grow there. The rule is unchanged.
const POSTGRES: &str = r#"
CREATE OR REPLACE FUNCTION ledger_proofs_append_only() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp AS $fn$
BEGIN
    IF TG_OP = 'DELETE'
        AND EXISTS (SELECT 1 FROM public.ledger_erasures e WHERE e.tenant = OLD.tenant_id) THEN
        RETURN OLD;
    END IF;
    -- The tree's size only grows (the table, or one of its shards on Citus).
    IF TG_OP = 'UPDATE' AND TG_TABLE_NAME ~ '^ledger_trees(_[0-9]+)?$'
        AND NEW.tenant_id = OLD.tenant_id AND NEW.size > OLD.size THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the ledger''s tree and checkpoints are append-only'
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, POSTGRES, "").await
    }
}
