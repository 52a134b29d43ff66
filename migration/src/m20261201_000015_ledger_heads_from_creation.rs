use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000015_ledger_heads_from_creation"
    }
}

// Every tenant's chain head exists from the tenant's creation (the server creates it with
// the tenant), so a verification that cannot see it knows it sees nothing. Tenants created
// before get theirs here, by the owner with row-level security lifted from the table for
// the moment of this one statement (the policy admits one tenant's rows at a time).
const POSTGRES: &str = r#"
ALTER TABLE ledger_heads NO FORCE ROW LEVEL SECURITY;
INSERT INTO ledger_heads (tenant_id, seq, hash)
SELECT id, 0, '0000000000000000000000000000000000000000000000000000000000000000' FROM tenants
ON CONFLICT (tenant_id) DO NOTHING;
ALTER TABLE ledger_heads FORCE ROW LEVEL SECURITY;
"#;

const SQLITE: &str = r#"
INSERT INTO ledger_heads (tenant_id, seq, hash)
SELECT id, 0, '0000000000000000000000000000000000000000000000000000000000000000' FROM tenants
WHERE true ON CONFLICT (tenant_id) DO NOTHING;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, POSTGRES, SQLITE).await
    }
}
