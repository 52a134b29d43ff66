//! Contacts: the controller's personal data, always read and written inside a
//! [`policy::TenantTx`].

mod import;
mod projection;

pub use import::{ImportOutcome, ImportPosition, MAX_IMPORT_BATCH, import, import_progress};

use async_graphql::Enum;
use chrono::{DateTime, Utc};
use entities::{contact, tenant};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::{ExprTrait, LikeExpr, SimpleExpr, Values};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, FromQueryResult, PaginatorTrait,
    QueryFilter, QuerySelect, QueryTrait, Select, Statement,
};

use super::to_json;
use crate::pagination::{
    Ordering, Page, PageRequest, fetch_page_as, text_cursor, text_key, timestamp_cursor,
    timestamp_key,
};
use projection::{Projection, Row};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use crate::domain::ContactId;
use crate::domain::contact::{ContactChanges, ContactSource, Email, Phone, search_text};
use crate::domain::instruction::AccessOperation;
use crate::domain::tenant::TenantStatus;
use crate::error::ServiceError;
use crate::ledger::ResourceType;
use crate::policy::{self, Access, Grant, RequestCtx, TenantTx};

/// Which contacts a listing returns. Every condition given must hold.
#[derive(Debug, Clone, Default)]
pub struct ContactFilter {
    /// Case-insensitive substring of names, email addresses, phone numbers or employer.
    pub text: Option<String>,
    pub tag: Option<String>,
    pub source: Option<ContactSource>,
    pub updated_since: Option<DateTime<Utc>>,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContactOrderField {
    #[default]
    CreatedAt,
    UpdatedAt,
    LastName,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ContactOrder {
    pub field: ContactOrderField,
    pub descending: bool,
}

/// The cursor of `contact` in `order`.
pub fn cursor(contact: &contact::Model, order: ContactOrder) -> String {
    match order.field {
        ContactOrderField::CreatedAt => timestamp_cursor(contact.created_at, contact.id),
        ContactOrderField::UpdatedAt => timestamp_cursor(contact.updated_at, contact.id),
        ContactOrderField::LastName => text_cursor(&contact.last_name, contact.id),
    }
}

/// Every personal-data field of a contact as GraphQL names them, its appointments
/// included: what deleting, erasing or exporting a contact reaches, so an instruction
/// must cover every category to do it.
pub(crate) const PERSONAL_FIELDS: [&str; 14] = [
    "firstName",
    "lastName",
    "tags",
    "source",
    "emails",
    "phones",
    "addresses",
    "employer",
    "jobTitle",
    "appointments",
    "customFields",
    "marketingPreferences",
    "optOutOfSale",
    "optOutOfSharing",
];

pub(crate) fn personal_fields() -> Vec<String> {
    PERSONAL_FIELDS.map(String::from).to_vec()
}

/// Stores a new contact for the caller's tenant.
///
/// # Errors
/// `Unauthenticated`/`Forbidden` per [`policy::begin`]; `Db`.
#[tracing::instrument(skip_all)]
pub async fn create(
    ctx: &RequestCtx<'_>,
    changes: ContactChanges,
    returned: Vec<String>,
) -> Result<(contact::Model, Arc<Grant>), ServiceError> {
    let now = ctx.now;
    let fields = super::touched_fields(changes.field_names(), returned);
    let mut tx = begin_contact_write(ctx, fields).await?;
    let tenant_id = tx.tenant();
    let mut model = blank(tenant_id, ContactSource::Direct, now);
    apply(&mut model, changes);
    let created = insert_into_open(&tx, model).await?;
    tx.touched([created.id]);
    let grant = tx.commit().await?;
    tracing::info!(tenant_id = %tenant_id, contact_id = %created.id, "contact created");
    Ok((created, grant))
}

/// Applies `changes` to a contact whose version is still `expected_version`.
///
/// # Errors
/// `NotFound` when the contact does not exist in the caller's tenant; `Conflict` when its
/// version moved on (nothing is changed); `Db`.
#[tracing::instrument(skip_all, fields(contact_id = %id))]
pub async fn update(
    ctx: &RequestCtx<'_>,
    id: ContactId,
    changes: ContactChanges,
    expected_version: i32,
    returned: Vec<String>,
) -> Result<(contact::Model, Arc<Grant>), ServiceError> {
    let now = ctx.now;
    let fields = super::touched_fields(changes.field_names(), returned);
    let tx = policy::begin(
        ctx,
        Access::new(AccessOperation::Write, ResourceType::Contact, fields),
    )
    .await?;
    let (mut tx, model) = reach(tx, id).await?;
    writable(&model)?;
    let model = apply_update(&tx, id, changes, expected_version, now).await?;
    tx.touched([model.id]);
    let grant = tx.commit().await?;
    Ok((model, grant))
}

/// Applies `changes` to a contact whose version is still `expected_version`, in `tx`:
/// the one place a contact is rewritten (updates, and rectifications under a request).
///
/// # Errors
/// `NotFound`; `Conflict` when its version moved on (nothing is changed); `Db`.
pub(crate) async fn apply_update(
    tx: &TenantTx<'_>,
    id: ContactId,
    changes: ContactChanges,
    expected_version: i32,
    now: DateTime<Utc>,
) -> Result<contact::Model, ServiceError> {
    let mut model = find(tx, id).await?;
    if model.version != expected_version {
        return Err(stale(model.version, expected_version));
    }
    apply(&mut model, changes);
    model.version = expected_version + 1;
    model.updated_at = now;
    let result = contact::Entity::update_many()
        .set(active(model.clone(), false))
        .filter(scoped(tx, id))
        .filter(contact::Column::Version.eq(expected_version))
        .exec(&**tx)
        .await?;
    if result.rows_affected != 1 {
        return Err(stale(expected_version + 1, expected_version));
    }
    Ok(model)
}

/// Deletes a contact and its appointments.
///
/// # Errors
/// `NotFound` when the contact does not exist in the caller's tenant; `Db`.
#[tracing::instrument(skip_all, fields(contact_id = %id))]
pub async fn delete(ctx: &RequestCtx<'_>, id: ContactId) -> Result<ContactId, ServiceError> {
    let tx = policy::begin(
        ctx,
        Access::new(
            AccessOperation::Erase,
            ResourceType::Contact,
            personal_fields(),
        ),
    )
    .await?;
    let (mut tx, model) = reach(tx, id).await?;
    writable(&model)?;
    if let Some(hold) = super::legal_holds::active_hold(&*tx, tx.tenant(), id, ctx.now).await? {
        return Err(ServiceError::Forbidden(format!(
            "the contact is under a legal hold ({}); release it before deleting",
            hold.reason
        )));
    }
    let result = contact::Entity::delete_many()
        .filter(scoped(&tx, id))
        .exec(&*tx)
        .await?;
    if result.rows_affected == 0 {
        return Err(ServiceError::NotFound);
    }
    tx.touched([id]);
    tx.commit().await?;
    Ok(id)
}

/// One contact of the caller's tenant.
///
/// # Errors
/// `NotFound` when it does not exist there (including when it belongs to another tenant).
pub async fn get(
    ctx: &RequestCtx<'_>,
    id: ContactId,
    fields: Vec<String>,
) -> Result<(contact::Model, Arc<Grant>), ServiceError> {
    let columns = Projection::of(&fields);
    let tx = policy::begin(
        ctx,
        Access::new(AccessOperation::Read, ResourceType::Contact, fields),
    )
    .await?;
    let (mut tx, model) = reach_projected(tx, id, columns).await?;
    tx.touched([model.id]);
    let grant = tx.commit().await?;
    Ok((model, grant))
}

/// One page of the caller's contacts.
///
/// # Errors
/// `Validation` for a bad cursor; `Db`.
pub async fn list(
    ctx: &RequestCtx<'_>,
    filter: &ContactFilter,
    order: ContactOrder,
    page: &PageRequest,
    fields: Vec<String>,
) -> Result<(Page<contact::Model>, Arc<Grant>), ServiceError> {
    let columns = Projection::of(&fields);
    let mut tx = policy::begin(
        ctx,
        Access::new(AccessOperation::Read, ResourceType::Contact, fields),
    )
    .await?;
    let ordering = Ordering {
        column: match order.field {
            ContactOrderField::CreatedAt => contact::Column::CreatedAt,
            ContactOrderField::UpdatedAt => contact::Column::UpdatedAt,
            ContactOrderField::LastName => contact::Column::LastName,
        },
        id: contact::Column::Id,
        descending: order.descending,
        key_value: match order.field {
            ContactOrderField::LastName => text_key,
            _ => timestamp_key,
        },
    };
    let select = columns.apply(filtered(&tx, filter), tx.get_database_backend());
    let result = fetch_page_as::<_, Row, _>(&*tx, select, &ordering, page)
        .await?
        .map(|row| row.0);
    skipped(&mut tx, filter).await?;
    tx.touched(result.items.iter().map(|c| c.id));
    let grant = tx.commit().await?;
    Ok((result, grant))
}

/// How many of the caller's contacts match `filter`.
///
/// # Errors
/// `Db`.
pub async fn count(ctx: &RequestCtx<'_>, filter: &ContactFilter) -> Result<u64, ServiceError> {
    let tx = policy::begin(
        ctx,
        Access::new(AccessOperation::Read, ResourceType::Contact, Vec::new()),
    )
    .await?;
    let n = filtered(&tx, filter).count(&*tx).await?;
    tx.commit().await?;
    Ok(n)
}

/// Loads a contact the transaction's grant may reach. One out of its reach (restricted,
/// opted out: see [`policy::Exclusions`]) answers `NotFound` like a missing contact, and
/// the refusal is recorded: this commits `tx` with only that record.
///
/// # Errors
/// `NotFound`; `Db`.
pub(crate) async fn reach<'a>(
    tx: TenantTx<'a>,
    id: ContactId,
) -> Result<(TenantTx<'a>, contact::Model), ServiceError> {
    reach_projected(tx, id, Projection::ALL).await
}

/// [`reach`], loading only the columns of `columns` (a read's answer, never a model that
/// is written back).
async fn reach_projected<'a>(
    mut tx: TenantTx<'a>,
    id: ContactId,
    columns: Projection,
) -> Result<(TenantTx<'a>, contact::Model), ServiceError> {
    let Row(model) = Row::find_by_statement(by_id(&tx, id, columns))
        .one(&*tx)
        .await?
        .ok_or(ServiceError::NotFound)?;
    if let Some(reason) = tx.grant().exclusions.reason(&model) {
        tx.excluded(reason, vec![id.into()], 1);
        tx.commit().await?;
        return Err(ServiceError::NotFound);
    }
    Ok((tx, model))
}

