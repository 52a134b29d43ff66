//! Offboarding at the end of a contract (GDPR Art. 28(3)(g)): the platform admin starts
//! it and Custodian produces the return export; the controller downloads it and confirms
//! receipt (or the deadline passes); then every row of the tenant is deleted, its ledger
//! included, and what remains is a deletion certificate signed by the deployment's key.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, RwLock};

use chrono::{Duration, SecondsFormat, Utc};
use entities::{offboarding, offboarding_export, tenant};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ConnectionTrait, DatabaseBackend, EntityTrait, IntoActiveModel, QueryFilter, Statement,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::auth::ActorKind;
use crate::domain::instruction::{AccessOperation, DataCategory, Purpose};
use crate::domain::tenant::TenantStatus;
use crate::domain::{InstructionId, Invalid, TenantId};
use crate::error::ServiceError;
use crate::ledger::ResourceType;
use crate::policy::{self, Access, Mode, RequestCtx};
use crate::signing::Signer;

/// The type of a deletion certificate document.
pub const CERTIFICATE_TYPE: &str = "custodian.deletion-certificate.v1";

/// Every table holding a tenant's rows, in the order they can be deleted (children first).
/// The ledger's tables go last, through their one erasure path.
const TENANT_TABLES: [&str; 22] = [
    "appointments",
    "privacy_request_forwards",
    "privacy_request_exports",
    "privacy_request_events",
    "privacy_requests",
    "legal_holds",
    "contacts",
    "import_runs",
    "retention_policies",
    "purge_reports",
    "breach_notices",
    "terms_responses",
    "subprocessor_objections",
    "partner_tokens",
    "offboarding_exports",
    "processing_instructions",
    "access_pending",
    "access_records",
    "ledger_heads",
    "ledger_checkpoints",
    "ledger_tree_hashes",
    "ledger_trees",
];

/// Tenants offboarded, whose tokens the server refuses: loaded at start, and read again
/// by the first request a minute after the last reading (so a completion by the operator
/// reaches every server within a minute). Cheap to clone.
#[derive(Clone, Default)]
pub struct Offboarded(
    Arc<RwLock<HashSet<TenantId>>>,
    Arc<RwLock<Option<chrono::DateTime<Utc>>>>,
);

/// How long a reading of the offboarded tenants is trusted.
const REFRESH_EVERY: Duration = Duration::seconds(60);

impl Offboarded {
    /// Reads the set again when the last reading is older than a minute at `ctx.now`.
    ///
    /// # Errors
    /// `Db`.
    pub async fn refresh_if_due(&self, ctx: &RequestCtx<'_>) -> Result<(), ServiceError> {
        if self.is_due(ctx.now) {
            self.refresh(ctx).await?;
        }
        Ok(())
    }

    /// Whether the last reading is older than a minute at `now` (a cheap check for every
    /// request; the reading itself happens once a minute).
    pub fn is_due(&self, now: chrono::DateTime<Utc>) -> bool {
        self.1
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_none_or(|last| now - last >= REFRESH_EVERY)
    }

    pub fn contains(&self, tenant: TenantId) -> bool {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&tenant)
    }

    pub fn insert(&self, tenant: TenantId) {
        self.0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(tenant);
    }

    /// Replaces the set with what the database says (a job's read).
    ///
    /// # Errors
    /// `Db`.
    pub async fn refresh(&self, ctx: &RequestCtx<'_>) -> Result<(), ServiceError> {
        let tx = policy::job_registry(ctx).await?;
        let done: HashSet<TenantId> = offboarding::Entity::find()
            .filter(sea_orm::ColumnTrait::eq(
                &offboarding::Column::Status,
                "COMPLETED",
            ))
            .all(&*tx)
            .await?
            .into_iter()
            .map(|o| o.tenant)
            .collect();
        tx.commit().await?;
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = done;
        *self
            .1
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(ctx.now);
        Ok(())
    }
}

