//! Bulk import: validated batches of up to 1,000 contacts, all or nothing, one ledger
//! record a batch; keyed batches are exactly-once (the import's progress moves in the
//! batch's own transaction).

use entities::contact;
use sea_orm::ActiveValue::Set;
use sea_orm::{ConnectionTrait, DatabaseBackend, EntityTrait, Statement};

use super::{active, apply, begin_new_contacts, blank};
use crate::domain::ContactId;
use crate::domain::contact::{ContactChanges, ContactSource};
use crate::error::ServiceError;
use crate::policy::{self, RequestCtx, TenantTx};

/// Most contacts one import call takes.
pub const MAX_IMPORT_BATCH: usize = 1_000;
/// Rows per INSERT statement: under SQLite's and PostgreSQL's bound-parameter limits.
const INSERT_CHUNK: usize = 500;

/// One imported row as `json_to_recordset` reads it.
#[derive(serde::Serialize)]
struct ImportRow<'a> {
    id: ContactId,
    first_name: &'a str,
    last_name: &'a str,
    emails: &'a serde_json::Value,
    phones: &'a serde_json::Value,
    addresses: &'a serde_json::Value,
    employer: Option<&'a str>,
    job_title: Option<&'a str>,
    custom_fields: &'a serde_json::Value,
    tags: &'a serde_json::Value,
    source: &'a str,
    marketing_email: &'a str,
    marketing_sms: &'a str,
    marketing_phone: &'a str,
    opt_out_sale: bool,
    opt_out_sharing: bool,
    search_text: &'a str,
    version: i32,
}

/// Inserts new contacts of the transaction's tenant, all created at the same moment. On PostgreSQL the whole batch is
/// one statement with one parameter, a JSON array the server unpacks with
/// `json_to_recordset`: a thousand rows cost one small statement to parse and plan
/// instead of one with 21,000 bound values. SQLite and Citus take multi-row `INSERT`s
/// (Citus runs an `INSERT … SELECT` from a function as a `COPY` into the shard, which
/// row-level security refuses; a multi-row `INSERT` of one tenant routes to its shard).
///
/// # Errors
/// `Db`.
async fn insert_all(tx: &TenantTx<'_>, models: &[contact::Model]) -> Result<(), ServiceError> {
    if models.is_empty() {
        return Ok(());
    }
    if tx.get_database_backend() != DatabaseBackend::Postgres || tx.on_citus() {
        for chunk in models.chunks(INSERT_CHUNK) {
            contact::Entity::insert_many(chunk.iter().cloned().map(|m| active(m, true)))
                .exec(&**tx)
                .await?;
        }
        return Ok(());
    }
    let rows: Vec<ImportRow<'_>> = models
        .iter()
        .map(|m| ImportRow {
            id: m.id,
            first_name: &m.first_name,
            last_name: &m.last_name,
            emails: &m.emails,
            phones: &m.phones,
            addresses: &m.addresses,
            employer: m.employer.as_deref(),
            job_title: m.job_title.as_deref(),
            custom_fields: &m.custom_fields,
            tags: &m.tags,
            source: &m.source,
            marketing_email: &m.marketing_email,
            marketing_sms: &m.marketing_sms,
            marketing_phone: &m.marketing_phone,
            opt_out_sale: m.opt_out_sale,
            opt_out_sharing: m.opt_out_sharing,
            search_text: &m.search_text,
            version: m.version,
        })
        .collect();
    let json = serde_json::to_string(&rows)
        .map_err(|e| ServiceError::Internal(format!("an import batch did not serialize: {e}")))?;
    tx.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "INSERT INTO contacts (tenant_id, id, first_name, last_name, emails, phones, addresses, \
         employer, job_title, custom_fields, tags, source, marketing_email, marketing_sms, \
         marketing_phone, opt_out_sale, opt_out_sharing, search_text, version, created_at, \
         updated_at) \
         SELECT $1, r.id, r.first_name, r.last_name, r.emails, r.phones, r.addresses, \
         r.employer, r.job_title, r.custom_fields, r.tags, r.source, r.marketing_email, \
         r.marketing_sms, r.marketing_phone, r.opt_out_sale, r.opt_out_sharing, r.search_text, \
         r.version, $3, $3 \
         FROM json_to_recordset($2::text::json) AS r(id uuid, first_name text, last_name text, \
         emails jsonb, phones jsonb, addresses jsonb, employer text, job_title text, \
         custom_fields jsonb, tags jsonb, source text, marketing_email text, marketing_sms text, \
         marketing_phone text, opt_out_sale boolean, opt_out_sharing boolean, search_text text, \
         version integer)",
        [tx.tenant().into(), json.into(), models[0].created_at.into()],
    ))
    .await?;
    Ok(())
}

