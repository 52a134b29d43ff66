use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000002_row_level_security"
    }
}

// Layer 2 of tenant isolation (PostgreSQL only); see `crate::tenant_isolation`.

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let postgres = crate::tenant_isolation(&["contacts", "appointments"]);
        run_script(manager, &postgres, "").await
    }
}
