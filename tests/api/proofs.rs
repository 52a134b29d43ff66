//! Ledger proofs: signed checkpoints of each tenant's Merkle tree, inclusion and
//! consistency proofs checked offline with only the verifier key, forged proofs refused,
//! and the controller's watch refusing a log rolled back or rewritten under it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use custodian_api::domain::TenantId;
use custodian_api::ledger::checkpoint::{self, LogKey, ProofError, Proved};
use custodian_api::ledger::watch::{self, Watched};
use sea_orm::Value as V;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code};

crate::on_both_backends!(
    every_record_is_proven_in_a_signed_checkpoint_and_checkpoints_extend_each_other,
    proofs_answer_clear_errors_and_only_to_the_tenants_admin,
    forged_proofs_are_all_refused,
    the_watch_refuses_a_log_rolled_back_or_rewritten_under_it,
);

const CHECKPOINT: &str = "treeSize rootHash issuedAt note";

async fn verifier_key(app: &TestApp) -> String {
    app.get_text("/.well-known/custodian/ledger-key")
        .await
        .trim()
        .to_owned()
}

async fn issue(app: &TestApp, token: &str) -> Value {
    app.gql_ok(
        token,
        &format!("mutation {{ issueLedgerCheckpoint {{ {CHECKPOINT} }} }}"),
        json!({}),
    )
    .await["issueLedgerCheckpoint"]
        .clone()
}

/// `n` reads of one contact: `n` records.
async fn reads(app: &TestApp, token: &str, contact: &Value, n: usize) {
    for _ in 0..n {
        app.gql_ok(
            token,
            "query($id: ID!) { contact(id: $id) { firstName } }",
            json!({"id": contact}),
        )
        .await;
    }
}

async fn inclusion(app: &TestApp, token: &str, seq: u64, size: Option<u64>) -> Value {
    app.gql_ok(
        token,
        "query($seq: Int!, $size: Int) { accessRecordProof(seq: $seq, treeSize: $size) { seq leafIndex treeSize hashes checkpoint record bundle } }",
        json!({"seq": seq, "size": size}),
    )
    .await["accessRecordProof"]
        .clone()
}

async fn consistency(app: &TestApp, token: &str, from: u64, to: Option<u64>) -> Value {
    app.gql_ok(
        token,
        "query($from: Int!, $to: Int) { ledgerConsistencyProof(fromSize: $from, toSize: $to) { fromSize toSize hashes old new bundle } }",
        json!({"from": from, "to": to}),
    )
    .await["ledgerConsistencyProof"]
        .clone()
}

fn size(checkpoint: &Value) -> u64 {
    checkpoint["treeSize"].as_u64().unwrap()
}

/// A tenant with a contact and `accesses` records in its chain (one write, the rest reads).
async fn tenant_with_records(
    app: &TestApp,
    name: &str,
    accesses: usize,
) -> (String, String, Value) {
    let (tenant, token) = app.tenant_with_token(name).await;
    let contact = app
        .create_contact(&token, json!({"firstName": "Ada"}))
        .await["id"]
        .clone();
    reads(app, &token, &contact, accesses - 1).await;
    (tenant, token, contact)
}

