//! `/graphql` over HTTP, as the GraphQL-over-HTTP specification has it: the response
//! media type is negotiated from `Accept` (`application/graphql-response+json` or
//! `application/json`), request errors answer 400 under the former, `GET` carries queries
//! only, and bodies are capped and must be JSON.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use async_graphql::ServerError;
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use serde::Deserialize;

use super::AppState;
use tracing::Instrument;

use super::context::{RequestId, RequestSpan};
use crate::auth::{Caller, TokenAuthority};
use crate::error::code;

pub const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MediaType {
    GraphqlResponseJson,
    Json,
}

impl MediaType {
    fn as_str(self) -> &'static str {
        match self {
            Self::GraphqlResponseJson => GRAPHQL_RESPONSE_JSON,
            Self::Json => JSON,
        }
    }
}

/// Picks the response media type from `Accept`. No header means `application/json`
/// (the specification's rule for legacy clients); so do wildcards.
fn negotiate(req: &HttpRequest) -> Option<MediaType> {
    let Some(accept) = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    else {
        return Some(MediaType::Json);
    };
    let mut best: Option<(f32, MediaType)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let essence = parts.next().unwrap_or("").to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.strip_prefix("q="))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        let media = match essence.as_str() {
            GRAPHQL_RESPONSE_JSON => MediaType::GraphqlResponseJson,
            JSON | "application/*" | "*/*" => MediaType::Json,
            _ => continue,
        };
        if q <= 0.0 {
            continue;
        }
        let better = match best {
            None => true,
            Some((bq, bm)) => {
                q > bq || (q == bq && media == MediaType::GraphqlResponseJson && bm != media)
            }
        };
        if better {
            best = Some((q, media));
        }
    }
    best.map(|(_, m)| m)
}

fn not_acceptable(request_id: &RequestId) -> HttpResponse {
    let body = error_body(
        "acceptable response types: application/graphql-response+json, application/json",
        code::BAD_USER_INPUT,
    );
    reply(
        StatusCode::NOT_ACCEPTABLE,
        MediaType::Json,
        body,
        request_id,
    )
}

fn error_body(message: &str, code: &str) -> serde_json::Value {
    serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code } }] })
}

/// The response, every error in it carrying the request's id (the same as in the
/// `x-request-id` header), so a client's report can be matched to the server's logs.
fn reply(
    status: StatusCode,
    media: MediaType,
    mut body: serde_json::Value,
    request_id: &RequestId,
) -> HttpResponse {
    if let Some(errors) = body.get_mut("errors").and_then(|e| e.as_array_mut()) {
        for error in errors {
            if let Some(error) = error.as_object_mut() {
                let extensions = error
                    .entry("extensions")
                    .or_insert_with(|| serde_json::json!({}));
                if let Some(extensions) = extensions.as_object_mut() {
                    extensions.insert("requestId".into(), request_id.as_str().into());
                }
            }
        }
    }
    respond(status, media, body.to_string())
}

/// A response of `media` with `body`, already serialized.
fn respond(status: StatusCode, media: MediaType, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((
            header::CONTENT_TYPE,
            format!("{}; charset=utf-8", media.as_str()),
        ))
        .body(body)
}

/// What every refused token answers: the same words whatever check failed, so a
/// refusal tells an attacker nothing about how close the token came.
const TOKEN_REFUSED: &str = "the token is not valid for this server";

/// The caller from `Authorization: Bearer …`; `Ok(None)` without the header. A token
/// anywhere else — the query string, a cookie — is refused, not ignored: such tokens
/// leak into logs, histories and other sites' requests.
fn authenticate(req: &HttpRequest, auth: &TokenAuthority) -> Result<Option<Caller>, String> {
    let in_query = req.query_string().split('&').any(|pair| {
        let name = pair.split('=').next().unwrap_or("");
        matches!(name, "access_token" | "token" | "jwt" | "authorization")
    });
    let in_cookie = req.headers().get_all(header::COOKIE).any(|v| {
        v.to_str().unwrap_or("").split(';').any(|c| {
            let (name, value) = c.trim().split_once('=').unwrap_or((c.trim(), ""));
            matches!(
                name.to_ascii_lowercase().as_str(),
                "access_token" | "token" | "jwt" | "authorization"
            ) || value.trim_matches('"').starts_with("eyJ")
        })
    });
    if in_query || in_cookie {
        tracing::info!("token outside the Authorization header refused");
        return Err("tokens go in the Authorization header only".to_owned());
    }
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| "the Authorization header must be `Bearer <token>`".to_owned())?;
    auth.verify(token).map(Some).map_err(|e| {
        tracing::info!(reason = %e, "token rejected");
        TOKEN_REFUSED.to_owned()
    })
}