/// Refuses writes to a contact whose processing is restricted: only lifting the
/// restriction changes it (GDPR Art. 18).
///
/// # Errors
/// `Forbidden` while it is restricted.
pub(crate) fn writable(model: &contact::Model) -> Result<(), ServiceError> {
    if model.restricted_at.is_some() {
        return Err(ServiceError::Forbidden(
            "the contact's processing is restricted (GDPR Art. 18): lift the restriction first"
                .into(),
        ));
    }
    Ok(())
}

/// Records how many contacts matching `filter` a listing skipped as out of the grant's
/// reach (one refusal for the listing, with the count).
async fn skipped(tx: &mut TenantTx<'_>, filter: &ContactFilter) -> Result<(), ServiceError> {
    let exclusions = tx.grant().exclusions;
    if !exclusions.any() {
        return Ok(());
    }
    let hidden = unfiltered(tx, filter)
        .filter(exclusions.visible().not())
        .count(&**tx)
        .await?;
    if hidden > 0 {
        tx.excluded(
            "restricted or opted-out contacts skipped",
            Vec::new(),
            usize::try_from(hidden).unwrap_or(usize::MAX),
        );
    }
    Ok(())
}

/// Loads a contact inside a tenant transaction.
///
/// # Errors
/// `NotFound`; `Db`.
pub(crate) async fn find(tx: &TenantTx<'_>, id: ContactId) -> Result<contact::Model, ServiceError> {
    contact::Entity::find()
        .filter(scoped(tx, id))
        .one(&**tx)
        .await?
        .ok_or(ServiceError::NotFound)
}

