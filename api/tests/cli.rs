//! The `custodian` binary as a new user runs it: `serve`, `token`, `schema`, `migrate`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{BIN, gql, start_server, start_server_with, token, webhook_receiver};

#[tokio::test]
async fn the_acceptance_example_runs_against_the_real_binary() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (server, base) = start_server(&data).await;
    let client = support::client();
    assert!(
        data.join("custodian.db").exists(),
        "the SQLite file is created in the data directory"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("jwt-hs256.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the signing key is private");
    }
    let alice = token(&data, &["--role", "platform_admin", "--sub", "alice"]);
    let created = gql(&client, &base, &alice, r#"mutation { createTenant(input: {name: "Acme", jurisdictions: [EEA], ownerAttestsAdult: true}) { id } }"#).await;
    let tenant = created["createTenant"]["id"].as_str().unwrap().to_owned();
    let bob = token(
        &data,
        &[
            "--role",
            "controller_admin",
            "--tenant",
            &tenant,
            "--sub",
            "bob",
        ],
    );
    let contact = gql(&client, &base, &bob, r#"mutation { createContact(input: {firstName: "Ada", lastName: "Lovelace",
  emails: [{address: "ada@example.com"}], phones: [{number: "+442071234567", kind: FAX}]}) { id version } }"#).await;
    let id = contact["createContact"]["id"].as_str().unwrap();
    let read = gql(&client, &base, &bob, &format!(r#"query {{ contact(id: "{id}") {{ firstName emails {{ address }} phones {{ number kind }} }} }}"#)).await;
    assert_eq!(
        read["contact"]["phones"],
        json!([{"number": "+442071234567", "kind": "FAX"}])
    );
    let list = gql(&client, &base, &bob, "query { contacts(first: 10) { totalCount edges { node { id } } pageInfo { hasNextPage endCursor } } }").await;
    assert_eq!(list["contacts"]["totalCount"], 1);

    // The ledger leaves as JSON Lines anyone can re-hash, and verifies from the CLI.
    let export = Command::new(BIN)
        .args([
            "ledger",
            "export",
            "--tenant",
            &tenant,
            "--data-dir",
            data.to_str().unwrap(),
        ])
        .env_remove("CUSTODIAN_DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(export.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "create, read, list");
    let mut prev = "0".repeat(64);
    for mut line in lines {
        let hash = line.as_object_mut().unwrap().remove("hash").unwrap();
        assert_eq!(line["prev_hash"], prev.as_str());
        use sha2::Digest;
        let recomputed = hex::encode(sha2::Sha256::digest(line.to_string().as_bytes()));
        assert_eq!(hash, recomputed.as_str());
        prev = recomputed;
    }
    let verify = Command::new(BIN)
        .args([
            "ledger",
            "verify",
            "--tenant",
            &tenant,
            "--data-dir",
            data.to_str().unwrap(),
        ])
        .env_remove("CUSTODIAN_DATABASE_URL")
        .output()
        .unwrap();
    assert!(verify.status.success());
    let report: Value = serde_json::from_slice(&verify.stdout).unwrap();
    assert_eq!(
        (report["valid"].as_bool(), report["checked"].as_i64()),
        (Some(true), Some(3))
    );
    drop(server);
}

#[test]
fn custodian_schema_prints_exactly_schema_graphql() {
    let out = Command::new(BIN).arg("schema").output().unwrap();
    assert!(out.status.success());
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql")).unwrap();
    assert!(
        String::from_utf8(out.stdout).unwrap() == committed,
        "schema.graphql drifted from `custodian schema`"
    );
}

#[test]
fn custodian_migrate_creates_the_schema_in_a_given_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
    for _ in 0..2 {
        let out = Command::new(BIN)
            .args(["migrate", "--database-url", &url])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "migrate is repeatable: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_controller_token_needs_a_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args([
            "token",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--role",
            "controller_admin",
            "--sub",
            "bob",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tenant is required"));
}

fn import(
    data: &std::path::Path,
    base: &str,
    tenant: &str,
    file: &std::path::Path,
    extra: &[&str],
) -> std::process::Output {
    Command::new(BIN)
        .args([
            "import",
            "--tenant",
            tenant,
            "--data-dir",
            data.to_str().unwrap(),
            "--url",
            base,
        ])
        .args(extra)
        .arg(file)
        .env_remove("CUSTODIAN_TOKEN")
        .output()
        .unwrap()
}

#[tokio::test]
async fn custodian_import_streams_csv_and_jsonl_and_resumes_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (_server, base) = start_server(&data).await;
    let client = support::client();
    let alice = token(&data, &["--role", "platform_admin", "--sub", "alice"]);
    let created = gql(&client, &base, &alice, r#"mutation { createTenant(input: {name: "Acme", jurisdictions: [EEA], ownerAttestsAdult: true}) { id } }"#).await;
    let tenant = created["createTenant"]["id"].as_str().unwrap().to_owned();
    let bob = token(
        &data,
        &[
            "--role",
            "controller_admin",
            "--tenant",
            &tenant,
            "--sub",
            "bob",
        ],
    );
    let write_csv = |bad_row: Option<usize>| {
        let mut text =
            String::from("firstName,lastName,email,phone,tags,city,country,custom.tier\n");
        for i in 0..2500 {
            let email = if Some(i) == bad_row {
                "not-an-email".to_owned()
            } else {
                format!("p{i}@example.com")
            };
            text.push_str(&format!(
                "P{i},Person,{email},+4420712{i:05},vip;imported,London,GB,gold\n"
            ));
        }
        let path = dir.path().join("contacts.csv");
        std::fs::write(&path, text).unwrap();
        path
    };
    let count = || async {
        gql(&client, &base, &bob, "{ contacts { totalCount } }").await["contacts"]["totalCount"]
            .as_i64()
            .unwrap()
    };
    // Row 2,100 is bad: the first two batches commit, the third is refused whole.
    let file = write_csv(Some(2099));
    let out = import(&data, &base, &tenant, &file, &["--import-key", "crm"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("rows 2001..2500") && stderr.contains("batch row 100: emails[0].address"),
        "{stderr}"
    );
    assert_eq!(count().await, 2000);
    // Fixed, the same import resumes: nothing twice.
    let file = write_csv(None);
    let out = import(&data, &base, &tenant, &file, &["--import-key", "crm"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("imported 500 contacts (2000 rows were already imported)")
    );
    assert_eq!(count().await, 2500);
    let out = import(&data, &base, &tenant, &file, &["--import-key", "crm"]);
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("imported 0 contacts (2500 rows were already imported)")
    );
    assert_eq!(count().await, 2500);
    let one = gql(&client, &base, &bob, "{ contacts(filter: {text: \"p2499@\"}) { nodes { firstName phones { number } tags source addresses { city country } customFields } } }").await;
    assert_eq!(
        one["contacts"]["nodes"][0],
        json!({"firstName": "P2499", "phones": [{"number": "+442071202499"}], "tags": ["vip", "imported"], "source": "IMPORT", "addresses": [{"city": "London", "country": "GB"}], "customFields": {"tier": "gold"}})
    );
    // JSON Lines, keyed by the file's hash by default; an unknown CSV column is refused.
    let jsonl = dir.path().join("more.jsonl");
    std::fs::write(
        &jsonl,
        "{\"firstName\": \"J1\"}\n\n{\"firstName\": \"J2\", \"source\": \"THIRD_PARTY\"}\n",
    )
    .unwrap();
    let out = import(&data, &base, &tenant, &jsonl, &[]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("imported 2 contacts"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = import(&data, &base, &tenant, &jsonl, &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported 0 contacts (2 rows"));
    let odd = dir.path().join("odd.csv");
    std::fs::write(&odd, "firstName,shoeSize\nA,44\n").unwrap();
    let out = import(&data, &base, &tenant, &odd, &[]);
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("unknown CSV column \"shoeSize\"")
    );
    assert_eq!(count().await, 2502);
    // One ledger record per batch: 3 + 1 + 1 batches' writes.
    let log = gql(
        &client,
        &base,
        &bob,
        "{ accessLog(filter: {operation: WRITE}) { totalCount } }",
    )
    .await;
    assert_eq!(log["accessLog"]["totalCount"], 4);
}

#[tokio::test]
async fn custodian_dsr_downloads_an_export_and_verifies_its_receipt_offline() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (_server, base) = start_server(&data).await;
    let client = support::client();
    let alice = token(&data, &["--role", "platform_admin", "--sub", "alice"]);
    let created = gql(&client, &base, &alice, r#"mutation { createTenant(input: {name: "Acme", jurisdictions: [EEA], ownerAttestsAdult: true}) { id } }"#).await;
    let tenant = created["createTenant"]["id"].as_str().unwrap().to_owned();
    let bob = token(
        &data,
        &[
            "--role",
            "controller_admin",
            "--tenant",
            &tenant,
            "--sub",
            "bob",
        ],
    );
    let contact = gql(&client, &base, &bob, r#"mutation { createContact(input: {firstName: "Ada", emails: [{address: "ada@example.com"}]}) { id } }"#).await;
    let id = contact["createContact"]["id"].as_str().unwrap();
    let opened = gql(&client, &base, &bob, &format!(r#"mutation {{ openPrivacyRequest(input: {{kind: PORTABILITY, regime: GDPR, subject: {{contactIds: ["{id}"]}}}}) {{ id }} }}"#)).await;
    let request = opened["openPrivacyRequest"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = gql(
        &client,
        &base,
        &bob,
        &format!(
            r#"mutation {{ completePrivacyRequest(id: "{request}") {{ receipt resultSha256 }} }}"#
        ),
    )
    .await;
    let receipt = dir.path().join("receipt.json");
    std::fs::write(
        &receipt,
        done["completePrivacyRequest"]["receipt"].as_str().unwrap(),
    )
    .unwrap();
    // The download is the stored document; its hash is the one in the receipt.
    let out = dir.path().join("export.json");
    let export = Command::new(BIN)
        .args([
            "dsr",
            "export",
            "--url",
            &base,
            "--token",
            &bob,
            "--request",
            &request,
        ])
        .args(["--output", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let bytes = std::fs::read(&out).unwrap();
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&bytes))
    };
    assert_eq!(
        sha,
        done["completePrivacyRequest"]["resultSha256"]
            .as_str()
            .unwrap()
    );
    let csv = Command::new(BIN)
        .args([
            "dsr",
            "export",
            "--url",
            &base,
            "--token",
            &bob,
            "--request",
            &request,
            "--format",
            "csv",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&csv.stdout).contains("ada@example.com"));
    // Offline: with the published key, and with the deployment's data directory.
    let published: Value = client
        .get(format!("{base}/.well-known/custodian/signing-key"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = published["publicKey"].as_str().unwrap();
    let verify = |file: &std::path::Path, key_args: &[&str]| {
        Command::new(BIN)
            .args(["dsr", "verify-receipt", file.to_str().unwrap()])
            .args(key_args)
            .output()
            .unwrap()
    };
    let ok = verify(&receipt, &["--public-key", key]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let shown: Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(shown["body"]["requestId"], request.as_str());
    assert!(
        verify(&receipt, &["--data-dir", data.to_str().unwrap()])
            .status
            .success()
    );
    // Tampered, or checked against another key: refused, saying why, without a panic.
    let tampered = dir.path().join("tampered.json");
    let text = std::fs::read_to_string(&receipt).unwrap();
    std::fs::write(&tampered, text.replace("PORTABILITY", "ACCESS")).unwrap();
    let bad = verify(&tampered, &["--public-key", key]);
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("signature does not match"), "{stderr}");
    assert!(!stderr.contains("panicked"));
    let other = verify(
        &receipt,
        &[
            "--public-key",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ],
    );
    assert!(String::from_utf8_lossy(&other.stderr).contains("another key"));
}

#[tokio::test]
async fn custodian_purge_interrupted_at_any_point_resumes_without_removing_anything_twice() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (_server, base) = start_server(&data).await;
    let client = support::client();
    let alice = token(&data, &["--role", "platform_admin", "--sub", "alice"]);
    let created = gql(&client, &base, &alice, r#"mutation { createTenant(input: {name: "Acme", jurisdictions: [EEA], ownerAttestsAdult: true}) { id } }"#).await;
    let tenant = created["createTenant"]["id"].as_str().unwrap().to_owned();
    let bob = token(
        &data,
        &[
            "--role",
            "controller_admin",
            "--tenant",
            &tenant,
            "--sub",
            "bob",
        ],
    );
    // Enough rows that a purge in batches of one is still running when it is killed.
    const ROWS: i64 = 3_000;
    let mut all: Vec<String> = Vec::new();
    for chunk in 0..ROWS / 500 {
        let rows: Vec<String> = (0..500)
            .map(|i| format!("{{firstName: \"C{chunk}-{i}\"}}"))
            .collect();
        let imported = gql(
            &client,
            &base,
            &bob,
            &format!(
                "mutation {{ importContacts(contacts: [{}]) {{ ids }} }}",
                rows.join(", ")
            ),
        )
        .await;
        all.extend(
            imported["importContacts"]["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned()),
        );
    }
    all.sort();
    gql(
        &client,
        &base,
        &bob,
        "mutation { setRetentionPolicy(rule: CONTACTS_AFTER_LAST_UPDATE, months: 1) { id } }",
    )
    .await;
    let at = (chrono::Utc::now() + chrono::Duration::days(62)).to_rfc3339();
    let purge = |extra: &[&str]| {
        Command::new(BIN)
            .args(["purge", "--data-dir", data.to_str().unwrap(), "--at", &at])
            .args(extra)
            .env_remove("CUSTODIAN_DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let count = || async {
        gql(&client, &base, &bob, "{ contacts { totalCount } }").await["contacts"]["totalCount"]
            .as_i64()
            .unwrap()
    };
    // Killed mid-run: whole batches are gone, the rest is there.
    let mut first = purge(&["--batch-size", "1"]);
    let started = Instant::now();
    loop {
        let left = count().await;
        if left < ROWS || started.elapsed() > Duration::from_secs(30) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let left = count().await;
    assert!(
        left > 0 && left < ROWS,
        "the purge was interrupted part-way: {left} left"
    );
    // Run again: it takes up exactly the rest.
    let second = purge(&["--batch-size", "50"]).wait_with_output().unwrap();
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let summary: Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(
        summary["outcomes"][0]["ids"].as_array().unwrap().len() as i64,
        left
    );
    assert_eq!(count().await, 0);
    // The ledger names every contact once: nothing removed twice, nothing skipped.
    let mut recorded: Vec<String> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = client
            .post(format!("{base}/graphql"))
            .bearer_auth(&bob)
            .json(&json!({"query": "query($a: String) { accessLog(first: 100, after: $a, filter: {actorKind: SYSTEM}) { nodes { resourceIds } pageInfo { hasNextPage endCursor } } }", "variables": {"a": after}}))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap();
        let log = &page["data"]["accessLog"];
        for n in log["nodes"].as_array().unwrap() {
            recorded.extend(
                n["resourceIds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_owned()),
            );
        }
        if log["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = log["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    recorded.sort();
    assert_eq!(recorded, all);
    let verified = gql(&client, &base, &bob, "{ verifyAccessLog { valid } }").await;
    assert_eq!(verified["verifyAccessLog"]["valid"], true);
    // A dry run now finds nothing; a bad option is one clear line.
    let dry = purge(&["--dry-run"]).wait_with_output().unwrap();
    let dry: Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!(dry["outcomes"][0]["ids"], json!([]));
    let bad = Command::new(BIN)
        .args([
            "purge",
            "--data-dir",
            data.to_str().unwrap(),
            "--at",
            "next tuesday",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--at must be an RFC 3339 time"));
}

#[tokio::test]
async fn a_webhook_queued_before_a_crash_is_delivered_by_the_next_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (url, seen) = webhook_receiver().await;
    let client = support::client();
    // The first server queues the notice but does not deliver, and is killed (SIGKILL).
    let (first, base) = start_server_with(&data, &[("CUSTODIAN_DELIVER_WEBHOOKS", "false")]).await;
    let alice = token(&data, &["--role", "platform_admin", "--sub", "alice"]);
    let created = gql(&client, &base, &alice, r#"mutation { createTenant(input: {name: "Acme", jurisdictions: [EEA], ownerAttestsAdult: true}) { id } }"#).await;
    let tenant = created["createTenant"]["id"].as_str().unwrap().to_owned();
    let bob = token(
        &data,
        &[
            "--role",
            "controller_admin",
            "--tenant",
            &tenant,
            "--sub",
            "bob",
        ],
    );
    gql(
        &client,
        &base,
        &bob,
        &format!(r#"mutation {{ registerWebhook(url: "{url}") {{ secret }} }}"#),
    )
    .await;
    let detected = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    gql(&client, &base, &alice, &format!(r#"mutation {{ recordBreachIncident(input: {{detectedAt: "{detected}", summary: "S", dataCategories: [IDENTITY], affected: [{{tenantId: "{tenant}", estimatedRecords: 3}}]}}) {{ id }} }}"#)).await;
    let queued = gql(
        &client,
        &base,
        &bob,
        "{ webhookDeliveries { id deliveredAt attempts { status } } }",
    )
    .await;
    let queued = queued["webhookDeliveries"].as_array().unwrap().clone();
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert!(queued[0]["deliveredAt"].is_null());
    assert_eq!(queued[0]["attempts"], json!([]));
    drop(first);
    assert!(seen().is_empty(), "nothing was sent before the crash");
    // The next server on the same data delivers it, once.
    let (_second, base) = start_server(&data).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let delivered = loop {
        let now = gql(
            &client,
            &base,
            &bob,
            "{ webhookDeliveries { id deliveredAt attempts { status } } }",
        )
        .await;
        let d = now["webhookDeliveries"][0].clone();
        if d["deliveredAt"].is_string() {
            break d;
        }
        assert!(
            Instant::now() < deadline,
            "not delivered after the restart: {d}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(delivered["id"], queued[0]["id"]);
    assert_eq!(delivered["attempts"], json!([{"status": 200}]));
    assert_eq!(seen(), vec![queued[0]["id"].as_str().unwrap().to_owned()]);
}

/// Reads `contact` `times` times, one access record each.
async fn read_contact(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    contact: &str,
    times: usize,
) {
    for _ in 0..times {
        gql(
            client,
            base,
            token,
            &format!(r#"{{ contact(id: "{contact}") {{ firstName }} }}"#),
        )
        .await;
    }
}

/// The proof bundle `query` answers in `field`, parsed.
async fn bundle(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    query: &str,
    field: &str,
) -> Value {
    let data = gql(client, base, token, query).await;
    serde_json::from_str(data[field]["bundle"].as_str().unwrap()).unwrap()
}

/// Runs `custodian ledger verify-proof` and the Python verifier on `bundle`; both must
/// agree, and the answer is whether they accepted it.
fn both_verifiers_accept(dir: &std::path::Path, bundle: &str, key: &str, tenant: &str) -> bool {
    let file = dir.join("bundle.json");
    std::fs::write(&file, bundle).unwrap();
    let rust = Command::new(BIN)
        .args([
            "ledger",
            "verify-proof",
            file.to_str().unwrap(),
            "--key",
            key,
            "--tenant",
            tenant,
        ])
        .output()
        .unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/python/verify_proof.py"
    );
    let python = Command::new("python3")
        .args([
            script,
            file.to_str().unwrap(),
            "--key",
            key,
            "--tenant",
            tenant,
        ])
        .output()
        .unwrap();
    assert_eq!(
        rust.status.success(),
        python.status.success(),
        "the verifiers disagree on {bundle}:\nrust: {}{}\npython: {}{}",
        String::from_utf8_lossy(&rust.stdout),
        String::from_utf8_lossy(&rust.stderr),
        String::from_utf8_lossy(&python.stdout),
        String::from_utf8_lossy(&python.stderr),
    );
    if rust.status.success() {
        let a: Value = serde_json::from_slice(&rust.stdout).unwrap();
        let b: Value = serde_json::from_slice(&python.stdout).unwrap();
        assert_eq!(a, b, "both report the same proof");
    }
    rust.status.success()
}

#[tokio::test]
async fn ledger_proofs_verify_offline_in_rust_and_in_python_and_the_watch_keeps_its_checkpoint() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (_server, base) = start_server(&data).await;
    let client = support::client();
    let alice = token(&data, &["--role", "platform_admin", "--sub", "alice"]);
    let mut tenants = Vec::new();
    for name in ["Acme", "Globex"] {
        let created = gql(&client, &base, &alice, &format!(r#"mutation {{ createTenant(input: {{name: "{name}", jurisdictions: [EEA], ownerAttestsAdult: true}}) {{ id }} }}"#)).await;
        let tenant = created["createTenant"]["id"].as_str().unwrap().to_owned();
        // A subject with quotes and non-ASCII letters: both verifiers rebuild the same
        // canonical bytes.
        let bob = token(
            &data,
            &[
                "--role",
                "controller_admin",
                "--tenant",
                &tenant,
                "--sub",
                "bøb \"q\" ✓",
            ],
        );
        let contact = gql(
            &client,
            &base,
            &bob,
            r#"mutation { createContact(input: {firstName: "Ada"}) { id } }"#,
        )
        .await;
        let id = contact["createContact"]["id"].as_str().unwrap().to_owned();
        read_contact(&client, &base, &bob, &id, 7).await;
        tenants.push((tenant, bob, id));
    }
    let (tenant, bob, contact) = tenants[0].clone();
    let vkey = client
        .get(format!("{base}/.well-known/custodian/ledger-key"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let key_file = dir.path().join("ledger.vkey");
    std::fs::write(&key_file, &vkey).unwrap();
    let key = key_file.to_str().unwrap();

    // The controller's witness takes its first checkpoint.
    let state = dir.path().join("acme.checkpoint");
    let watch = |issue: bool| {
        let mut args = vec![
            "ledger",
            "watch",
            "--state",
            state.to_str().unwrap(),
            "--key",
            key,
            "--url",
            &base,
            "--token",
            &bob,
            "--tenant",
            &tenant,
        ];
        if issue {
            args.push("--issue");
        }
        Command::new(BIN).args(&args).output().unwrap()
    };
    let first = watch(true);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let first: Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(
        first,
        json!({"accepted": true, "tenant": tenant, "treeSize": 8, "previousSize": null})
    );
    for (_, token, _) in &tenants[1..] {
        gql(
            &client,
            &base,
            token,
            "mutation { issueLedgerCheckpoint { treeSize } }",
        )
        .await;
    }
    let inclusion = "{ accessRecordProof(seq: 3) { bundle } }";
    let good = bundle(&client, &base, &bob, inclusion, "accessRecordProof").await;
    let theirs = bundle(
        &client,
        &base,
        &tenants[1].1,
        inclusion,
        "accessRecordProof",
    )
    .await;
    assert!(both_verifiers_accept(
        dir.path(),
        &good.to_string(),
        key,
        &tenant
    ));

    // More accesses, a newer checkpoint the witness accepts as an extension.
    read_contact(&client, &base, &bob, &contact, 5).await;
    let second = watch(true);
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let second: Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(
        (second["treeSize"].as_u64(), second["previousSize"].as_u64()),
        (Some(13), Some(8))
    );
    assert!(std::fs::read_to_string(&state).unwrap().contains("\n13\n"));
    let growth = bundle(
        &client,
        &base,
        &bob,
        "{ ledgerConsistencyProof(fromSize: 8) { bundle } }",
        "ledgerConsistencyProof",
    )
    .await;
    assert!(both_verifiers_accept(
        dir.path(),
        &growth.to_string(),
        key,
        &tenant
    ));
    // The operator's own path: a checkpoint signed from the command line, a bundle.
    read_contact(&client, &base, &bob, &contact, 2).await;
    let signed = Command::new(BIN)
        .args([
            "ledger",
            "checkpoint",
            "--tenant",
            &tenant,
            "--data-dir",
            data.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    let note = String::from_utf8(signed.stdout).unwrap();
    let opened = custodian_api::ledger::checkpoint::open(&note, &vkey).unwrap();
    assert_eq!(opened.size, 15, "{note}");
    let operator = Command::new(BIN)
        .args([
            "ledger",
            "prove",
            "--tenant",
            &tenant,
            "--seq",
            "12",
            "--data-dir",
            data.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        operator.status.success(),
        "{}",
        String::from_utf8_lossy(&operator.stderr)
    );
    assert!(both_verifiers_accept(
        dir.path(),
        String::from_utf8_lossy(&operator.stdout).trim(),
        key,
        &tenant
    ));

    let flip = |h: &Value| {
        let mut bytes = b64.decode(h.as_str().unwrap()).unwrap();
        bytes[31] ^= 0x80;
        json!(b64.encode(bytes))
    };
    let with = |b: &Value, edit: &dyn Fn(&mut Value)| {
        let mut b = b.clone();
        edit(&mut b);
        b.to_string()
    };
    let forged = [
        with(&good, &|b| b["hashes"][0] = flip(&b["hashes"][0])),
        with(&good, &|b| b["hashes"][1] = flip(&b["hashes"][1])),
        with(&good, &|b| {
            b["hashes"].as_array_mut().unwrap().pop();
        }),
        with(&good, &|b| b["hashes"].as_array_mut().unwrap().reverse()),
        with(&good, &|b| b["leafIndex"] = json!(3)),
        with(&good, &|b| b["leafIndex"] = json!(1)),
        with(&good, &|b| b["treeSize"] = json!(9)),
        with(&good, &|b| b["record"]["actor_id"] = json!("mallory")),
        with(&good, &|b| b["record"]["seq"] = json!(4)),
        with(&good, &|b| {
            b["checkpoint"] = json!(
                good["checkpoint"]
                    .as_str()
                    .unwrap()
                    .replacen("\n8\n", "\n9\n", 1)
            )
        }),
        with(&good, &|b| {
            b["checkpoint"] = json!(good["checkpoint"].as_str().unwrap().replace(
                &vkey.trim().split('+').next().unwrap().to_string(),
                "other.example"
            ))
        }),
        theirs.to_string(),
        with(&theirs, &|b| b["record"] = good["record"].clone()),
        with(&growth, &|b| {
            let o = b["old"].clone();
            b["old"] = b["new"].clone();
            b["new"] = o;
        }),
        with(&growth, &|b| b["hashes"][0] = flip(&b["hashes"][0])),
        with(&growth, &|b| b["hashes"] = json!([])),
        with(&growth, &|b| b["new"] = b["old"].clone()),
    ];
    for bundle in &forged {
        assert!(
            !both_verifiers_accept(dir.path(), bundle, key, &tenant),
            "accepted: {bundle}"
        );
    }
    // A checkpoint that is not of this key, offered to the witness, is refused and the
    // kept one stays.
    let other_key = "custodian.local+00000000+AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let refused = Command::new(BIN)
        .args([
            "ledger",
            "watch",
            "--state",
            state.to_str().unwrap(),
            "--key",
            other_key,
            "--url",
            &base,
            "--token",
            &bob,
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(std::fs::read_to_string(&state).unwrap().contains("\n13\n"));
    // The kept checkpoint moves on to the operator's.
    let third = watch(false);
    assert!(
        third.status.success(),
        "{}",
        String::from_utf8_lossy(&third.stderr)
    );
    assert!(std::fs::read_to_string(&state).unwrap().contains("\n15\n"));
}
