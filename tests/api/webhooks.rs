//! Webhooks, on SQLite and PostgreSQL: a real receiver on loopback checks every
//! signature; a failed delivery is retried by the clock until acknowledged; every
//! attempt is listed for the controller.

use std::sync::{Arc, Mutex};

use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{TestApp, error_code};

crate::on_both_backends!(
    notices_reach_the_controllers_endpoint_signed_and_retried_until_acknowledged,
    several_workers_at_once_send_a_delivery_once,
);

/// What the receiver saw: (event type, body, whether the signature checked, the
/// `Custodian-Signature` header).
type Seen = Arc<Mutex<Vec<(String, String, bool, String)>>>;

/// A receiver on loopback: answers 500 to the first request and 200 after, and checks
/// each `Custodian-Signature` against `secret` (HMAC-SHA256 over "<t>.<body>").
async fn receiver(secret: Arc<Mutex<String>>) -> (String, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head, body) = loop {
                let n = socket.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let head = text[..end].to_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + length {
                        break (
                            head,
                            String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).to_string(),
                        );
                    }
                }
                if n == 0 {
                    break (String::new(), String::new());
                }
            };
            let header = |name: &str| {
                head.lines()
                    .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                    .unwrap_or("")
                    .trim()
                    .to_owned()
            };
            let signature = header("custodian-signature");
            let t = signature
                .split(',')
                .find_map(|p| p.strip_prefix("t="))
                .unwrap_or("");
            let v1 = signature
                .split(',')
                .find_map(|p| p.strip_prefix("v1="))
                .unwrap_or("");
            let key = secret.lock().unwrap().clone();
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
            mac.update(format!("{t}.{body}").as_bytes());
            let ok = hex::encode(mac.finalize().into_bytes()) == v1;
            let first = log.lock().unwrap().is_empty();
            log.lock()
                .unwrap()
                .push((header("custodian-event"), body, ok, signature.clone()));
            let status = if first {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            let _ = socket
                .write_all(
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .await;
        }
    });
    (url, seen)
}

async fn deliveries(app: &TestApp, token: &str) -> Vec<Value> {
    app.gql_ok(
        token,
        "{ webhookDeliveries { id eventType deliveredAt attempts { attempt status } } }",
        json!({}),
    )
    .await["webhookDeliveries"]
        .as_array()
        .unwrap()
        .clone()
}

