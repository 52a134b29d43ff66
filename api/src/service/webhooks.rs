//! Reaching the controller: each tenant registers webhook endpoints; breach notices,
//! notices of change, subprocessor announcements and data-subject requests coming due are
//! queued in an outbox (in the database, so delivery survives a restart) and delivered
//! as signed events — `Custodian-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
//! "<t>.<body>" under the endpoint's secret>`, as Stripe and GitHub sign theirs — retried
//! with backoff until the receiver answers 2xx, every attempt recorded.

use chrono::{DateTime, Duration, Utc};
use entities::{privacy_request, tenant, webhook_attempt, webhook_delivery, webhook_endpoint};
use hmac::{KeyInit, Mac};
use rand::RngCore;
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde_json::{Value, json};

use crate::domain::privacy::RequestStatus;
use crate::domain::{DeliveryId, Invalid, TenantId, WebhookId};
use crate::error::ServiceError;
use crate::policy::{self, Mode, RequestCtx};

/// The longest wait between two attempts.
const MAX_BACKOFF_SECONDS: i64 = 3_600;
/// Deliveries attempted per pass of the worker.
const PASS: u64 = 50;
/// How long a worker's claim on a delivery keeps other workers off it: if the worker
/// dies while sending, another retries after this.
const CLAIM_SECONDS: i64 = 60;
/// A request is "coming due" this many days before its statutory due date.
pub const DUE_NOTICE_DAYS: i64 = 3;

/// The signature header of `body` sent at `t` (unix seconds) under `secret`.
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    // HMAC takes a key of any length: this cannot fail.
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Backoff after `attempts` failed attempts: 10 s, 20 s, 40 s, … at most an hour.
pub fn backoff(attempts: i32) -> Duration {
    let exp = u32::try_from(attempts.clamp(0, 20)).unwrap_or(20);
    Duration::seconds((10_i64 << exp).min(MAX_BACKOFF_SECONDS))
}

/// Registers an endpoint (controller admin); the secret is returned once.
///
/// # Errors
/// `Validation` (field `url`) for anything but an `http(s)://` URL; `Db`.
pub async fn register(
    ctx: &RequestCtx<'_>,
    url: &str,
) -> Result<webhook_endpoint::Model, ServiceError> {
    let url = url.trim();
    let parsed = reqwest::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if parsed.is_none() || url.len() > 2_000 {
        return Err(Invalid::new("url", "url must be an http(s) URL").into());
    }
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let tx = policy::controller_admin(ctx, Mode::Write).await?;
    let created = webhook_endpoint::Entity::insert(webhook_endpoint::ActiveModel {
        tenant_id: Set(tx.tenant()),
        id: Set(WebhookId::new()),
        url: Set(url.to_owned()),
        secret: Set(hex::encode(secret)),
        created_by: Set(tx.actor().id.clone()),
        created_at: Set(ctx.now),
        disabled_at: Set(None),
    })
    .exec_with_returning(&*tx)
    .await?;
    tx.commit().await?;
    Ok(created)
}

/// The tenant's endpoints (the controller's users); secrets are not shown again.
///
/// # Errors
/// `Unauthenticated`/`Forbidden` outside the controller; `Db`.
pub async fn endpoints(ctx: &RequestCtx<'_>) -> Result<Vec<webhook_endpoint::Model>, ServiceError> {
    let tx = policy::controller(ctx, Mode::Read).await?;
    let rows = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::TenantId.eq(tx.tenant()))
        .order_by_asc(webhook_endpoint::Column::CreatedAt)
        .all(&*tx)
        .await?;
    tx.commit().await?;
    Ok(rows)
}

/// A delivery with its attempts.
pub type DeliveryWithAttempts = (webhook_delivery::Model, Vec<webhook_attempt::Model>);

/// The tenant's deliveries, newest first, with every attempt (the controller's users).
///
/// # Errors
/// As [`endpoints`].
pub async fn deliveries(ctx: &RequestCtx<'_>) -> Result<Vec<DeliveryWithAttempts>, ServiceError> {
    let tx = policy::controller(ctx, Mode::Read).await?;
    let rows = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::TenantId.eq(tx.tenant()))
        .order_by_desc(webhook_delivery::Column::CreatedAt)
        .limit(200)
        .all(&*tx)
        .await?;
    let attempts = webhook_attempt::Entity::find()
        .filter(webhook_attempt::Column::TenantId.eq(tx.tenant()))
        .filter(webhook_attempt::Column::DeliveryId.is_in(rows.iter().map(|d| d.id)))
        .order_by_asc(webhook_attempt::Column::Attempt)
        .all(&*tx)
        .await?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|d| {
            let mine = attempts
                .iter()
                .filter(|a| a.delivery_id == d.id)
                .cloned()
                .collect();
            (d, mine)
        })
        .collect())
}