/// The read by id's statement. sea-query builds it once per projection and backend
/// (building it was about a tenth of a read by id's instructions, callgrind); after that
/// only its values change. A build is kept only when it binds exactly the tenant, the id
/// and the limit, in that order, which is what every later use binds.
fn by_id(tx: &TenantTx<'_>, id: ContactId, columns: Projection) -> Statement {
    type Built = HashMap<(Projection, bool), String>;
    static BUILT: LazyLock<Mutex<Built>> = LazyLock::new(Mutex::default);
    let built = || {
        BUILT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    let backend = tx.get_database_backend();
    let key = (columns, backend == DatabaseBackend::Postgres);
    let values = Values(vec![tx.tenant().into(), id.into(), 1u64.into()]);
    if let Some(sql) = built().get(&key) {
        return Statement::from_sql_and_values(backend, sql.clone(), values);
    }
    let statement = columns
        .apply(contact::Entity::find().filter(scoped(tx, id)), backend)
        .limit(1)
        .build(backend);
    if statement.values.as_ref() == Some(&values) {
        built().insert(key, statement.sql.clone());
    }
    statement
}

fn scoped(tx: &TenantTx<'_>, id: ContactId) -> SimpleExpr {
    contact::Column::TenantId
        .eq(tx.tenant())
        .and(contact::Column::Id.eq(id))
}

fn stale(current: i32, expected: i32) -> ServiceError {
    ServiceError::Conflict(format!(
        "the contact is at version {current}, not {expected}: reload it and retry"
    ))
}

/// The contacts of `filter` the transaction's grant may reach.
fn filtered(tx: &TenantTx<'_>, filter: &ContactFilter) -> Select<contact::Entity> {
    let select = unfiltered(tx, filter);
    let exclusions = tx.grant().exclusions;
    if exclusions.any() {
        select.filter(exclusions.visible())
    } else {
        select
    }
}

/// The contacts of `filter`, whether the grant may reach them or not.
fn unfiltered(tx: &TenantTx<'_>, filter: &ContactFilter) -> Select<contact::Entity> {
    let mut select = contact::Entity::find().filter(contact::Column::TenantId.eq(tx.tenant()));
    if let Some(text) = filter
        .text
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        let escaped = text
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        select = select.filter(
            contact::Column::SearchText.like(LikeExpr::new(format!("%{escaped}%")).escape('\\')),
        );
    }
    if let Some(tag) = &filter.tag {
        select = select.filter(crate::db::json_array_contains(
            tx.get_database_backend(),
            "contacts.tags",
            tag.clone(),
        ));
    }
    if let Some(source) = filter.source {
        select = select.filter(contact::Column::Source.eq(source.as_str()));
    }
    if let Some(since) = filter.updated_since {
        select = select.filter(contact::Column::UpdatedAt.gte(since));
    }
    select
}

