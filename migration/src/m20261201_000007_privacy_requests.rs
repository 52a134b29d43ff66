use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000007_privacy_requests"
    }
}

// Data-subject requests and what carrying them out needs. A request holds ids, dates and
// reasons, never the subject's personal data: an identifier it was matched by is used
// once, at opening, and not kept. Exports are kept (identical on every download) until
// the subject is erased. The tables that hold contacts' data are vacuumed by autovacuum
// after any deleted row (not after a fifth of the table changed), so an erased subject's
// old row versions leave the table files within about a minute. Legal holds are not tied to the contact by a foreign key: the
// record of a hold outlives the contact it held.
const POSTGRES: &str = r#"
ALTER TABLE tenants ADD COLUMN request_assistance_days integer NOT NULL DEFAULT 10;
ALTER TABLE contacts ADD COLUMN restricted_at timestamptz;
ALTER TABLE processing_instructions ADD COLUMN involves_sale boolean NOT NULL DEFAULT false;
ALTER TABLE processing_instructions ADD COLUMN involves_sharing boolean NOT NULL DEFAULT false;
CREATE TABLE privacy_requests (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    id uuid NOT NULL,
    kind text NOT NULL,
    regime text,
    status text NOT NULL,
    channel text,
    subject_contact_ids jsonb NOT NULL,
    candidate_contact_ids jsonb NOT NULL,
    identifier_kind text,
    received_at timestamptz NOT NULL,
    opened_at timestamptz,
    statutory_due_at timestamptz,
    processor_due_at timestamptz,
    extended_at timestamptz,
    extension_reason text,
    paused_at timestamptz,
    pause_reason text,
    paused_seconds bigint NOT NULL,
    external_reference text,
    denial_reason text,
    completed_at timestamptz,
    result jsonb,
    result_sha256 text,
    receipt text,
    referred_by text,
    opened_by text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX privacy_requests_by_status ON privacy_requests (tenant_id, status, statutory_due_at, id);
CREATE TABLE privacy_request_events (
    tenant_id uuid NOT NULL,
    request_id uuid NOT NULL,
    seq integer NOT NULL,
    at timestamptz NOT NULL,
    actor_kind text NOT NULL,
    actor_id text NOT NULL,
    action text NOT NULL,
    status text NOT NULL,
    reason text,
    PRIMARY KEY (tenant_id, request_id, seq),
    FOREIGN KEY (tenant_id, request_id) REFERENCES privacy_requests (tenant_id, id)
);
CREATE TABLE privacy_request_exports (
    tenant_id uuid NOT NULL,
    request_id uuid NOT NULL,
    format text NOT NULL,
    content text NOT NULL,
    sha256 text NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, request_id, format),
    FOREIGN KEY (tenant_id, request_id) REFERENCES privacy_requests (tenant_id, id)
);
CREATE TABLE legal_holds (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    id uuid NOT NULL,
    contact_id uuid NOT NULL,
    reason text NOT NULL,
    note text,
    ends_at timestamptz,
    placed_by text NOT NULL,
    placed_at timestamptz NOT NULL,
    released_by text,
    released_at timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX legal_holds_by_contact ON legal_holds (tenant_id, contact_id);
CREATE TABLE privacy_request_forwards (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    request_id uuid NOT NULL,
    subprocessor_id uuid NOT NULL REFERENCES subprocessors (id),
    action text NOT NULL,
    contact_ids jsonb NOT NULL,
    forwarded_at timestamptz NOT NULL,
    confirmed_at timestamptz,
    confirmed_by text,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, request_id) REFERENCES privacy_requests (tenant_id, id)
);
CREATE INDEX privacy_request_forwards_by_subprocessor ON privacy_request_forwards (tenant_id, subprocessor_id, forwarded_at, id);
ALTER TABLE contacts SET (autovacuum_vacuum_scale_factor = 0.0, autovacuum_vacuum_threshold = 1);
ALTER TABLE appointments SET (autovacuum_vacuum_scale_factor = 0.0, autovacuum_vacuum_threshold = 1);
ALTER TABLE privacy_request_exports SET (autovacuum_vacuum_scale_factor = 0.0, autovacuum_vacuum_threshold = 1);
"#;

