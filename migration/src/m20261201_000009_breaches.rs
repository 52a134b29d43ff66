use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000009_breaches"
    }
}

// Breach incidents are the processor's own records (no tenant); each affected tenant gets
// a notice under row-level security, with one more read-only policy for the platform
// admin's listing of every tenant's notices (as for objections). A tenant's contractual
// notification window sets each notice's deadline.
const POSTGRES: &str = r#"
ALTER TABLE tenants ADD COLUMN breach_notice_hours integer NOT NULL DEFAULT 24;
CREATE TABLE breach_incidents (
    id uuid PRIMARY KEY,
    detected_at timestamptz NOT NULL,
    summary text NOT NULL,
    data_categories jsonb NOT NULL,
    version integer NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE TABLE breach_notices (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    id uuid NOT NULL,
    incident_id uuid NOT NULL REFERENCES breach_incidents (id),
    estimated_records bigint NOT NULL CHECK (estimated_records >= 0),
    deadline_at timestamptz NOT NULL,
    sent_at timestamptz NOT NULL,
    acknowledged_at timestamptz,
    acknowledged_by text,
    acknowledged_version integer,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, incident_id)
);
CREATE POLICY platform_read ON breach_notices FOR SELECT
    USING (current_setting('app.platform_read', true) = 'on');
"#;

const SQLITE: &str = r#"
ALTER TABLE tenants ADD COLUMN breach_notice_hours integer NOT NULL DEFAULT 24;
CREATE TABLE breach_incidents (
    id blob PRIMARY KEY NOT NULL,
    detected_at text NOT NULL,
    summary text NOT NULL,
    data_categories text NOT NULL,
    version integer NOT NULL,
    created_by text NOT NULL,
    created_at text NOT NULL,
    updated_at text NOT NULL
);
CREATE TABLE breach_notices (
    tenant_id blob NOT NULL REFERENCES tenants (id),
    id blob NOT NULL,
    incident_id blob NOT NULL REFERENCES breach_incidents (id),
    estimated_records integer NOT NULL CHECK (estimated_records >= 0),
    deadline_at text NOT NULL,
    sent_at text NOT NULL,
    acknowledged_at text,
    acknowledged_by text,
    acknowledged_version integer,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, incident_id)
) WITHOUT ROWID;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let postgres = format!("{POSTGRES}{}", crate::tenant_isolation(&["breach_notices"]));
        run_script(manager, &postgres, SQLITE).await
    }
}
