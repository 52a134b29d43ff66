//! What an operator sees of the real binary: JSON logs with request, tenant and actor ids
//! and no personal data, request ids taken or made and returned, OTLP traces received by
//! a collector stand-in (one span per request and per statement), `/metrics`, and one
//! clear line for each way `custodian serve` can fail to start.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{BIN, gql, receiver, start_server_logging, token};

/// Personal data the requests below carry; none of it may reach a log, a trace or a
/// metric.
const PERSONAL: [&str; 4] = ["Zelda", "Quux", "zelda.quux@example.org", "+33142685300"];

async fn post(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    request_id: Option<&str>,
    body: Value,
) -> (reqwest::header::HeaderMap, Value) {
    let mut req = client
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(&body);
    if let Some(id) = request_id {
        req = req.header("x-request-id", id);
    }
    let res = req.send().await.unwrap();
    let headers = res.headers().clone();
    (headers, res.json().await.unwrap())
}

/// A tenant, its admin's token, and a day's requests: a create carrying personal data
/// (with the client's request id), a read, a refused read by staff without an
/// instruction, and a bad request.
async fn a_day(
    client: &reqwest::Client,
    base: &str,
    data: &std::path::Path,
) -> (String, String, String) {
    let alice = token(data, &["--role", "platform_admin", "--sub", "alice"]);
    let created = gql(client, base, &alice, r#"mutation { createTenant(input: {name: "Acme", jurisdictions: [EEA], ownerAttestsAdult: true}) { id } }"#).await;
    let tenant = created["createTenant"]["id"].as_str().unwrap().to_owned();
    let bob = token(
        data,
        &[
            "--role",
            "controller_admin",
            "--tenant",
            &tenant,
            "--sub",
            "bob",
        ],
    );
    let (headers, body) = post(
        client,
        base,
        &bob,
        Some("client-abc-123"),
        json!({
            "query": "mutation($i: ContactInput!) { createContact(input: $i) { id } }",
            "variables": {"i": {"firstName": PERSONAL[0], "lastName": PERSONAL[1],
                "emails": [{"address": PERSONAL[2]}], "phones": [{"number": PERSONAL[3]}]}}
        }),
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(
        headers["x-request-id"], "client-abc-123",
        "the client's id is kept"
    );
    let id = body["data"]["createContact"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, read) = post(
        client,
        base,
        &bob,
        None,
        json!({"query": "query($id: ID!) { contact(id: $id) { firstName emails { address } } }", "variables": {"id": id}}),
    )
    .await;
    assert_eq!(read["data"]["contact"]["firstName"], PERSONAL[0]);
    let sam = token(
        data,
        &[
            "--role",
            "processor_staff",
            "--tenant",
            &tenant,
            "--sub",
            "sam",
            "--purpose",
            "support",
        ],
    );
    let (headers, refused) = post(
        client,
        base,
        &sam,
        Some("bad id with spaces"),
        json!({"query": "query($id: ID!) { contact(id: $id) { firstName } }", "variables": {"id": id}}),
    )
    .await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "FORBIDDEN");
    let made = headers["x-request-id"].to_str().unwrap();
    assert_ne!(made, "bad id with spaces", "an unsafe id is replaced");
    assert!(uuid::Uuid::parse_str(made).is_ok(), "{made}");
    assert_eq!(
        refused["errors"][0]["extensions"]["requestId"], made,
        "errors carry the request id"
    );
    let (_, bad) = post(client, base, &bob, None, json!({"query": "{ nope }"})).await;
    assert_eq!(bad["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    (tenant, bob, id)
}

fn assert_no_personal_data(what: &str, text: &str) {
    for p in PERSONAL {
        assert!(!text.contains(p), "{what} carries personal data ({p})");
    }
}

#[tokio::test]
async fn json_logs_carry_request_tenant_and_actor_ids_and_no_personal_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log_path = dir.path().join("stderr.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let (server, base) = start_server_logging(
        &data,
        &[
            ("CUSTODIAN_LOG_FORMAT", "json"),
            ("RUST_LOG", "info,custodian_api=debug"),
        ],
        log.into(),
    )
    .await;
    let client = reqwest::Client::new();
    let (tenant, _, _) = a_day(&client, &base, &data).await;
    drop(server);
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert_no_personal_data("the log", &text);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let in_request = |l: &Value| {
        l["spans"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["name"] == "request"))
            .cloned()
    };
    let ours: Vec<Value> = lines
        .iter()
        .filter_map(in_request)
        .filter(|s| s["request_id"] == "client-abc-123")
        .collect();
    assert!(!ours.is_empty(), "no line of the request:\n{text}");
    for span in &ours {
        assert_eq!(span["tenant_id"], tenant.as_str(), "{span}");
        assert_eq!(span["actor_id"], "bob", "{span}");
        assert_eq!(span["operation"], "createContact", "{span}");
    }
    let served: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "request served")
        .collect();
    assert!(served.len() >= 6, "one line per request: {}", served.len());
    assert!(
        served
            .iter()
            .all(|l| in_request(l).is_some_and(|s| s["request_id"].is_string())),
        "every request's line has its id"
    );
}