pub(super) fn apply(model: &mut contact::Model, changes: ContactChanges) {
    let ContactChanges {
        first_name,
        last_name,
        emails,
        phones,
        addresses,
        employer,
        job_title,
        custom_fields,
        tags,
        source,
        marketing_email,
        marketing_sms,
        marketing_phone,
        opt_out_sale,
        opt_out_sharing,
    } = changes;
    if let Some(v) = first_name {
        model.first_name = v;
    }
    if let Some(v) = last_name {
        model.last_name = v;
    }
    if let Some(v) = emails {
        model.emails = to_json(&v);
    }
    if let Some(v) = phones {
        model.phones = to_json(&v);
    }
    if let Some(v) = addresses {
        model.addresses = to_json(&v);
    }
    if let Some(v) = employer {
        model.employer = v;
    }
    if let Some(v) = job_title {
        model.job_title = v;
    }
    if let Some(v) = custom_fields {
        model.custom_fields = serde_json::Value::Object(v);
    }
    if let Some(v) = tags {
        model.tags = to_json(&v);
    }
    if let Some(v) = source {
        model.source = v.as_str().to_owned();
    }
    if let Some(v) = marketing_email {
        model.marketing_email = v.as_str().to_owned();
    }
    if let Some(v) = marketing_sms {
        model.marketing_sms = v.as_str().to_owned();
    }
    if let Some(v) = marketing_phone {
        model.marketing_phone = v.as_str().to_owned();
    }
    if let Some(v) = opt_out_sale {
        model.opt_out_sale = v;
    }
    if let Some(v) = opt_out_sharing {
        model.opt_out_sharing = v;
    }
    let emails: Vec<Email> = serde_json::from_value(model.emails.clone()).unwrap_or_default();
    let phones: Vec<Phone> = serde_json::from_value(model.phones.clone()).unwrap_or_default();
    model.search_text = search_text(
        &model.first_name,
        &model.last_name,
        &emails,
        &phones,
        model.employer.as_deref(),
    );
}