fn ts(at: chrono::DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The offboarding of `tenant`, if any (platform admin's view).
async fn find<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
) -> Result<Option<offboarding::Model>, ServiceError> {
    Ok(offboarding::Entity::find_by_id(tenant).one(db).await?)
}

/// Starts offboarding a tenant (platform admin): no new data may be added from now on, and
/// the return export is produced. The controller has `confirmation_days` to confirm
/// receipt; the deletion may go ahead when it does, or when the deadline passes.
///
/// # Errors
/// `Validation` (`confirmationDays` outside 1–90); `NotFound` for an unknown tenant;
/// `Conflict` when it is already being offboarded; `Db`.
pub async fn start(
    ctx: &RequestCtx<'_>,
    tenant: TenantId,
    confirmation_days: i64,
) -> Result<offboarding::Model, ServiceError> {
    if !(1..=90).contains(&confirmation_days) {
        return Err(Invalid::new(
            "confirmationDays",
            "confirmationDays must be between 1 and 90",
        )
        .into());
    }
    let tx = policy::platform_admin_on(ctx, tenant, Mode::Write).await?;
    let account = tenant::Entity::find_by_id(tenant)
        .one(&*tx)
        .await?
        .ok_or(ServiceError::NotFound)?;
    if find(&*tx, tenant).await?.is_some() {
        return Err(ServiceError::Conflict(
            "the tenant is already being offboarded".into(),
        ));
    }
    let instruction = InstructionId::new();
    let row = super::instructions::row(
        tenant,
        instruction,
        super::instructions::NewInstruction {
            purpose: Purpose::LegalCompliance,
            actor_kinds: vec![ActorKind::PlatformAdmin, ActorKind::Controller],
            subprocessor_ids: Vec::new(),
            data_categories: DataCategory::ALL.to_vec(),
            operations: vec![AccessOperation::Export, AccessOperation::Erase],
            valid_from: Some(ctx.now),
            valid_until: None,
            external_reference: Some("end of contract (GDPR Art. 28(3)(g))".into()),
            description: Some(
                "Offboarding: the return of every record to the controller, then their deletion"
                    .into(),
            ),
            involves_sale: false,
            involves_sharing: false,
        },
        false,
        &tx.actor().id,
        ctx.now,
    );
    entities::processing_instruction::Entity::insert(row)
        .exec(&*tx)
        .await?;
    let mut active = account.into_active_model();
    active.status = Set(TenantStatus::Offboarding.as_str().to_owned());
    active.updated_at = Set(ctx.now);
    tenant::Entity::update(active).exec(&*tx).await?;
    offboarding::Entity::insert(offboarding::ActiveModel {
        tenant: Set(tenant),
        status: Set("STARTED".into()),
        instruction_id: Set(instruction),
        started_by: Set(tx.actor().id.clone()),
        started_at: Set(ctx.now),
        deadline_at: Set(ctx.now + Duration::days(confirmation_days)),
        export_sha256: Set(String::new()),
        confirmed_at: Set(None),
        confirmed_by: Set(None),
        completed_at: Set(None),
        certificate: Set(None),
    })
    .exec(&*tx)
    .await?;
    tx.commit().await?;
    let sha = export(ctx, tenant, instruction).await?;
    let tx = policy::platform_admin_on(ctx, tenant, Mode::Write).await?;
    let model = find(&*tx, tenant).await?.ok_or(ServiceError::NotFound)?;
    let mut active = model.into_active_model();
    active.export_sha256 = Set(sha);
    let updated = offboarding::Entity::update(active).exec(&*tx).await?;
    tx.commit().await?;
    tracing::info!(tenant_id = %tenant, "offboarding started");
    Ok(updated)
}

/// Builds and stores the return export: every contact, appointment, instruction,
/// request, hold and policy of the tenant, and its ledger (as `custodian ledger export`
/// writes it). Recorded as one export of everything, with its count.
async fn export(
    ctx: &RequestCtx<'_>,
    tenant: TenantId,
    instruction: InstructionId,
) -> Result<String, ServiceError> {
    let access = Access::new(
        AccessOperation::Export,
        ResourceType::Contact,
        super::contacts::personal_fields(),
    )
    .writing_rows();
    let mut tx = policy::begin_processor_step(ctx, tenant, instruction, access, false).await?;
    let mut tables = serde_json::Map::new();
    let mut contacts = 0;
    for table in [
        "contacts",
        "appointments",
        "processing_instructions",
        "privacy_requests",
        "privacy_request_events",
        "legal_holds",
        "retention_policies",
    ] {
        let rows = rows_as_json(&tx, table, tenant).await?;
        if table == "contacts" {
            contacts = rows.len();
        }
        tables.insert(table.to_owned(), Value::Array(rows));
    }
    let mut ledger = Vec::new();
    crate::ledger::queries::export(&*tx, tenant, &mut ledger).await?;
    let document = json!({
        "format": "custodian.return-export.v1",
        "tenantId": tenant,
        "generatedAt": ts(ctx.now),
        "tables": tables,
        "ledger": String::from_utf8_lossy(&ledger),
    });
    let content = crate::signing::canonical(&document);
    let sha = hex::encode(Sha256::digest(content.as_bytes()));
    offboarding_export::Entity::insert(offboarding_export::ActiveModel {
        tenant_id: Set(tenant),
        content: Set(content),
        sha256: Set(sha.clone()),
    })
    .exec(&*tx)
    .await?;
    tx.touched_count(contacts);
    tx.commit().await?;
    Ok(sha)
}

/// Every row of `table` of the tenant, as JSON objects (the database does the encoding,
/// so every column goes, whatever the table).
async fn rows_as_json(
    tx: &policy::TenantTx<'_>,
    table: &str,
    tenant: TenantId,
) -> Result<Vec<Value>, ServiceError> {
    let backend = tx.get_database_backend();
    let stmt = match backend {
        DatabaseBackend::Postgres => Statement::from_sql_and_values(
            backend,
            format!("SELECT row_to_json(t)::text AS row FROM {table} t WHERE t.tenant_id = $1"),
            [tenant.into()],
        ),
        _ => {
            let columns = tx
                .query_all_raw(Statement::from_string(
                    backend,
                    format!("SELECT name FROM pragma_table_info('{table}')"),
                ))
                .await?;
            let pairs: Vec<String> = columns
                .iter()
                .map(|c| c.try_get::<String>("", "name"))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .map(|n| {
                    format!(
                        "'{n}', CASE WHEN typeof(\"{n}\") = 'blob' THEN lower(hex(\"{n}\")) ELSE \"{n}\" END"
                    )
                })
                .collect();
            Statement::from_sql_and_values(
                backend,
                format!(
                    "SELECT json_object({}) AS row FROM {table} WHERE tenant_id = ?",
                    pairs.join(", ")
                ),
                [tenant.into()],
            )
        }
    };
    let rows = tx.query_all_raw(stmt).await?;
    rows.iter()
        .map(|r| {
            let text: String = r.try_get("", "row")?;
            Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
        })
        .collect()
}

/// The caller's view of an offboarding: its own for the controller's admin, any
/// tenant's for the platform admin.
///
/// # Errors
/// `NotFound` when there is none (another tenant's answers the same); `Db`.
pub async fn get(
    ctx: &RequestCtx<'_>,
    tenant: Option<TenantId>,
) -> Result<offboarding::Model, ServiceError> {
    let (tx, wanted) = policy::account(ctx, tenant).await?;
    let model = find(&*tx, wanted).await?.ok_or(ServiceError::NotFound)?;
    tx.commit().await?;
    Ok(model)
}

/// The return export, as the controller's admin downloads it (recorded).
///
/// # Errors
/// `NotFound`; `Forbidden` for anyone but the tenant's admin and the platform admin; `Db`.
pub async fn download(
    ctx: &RequestCtx<'_>,
    tenant: TenantId,
) -> Result<offboarding_export::Model, ServiceError> {
    let model = get(ctx, Some(tenant)).await?;
    let access = Access::new(
        AccessOperation::Export,
        ResourceType::Contact,
        super::contacts::personal_fields(),
    );
    let mut tx =
        policy::begin_processor_step(ctx, tenant, model.instruction_id, access, true).await?;
    let export = offboarding_export::Entity::find_by_id(tenant)
        .one(&*tx)
        .await?
        .ok_or(ServiceError::NotFound)?;
    tx.touched_count(1);
    tx.commit().await?;
    Ok(export)
}

/// The controller's admin confirms it received the return export.
///
/// # Errors
/// `NotFound`; `Conflict` unless it is started and unconfirmed; `Db`.
pub async fn confirm(ctx: &RequestCtx<'_>) -> Result<offboarding::Model, ServiceError> {
    let tx = policy::controller_admin(ctx, Mode::Write).await?;
    let model = find(&*tx, tx.tenant())
        .await?
        .ok_or(ServiceError::NotFound)?;
    if model.status != "STARTED" {
        return Err(ServiceError::Conflict(format!(
            "the offboarding is {}",
            model.status
        )));
    }
    let mut active = model.into_active_model();
    active.status = Set("CONFIRMED".into());
    active.confirmed_at = Set(Some(ctx.now));
    active.confirmed_by = Set(Some(tx.actor().id.clone()));
    let updated = offboarding::Entity::update(active).exec(&*tx).await?;
    tx.commit().await?;
    Ok(updated)
}

/// Deletes every row of the tenant — its ledger too — once the controller confirmed
/// receipt or the deadline passed, and signs the deletion certificate: the tenant, the
/// rows deleted per table, the ledger head before deletion, the time. All in one
/// transaction: it happens whole or not at all. A job of the operator's (`custodian
/// offboard complete`), connected as the owner on PostgreSQL: the server's own role
/// cannot erase a ledger.
///
/// # Errors
/// `NotFound`; `Conflict` before confirmation or deadline, or when already completed;
/// `Db`.
pub async fn complete(
    ctx: &RequestCtx<'_>,
    signer: &Signer,
    tenant: TenantId,
) -> Result<offboarding::Model, ServiceError> {
    let tx = policy::job_registry(ctx).await?;
    let model = find(&*tx, tenant).await?.ok_or(ServiceError::NotFound)?;
    tx.commit().await?;
    let ready =
        model.status == "CONFIRMED" || (model.status == "STARTED" && ctx.now >= model.deadline_at);
    if !ready {
        return Err(ServiceError::Conflict(format!(
            "the offboarding is {}: the controller has not confirmed receipt and the deadline ({}) has not passed",
            model.status, model.deadline_at
        )));
    }
    let access = Access::new(
        AccessOperation::Erase,
        ResourceType::Contact,
        super::contacts::personal_fields(),
    );
    let tx = policy::begin_processor_step(ctx, tenant, model.instruction_id, access, false).await?;
    let backend = tx.get_database_backend();
    let mut counts = BTreeMap::new();
    for table in TENANT_TABLES {
        let n: i64 = tx
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                format!("SELECT COUNT(*) AS n FROM {table} WHERE tenant_id = $1"),
                [tenant.into()],
            ))
            .await?
            .map(|r| r.try_get("", "n"))
            .transpose()?
            .unwrap_or(0);
        counts.insert(table.to_owned(), n);
    }
    counts.insert("tenants".to_owned(), 1);
    let head = entities::ledger_head::Entity::find_by_id(tenant)
        .one(&*tx)
        .await?
        .map_or((0, crate::ledger::GENESIS.to_owned()), |h| (h.seq, h.hash));
    let mut erasing = model.clone().into_active_model();
    erasing.status = Set("ERASING".into());
    offboarding::Entity::update(erasing).exec(&*tx).await?;
    for table in TENANT_TABLES.iter().take_while(|t| **t != "access_pending") {
        tx.execute_raw(Statement::from_sql_and_values(
            backend,
            format!("DELETE FROM {table} WHERE tenant_id = $1"),
            [tenant.into()],
        ))
        .await?;
    }
    erase_ledger(&tx, tenant).await?;
    tenant::Entity::delete_by_id(tenant).exec(&*tx).await?;
    let certificate = signer.sign(
        CERTIFICATE_TYPE,
        json!({
            "tenantId": tenant,
            "startedAt": ts(model.started_at),
            "confirmedAt": model.confirmed_at.map(ts),
            "deadlineAt": ts(model.deadline_at),
            "completedAt": ts(ctx.now),
            "returnExportSha256": model.export_sha256,
            "rowsDeleted": counts,
            "ledgerHeadBeforeDeletion": {"seq": head.0, "hash": head.1},
        }),
    );
    let mut done = model.into_active_model();
    done.status = Set("COMPLETED".into());
    done.completed_at = Set(Some(ctx.now));
    done.certificate = Set(Some(certificate));
    let completed = offboarding::Entity::update(done).exec(&*tx).await?;
    // Nothing is recorded in a ledger that is gone: the certificate is the record.
    tx.commit().await?;
    if let Err(e) = ctx.reclaim_erased().await {
        tracing::warn!(error = %e, "erased pages not yet reclaimed");
    }
    tracing::info!(tenant_id = %tenant, "offboarding completed");
    Ok(completed)
}

/// Deletes the tenant's ledger through its one erasure path: listing the tenant in
/// `ledger_erasures` for the length of the deletion. On PostgreSQL only the owner may (the
/// application role can neither list a tenant nor delete a record), which is why
/// completing an offboarding is the operator's `custodian offboard complete`.
async fn erase_ledger(tx: &policy::TenantTx<'_>, tenant: TenantId) -> Result<(), ServiceError> {
    let backend = tx.get_database_backend();
    for sql in [
        "INSERT INTO ledger_erasures (tenant) VALUES ($1)",
        "DELETE FROM access_pending WHERE tenant_id = $1",
        "DELETE FROM access_records WHERE tenant_id = $1",
        "DELETE FROM ledger_heads WHERE tenant_id = $1",
        "DELETE FROM ledger_checkpoints WHERE tenant_id = $1",
        "DELETE FROM ledger_tree_hashes WHERE tenant_id = $1",
        "DELETE FROM ledger_trees WHERE tenant_id = $1",
        "DELETE FROM ledger_erasures WHERE tenant = $1",
    ] {
        tx.execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [tenant.into()],
        ))
        .await?;
    }
    Ok(())
}