/// The spans of an OTLP/JSON export body.
fn spans(body: &[u8]) -> Vec<Value> {
    let v: Value = serde_json::from_slice(body).unwrap();
    let mut out = Vec::new();
    for rs in v["resourceSpans"].as_array().into_iter().flatten() {
        for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
            out.extend(ss["spans"].as_array().into_iter().flatten().cloned());
        }
    }
    out
}

fn attribute<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| &a["value"])
}

#[tokio::test]
async fn traces_reach_an_otlp_collector_one_span_per_request_and_statement() {
    let (collector, received) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let endpoint = format!("http://{collector}");
    let (server, base) = start_server_logging(
        &data,
        &[
            ("CUSTODIAN_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
        Stdio::null(),
    )
    .await;
    let client = reqwest::Client::new();
    a_day(&client, &base, &data).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let all = loop {
        let got: Vec<Value> = received
            .lock()
            .unwrap()
            .iter()
            .inspect(|r| {
                assert!(r.head.starts_with("post /v1/traces "), "{}", r.head);
                assert!(
                    r.head.contains("content-type: application/json"),
                    "{}",
                    r.head
                );
            })
            .flat_map(|r| spans(&r.body))
            .collect();
        let done = got.iter().any(|s| {
            attribute(s, "request_id").is_some_and(|v| v["stringValue"] == "client-abc-123")
        });
        if done {
            break got;
        }
        assert!(Instant::now() < deadline, "no trace of the request arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    drop(server);
    let bodies: Vec<u8> = received
        .lock()
        .unwrap()
        .iter()
        .flat_map(|r| r.body.clone())
        .collect();
    assert_no_personal_data("the traces", &String::from_utf8_lossy(&bodies));
    let request = all
        .iter()
        .find(|s| attribute(s, "request_id").is_some_and(|v| v["stringValue"] == "client-abc-123"))
        .unwrap();
    assert_eq!(request["name"], "POST /graphql");
    assert_eq!(
        attribute(request, "actor_id").unwrap()["stringValue"],
        "bob"
    );
    let statements: Vec<&Value> = all
        .iter()
        .filter(|s| s["traceId"] == request["traceId"] && s["name"] == "db.statement")
        .collect();
    assert!(
        !statements.is_empty(),
        "the request's statements are its children"
    );
    let in_trace: Vec<&Value> = all
        .iter()
        .filter(|s| s["traceId"] == request["traceId"])
        .collect();
    let parent_of = |s: &Value| {
        in_trace
            .iter()
            .find(|p| p["spanId"] == s["parentSpanId"])
            .copied()
    };
    for s in &statements {
        // Under the request, directly or through a service call's span.
        let mut at = *s;
        while let Some(p) = parent_of(at) {
            at = p;
        }
        assert_eq!(at["spanId"], request["spanId"], "{s}");
        let sql = attribute(s, "db.query.text").unwrap()["stringValue"]
            .as_str()
            .unwrap();
        assert!(!sql.is_empty());
    }
    // No span per GraphQL field: the read's fields are not spans.
    let names: std::collections::BTreeSet<&str> =
        all.iter().filter_map(|s| s["name"].as_str()).collect();
    for field in ["contact", "firstName", "emails", "address", "createContact"] {
        assert!(!names.contains(field), "a span per field: {names:?}");
    }
    assert!(names.contains("GET /readyz") && names.contains("POST /graphql"));
}

#[tokio::test]
async fn metrics_count_requests_by_operation_and_outcome_with_bounded_labels() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (_server, base) = start_server_logging(&data, &[], Stdio::null()).await;
    let client = reqwest::Client::new();
    a_day(&client, &base, &data).await;
    let res = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = res.text().await.unwrap();
    assert_no_personal_data("/metrics", &text);
    for line in [
        "custodian_graphql_requests_total{operation=\"createContact\",outcome=\"ok\"} 1",
        "custodian_graphql_requests_total{operation=\"contact\",outcome=\"FORBIDDEN\"} 1",
        "custodian_graphql_requests_total{operation=\"invalid\",outcome=\"BAD_USER_INPUT\"} 1",
        "custodian_denied_accesses_total 1",
        "custodian_privacy_requests_due 0",
        "custodian_breach_notices_unacknowledged 0",
        "# EOF",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} not in:\n{text}");
    }
    for prefix in [
        "custodian_graphql_request_seconds_bucket{le=",
        "custodian_ledger_batch_records_bucket{le=",
        "custodian_ledger_commit_seconds_count ",
        "custodian_ledger_unsealed_records ",
        "custodian_db_pool_connections{state=\"idle\"} ",
        "custodian_db_pool_max_connections 10",
    ] {
        let found = text.lines().any(|l| {
            l.starts_with(prefix)
                || (prefix.contains("request_seconds_bucket")
                    && l.starts_with("custodian_graphql_request_seconds_bucket{"))
        });
        assert!(found, "{prefix} not in:\n{text}");
    }
    // Every label value is a schema name, an error code, a pool state or a bucket bound.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        if let Some((_, labels)) = line.split_once('{') {
            for pair in labels.split('}').next().unwrap().split(',') {
                let (_, value) = pair.split_once('=').unwrap();
                let value = value.trim_matches('"');
                assert!(
                    value.len() <= 40
                        && value
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "_.+-".contains(c)),
                    "unbounded label value {value:?} in {line}"
                );
            }
        }
    }
}