async fn every_record_is_proven_in_a_signed_checkpoint_and_checkpoints_extend_each_other(
    app: TestApp,
) {
    let (tenant, bob, contact) = tenant_with_records(&app, "Acme", 7).await;
    let tenant_id = TenantId::parse(&tenant).unwrap();
    let vkey = verifier_key(&app).await;
    assert!(vkey.starts_with("custodian.local+"), "{vkey}");
    let record = app
        .gql_ok(
            &bob,
            "{ recordOfProcessing { ledgerVerifierKey } }",
            json!({}),
        )
        .await;
    assert_eq!(
        record["recordOfProcessing"]["ledgerVerifierKey"],
        vkey.as_str()
    );

    let first = issue(&app, &bob).await;
    assert_eq!(size(&first), 7, "{first}");
    let note = first["note"].as_str().unwrap();
    let lines: Vec<&str> = note.lines().collect();
    assert_eq!(lines[0], format!("custodian.local/{tenant}"));
    assert_eq!(lines[1], "7");
    assert_eq!(lines[2], first["rootHash"].as_str().unwrap());
    assert!(lines[3].starts_with("time "), "{note}");
    assert_eq!(lines[4], "");
    assert!(lines[5].starts_with("\u{2014} custodian.local "), "{note}");
    assert_eq!(
        checkpoint::open(note, &vkey).unwrap().size,
        7,
        "the note opens with the published key"
    );

    // Every record, each proven on its own against the checkpoint.
    for seq in 1..=7 {
        let proof = inclusion(&app, &bob, seq, None).await;
        assert_eq!(
            (
                proof["seq"].as_u64(),
                proof["leafIndex"].as_u64(),
                proof["treeSize"].as_u64()
            ),
            (Some(seq), Some(seq - 1), Some(7))
        );
        // Audit paths grow with log n: at most ⌈log₂ 7⌉ = 3 hashes.
        assert!(proof["hashes"].as_array().unwrap().len() <= 3, "{proof}");
        let proved =
            checkpoint::verify_bundle(proof["bundle"].as_str().unwrap(), &vkey, Some(tenant_id));
        assert_eq!(
            proved,
            Ok(Proved::Included {
                tenant: tenant_id,
                seq,
                size: 7
            })
        );
    }
    // Nothing new: the same checkpoint, not another.
    let again = issue(&app, &bob).await;
    assert_eq!(again["note"], first["note"]);

    reads(&app, &bob, &contact, 6).await;
    app.create_contact(&bob, json!({"firstName": "Grace"}))
        .await;
    let second = issue(&app, &bob).await;
    assert_eq!(size(&second), 14);
    let proof = consistency(&app, &bob, 7, None).await;
    assert_eq!(
        (proof["fromSize"].as_u64(), proof["toSize"].as_u64()),
        (Some(7), Some(14))
    );
    assert_eq!(proof["old"], first["note"]);
    assert_eq!(
        checkpoint::verify_bundle(proof["bundle"].as_str().unwrap(), &vkey, Some(tenant_id)),
        Ok(Proved::Consistent {
            tenant: tenant_id,
            old: 7,
            new: 14
        })
    );
    // An old record in the old checkpoint and in the new one.
    for size in [Some(7), None] {
        let proof = inclusion(&app, &bob, 3, size).await;
        assert!(checkpoint::verify_bundle(proof["bundle"].as_str().unwrap(), &vkey, None).is_ok());
    }
    let by_size = app
        .gql_ok(
            &bob,
            &format!("{{ ledgerCheckpoint(treeSize: 7) {{ {CHECKPOINT} }} latest: ledgerCheckpoint {{ treeSize }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(by_size["ledgerCheckpoint"], first);
    assert_eq!(by_size["latest"]["treeSize"], 14);

    // verifyAccessLog recomputes the latest checkpoint's root from the records.
    let v = app
        .gql_ok(
            &bob,
            &format!("{{ verifyAccessLog {{ valid checked checkpoint {{ {CHECKPOINT} }} }} }}"),
            json!({}),
        )
        .await["verifyAccessLog"]
        .clone();
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["checkpoint"], second);
}

async fn proofs_answer_clear_errors_and_only_to_the_tenants_admin(app: TestApp) {
    let (tenant, bob, _) = tenant_with_records(&app, "Acme", 3).await;
    let ask = |token: String, query: &'static str| {
        let app = &app;
        async move { app.gql(Some(&token), query, json!({})).await }
    };
    // Before any checkpoint.
    let body = ask(bob.clone(), "{ accessRecordProof(seq: 1) { bundle } }").await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "treeSize");
    let body = ask(bob.clone(), "{ ledgerCheckpoint { note } }").await;
    assert_eq!(body["data"]["ledgerCheckpoint"], Value::Null, "{body}");

    issue(&app, &bob).await;
    for (query, field) in [
        ("{ accessRecordProof(seq: 4) { bundle } }", "seq"),
        ("{ accessRecordProof(seq: 0) { bundle } }", "seq"),
        (
            "{ accessRecordProof(seq: 1, treeSize: 2) { bundle } }",
            "treeSize",
        ),
        (
            "{ accessRecordProof(seq: 1, treeSize: -1) { bundle } }",
            "treeSize",
        ),
        (
            "{ ledgerConsistencyProof(fromSize: 2) { bundle } }",
            "fromSize",
        ),
    ] {
        let body = ask(bob.clone(), query).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{query}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["field"], field,
            "{query}: {body}"
        );
    }
    // A controller user, a partner, another tenant's admin: not this tenant's proofs.
    let user = app.token(
        custodian_api::auth::Role::ControllerUser,
        Some(&tenant),
        "u",
    );
    let body = ask(user.clone(), "{ accessRecordProof(seq: 1) { bundle } }").await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    let body = ask(user, "mutation { issueLedgerCheckpoint { note } }").await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    let (_, carol) = app.tenant_with_token("Globex").await;
    let body = ask(carol.clone(), "{ accessRecordProof(seq: 1) { bundle } }").await;
    assert_eq!(
        error_code(&body),
        "BAD_USER_INPUT",
        "Globex has no checkpoint: {body}"
    );
    let theirs = issue(&app, &carol).await;
    assert_eq!(
        size(&theirs),
        0,
        "Globex's log is empty, Acme's records are not in it"
    );
}