/// Every column set, keys only when inserting (an update never moves a row).
pub(super) fn active(m: contact::Model, with_keys: bool) -> contact::ActiveModel {
    contact::ActiveModel {
        tenant_id: if with_keys { Set(m.tenant_id) } else { NotSet },
        id: if with_keys { Set(m.id) } else { NotSet },
        first_name: Set(m.first_name),
        last_name: Set(m.last_name),
        emails: Set(m.emails),
        phones: Set(m.phones),
        addresses: Set(m.addresses),
        employer: Set(m.employer),
        job_title: Set(m.job_title),
        custom_fields: Set(m.custom_fields),
        tags: Set(m.tags),
        source: Set(m.source),
        marketing_email: Set(m.marketing_email),
        marketing_sms: Set(m.marketing_sms),
        marketing_phone: Set(m.marketing_phone),
        opt_out_sale: Set(m.opt_out_sale),
        opt_out_sharing: Set(m.opt_out_sharing),
        search_text: Set(m.search_text),
        version: Set(m.version),
        restricted_at: Set(m.restricted_at),
        created_at: if with_keys { Set(m.created_at) } else { NotSet },
        updated_at: Set(m.updated_at),
    }
}

/// Begins a write of contacts.
async fn begin_contact_write<'a>(
    ctx: &'a RequestCtx<'a>,
    fields: Vec<String>,
) -> Result<TenantTx<'a>, ServiceError> {
    policy::begin(
        ctx,
        Access::new(AccessOperation::Write, ResourceType::Contact, fields),
    )
    .await
}

/// Begins a write that creates contacts. A token may name a tenant that was never
/// opened, or one being offboarded; neither takes new contacts.
///
/// # Errors
/// As [`policy::begin`]; `Forbidden` for a tenant that takes no new contacts.
pub(super) async fn begin_new_contacts<'a>(
    ctx: &'a RequestCtx<'a>,
    fields: Vec<String>,
) -> Result<TenantTx<'a>, ServiceError> {
    let tx = begin_contact_write(ctx, fields).await?;
    match closed(&tx).await? {
        Some(why) => Err(why),
        None => Ok(tx),
    }
}