/// Queues an event for every active endpoint of `tenant`, once per `key`, inside `db` (a
/// transaction pinned to the tenant: the event commits with what it tells of).
///
/// # Errors
/// `Db`.
pub(crate) async fn enqueue<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    key: &str,
    event_type: &str,
    data: Value,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let targets = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::TenantId.eq(tenant))
        .filter(webhook_endpoint::Column::DisabledAt.is_null())
        .all(db)
        .await?;
    for endpoint in targets {
        let known = webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::TenantId.eq(tenant))
            .filter(webhook_delivery::Column::EndpointId.eq(endpoint.id))
            .filter(webhook_delivery::Column::EventKey.eq(key))
            .one(db)
            .await?;
        if known.is_some() {
            continue;
        }
        let id = DeliveryId::new();
        let payload = json!({
            "id": id,
            "type": event_type,
            "tenantId": tenant,
            "createdAt": now.to_rfc3339(),
            "data": data,
        })
        .to_string();
        webhook_delivery::Entity::insert(webhook_delivery::ActiveModel {
            tenant_id: Set(tenant),
            id: Set(id),
            endpoint_id: Set(endpoint.id),
            event_key: Set(key.to_owned()),
            event_type: Set(event_type.to_owned()),
            payload: Set(payload),
            created_at: Set(now),
            attempts: Set(0),
            next_attempt_at: Set(now),
            delivered_at: Set(None),
            last_status: Set(None),
        })
        .exec(db)
        .await?;
    }
    Ok(())
}

/// Queues an event for every tenant (a notice to all controllers, as the platform admin
/// announces it), each in a transaction pinned to it.
///
/// # Errors
/// `Db`.
pub(crate) async fn enqueue_for_all(
    ctx: &RequestCtx<'_>,
    key: &str,
    event_type: &str,
    data: Value,
) -> Result<(), ServiceError> {
    let registry = policy::registry(ctx, Mode::Read).await?;
    let tenants: Vec<TenantId> = tenant::Entity::find()
        .all(&*registry)
        .await?
        .into_iter()
        .map(|t| t.id)
        .collect();
    registry.commit().await?;
    for t in tenants {
        let tx = policy::platform_admin_on(ctx, t, Mode::Write).await?;
        enqueue(&*tx, t, key, event_type, data.clone(), ctx.now).await?;
        tx.commit().await?;
    }
    Ok(())
}

