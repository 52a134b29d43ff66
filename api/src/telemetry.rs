//! Logs and traces.
//!
//! Logs go to stderr, human-readable by default, JSON on demand; every line of a request
//! is inside its span (`http::context`), so it carries the request, tenant and actor ids
//! — ids, never personal data.
//!
//! Traces are off until an OTLP endpoint is named: then each request is one span and each
//! database statement one child span (its SQL text, with placeholders: values never
//! leave), exported over OTLP/HTTP with JSON bodies. Resolvers get no spans of their
//! own, so a page of a hundred contacts is a handful of spans, not hundreds.

use std::sync::OnceLock;
use std::time::SystemTime;

use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer as _};
use opentelemetry::{KeyValue, global};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::{SdkTracerProvider, Tracer};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::LogFormat;

static TRACER: OnceLock<Tracer> = OnceLock::new();

tokio::task_local! {
    /// The trace context of the request being executed, for its statements' spans.
    static REQUEST_TRACE: opentelemetry::Context;
}

/// Runs a request's execution so its statements' spans are children of `span`.
pub async fn in_request<F: std::future::Future>(span: &tracing::Span, work: F) -> F::Output {
    if TRACER.get().is_some() {
        REQUEST_TRACE.scope(span.context(), work).await
    } else {
        work.await
    }
}

/// Keeps the trace exporter running; dropping it flushes what is buffered.
#[derive(Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown();
        }
    }
}

/// Installs the global subscriber once (later calls, as in tests, change nothing) and,
/// with `otlp_endpoint` (`http://collector:4318`), the trace exporter.
///
/// # Errors
/// When the exporter cannot be built from the endpoint.
pub fn init(format: LogFormat, otlp_endpoint: Option<&str>) -> anyhow::Result<Telemetry> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,actix_server=warn"));
    let logs: Box<dyn Layer<Registry> + Send + Sync> = match format {
        LogFormat::Pretty => {
            Box::new(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        }
        LogFormat::Json => Box::new(
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(true)
                .with_writer(std::io::stderr),
        ),
    };
    let mut telemetry = Telemetry::default();
    let traces = match otlp_endpoint {
        None => None,
        Some(endpoint) => {
            let endpoint = endpoint.trim_end_matches('/');
            let url = if endpoint.ends_with("/v1/traces") {
                endpoint.to_owned()
            } else {
                format!("{endpoint}/v1/traces")
            };
            // Its blocking HTTP client may not be built on an async runtime's thread.
            let exporter = std::thread::spawn(move || {
                opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_protocol(Protocol::HttpJson)
                    .with_endpoint(url)
                    .with_timeout(std::time::Duration::from_secs(5))
                    .build()
            })
            .join()
            .map_err(|_| anyhow::anyhow!("--otlp-endpoint: the exporter could not be built"))?
            .map_err(|e| anyhow::anyhow!("--otlp-endpoint: {e}"))?;
            let resource = opentelemetry_sdk::Resource::builder()
                .with_service_name("custodian")
                .build();
            let provider = SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(resource)
                .build();
            let tracer = opentelemetry::trace::TracerProvider::tracer(&provider, "custodian");
            global::set_tracer_provider(provider.clone());
            telemetry.provider = Some(provider);
            let _ = TRACER.set(tracer.clone());
            // Our own spans only (the request's): the libraries' spans are per call and
            // per field, which is what a trace of a request should not be.
            let ours = tracing_subscriber::filter::Targets::new()
                .with_target("custodian_api", tracing::Level::INFO);
            Some(
                tracing_opentelemetry::layer()
                    .with_tracer(tracer)
                    .with_filter(ours),
            )
        }
    };
    let _ = tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(traces)
        .try_init();
    Ok(telemetry)
}

/// The span of one database statement, a child of the request's, when traces are on.
/// Called by the pool's statement callback once the statement has run.
pub fn statement(info: &sea_orm::metric::Info<'_>) {
    let Some(tracer) = TRACER.get() else {
        return;
    };
    // The innermost of our spans (a service call's, else the request's); the ledger's
    // and the jobs' statements belong to no request and get none.
    let Ok(request) = REQUEST_TRACE.try_with(Clone::clone) else {
        return;
    };
    let current = tracing::Span::current().context();
    let parent = if current.span().span_context().is_valid() {
        current
    } else {
        request
    };
    if !parent.span().span_context().is_valid() {
        return;
    }
    let end = SystemTime::now();
    let start = end.checked_sub(info.elapsed).unwrap_or(end);
    let mut sql = info.statement.sql.clone();
    if sql.len() > 2048 {
        let mut cut = 2048;
        while !sql.is_char_boundary(cut) {
            cut -= 1;
        }
        sql.truncate(cut);
    }
    let system = match info.statement.db_backend {
        sea_orm::DatabaseBackend::Postgres => "postgresql",
        sea_orm::DatabaseBackend::Sqlite => "sqlite",
        _ => "other_sql",
    };
    let mut span = tracer
        .span_builder("db.statement")
        .with_kind(SpanKind::Client)
        .with_start_time(start)
        .with_attributes(vec![
            KeyValue::new("db.system.name", system),
            KeyValue::new("db.query.text", sql),
        ])
        .start_with_context(tracer, &parent);
    if info.failed {
        span.set_status(Status::error("the statement failed"));
    }
    span.end_with_timestamp(end);
}