/// Where a batch sits in a keyed import: rows `offset .. offset + len` of the import
/// `key`.
#[derive(Debug, Clone)]
pub struct ImportPosition {
    pub key: String,
    pub offset: i64,
}

#[derive(Debug, Clone)]
pub struct ImportOutcome {
    pub ids: Vec<ContactId>,
    /// Rows of this batch an earlier attempt already committed.
    pub skipped: usize,
    /// For a keyed import, how many of its rows are now committed.
    pub rows_committed: Option<i64>,
}

/// Imports a batch of already validated contacts, all or nothing, recorded as one
/// ledger entry. With a position, the batch is exactly-once: rows an earlier attempt
/// committed are skipped, and the import's progress moves in the same transaction.
///
/// # Errors
/// `Conflict` when a keyed batch starts past the committed rows (a gap); as
/// [`create`] otherwise.
#[tracing::instrument(skip_all, fields(rows = rows.len()))]
pub async fn import(
    ctx: &RequestCtx<'_>,
    rows: Vec<ContactChanges>,
    position: Option<ImportPosition>,
) -> Result<ImportOutcome, ServiceError> {
    use entities::import_run;
    let now = ctx.now;
    let mut fields: Vec<String> = Vec::new();
    for r in &rows {
        fields = super::super::touched_fields(fields, r.field_names());
    }
    let mut tx = begin_new_contacts(ctx, fields).await?;
    let tenant = tx.tenant();
    let mut skip = 0usize;
    let mut committed = None;
    if let Some(p) = &position {
        let done = import_run::Entity::find_by_id((tenant, p.key.clone()))
            .one(&*tx)
            .await?
            .map_or(0, |r| r.rows_committed);
        if p.offset > done {
            return Err(ServiceError::Conflict(format!(
                "import {:?} has {done} rows committed; a batch at offset {} would leave a gap",
                p.key, p.offset
            )));
        }
        skip = usize::try_from(done - p.offset)
            .unwrap_or(usize::MAX)
            .min(rows.len());
        let end = std::cmp::max(p.offset + rows.len() as i64, done);
        committed = Some(end);
        let run = import_run::ActiveModel {
            tenant_id: Set(tenant),
            import_key: Set(p.key.clone()),
            rows_committed: Set(end),
            created_at: Set(now),
            updated_at: Set(now),
        };
        import_run::Entity::insert(run)
            .on_conflict(
                sea_orm::sea_query::OnConflict::columns([
                    import_run::Column::TenantId,
                    import_run::Column::ImportKey,
                ])
                .update_columns([
                    import_run::Column::RowsCommitted,
                    import_run::Column::UpdatedAt,
                ])
                .to_owned(),
            )
            .exec(&*tx)
            .await?;
    }
    let models: Vec<contact::Model> = rows
        .into_iter()
        .skip(skip)
        .map(|changes| {
            let mut m = blank(tenant, ContactSource::Import, now);
            apply(&mut m, changes);
            m
        })
        .collect();
    let ids: Vec<ContactId> = models.iter().map(|m| m.id).collect();
    insert_all(&tx, &models).await?;
    if !ids.is_empty() {
        tx.touched(ids.iter().copied());
    }
    tx.commit().await?;
    tracing::info!(tenant_id = %tenant, imported = ids.len(), skipped = skip, "contacts imported");
    Ok(ImportOutcome {
        ids,
        skipped: skip,
        rows_committed: committed,
    })
}

/// How many rows of the keyed import `key` are committed for the caller's tenant.
///
/// # Errors
/// `Unauthenticated`/`Forbidden` outside the controller; `Db`.
pub async fn import_progress(ctx: &RequestCtx<'_>, key: &str) -> Result<i64, ServiceError> {
    use entities::import_run;
    let tx = policy::controller(ctx, policy::Mode::Read).await?;
    let done = import_run::Entity::find_by_id((tx.tenant(), key.to_owned()))
        .one(&*tx)
        .await?
        .map_or(0, |r| r.rows_committed);
    tx.commit().await?;
    Ok(done)
}