/// Queues `request.coming_due` for every open request statutorily due within three days
/// (once per request): a pass of the worker.
///
/// # Errors
/// `Db`.
pub async fn enqueue_due_requests(ctx: &RequestCtx<'_>) -> Result<(), ServiceError> {
    let tenants = super::tenants::all_ids(ctx).await?;
    let running = [RequestStatus::Received, RequestStatus::InProgress].map(RequestStatus::as_str);
    for t in tenants {
        let tx = policy::job_tenant(ctx, t, Mode::Write).await?;
        let due = privacy_request::Entity::find()
            .filter(privacy_request::Column::TenantId.eq(t))
            .filter(privacy_request::Column::Status.is_in(running))
            .filter(
                privacy_request::Column::StatutoryDueAt
                    .lte(ctx.now + Duration::days(DUE_NOTICE_DAYS)),
            )
            .all(&*tx)
            .await?;
        for r in due {
            enqueue(
                &*tx,
                t,
                &format!("request-due:{}", r.id),
                "privacy_request.coming_due",
                json!({"requestId": r.id, "kind": r.kind, "statutoryDueAt": r.statutory_due_at}),
                ctx.now,
            )
            .await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// Attempts every delivery due at `ctx.now` (a job of the server's): signs and posts it,
/// records the attempt, and marks it delivered on a 2xx or schedules the next attempt.
/// Returns how many were delivered.
///
/// # Errors
/// `Db`.
pub async fn deliver_due(
    ctx: &RequestCtx<'_>,
    client: &reqwest::Client,
) -> Result<u64, ServiceError> {
    let tx = policy::job_platform_read(ctx).await?;
    let due = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::DeliveredAt.is_null())
        .filter(webhook_delivery::Column::NextAttemptAt.lte(ctx.now))
        .order_by_asc(webhook_delivery::Column::NextAttemptAt)
        .limit(PASS)
        .all(&*tx)
        .await?;
    let endpoints = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::Id.is_in(due.iter().map(|d| d.endpoint_id)))
        .all(&*tx)
        .await?;
    tx.commit().await?;
    let mut delivered = 0;
    for d in due {
        let Some(endpoint) = endpoints.iter().find(|e| e.id == d.endpoint_id) else {
            continue;
        };
        if !claim(ctx, &d).await? {
            continue;
        }
        let t = ctx.now.timestamp();
        let sent = client
            .post(&endpoint.url)
            .header("content-type", "application/json")
            .header("custodian-event", &d.event_type)
            .header("custodian-delivery", d.id.to_string())
            .header(
                "custodian-signature",
                signature(&endpoint.secret, t, &d.payload),
            )
            .body(d.payload.clone())
            .timeout(std::time::Duration::from_secs(10))
            .send()
            .await;
        let (status, error) = match &sent {
            Ok(r) => (Some(i32::from(r.status().as_u16())), None),
            Err(e) => (
                None,
                Some(format!(
                    "the receiver could not be reached ({})",
                    if e.is_timeout() {
                        "timeout"
                    } else {
                        "connection"
                    }
                )),
            ),
        };
        let ok = sent.is_ok_and(|r| r.status().is_success());
        let tx = policy::job_tenant(ctx, d.tenant_id, Mode::Write).await?;
        let attempt = d.attempts + 1;
        webhook_attempt::Entity::insert(webhook_attempt::ActiveModel {
            tenant_id: Set(d.tenant_id),
            delivery_id: Set(d.id),
            attempt: Set(attempt),
            at: Set(ctx.now),
            status: Set(status),
            error: Set(error),
        })
        .exec(&*tx)
        .await?;
        let mut active = d.clone().into_active_model();
        active.attempts = Set(attempt);
        active.last_status = Set(status);
        if ok {
            active.delivered_at = Set(Some(ctx.now));
            delivered += 1;
        } else {
            active.next_attempt_at = Set(ctx.now + backoff(d.attempts));
        }
        webhook_delivery::Entity::update(active).exec(&*tx).await?;
        tx.commit().await?;
    }
    Ok(delivered)
}

/// Claims a due delivery for this worker, so that of several servers (or passes) only
/// one sends it: moves its next attempt past the claim's lease, unless another worker
/// already did (or recorded an attempt) since it was read. Works alike on both backends:
/// the condition is checked by the one `UPDATE` that sets it.
async fn claim(ctx: &RequestCtx<'_>, d: &webhook_delivery::Model) -> Result<bool, ServiceError> {
    let tx = policy::job_tenant(ctx, d.tenant_id, Mode::Write).await?;
    let claimed = webhook_delivery::Entity::update_many()
        .col_expr(
            webhook_delivery::Column::NextAttemptAt,
            sea_orm::sea_query::Expr::value(ctx.now + Duration::seconds(CLAIM_SECONDS)),
        )
        .filter(webhook_delivery::Column::TenantId.eq(d.tenant_id))
        .filter(webhook_delivery::Column::Id.eq(d.id))
        .filter(webhook_delivery::Column::DeliveredAt.is_null())
        .filter(webhook_delivery::Column::Attempts.eq(d.attempts))
        .filter(webhook_delivery::Column::NextAttemptAt.lte(ctx.now))
        .exec(&*tx)
        .await?
        .rows_affected
        == 1;
    tx.commit().await?;
    Ok(claimed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_time_dot_body() {
        // Computed independently: Python's hmac over b"0.what do ya want for nothing?".
        assert_eq!(
            signature("Jefe", 0, "what do ya want for nothing?"),
            "t=0,v1=37f471929915ccd2cbbe79feb84ffcff4f2bb25e15fc41c2506687331ae179cc"
        );
        assert_ne!(signature("Jefe", 1, "x"), signature("Jefe", 2, "x"));
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(0), Duration::seconds(10));
        assert_eq!(backoff(1), Duration::seconds(20));
        assert_eq!(backoff(30), Duration::seconds(3_600));
    }
}