async fn notices_reach_the_controllers_endpoint_signed_and_retried_until_acknowledged(
    app: TestApp,
) {
    let admin = app.admin_token();
    let (acme, bob) = app.tenant_with_token("Acme").await;
    let secret = Arc::new(Mutex::new(String::new()));
    let (url, seen) = receiver(secret.clone()).await;
    let bad = app
        .gql(
            Some(&bob),
            "mutation($u: String!) { registerWebhook(url: $u) { secret } }",
            json!({"u": "ftp://example.com"}),
        )
        .await;
    assert_eq!(bad["errors"][0]["extensions"]["field"], "url");
    let user = app.token(custodian_api::auth::Role::ControllerUser, Some(&acme), "u");
    let by_user = app
        .gql(
            Some(&user),
            "mutation($u: String!) { registerWebhook(url: $u) { secret } }",
            json!({"u": url}),
        )
        .await;
    assert_eq!(error_code(&by_user), "FORBIDDEN");
    let registered = app
        .gql_ok(
            &bob,
            "mutation($u: String!) { registerWebhook(url: $u) { secret endpoint { id url } } }",
            json!({"u": url}),
        )
        .await["registerWebhook"]
        .clone();
    *secret.lock().unwrap() = registered["secret"].as_str().unwrap().to_owned();
    let listed = app
        .gql_ok(&bob, "{ webhookEndpoints { id url } }", json!({}))
        .await;
    assert_eq!(listed["webhookEndpoints"][0]["url"], url.as_str());
    // A breach notice goes out at once; the receiver's first answer is a 500.
    let detected = (app.clock.now_chrono() - chrono::Duration::hours(1)).to_rfc3339();
    app.gql_ok(&admin, "mutation($i: BreachIncidentInput!) { recordBreachIncident(input: $i) { id } }", json!({"i": {"detectedAt": detected, "summary": "S", "dataCategories": ["IDENTITY"], "affected": [{"tenantId": acme, "estimatedRecords": 3}]}})).await;
    let started = std::time::Instant::now();
    while seen.lock().unwrap().is_empty() && started.elapsed() < std::time::Duration::from_secs(10)
    {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let first = deliveries(&app, &bob).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["eventType"], "breach_notice");
    // The worker may not have recorded the failed attempt yet.
    let started = std::time::Instant::now();
    loop {
        let d = deliveries(&app, &bob).await;
        if d[0]["attempts"].as_array().unwrap().len() == 1 || started.elapsed().as_secs() > 10 {
            assert_eq!(d[0]["attempts"], json!([{"attempt": 1, "status": 500}]));
            assert!(d[0]["deliveredAt"].is_null());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Not retried before its backoff has passed by the clock; then retried and acknowledged.
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    assert_eq!(seen.lock().unwrap().len(), 1, "no retry before the backoff");
    app.clock.advance(11);
    let started = std::time::Instant::now();
    loop {
        let d = deliveries(&app, &bob).await;
        if d[0]["deliveredAt"].is_string() || started.elapsed().as_secs() > 10 {
            assert_eq!(
                d[0]["attempts"],
                json!([{"attempt": 1, "status": 500}, {"attempt": 2, "status": 200}])
            );
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let log = seen.lock().unwrap().clone();
    assert_eq!(log.len(), 2);
    assert!(
        log.iter()
            .all(|(event, _, ok, _)| event == "breach_notice" && *ok),
        "every signature checks: {log:?}"
    );
    let body: Value = serde_json::from_str(&log[1].1).unwrap();
    assert_eq!(body["type"], "breach_notice");
    assert_eq!(body["tenantId"], acme);
    // The same signature does not check for a forged body.
    let header = &log[1].3;
    let t = header
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .unwrap();
    let v1 = header
        .split(',')
        .find_map(|p| p.strip_prefix("v1="))
        .unwrap();
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.lock().unwrap().as_bytes()).unwrap();
    mac.update(format!("{t}.{}", log[1].1.replace("breach_notice", "forged")).as_bytes());
    assert_ne!(hex::encode(mac.finalize().into_bytes()), v1);
    // Another tenant sees none of it.
    let (_, carol) = app.tenant_with_token("Beta").await;
    assert!(deliveries(&app, &carol).await.is_empty());
}

async fn several_workers_at_once_send_a_delivery_once(app: TestApp) {
    let admin = app.admin_token();
    let (acme, bob) = app.tenant_with_token("Acme").await;
    let secret = Arc::new(Mutex::new(String::new()));
    let (url, seen) = receiver(secret.clone()).await;
    let registered = app
        .gql_ok(
            &bob,
            "mutation($u: String!) { registerWebhook(url: $u) { secret } }",
            json!({"u": url}),
        )
        .await;
    *secret.lock().unwrap() = registered["registerWebhook"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let detected = (app.clock.now_chrono() - chrono::Duration::hours(1)).to_rfc3339();
    app.gql_ok(&admin, "mutation($i: BreachIncidentInput!) { recordBreachIncident(input: $i) { id } }", json!({"i": {"detectedAt": detected, "summary": "S", "dataCategories": ["IDENTITY"], "affected": [{"tenantId": acme, "estimatedRecords": 3}]}})).await;
    // Three more servers' workers (beside this server's own) find the delivery due at once.
    let ledger = custodian_api::ledger::Ledger::for_jobs();
    let client = reqwest::Client::new();
    let worker = || async {
        let ctx = custodian_api::policy::RequestCtx::for_job(
            &app.db,
            &ledger,
            "custodian-webhooks",
            app.clock.now_chrono(),
        );
        custodian_api::service::webhooks::deliver_due(&ctx, &client).await
    };
    let (a, b, c) = tokio::join!(worker(), worker(), worker());
    for r in [a, b, c] {
        r.unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    assert_eq!(seen.lock().unwrap().len(), 1, "sent once");
    let d = deliveries(&app, &bob).await;
    assert_eq!(d[0]["attempts"], json!([{"attempt": 1, "status": 500}]));
}
