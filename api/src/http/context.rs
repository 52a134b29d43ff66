//! What every request carries through the server: its id (the caller's `x-request-id`
//! when it is a sane one, else a fresh one), returned in the response header and in error
//! extensions, and one span whose fields — request id, then tenant and actor once the
//! token is verified — are on every log line and trace of the request. Paths are logged
//! as the route's pattern and never with a query string, so no personal data gets in.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use tracing::Instrument;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id.
#[derive(Debug, Clone)]
pub struct RequestId(String);

impl RequestId {
    /// The caller's id when it is 1–128 characters of `A–Z a–z 0–9 - _ . : /` (enough
    /// for UUIDs, ULIDs and W3C trace ids, nothing that could break a log line).
    fn from_header(value: &HeaderValue) -> Option<Self> {
        let text = value.to_str().ok()?;
        let sane = (1..=128).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:/".contains(&b));
        sane.then(|| Self(text.to_owned()))
    }

    fn fresh() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The span of the request, for handlers to record the tenant and actor on and to run
/// the operation in.
#[derive(Debug, Clone)]
pub struct RequestSpan(pub tracing::Span);

impl RequestSpan {
    /// Records who is calling, once the token is verified.
    pub fn record_caller(&self, caller: &crate::auth::Caller) {
        if let Some(tenant) = caller.tenant {
            self.0.record("tenant_id", tracing::field::display(tenant));
        }
        self.0.record("actor_id", caller.subject.as_str());
    }
}

macro_rules! from_extensions {
    ($ty:ty) => {
        impl FromRequest for $ty {
            type Error = actix_web::Error;
            type Future = std::future::Ready<Result<Self, Self::Error>>;

            fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
                std::future::ready(req.extensions().get::<$ty>().cloned().ok_or_else(|| {
                    actix_web::error::ErrorInternalServerError("request context missing")
                }))
            }
        }
    };
}
from_extensions!(RequestId);
from_extensions!(RequestSpan);

/// The middleware: assigns the id, opens the span, logs one line per request, and sets
/// the headers every response carries.
///
/// # Errors
/// What the inner service returns.
pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(RequestId::from_header)
        .unwrap_or_else(RequestId::fresh);
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let span = tracing::info_span!(
        "request",
        otel.name = %format!("{} {route}", req.method()),
        otel.kind = "server",
        request_id = %id,
        method = %req.method(),
        route = %route,
        tenant_id = tracing::field::Empty,
        actor_id = tracing::field::Empty,
        operation = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    req.extensions_mut().insert(id.clone());
    req.extensions_mut().insert(RequestSpan(span.clone()));
    let started = std::time::Instant::now();
    let mut res = next.call(req).instrument(span.clone()).await?;
    let status = res.status().as_u16();
    span.record("status", status);
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    // One line per request is an access log, at debug (`RUST_LOG=custodian_api=debug`):
    // at thousands of requests a second it would cost more than the request; failures
    // are always logged.
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(status, micros, "request failed");
        } else {
            tracing::debug!(status, micros, "request served");
        }
    });
    let headers = res.headers_mut();
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        headers.insert(REQUEST_ID, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // The playground page sets its own policy; nothing else is ever to be framed or to
    // load anything.
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
    }
    Ok(res)
}