/// `custodian serve` with `args`: it must exit non-zero at once with exactly one line on
/// stderr, starting `error:` and containing `expect`, and no panic.
fn refuses_to_start(args: &[&str], expect: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg("serve")
        .args(["--data-dir", dir.path().to_str().unwrap()])
        .args(args)
        .env_remove("CUSTODIAN_DATABASE_URL")
        .env_remove("CUSTODIAN_JWT_SECRET")
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} started");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{args:?}: one line, not:\n{stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(lines[0].contains(expect), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"));
    assert!(
        !stderr.contains("secretpw"),
        "the password is never printed"
    );
}

#[test]
fn serve_refuses_to_start_with_one_clear_line() {
    refuses_to_start(
        &["--database-url", "mysql://u:secretpw@db/x"],
        "`mysql` databases are not supported",
    );
    refuses_to_start(&["--database-url", "not a url"], "is not a URL");
    refuses_to_start(
        &["--database-url", "postgres://u:secretpw@127.0.0.1:1/x"],
        "cannot reach PostgreSQL at 127.0.0.1:1",
    );
    refuses_to_start(
        &["--jwt-public-key-file", "/nonexistent/key.pem"],
        "--jwt-public-key-file /nonexistent/key.pem: cannot read it",
    );
    refuses_to_start(&["--jwt-secret", "too-short"], "at least 32 bytes");
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bind = held.local_addr().unwrap().to_string();
    refuses_to_start(&["--bind", &bind], &format!("cannot listen on {bind}"));
}

/// A fresh PostgreSQL database, or `None` (loudly) when there is no server here.
fn postgres_database() -> Option<String> {
    let name = format!("custodian_cli_{}", uuid::Uuid::now_v7().simple());
    let made = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc"])
        .arg(format!("CREATE DATABASE {name}"))
        .output();
    match made {
        Ok(out) if out.status.success() => Some(name),
        other => {
            assert!(
                std::env::var("CUSTODIAN_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "PostgreSQL is required: {other:?}"
            );
            eprintln!("SKIPPED: no PostgreSQL here");
            None
        }
    }
}

#[test]
fn serve_refuses_an_unmigrated_database_and_a_role_that_bypasses_row_security() {
    let Some(db) = postgres_database() else {
        return;
    };
    refuses_to_start(
        &[
            "--database-url",
            &format!("postgres://custodian_app@127.0.0.1/{db}?sslmode=disable"),
        ],
        "the database is not migrated",
    );
    let migrated = Command::new(BIN)
        .args([
            "migrate",
            "--database-url",
            &format!("postgres://postgres@127.0.0.1/{db}?sslmode=disable"),
        ])
        .output()
        .unwrap();
    assert!(migrated.status.success());
    refuses_to_start(
        &[
            "--database-url",
            &format!("postgres://postgres@127.0.0.1/{db}?sslmode=disable"),
        ],
        "refusing to serve as PostgreSQL role \"postgres\": it is a superuser",
    );
    let _ = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc"])
        .arg(format!("DROP DATABASE {db}"))
        .output();
}

#[test]
fn help_and_version_answer_for_every_subcommand() {
    let version = Command::new(BIN).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("custodian {}", env!("CARGO_PKG_VERSION"))
    );
    for sub in [
        vec![],
        vec!["serve"],
        vec!["migrate"],
        vec!["schema"],
        vec!["token"],
        vec!["import"],
        vec!["ledger"],
        vec!["ledger", "export"],
        vec!["ledger", "verify"],
        vec!["purge"],
        vec!["offboard"],
        vec!["dsr"],
        vec!["dsr", "export"],
        vec!["dsr", "verify-receipt"],
    ] {
        let out = Command::new(BIN).args(&sub).arg("--help").output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{sub:?} --help");
        assert!(text.contains("Usage: custodian"), "{sub:?}: {text}");
    }
}