pub async fn post(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
    request_id: RequestId,
    span: RequestSpan,
) -> HttpResponse {
    let Some(media) = negotiate(&req) else {
        return not_acceptable(&request_id);
    };
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if content_type.as_deref() != Some(JSON) {
        let body = error_body("POST bodies must be application/json", code::BAD_USER_INPUT);
        return reply(StatusCode::UNSUPPORTED_MEDIA_TYPE, media, body, &request_id);
    }
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        let mut body = error_body(
            "batched requests (a JSON array) are not accepted: send one operation per request",
            code::BAD_USER_INPUT,
        );
        body["errors"][0]["extensions"]["limit"] = "batch".into();
        return reply(StatusCode::BAD_REQUEST, media, body, &request_id);
    }
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            let body = error_body(
                &format!("the body is not a GraphQL request: {e}"),
                code::BAD_USER_INPUT,
            );
            return reply(StatusCode::BAD_REQUEST, media, body, &request_id);
        }
    };
    execute(req, request, state, media, request_id, span).await
}

#[derive(Deserialize)]
struct GetParams {
    query: Option<String>,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

pub async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    request_id: RequestId,
    span: RequestSpan,
) -> HttpResponse {
    let params = web::Query::<GetParams>::from_query(req.query_string()).ok();
    let query = params.as_ref().and_then(|p| p.query.clone());
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if query.is_none() && wants_html && state.playground {
        return super::playground::page();
    }
    let Some(media) = negotiate(&req) else {
        return not_acceptable(&request_id);
    };
    let persisted_only = params
        .as_ref()
        .and_then(|p| p.extensions.as_deref())
        .is_some_and(|e| e.contains("persistedQuery"));
    let (Some(params), Some(query)) = (params, query.or_else(|| persisted_only.then(String::new)))
    else {
        let body = error_body("a `query` parameter is required", code::BAD_USER_INPUT);
        return reply(StatusCode::BAD_REQUEST, media, body, &request_id);
    };
    let mut request = async_graphql::Request::new(query);
    if let Some(name) = params.operation_name.clone() {
        request = request.operation_name(name);
    }
    for (field, raw) in [
        ("variables", &params.variables),
        ("extensions", &params.extensions),
    ] {
        let Some(raw) = raw else { continue };
        match serde_json::from_str::<serde_json::Value>(raw) {
            Ok(serde_json::Value::Object(map)) if field == "variables" => {
                request = request.variables(async_graphql::Variables::from_json(
                    serde_json::Value::Object(map),
                ));
            }
            Ok(serde_json::Value::Object(map)) => {
                request.extensions =
                    serde_json::from_value(serde_json::Value::Object(map)).unwrap_or_default();
            }
            _ => {
                let body = error_body(
                    &format!("`{field}` must be a JSON object"),
                    code::BAD_USER_INPUT,
                );
                return reply(StatusCode::BAD_REQUEST, media, body, &request_id);
            }
        }
    }
    // A hash names its document now, so the check below sees what would run.
    if let Err(refusal) = state.persisted.fill(&mut request) {
        return persisted_refusal(refusal, media, &request_id);
    }
    // Mutations change state and must never ride on a GET (which caches and prefetches).
    if selected_operation_is_mutation(
        state
            .documents
            .parse(&request.query)
            .ok()
            .flatten()
            .as_ref(),
        request.operation_name.as_deref(),
    ) {
        let body = error_body("mutations must be sent with POST", code::BAD_USER_INPUT);
        let mut response = reply(StatusCode::METHOD_NOT_ALLOWED, media, body, &request_id);
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    execute(req, request, state, media, request_id, span).await
}

fn selected_operation_is_mutation(doc: Option<&ExecutableDocument>, name: Option<&str>) -> bool {
    let Some(doc) = doc else {
        return false;
    };
    doc.operations.iter().any(|(op_name, op)| {
        let selected = match (name, op_name) {
            (Some(wanted), Some(n)) => n.as_str() == wanted,
            (None, _) => true,
            (Some(_), None) => false,
        };
        selected && op.node.ty != OperationType::Query
    })
}

fn persisted_refusal(
    refusal: super::persisted::Refusal,
    media: MediaType,
    request_id: &RequestId,
) -> HttpResponse {
    let mut body = error_body(refusal.message(), code::BAD_USER_INPUT);
    body["errors"][0]["extensions"]["reason"] = refusal.reason().into();
    reply(StatusCode::BAD_REQUEST, media, body, request_id)
}

async fn execute(
    req: HttpRequest,
    mut request: async_graphql::Request,
    state: web::Data<AppState>,
    media: MediaType,
    request_id: RequestId,
    span: RequestSpan,
) -> HttpResponse {
    if state.offboarded.is_due(state.clock.now()) {
        // Once a minute, a request first reads which tenants were offboarded.
        let (db, offboarded, now) = (
            state.db.clone(),
            state.offboarded.clone(),
            state.clock.now(),
        );
        let refreshed = state
            .runtime
            .spawn(async move {
                let none = crate::ledger::Ledger::disabled();
                let ctx = crate::policy::RequestCtx::for_job(&db, &none, "offboarded", now);
                offboarded.refresh_if_due(&ctx).await
            })
            .await;
        if !matches!(refreshed, Ok(Ok(()))) {
            tracing::warn!("cannot read which tenants were offboarded; using the last reading");
        }
    }
    let caller = match authenticate(&req, &state.auth) {
        Ok(Some(caller)) if caller.tenant.is_some_and(|t| state.offboarded.contains(t)) => {
            let body = error_body("the tenant was offboarded", code::UNAUTHENTICATED);
            let mut response = reply(StatusCode::UNAUTHORIZED, media, body, &request_id);
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
            return response;
        }
        Ok(caller) => caller,
        Err(message) => {
            let body = error_body(&message, code::UNAUTHENTICATED);
            let mut response = reply(StatusCode::UNAUTHORIZED, media, body, &request_id);
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
            return response;
        }
    };
    let started = std::time::Instant::now();
    if let Some(caller) = &caller
        && let Err(refusal) = state.rate_limits.check(caller)
    {
        span.record_caller(caller);
        let seconds = refusal.retry_after.as_secs_f64().ceil().max(1.0) as u64;
        let mut body = error_body(
            &format!(
                "too many requests for this {}; retry in {seconds} s",
                refusal.limit
            ),
            code::RATE_LIMITED,
        );
        body["errors"][0]["extensions"]["limit"] = refusal.limit.into();
        body["errors"][0]["extensions"]["retryAfter"] = seconds.into();
        state
            .metrics
            .request("limited", code::RATE_LIMITED, started.elapsed());
        let mut response = reply(StatusCode::TOO_MANY_REQUESTS, media, body, &request_id);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        return response;
    }
    let privileged = caller
        .as_ref()
        .is_some_and(|c| c.role == crate::auth::Role::PlatformAdmin);
    if let Err(refusal) = state.persisted.resolve(&mut request, privileged) {
        state
            .metrics
            .request("invalid", code::BAD_USER_INPUT, started.elapsed());
        return persisted_refusal(refusal, media, &request_id);
    }
    let mut request = request.data(crate::graphql::RequestMeta {
        request_id: request_id.to_string(),
    });
    // Parsed once per distinct text; a document past a limit is answered without running.
    let (document, refused) = match state.documents.parse(&request.query) {
        Ok(document) => (document, None),
        Err(error) => (None, Some(error)),
    };
    let operation = root_field(document.as_ref(), request.operation_name.as_deref());
    span.0.record("operation", operation.as_str());
    let schema = match &state.strict_schema {
        Some(strict) if !privileged => {
            if asks_for_the_schema(document.as_ref()) {
                let body = error_body(
                    "introspection is off on this server (only platform admins may introspect)",
                    code::FORBIDDEN,
                );
                state
                    .metrics
                    .request("introspection", code::FORBIDDEN, started.elapsed());
                return reply(StatusCode::OK, media, body, &request_id);
            }
            // Whatever else reaches the meta-fields (through a fragment) answers null.
            request = request.disable_introspection();
            strict.clone()
        }
        _ => state.schema.clone(),
    };
    if let Some(caller) = caller {
        span.record_caller(&caller);
        request = request.data(caller);
    }
    if let Some(document) = document {
        request.set_parsed_query(document);
    }
    let executed = match refused {
        Some(error) => Ok(async_graphql::Response::from_errors(vec![error])),
        None => {
            // On the worker that read the request, with that worker's connections (see
            // `WorkerPools`): spawned on its own runtime, the same thread, so that it
            // runs to its end even if the client goes away (a write's commit is never
            // cut from what follows it) and a panic answers 500.
            let db = req
                .app_data::<web::Data<super::WorkerDb>>()
                .map_or_else(|| state.db.clone(), |own| own.0.clone());
            let request = request.data(db);
            tokio::spawn(
                async move {
                    let current = tracing::Span::current();
                    crate::telemetry::in_request(&current, schema.execute(request)).await
                }
                .instrument(span.0),
            )
            .await
        }
    };
    let mut response = match executed {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(error = %e, "GraphQL execution task failed");
            let body = error_body("internal error", code::INTERNAL);
            return reply(StatusCode::INTERNAL_SERVER_ERROR, media, body, &request_id);
        }
    };
    for error in &mut response.errors {
        crate::graphql::limits::refine(error);
        ensure_code(error);
    }
    null_errored_fields(&mut response.data, &response.errors);
    // A request error (the document did not parse or validate) never began executing:
    // no resolver ran, so no error has a path.
    let request_error = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    let outcome = response
        .errors
        .first()
        .and_then(|e| e.extensions.as_ref())
        .and_then(|x| x.get("code"))
        .and_then(|c| match c {
            async_graphql::Value::String(c) => code::known(c),
            _ => None,
        })
        .unwrap_or("ok");
    let operation = if request_error { "invalid" } else { &operation };
    state.metrics.request(operation, outcome, started.elapsed());
    let status = if request_error && media == MediaType::GraphqlResponseJson {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut response = if response.errors.is_empty() {
        // Nothing to add to an answer without errors: serialized as it is, no JSON tree.
        match serde_json::to_string(&response) {
            Ok(body) => respond(status, media, body),
            Err(_) => reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                media,
                error_body("internal error", code::INTERNAL),
                &request_id,
            ),
        }
    } else {
        let mut body = serde_json::to_value(&response)
            .unwrap_or_else(|_| error_body("internal error", code::INTERNAL));
        if request_error && let Some(map) = body.as_object_mut() {
            map.remove("data");
        }
        reply(status, media, body, &request_id)
    };
    if outcome == code::RATE_LIMITED {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// The metrics label of a request: the first root field of the operation it runs (a
/// name the schema bounds, once the document validates), `introspection` for the
/// meta-fields, `invalid` when it does not parse.
fn root_field(doc: Option<&ExecutableDocument>, name: Option<&str>) -> String {
    use async_graphql::parser::types::Selection;
    let Some(doc) = doc else {
        return "invalid".to_owned();
    };
    let operation = doc
        .operations
        .iter()
        .find(|(n, _)| name.is_none() || n.map(|n| n.as_str()) == name);
    let Some((_, operation)) = operation else {
        return "invalid".to_owned();
    };
    let first = operation
        .node
        .selection_set
        .node
        .items
        .iter()
        .find_map(|s| match &s.node {
            Selection::Field(f) => Some(f.node.name.node.as_str()),
            _ => None,
        });
    match first {
        Some(f) if f.starts_with("__") => "introspection".to_owned(),
        Some(f) => f.to_owned(),
        None => "invalid".to_owned(),
    }
}

/// Whether the operation selects `__schema` or `__type` at its root.
fn asks_for_the_schema(doc: Option<&ExecutableDocument>) -> bool {
    use async_graphql::parser::types::Selection;
    let Some(doc) = doc else {
        return false;
    };
    doc.operations.iter().any(|(_, op)| {
        op.node.selection_set.node.items.iter().any(|s| {
            matches!(&s.node, Selection::Field(f)
                if matches!(f.node.name.node.as_str(), "__schema" | "__type"))
        })
    })
}

/// A field that errored is `null` in the answer, as the GraphQL specification has it
/// (6.4.4); async-graphql 7 leaves the key out instead, which clients that check the
/// shape of an answer (gql, Apollo's cache) read as a malformed response.
fn null_errored_fields(data: &mut async_graphql::Value, errors: &[ServerError]) {
    use async_graphql::{PathSegment, Value};
    for error in errors {
        let Some((PathSegment::Field(last), parents)) = error.path.split_last() else {
            continue;
        };
        if let Some(Value::Object(map)) = walk(data, parents) {
            map.entry(async_graphql::Name::new(last))
                .or_insert(Value::Null);
        }
    }
}

fn walk<'v>(
    value: &'v mut async_graphql::Value,
    path: &[async_graphql::PathSegment],
) -> Option<&'v mut async_graphql::Value> {
    use async_graphql::{PathSegment, Value};
    let Some((first, rest)) = path.split_first() else {
        return Some(value);
    };
    let next = match (first, value) {
        (PathSegment::Field(name), Value::Object(map)) => map.get_mut(name.as_str())?,
        (PathSegment::Index(i), Value::List(list)) => list.get_mut(*i)?,
        _ => return None,
    };
    walk(next, rest)
}

/// Every error leaves with a code. Our resolvers set theirs; what is left comes from the
/// engine: document errors (no path) are the client's; anything else is ours, and its
/// message is replaced so no internal detail leaks.
fn ensure_code(error: &mut ServerError) {
    let has_code = error
        .extensions
        .as_ref()
        .is_some_and(|e| e.get("code").is_some());
    if has_code {
        return;
    }
    // Argument values are coerced when the field runs, so those errors carry a path.
    let input_problem = error.path.is_empty()
        || [
            "Failed to parse",
            "Invalid value for argument",
            "Expected input type",
        ]
        .iter()
        .any(|p| error.message.starts_with(p));
    let code = if input_problem {
        code::BAD_USER_INPUT
    } else {
        tracing::error!(message = %error.message, "uncoded resolver error");
        error.message = "internal error".to_owned();
        code::INTERNAL
    };
    let mut values = error.extensions.take().unwrap_or_default();
    values.set("code", code);
    error.extensions = Some(values);
}
