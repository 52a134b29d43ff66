//! Appointments with a tenant's contacts.

use chrono::{DateTime, Utc};
use entities::appointment;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::{ExprTrait, SimpleExpr};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Select};

use super::contacts;
use crate::pagination::{Ordering, Page, PageRequest, fetch_page, timestamp_cursor, timestamp_key};
use std::sync::Arc;

use crate::domain::appointment::{AppointmentChanges, NewAppointment};
use crate::domain::instruction::AccessOperation;
use crate::domain::{AppointmentId, ContactId};
use crate::error::ServiceError;
use crate::ledger::ResourceType;
use crate::policy::{self, Access, Grant, RequestCtx, TenantTx};

/// Which appointments a listing returns, ordered by start time.
#[derive(Debug, Clone, Default)]
pub struct AppointmentFilter {
    pub contact_id: Option<ContactId>,
    pub starts_after: Option<DateTime<Utc>>,
    pub starts_before: Option<DateTime<Utc>>,
}

/// Every personal-data field of an appointment, as GraphQL names them.
const APPOINTMENT_FIELDS: [&str; 5] = ["startsAt", "endsAt", "title", "location", "notes"];

pub(crate) fn personal_fields() -> Vec<String> {
    APPOINTMENT_FIELDS.map(String::from).to_vec()
}

pub fn cursor(appointment: &appointment::Model) -> String {
    timestamp_cursor(appointment.starts_at, appointment.id)
}