/// Why the transaction's tenant takes no new contacts, as the error to answer with (it
/// does not exist, or it is being offboarded); `None` when it takes them.
async fn closed(tx: &TenantTx<'_>) -> Result<Option<ServiceError>, ServiceError> {
    let why = match tenant::Entity::find_by_id(tx.tenant()).one(&**tx).await? {
        None => "the tenant does not exist",
        Some(t) if t.status == TenantStatus::Offboarding.as_str() => {
            "the tenant is being offboarded: nothing new is added"
        }
        Some(_) => return Ok(None),
    };
    Ok(Some(ServiceError::Forbidden(why.into())))
}

/// Inserts `model` if its tenant takes new contacts (see [`closed`]). One statement, so
/// that a create costs one round trip fewer: `INSERT … SELECT … WHERE EXISTS` the open
/// tenant; only a create that inserted nothing asks why. On Citus the check stays a
/// statement of its own: an `INSERT … SELECT` whose distribution column is a parameter
/// is planned through the coordinator, not sent to the tenant's one worker.
///
/// # Errors
/// `Forbidden` for a tenant that takes no new contacts; `Db`.
async fn insert_into_open(
    tx: &TenantTx<'_>,
    model: contact::Model,
) -> Result<contact::Model, ServiceError> {
    use sea_orm::sea_query::{Expr, Query};
    use sea_orm::{ActiveModelTrait, IdenStatic, Iterable};
    if tx.on_citus() {
        if let Some(why) = closed(tx).await? {
            return Err(why);
        }
        return Ok(contact::Entity::insert(active(model, true))
            .exec_with_returning(&**tx)
            .await?);
    }
    let tenant_id = model.tenant_id;
    let row = active(model, true);
    let mut values = Query::select();
    for column in contact::Column::iter() {
        let value = row.get(column).into_value().ok_or_else(|| {
            ServiceError::Internal(format!("a new contact has no {}", column.as_str()))
        })?;
        values.expr(Expr::val(value));
    }
    values.and_where(Expr::exists(
        Query::select()
            .expr(Expr::cust("1"))
            .from(tenant::Entity)
            .and_where(tenant::Column::Id.eq(tenant_id))
            .and_where(tenant::Column::Status.ne(TenantStatus::Offboarding.as_str()))
            .to_owned(),
    ));
    let insert = Query::insert()
        .into_table(contact::Entity)
        .columns(contact::Column::iter())
        .select_from(values)
        .map_err(|e| ServiceError::Internal(e.to_string()))?
        .returning_all()
        .to_owned();
    let backend = tx.get_database_backend();
    if let Some(row) = tx.query_one_raw(backend.build(&insert)).await? {
        return Ok(contact::Model::from_query_result(&row, "")?);
    }
    // Nothing inserted: the tenant was missing or offboarding as the insert ran, and a
    // tenant neither appears with an id a token already names nor leaves offboarding.
    Err(closed(tx).await?.unwrap_or_else(|| {
        ServiceError::Internal("the insert found no open tenant, but the tenant is open".into())
    }))
}

/// A contact with nothing set yet, to apply changes to.
pub(super) fn blank(
    tenant: crate::domain::TenantId,
    source: ContactSource,
    now: DateTime<Utc>,
) -> contact::Model {
    contact::Model {
        tenant_id: tenant,
        id: ContactId::new(),
        first_name: String::new(),
        last_name: String::new(),
        emails: serde_json::json!([]),
        phones: serde_json::json!([]),
        addresses: serde_json::json!([]),
        employer: None,
        job_title: None,
        custom_fields: serde_json::json!({}),
        tags: serde_json::json!([]),
        source: source.as_str().to_owned(),
        marketing_email: "UNKNOWN".to_owned(),
        marketing_sms: "UNKNOWN".to_owned(),
        marketing_phone: "UNKNOWN".to_owned(),
        opt_out_sale: false,
        opt_out_sharing: false,
        search_text: String::new(),
        version: 1,
        restricted_at: None,
        created_at: now,
        updated_at: now,
    }
}
