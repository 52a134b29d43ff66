use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000013_webhooks"
    }
}

// Webhooks: a tenant's endpoints, the outbox of signed events for them (so delivery
// survives a restart), and every attempt. The delivery worker reads due deliveries across
// tenants under the platform-read policy, and writes each under its tenant's pin.
const POSTGRES: &str = r#"
CREATE TABLE webhook_endpoints (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    id uuid NOT NULL,
    url text NOT NULL,
    secret text NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL,
    disabled_at timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE webhook_deliveries (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    endpoint_id uuid NOT NULL,
    event_key text NOT NULL,
    event_type text NOT NULL,
    payload text NOT NULL,
    created_at timestamptz NOT NULL,
    attempts integer NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    delivered_at timestamptz,
    last_status integer,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, endpoint_id, event_key),
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE delivered_at IS NULL;
CREATE TABLE webhook_attempts (
    tenant_id uuid NOT NULL,
    delivery_id uuid NOT NULL,
    attempt integer NOT NULL,
    at timestamptz NOT NULL,
    status integer,
    error text,
    PRIMARY KEY (tenant_id, delivery_id, attempt),
    FOREIGN KEY (tenant_id, delivery_id) REFERENCES webhook_deliveries (tenant_id, id)
);
CREATE POLICY platform_read ON webhook_deliveries FOR SELECT
    USING (current_setting('app.platform_read', true) = 'on');
CREATE POLICY platform_read ON webhook_endpoints FOR SELECT
    USING (current_setting('app.platform_read', true) = 'on');
"#;

const SQLITE: &str = r#"
CREATE TABLE webhook_endpoints (
    tenant_id blob NOT NULL REFERENCES tenants (id),
    id blob NOT NULL,
    url text NOT NULL,
    secret text NOT NULL,
    created_by text NOT NULL,
    created_at text NOT NULL,
    disabled_at text,
    PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;
CREATE TABLE webhook_deliveries (
    tenant_id blob NOT NULL,
    id blob NOT NULL,
    endpoint_id blob NOT NULL,
    event_key text NOT NULL,
    event_type text NOT NULL,
    payload text NOT NULL,
    created_at text NOT NULL,
    attempts integer NOT NULL,
    next_attempt_at text NOT NULL,
    delivered_at text,
    last_status integer,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, endpoint_id, event_key),
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id)
) WITHOUT ROWID;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at);
CREATE TABLE webhook_attempts (
    tenant_id blob NOT NULL,
    delivery_id blob NOT NULL,
    attempt integer NOT NULL,
    at text NOT NULL,
    status integer,
    error text,
    PRIMARY KEY (tenant_id, delivery_id, attempt),
    FOREIGN KEY (tenant_id, delivery_id) REFERENCES webhook_deliveries (tenant_id, id)
) WITHOUT ROWID;
"#;

/// The tenant-owned tables this migration adds, under row-level security.
pub const TENANT_TABLES: [&str; 3] = [
    "webhook_endpoints",
    "webhook_deliveries",
    "webhook_attempts",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let postgres = format!("{POSTGRES}{}", crate::tenant_isolation(&TENANT_TABLES));
        run_script(manager, &postgres, SQLITE).await
    }
}