fn with(bundle: &Value, edit: impl FnOnce(&mut Value)) -> String {
    let mut b = bundle.clone();
    edit(&mut b);
    b.to_string()
}

fn flip(hash: &Value) -> Value {
    let mut bytes = STANDARD.decode(hash.as_str().unwrap()).unwrap();
    bytes[0] ^= 1;
    json!(STANDARD.encode(bytes))
}

/// The same checkpoint text signed by another key that claims the same name.
fn resigned(note: &str) -> String {
    let opened_text: Vec<&str> = note.split("\n\n").collect();
    let text = opened_text[0];
    let mut lines = text.lines();
    let origin = lines.next().unwrap();
    let tenant = TenantId::parse(origin.rsplit('/').next().unwrap()).unwrap();
    let size: u64 = lines.next().unwrap().parse().unwrap();
    let root: [u8; 32] = STANDARD
        .decode(lines.next().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let other = LogKey::new(
        "custodian.local",
        custodian_api::signing::Signer::from_seed([9; 32]),
    )
    .unwrap();
    other.sign(tenant, size, root, chrono::Utc::now())
}

async fn forged_proofs_are_all_refused(app: TestApp) {
    let (tenant, bob, contact) = tenant_with_records(&app, "Acme", 6).await;
    let tenant_id = TenantId::parse(&tenant).unwrap();
    let (_, carol, _) = tenant_with_records(&app, "Globex", 6).await;
    let vkey = verifier_key(&app).await;
    let old = issue(&app, &bob).await;
    reads(&app, &bob, &contact, 5).await;
    issue(&app, &bob).await;
    issue(&app, &carol).await;
    let good: Value = serde_json::from_str(
        inclusion(&app, &bob, 3, None).await["bundle"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let theirs: Value = serde_json::from_str(
        inclusion(&app, &carol, 3, None).await["bundle"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let growth: Value = serde_json::from_str(
        consistency(&app, &bob, size(&old), None).await["bundle"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let their_growth: Value = serde_json::from_str(
        consistency(&app, &carol, 6, None).await["bundle"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert!(good["hashes"].as_array().unwrap().len() >= 2, "{good}");
    let accepts = |b: &str| checkpoint::verify_bundle(b, &vkey, Some(tenant_id));
    assert!(
        accepts(&good.to_string()).is_ok(),
        "the genuine proof holds"
    );
    assert!(
        accepts(&growth.to_string()).is_ok(),
        "the genuine consistency proof holds"
    );

    let mut forged: Vec<(&str, String, Option<ProofError>)> = vec![
        (
            "tree size one more",
            with(&good, |b| b["treeSize"] = json!(12)),
            Some(ProofError::Mismatch("tree size")),
        ),
        (
            "tree size one less",
            with(&good, |b| b["treeSize"] = json!(10)),
            Some(ProofError::Mismatch("tree size")),
        ),
        (
            "leaf index off by one up",
            with(&good, |b| b["leafIndex"] = json!(3)),
            Some(ProofError::Mismatch("leaf index")),
        ),
        (
            "leaf index off by one down",
            with(&good, |b| b["leafIndex"] = json!(1)),
            Some(ProofError::Mismatch("leaf index")),
        ),
        (
            "record moved to the next seq",
            with(&good, |b| {
                b["record"]["seq"] = json!(4);
                b["leafIndex"] = json!(3);
            }),
            Some(ProofError::RecordAltered),
        ),
        (
            "a sibling flipped",
            with(&good, |b| b["hashes"][0] = flip(&b["hashes"][0])),
            Some(ProofError::NotIncluded),
        ),
        (
            "the last sibling flipped",
            with(&good, |b| {
                let n = b["hashes"].as_array().unwrap().len() - 1;
                b["hashes"][n] = flip(&b["hashes"][n]);
            }),
            Some(ProofError::NotIncluded),
        ),
        (
            "a sibling dropped",
            with(&good, |b| {
                b["hashes"].as_array_mut().unwrap().pop();
            }),
            Some(ProofError::NotIncluded),
        ),
        (
            "a sibling added",
            with(&good, |b| {
                let h = b["hashes"][0].clone();
                b["hashes"].as_array_mut().unwrap().push(h);
            }),
            Some(ProofError::NotIncluded),
        ),
        (
            "siblings reordered",
            with(&good, |b| b["hashes"].as_array_mut().unwrap().reverse()),
            Some(ProofError::NotIncluded),
        ),
        (
            "no siblings",
            with(&good, |b| b["hashes"] = json!([])),
            Some(ProofError::NotIncluded),
        ),
        (
            "the record altered",
            with(&good, |b| b["record"]["actor_id"] = json!("mallory")),
            Some(ProofError::RecordAltered),
        ),
        (
            "the record altered and rehashed",
            with(&good, |b| {
                b["record"]["actor_id"] = json!("mallory");
                let mut canonical = b["record"].as_object().unwrap().clone();
                canonical.remove("hash");
                let bytes = custodian_api::signing::canonical(&Value::Object(canonical));
                b["record"]["hash"] = json!(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
                    bytes.as_bytes()
                )));
            }),
            Some(ProofError::NotIncluded),
        ),
        (
            "another tenant's genuine proof",
            theirs.to_string(),
            Some(ProofError::OtherTenant),
        ),
        (
            "this tenant's record in another tenant's checkpoint",
            with(&theirs, |b| b["record"] = good["record"].clone()),
            Some(ProofError::OtherTenant),
        ),
        (
            "a checkpoint signed by another key",
            with(&good, |b| {
                b["checkpoint"] = json!(resigned(good["checkpoint"].as_str().unwrap()))
            }),
            None,
        ),
        (
            "the checkpoint's size edited under its signature",
            with(&good, |b| {
                b["checkpoint"] = json!(
                    good["checkpoint"]
                        .as_str()
                        .unwrap()
                        .replacen("\n11\n", "\n12\n", 1)
                )
            }),
            None,
        ),
        (
            "the checkpoint's signature removed",
            with(&good, |b| {
                b["checkpoint"] = json!(
                    good["checkpoint"]
                        .as_str()
                        .unwrap()
                        .split("\n\n")
                        .next()
                        .unwrap()
                        .to_owned()
                        + "\n\n"
                )
            }),
            None,
        ),
        (
            "a hash that is not 32 bytes",
            with(&good, |b| b["hashes"][0] = json!("AAAA")),
            None,
        ),
        (
            "an unknown bundle type",
            with(&good, |b| b["type"] = json!("custodian.inclusion-proof.v0")),
            None,
        ),
        (
            "consistency: old and new swapped",
            with(&growth, |b| {
                let o = b["old"].clone();
                b["old"] = b["new"].clone();
                b["new"] = o;
            }),
            Some(ProofError::RolledBack),
        ),
        (
            "consistency: a hash flipped",
            with(&growth, |b| b["hashes"][0] = flip(&b["hashes"][0])),
            Some(ProofError::Inconsistent),
        ),
        (
            "consistency: no hashes",
            with(&growth, |b| b["hashes"] = json!([])),
            Some(ProofError::Inconsistent),
        ),
        (
            "consistency: a hash dropped",
            with(&growth, |b| {
                b["hashes"].as_array_mut().unwrap().pop();
            }),
            Some(ProofError::Inconsistent),
        ),
        (
            "consistency: into another tenant's log",
            with(&growth, |b| b["new"] = their_growth["new"].clone()),
            Some(ProofError::OtherTenant),
        ),
        (
            "consistency: another tenant's genuine proof",
            their_growth.to_string(),
            Some(ProofError::OtherTenant),
        ),
        (
            "consistency: the new checkpoint signed by another key",
            with(&growth, |b| {
                b["new"] = json!(resigned(growth["new"].as_str().unwrap()))
            }),
            None,
        ),
    ];
    // The same size and root under a fresh signature of the real key is not a forgery;
    // an old checkpoint presented as the new one (a rollback) is.
    forged.push((
        "consistency: the new checkpoint replaced by the old",
        with(&growth, |b| b["new"] = old["note"].clone()),
        None,
    ));
    assert!(forged.len() >= 25);
    for (name, bundle, expected) in &forged {
        let result = accepts(bundle);
        assert!(
            result.is_err(),
            "accepted a forged proof ({name}): {result:?}"
        );
        if let Some(expected) = expected {
            assert_eq!(result.as_ref().unwrap_err(), expected, "{name}");
        }
    }
}

async fn the_watch_refuses_a_log_rolled_back_or_rewritten_under_it(app: TestApp) {
    let (tenant, bob, contact) = tenant_with_records(&app, "Acme", 6).await;
    let tenant_id = TenantId::parse(&tenant).unwrap();
    let vkey = verifier_key(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("acme.checkpoint");
    let run = |issue: bool| {
        let (address, bob, vkey, state) = (
            app.address.clone(),
            bob.clone(),
            vkey.clone(),
            state.clone(),
        );
        async move { watch::watch(&address, &bob, &vkey, &state, issue, Some(tenant_id)).await }
    };
    match run(true).await.unwrap() {
        Watched::First(c) => assert_eq!(c.size, 6),
        other => panic!("{other:?}"),
    }
    reads(&app, &bob, &contact, 4).await;
    match run(true).await.unwrap() {
        Watched::Extended { old, new } => assert_eq!((old, new.size), (6, 10)),
        other => panic!("{other:?}"),
    }
    // Nothing new: accepted again, the same checkpoint.
    assert!(matches!(
        run(false).await.unwrap(),
        Watched::Extended { old: 10, .. }
    ));
    let kept = std::fs::read_to_string(&state).unwrap();

    // Someone with the database rolls the log back to its third record, tree and
    // checkpoints with it, and the server signs what is left.
    let t = V::from(uuid::Uuid::parse_str(&tenant).unwrap());
    app.tamper(&[
        ("DELETE FROM access_records WHERE tenant_id = $1 AND seq > 3", vec![t.clone()]),
        ("DELETE FROM ledger_tree_hashes WHERE tenant_id = $1", vec![t.clone()]),
        ("DELETE FROM ledger_trees WHERE tenant_id = $1", vec![t.clone()]),
        ("DELETE FROM ledger_checkpoints WHERE tenant_id = $1", vec![t.clone()]),
        (
            "UPDATE ledger_heads SET seq = 3, hash = (SELECT hash FROM access_records WHERE tenant_id = $1 AND seq = 3) WHERE tenant_id = $1",
            vec![t.clone()],
        ),
    ])
    .await;
    let refused = run(true).await.unwrap_err().to_string();
    assert!(refused.contains("rolled back"), "{refused}");
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        kept,
        "the kept checkpoint stays"
    );

    // The log grows again from there: a fork. At the kept size it has another root…
    reads(&app, &bob, &contact, 7).await;
    let forked = issue(&app, &bob).await;
    assert_eq!(size(&forked), 10);
    let refused = run(false).await.unwrap_err().to_string();
    assert!(refused.contains("forked or rewritten"), "{refused}");
    // …and past it, no consistency proof from the kept checkpoint holds.
    reads(&app, &bob, &contact, 3).await;
    let refused = run(true).await.unwrap_err().to_string();
    assert!(refused.contains("forked or rewritten"), "{refused}");
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        kept,
        "the kept checkpoint stays"
    );
    // verifyAccessLog on the server sees a valid chain (it was rewritten whole): only a
    // witness that kept a checkpoint can tell.
    assert_eq!(app.verify_log(&bob).await["valid"], true);
}

/// The server signs checkpoints on its own schedule, for each tenant whose chain grew.
#[tokio::test]
async fn checkpoints_are_issued_on_the_servers_schedule() {
    let app = TestApp::spawn_configured(|s| s.checkpoint_every_seconds = 1).await;
    let (_, bob, _) = tenant_with_records(&app, "Acme", 4).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let latest = app
            .gql_ok(&bob, "{ ledgerCheckpoint { treeSize } }", json!({}))
            .await;
        if latest["ledgerCheckpoint"]["treeSize"] == 4 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no scheduled checkpoint: {latest}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
