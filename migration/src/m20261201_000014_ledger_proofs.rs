use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000014_ledger_proofs"
    }
}

// Each tenant's chain is also the leaf sequence of a Merkle tree (RFC 9162 hashing):
// `ledger_tree_hashes` holds, per tenant, the hashes the tree stores at each position of
// the dense order of Crosby and Wallach (leaves and completed subtrees, about two per
// record), `ledger_trees` how many records the tree covers, and `ledger_checkpoints` every
// signed tree head the deployment issued. All three are append-only like the chain: only
// the tenant's one erasure path (an offboarding's completion) deletes them.
const POSTGRES: &str = r#"
CREATE TABLE ledger_tree_hashes (
    tenant_id uuid NOT NULL,
    idx bigint NOT NULL,
    hash bytea NOT NULL,
    PRIMARY KEY (tenant_id, idx)
);
CREATE TABLE ledger_trees (
    tenant_id uuid PRIMARY KEY,
    size bigint NOT NULL
);
CREATE TABLE ledger_checkpoints (
    tenant_id uuid NOT NULL,
    tree_size bigint NOT NULL,
    root_hash bytea NOT NULL,
    issued_at timestamptz NOT NULL,
    note text NOT NULL,
    PRIMARY KEY (tenant_id, tree_size)
);
CREATE FUNCTION ledger_proofs_append_only() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp AS $fn$
BEGIN
    IF TG_OP = 'DELETE'
        AND EXISTS (SELECT 1 FROM public.ledger_erasures e WHERE e.tenant = OLD.tenant_id) THEN
        RETURN OLD;
    END IF;
    -- The tree's size only grows.
    IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'ledger_trees'
        AND NEW.tenant_id = OLD.tenant_id AND NEW.size > OLD.size THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the ledger''s tree and checkpoints are append-only'
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;
CREATE TRIGGER ledger_tree_hashes_append_only BEFORE UPDATE OR DELETE ON ledger_tree_hashes
    FOR EACH ROW EXECUTE FUNCTION ledger_proofs_append_only();
CREATE TRIGGER ledger_trees_append_only BEFORE UPDATE OR DELETE ON ledger_trees
    FOR EACH ROW EXECUTE FUNCTION ledger_proofs_append_only();
CREATE TRIGGER ledger_checkpoints_append_only BEFORE UPDATE OR DELETE ON ledger_checkpoints
    FOR EACH ROW EXECUTE FUNCTION ledger_proofs_append_only();
CREATE TRIGGER ledger_tree_hashes_no_truncate BEFORE TRUNCATE ON ledger_tree_hashes
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_proofs_append_only();
CREATE TRIGGER ledger_trees_no_truncate BEFORE TRUNCATE ON ledger_trees
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_proofs_append_only();
CREATE TRIGGER ledger_checkpoints_no_truncate BEFORE TRUNCATE ON ledger_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_proofs_append_only();
"#;

const SQLITE: &str = r#"
CREATE TABLE ledger_tree_hashes (
    tenant_id blob NOT NULL,
    idx integer NOT NULL,
    hash blob NOT NULL,
    PRIMARY KEY (tenant_id, idx)
) WITHOUT ROWID;
CREATE TABLE ledger_trees (
    tenant_id blob PRIMARY KEY NOT NULL,
    size integer NOT NULL
);
CREATE TABLE ledger_checkpoints (
    tenant_id blob NOT NULL,
    tree_size integer NOT NULL,
    root_hash blob NOT NULL,
    issued_at text NOT NULL,
    note text NOT NULL,
    PRIMARY KEY (tenant_id, tree_size)
) WITHOUT ROWID;
CREATE TRIGGER ledger_tree_hashes_no_update BEFORE UPDATE ON ledger_tree_hashes
BEGIN SELECT RAISE(ABORT, 'the ledger''s tree and checkpoints are append-only'); END;
CREATE TRIGGER ledger_tree_hashes_delete_only_erased BEFORE DELETE ON ledger_tree_hashes
WHEN NOT EXISTS (SELECT 1 FROM ledger_erasures e WHERE e.tenant = OLD.tenant_id)
BEGIN SELECT RAISE(ABORT, 'the ledger''s tree and checkpoints are append-only'); END;
CREATE TRIGGER ledger_trees_only_grow BEFORE UPDATE ON ledger_trees
WHEN NEW.tenant_id IS NOT OLD.tenant_id OR NEW.size <= OLD.size
BEGIN SELECT RAISE(ABORT, 'the ledger''s tree and checkpoints are append-only'); END;
CREATE TRIGGER ledger_trees_delete_only_erased BEFORE DELETE ON ledger_trees
WHEN NOT EXISTS (SELECT 1 FROM ledger_erasures e WHERE e.tenant = OLD.tenant_id)
BEGIN SELECT RAISE(ABORT, 'the ledger''s tree and checkpoints are append-only'); END;
CREATE TRIGGER ledger_checkpoints_no_update BEFORE UPDATE ON ledger_checkpoints
BEGIN SELECT RAISE(ABORT, 'the ledger''s tree and checkpoints are append-only'); END;
CREATE TRIGGER ledger_checkpoints_delete_only_erased BEFORE DELETE ON ledger_checkpoints
WHEN NOT EXISTS (SELECT 1 FROM ledger_erasures e WHERE e.tenant = OLD.tenant_id)
BEGIN SELECT RAISE(ABORT, 'the ledger''s tree and checkpoints are append-only'); END;
"#;

/// The tenant-owned tables this migration adds, under row-level security.
pub const TENANT_TABLES: [&str; 3] = ["ledger_tree_hashes", "ledger_trees", "ledger_checkpoints"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let postgres = format!("{POSTGRES}{}", crate::tenant_isolation(&TENANT_TABLES));
        run_script(manager, &postgres, SQLITE).await
    }
}