/// Books an appointment with one of the caller's contacts.
///
/// # Errors
/// `NotFound` (field `contactId`) when the contact is not the tenant's; `Db`.
#[tracing::instrument(skip_all)]
pub async fn create(
    ctx: &RequestCtx<'_>,
    new: NewAppointment,
    returned: Vec<String>,
) -> Result<(appointment::Model, Arc<Grant>), ServiceError> {
    let now = ctx.now;
    let fields = super::touched_fields(APPOINTMENT_FIELDS.map(String::from).to_vec(), returned);
    let tx = policy::begin(
        ctx,
        Access::new(AccessOperation::Write, ResourceType::Appointment, fields),
    )
    .await?;
    let (mut tx, contact) = contacts::reach(tx, new.contact_id).await?;
    contacts::writable(&contact)?;
    let model = appointment::ActiveModel {
        tenant_id: Set(tx.tenant()),
        id: Set(AppointmentId::new()),
        contact_id: Set(new.contact_id),
        starts_at: Set(new.starts_at),
        ends_at: Set(new.ends_at),
        title: Set(new.title),
        location: Set(new.location),
        notes: Set(new.notes),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let created = appointment::Entity::insert(model)
        .exec_with_returning(&*tx)
        .await?;
    tx.touched([created.id]);
    let grant = tx.commit().await?;
    Ok((created, grant))
}

/// Changes an appointment whose version is still `expected_version`.
///
/// # Errors
/// `NotFound`; `Conflict` on a stale version; `Validation` when the result would end
/// before it starts; `Db`.
#[tracing::instrument(skip_all, fields(appointment_id = %id))]
pub async fn update(
    ctx: &RequestCtx<'_>,
    id: AppointmentId,
    changes: AppointmentChanges,
    expected_version: i32,
    returned: Vec<String>,
) -> Result<(appointment::Model, Arc<Grant>), ServiceError> {
    let now = ctx.now;
    let fields = super::touched_fields(changes.field_names(), returned);
    let tx = policy::begin(
        ctx,
        Access::new(AccessOperation::Write, ResourceType::Appointment, fields),
    )
    .await?;
    let (mut tx, mut model) = reach(tx, id, true).await?;
    if model.version != expected_version {
        return Err(stale(model.version, expected_version));
    }
    let (starts_at, ends_at) = changes.times(model.starts_at, model.ends_at)?;
    model.starts_at = starts_at;
    model.ends_at = ends_at;
    if let Some(title) = changes.title {
        model.title = title;
    }
    if let Some(location) = changes.location {
        model.location = location;
    }
    if let Some(notes) = changes.notes {
        model.notes = notes;
    }
    model.version = expected_version + 1;
    model.updated_at = now;
    let result = appointment::Entity::update_many()
        .set(appointment::ActiveModel {
            tenant_id: NotSet,
            id: NotSet,
            contact_id: NotSet,
            starts_at: Set(model.starts_at),
            ends_at: Set(model.ends_at),
            title: Set(model.title.clone()),
            location: Set(model.location.clone()),
            notes: Set(model.notes.clone()),
            version: Set(model.version),
            created_at: NotSet,
            updated_at: Set(model.updated_at),
        })
        .filter(scoped(&tx, id))
        .filter(appointment::Column::Version.eq(expected_version))
        .exec(&*tx)
        .await?;
    if result.rows_affected != 1 {
        return Err(stale(expected_version + 1, expected_version));
    }
    tx.touched([model.id]);
    let grant = tx.commit().await?;
    Ok((model, grant))
}

/// # Errors
/// `NotFound`; `Db`.
#[tracing::instrument(skip_all, fields(appointment_id = %id))]
pub async fn delete(
    ctx: &RequestCtx<'_>,
    id: AppointmentId,
) -> Result<AppointmentId, ServiceError> {
    let tx = policy::begin(
        ctx,
        // Deleting an appointment reaches all of it: the instruction must cover
        // APPOINTMENTS.
        Access::new(
            AccessOperation::Erase,
            ResourceType::Appointment,
            APPOINTMENT_FIELDS.map(String::from).to_vec(),
        ),
    )
    .await?;
    let (mut tx, _) = reach(tx, id, true).await?;
    let result = appointment::Entity::delete_many()
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

/// # Errors
/// `NotFound` when the appointment is not the caller's tenant's; `Db`.
pub async fn get(
    ctx: &RequestCtx<'_>,
    id: AppointmentId,
    fields: Vec<String>,
) -> Result<(appointment::Model, Arc<Grant>), ServiceError> {
    let tx = policy::begin(
        ctx,
        Access::new(AccessOperation::Read, ResourceType::Appointment, fields),
    )
    .await?;
    let (mut tx, model) = reach(tx, id, false).await?;
    tx.touched([model.id]);
    let grant = tx.commit().await?;
    Ok((model, grant))
}

/// One page of the caller's appointments, by start time.
///
/// # Errors
/// `Validation` for a bad cursor; `Db`.
pub async fn list(
    ctx: &RequestCtx<'_>,
    filter: &AppointmentFilter,
    page: &PageRequest,
    fields: Vec<String>,
) -> Result<(Page<appointment::Model>, Arc<Grant>), ServiceError> {
    let mut tx = policy::begin(
        ctx,
        Access::new(AccessOperation::Read, ResourceType::Appointment, fields),
    )
    .await?;
    let ordering = Ordering {
        column: appointment::Column::StartsAt,
        id: appointment::Column::Id,
        descending: false,
        key_value: timestamp_key,
    };
    let result = fetch_page(&*tx, filtered(&tx, filter), &ordering, page).await?;
    tx.touched(result.items.iter().map(|a| a.id));
    let grant = tx.commit().await?;
    Ok((result, grant))
}

/// # Errors
/// `Db`.
pub async fn count(ctx: &RequestCtx<'_>, filter: &AppointmentFilter) -> Result<u64, ServiceError> {
    let tx = policy::begin(
        ctx,
        Access::new(AccessOperation::Read, ResourceType::Appointment, Vec::new()),
    )
    .await?;
    let n = filtered(&tx, filter).count(&*tx).await?;
    tx.commit().await?;
    Ok(n)
}

/// Loads an appointment whose contact the grant may reach (see [`contacts::reach`]);
/// for a write, also one whose contact's processing is not restricted.
///
/// # Errors
/// `NotFound`; `Forbidden` for a write on a restricted contact's appointment; `Db`.
async fn reach<'a>(
    tx: TenantTx<'a>,
    id: AppointmentId,
    writes: bool,
) -> Result<(TenantTx<'a>, appointment::Model), ServiceError> {
    let model = find(&tx, id).await?;
    if !tx.grant().exclusions.any() && !writes {
        return Ok((tx, model));
    }
    let contact = model.contact_id;
    let (tx, contact) = match contacts::reach(tx, contact).await {
        Ok(found) => found,
        // The contact was refused (and that recorded): so is its appointment.
        Err(e) => return Err(e),
    };
    if writes {
        contacts::writable(&contact)?;
    }
    Ok((tx, model))
}

async fn find(tx: &TenantTx<'_>, id: AppointmentId) -> Result<appointment::Model, ServiceError> {
    appointment::Entity::find()
        .filter(scoped(tx, id))
        .one(&**tx)
        .await?
        .ok_or(ServiceError::NotFound)
}

fn scoped(tx: &TenantTx<'_>, id: AppointmentId) -> SimpleExpr {
    appointment::Column::TenantId
        .eq(tx.tenant())
        .and(appointment::Column::Id.eq(id))
}

fn filtered(tx: &TenantTx<'_>, filter: &AppointmentFilter) -> Select<appointment::Entity> {
    let mut select =
        appointment::Entity::find().filter(appointment::Column::TenantId.eq(tx.tenant()));
    let exclusions = tx.grant().exclusions;
    if exclusions.any() {
        // Only appointments with contacts the grant may reach.
        let reachable = sea_orm::sea_query::Query::select()
            .column(entities::contact::Column::Id)
            .from(entities::contact::Entity)
            .and_where(entities::contact::Column::TenantId.eq(tx.tenant()))
            .cond_where(exclusions.visible())
            .to_owned();
        select = select.filter(appointment::Column::ContactId.in_subquery(reachable));
    }
    if let Some(contact) = filter.contact_id {
        select = select.filter(appointment::Column::ContactId.eq(contact));
    }
    if let Some(after) = filter.starts_after {
        select = select.filter(appointment::Column::StartsAt.gte(after));
    }
    if let Some(before) = filter.starts_before {
        select = select.filter(appointment::Column::StartsAt.lt(before));
    }
    select
}

fn stale(current: i32, expected: i32) -> ServiceError {
    ServiceError::Conflict(format!(
        "the appointment is at version {current}, not {expected}: reload it and retry"
    ))
}

/// The first `first` appointments of each of `contacts` (by start time), in one query and
/// one access record: what a listing of contacts with their appointments needs, with as
/// many statements for fifty contacts as for one.
///
/// # Errors
/// As [`list`].
pub async fn first_pages(
    ctx: &RequestCtx<'_>,
    contacts: &[ContactId],
    first: u64,
    fields: Vec<String>,
) -> Result<
    (
        std::collections::HashMap<ContactId, Page<appointment::Model>>,
        Arc<Grant>,
    ),
    ServiceError,
> {
    use sea_orm::{ConnectionTrait, DatabaseBackend, Statement, Value};
    let mut tx = policy::begin(
        ctx,
        Access::new(AccessOperation::Read, ResourceType::Appointment, fields),
    )
    .await?;
    let mut pages: std::collections::HashMap<ContactId, Page<appointment::Model>> = contacts
        .iter()
        .map(|c| {
            (
                *c,
                Page {
                    items: Vec::new(),
                    has_next: false,
                    has_previous: false,
                },
            )
        })
        .collect();
    if !contacts.is_empty() {
        let backend = tx.get_database_backend();
        let mark = |i: usize| match backend {
            DatabaseBackend::Postgres => format!("${i}"),
            _ => "?".to_owned(),
        };
        let mut values: Vec<Value> = vec![tx.tenant().into()];
        let list: Vec<String> = contacts
            .iter()
            .enumerate()
            .map(|(i, c)| {
                values.push((*c).into());
                mark(i + 2)
            })
            .collect();
        values.push(i64::try_from(first + 1).unwrap_or(i64::MAX).into());
        let sql = format!(
            "SELECT * FROM (SELECT a.*, ROW_NUMBER() OVER (PARTITION BY a.contact_id ORDER BY a.starts_at, a.id) AS rn \
             FROM appointments a WHERE a.tenant_id = {} AND a.contact_id IN ({})) t \
             WHERE rn <= {} ORDER BY contact_id, starts_at, id",
            mark(1),
            list.join(", "),
            mark(contacts.len() + 2),
        );
        let rows = appointment::Entity::find()
            .from_raw_sql(Statement::from_sql_and_values(backend, sql, values))
            .all(&*tx)
            .await?;
        for row in rows {
            if let Some(page) = pages.get_mut(&row.contact_id) {
                if page.items.len() as u64 == first {
                    page.has_next = true;
                } else {
                    page.items.push(row);
                }
            }
        }
        tx.touched(
            pages
                .values()
                .flat_map(|p| p.items.iter().map(|a| a.id))
                .collect::<Vec<_>>(),
        );
    }
    let grant = tx.commit().await?;
    Ok((pages, grant))
}
