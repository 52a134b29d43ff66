use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000001_core"
    }
}

// `tenant_id` leads every key of a tenant-owned table, including foreign keys, so one
// tenant's rows are co-located when distributed by tenant (Citus) and a foreign key can
// never point into another tenant.
const POSTGRES: &str = r#"
CREATE TABLE tenants (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    jurisdictions jsonb NOT NULL,
    owner_attests_adult boolean NOT NULL CHECK (owner_attests_adult),
    status text NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE TABLE contacts (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    id uuid NOT NULL,
    first_name text NOT NULL,
    last_name text NOT NULL,
    emails jsonb NOT NULL,
    phones jsonb NOT NULL,
    addresses jsonb NOT NULL,
    employer text,
    job_title text,
    custom_fields jsonb NOT NULL,
    tags jsonb NOT NULL,
    source text NOT NULL,
    marketing_email text NOT NULL,
    marketing_sms text NOT NULL,
    marketing_phone text NOT NULL,
    opt_out_sale boolean NOT NULL,
    opt_out_sharing boolean NOT NULL,
    search_text text NOT NULL,
    version integer NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX contacts_by_created ON contacts (tenant_id, created_at, id);
CREATE INDEX contacts_by_updated ON contacts (tenant_id, updated_at, id);
CREATE INDEX contacts_by_last_name ON contacts (tenant_id, last_name, id);
CREATE TABLE appointments (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    contact_id uuid NOT NULL,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    title text NOT NULL,
    location text,
    notes text,
    version integer NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE,
    CHECK (ends_at > starts_at)
);
CREATE INDEX appointments_by_contact ON appointments (tenant_id, contact_id, starts_at, id);
CREATE INDEX appointments_by_start ON appointments (tenant_id, starts_at, id);
"#;

const SQLITE: &str = r#"
CREATE TABLE tenants (
    id blob PRIMARY KEY NOT NULL,
    name text NOT NULL,
    jurisdictions text NOT NULL,
    owner_attests_adult integer NOT NULL CHECK (owner_attests_adult),
    status text NOT NULL,
    created_by text NOT NULL,
    created_at text NOT NULL,
    updated_at text NOT NULL
);
CREATE TABLE contacts (
    tenant_id blob NOT NULL REFERENCES tenants (id),
    id blob NOT NULL,
    first_name text NOT NULL,
    last_name text NOT NULL,
    emails text NOT NULL,
    phones text NOT NULL,
    addresses text NOT NULL,
    employer text,
    job_title text,
    custom_fields text NOT NULL,
    tags text NOT NULL,
    source text NOT NULL,
    marketing_email text NOT NULL,
    marketing_sms text NOT NULL,
    marketing_phone text NOT NULL,
    opt_out_sale integer NOT NULL,
    opt_out_sharing integer NOT NULL,
    search_text text NOT NULL,
    version integer NOT NULL,
    created_at text NOT NULL,
    updated_at text NOT NULL,
    PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;
CREATE INDEX contacts_by_created ON contacts (tenant_id, created_at, id);
CREATE INDEX contacts_by_updated ON contacts (tenant_id, updated_at, id);
CREATE INDEX contacts_by_last_name ON contacts (tenant_id, last_name, id);
CREATE TABLE appointments (
    tenant_id blob NOT NULL,
    id blob NOT NULL,
    contact_id blob NOT NULL,
    starts_at text NOT NULL,
    ends_at text NOT NULL,
    title text NOT NULL,
    location text,
    notes text,
    version integer NOT NULL,
    created_at text NOT NULL,
    updated_at text NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX appointments_by_contact ON appointments (tenant_id, contact_id, starts_at, id);
CREATE INDEX appointments_by_start ON appointments (tenant_id, starts_at, id);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, POSTGRES, SQLITE).await
    }
}