const SQLITE: &str = r#"
ALTER TABLE tenants ADD COLUMN request_assistance_days integer NOT NULL DEFAULT 10;
ALTER TABLE contacts ADD COLUMN restricted_at text;
ALTER TABLE processing_instructions ADD COLUMN involves_sale integer NOT NULL DEFAULT 0;
ALTER TABLE processing_instructions ADD COLUMN involves_sharing integer NOT NULL DEFAULT 0;
CREATE TABLE privacy_requests (
    tenant_id blob NOT NULL REFERENCES tenants (id),
    id blob NOT NULL,
    kind text NOT NULL,
    regime text,
    status text NOT NULL,
    channel text,
    subject_contact_ids text NOT NULL,
    candidate_contact_ids text NOT NULL,
    identifier_kind text,
    received_at text NOT NULL,
    opened_at text,
    statutory_due_at text,
    processor_due_at text,
    extended_at text,
    extension_reason text,
    paused_at text,
    pause_reason text,
    paused_seconds integer NOT NULL,
    external_reference text,
    denial_reason text,
    completed_at text,
    result text,
    result_sha256 text,
    receipt text,
    referred_by text,
    opened_by text,
    created_at text NOT NULL,
    updated_at text NOT NULL,
    PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;
CREATE INDEX privacy_requests_by_status ON privacy_requests (tenant_id, status, statutory_due_at, id);
CREATE TABLE privacy_request_events (
    tenant_id blob NOT NULL,
    request_id blob NOT NULL,
    seq integer NOT NULL,
    at text NOT NULL,
    actor_kind text NOT NULL,
    actor_id text NOT NULL,
    action text NOT NULL,
    status text NOT NULL,
    reason text,
    PRIMARY KEY (tenant_id, request_id, seq),
    FOREIGN KEY (tenant_id, request_id) REFERENCES privacy_requests (tenant_id, id)
) WITHOUT ROWID;
CREATE TABLE privacy_request_exports (
    tenant_id blob NOT NULL,
    request_id blob NOT NULL,
    format text NOT NULL,
    content text NOT NULL,
    sha256 text NOT NULL,
    created_at text NOT NULL,
    PRIMARY KEY (tenant_id, request_id, format),
    FOREIGN KEY (tenant_id, request_id) REFERENCES privacy_requests (tenant_id, id)
) WITHOUT ROWID;
CREATE TABLE legal_holds (
    tenant_id blob NOT NULL REFERENCES tenants (id),
    id blob NOT NULL,
    contact_id blob NOT NULL,
    reason text NOT NULL,
    note text,
    ends_at text,
    placed_by text NOT NULL,
    placed_at text NOT NULL,
    released_by text,
    released_at text,
    PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;
CREATE INDEX legal_holds_by_contact ON legal_holds (tenant_id, contact_id);
CREATE TABLE privacy_request_forwards (
    tenant_id blob NOT NULL,
    id blob NOT NULL,
    request_id blob NOT NULL,
    subprocessor_id blob NOT NULL REFERENCES subprocessors (id),
    action text NOT NULL,
    contact_ids text NOT NULL,
    forwarded_at text NOT NULL,
    confirmed_at text,
    confirmed_by text,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, request_id) REFERENCES privacy_requests (tenant_id, id)
) WITHOUT ROWID;
CREATE INDEX privacy_request_forwards_by_subprocessor ON privacy_request_forwards (tenant_id, subprocessor_id, forwarded_at, id);
"#;

/// The tenant-owned tables this migration adds, all under row-level security.
pub const TENANT_TABLES: [&str; 5] = [
    "privacy_requests",
    "privacy_request_events",
    "privacy_request_exports",
    "legal_holds",
    "privacy_request_forwards",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let postgres = format!("{POSTGRES}{}", crate::tenant_isolation(&TENANT_TABLES));
        run_script(manager, &postgres, SQLITE).await
    }
}
