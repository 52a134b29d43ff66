//! Disclosures under legal process, on SQLite and PostgreSQL: the record, the production
//! under it (in the ledger), the notice held by a non-disclosure order, the report.

use serde_json::json;

use crate::helpers::{TestApp, error_code};

crate::on_both_backends!(a_compelled_disclosure_is_produced_under_its_record_and_notified_in_time);

async fn a_compelled_disclosure_is_produced_under_its_record_and_notified_in_time(app: TestApp) {
    let admin = app.admin_token();
    let (acme, bob) = app.tenant_with_token("Acme").await;
    let ada = app
        .create_contact(
            &bob,
            json!({"firstName": "Ada", "emails": [{"address": "ada@example.com"}]}),
        )
        .await["id"]
        .clone();
    let record = "mutation($i: RecordDisclosureInput!) { recordDisclosure(input: $i) { id noticeAt nondisclosureUntil } }";
    let input = |contacts: serde_json::Value, until: Option<String>| json!({"i": {"tenantId": acme, "authority": "District Court", "legalBasis": "subpoena", "reference": "CV-2026-118", "contactIds": contacts, "dataCategories": ["CONTACT_DETAILS"], "nondisclosureUntil": until}});
    assert_eq!(
        error_code(&app.gql(Some(&bob), record, input(json!([ada]), None)).await),
        "FORBIDDEN"
    );
    let bad = app
        .gql(
            Some(&admin),
            record,
            input(json!([uuid::Uuid::now_v7().to_string()]), None),
        )
        .await;
    assert_eq!(bad["errors"][0]["extensions"]["field"], "contactIds[0]");
    let past = (app.clock.now_chrono() - chrono::Duration::days(1)).to_rfc3339();
    let expired = app
        .gql(Some(&admin), record, input(json!([ada]), Some(past)))
        .await;
    assert_eq!(
        expired["errors"][0]["extensions"]["field"],
        "nondisclosureUntil"
    );
    assert_eq!(app.count_rows("disclosures").await, 0);
    // Under a non-disclosure order for ten days.
    let until = (app.clock.now_chrono() + chrono::Duration::days(10)).to_rfc3339();
    let gagged = app
        .gql_ok(&admin, record, input(json!([ada]), Some(until)))
        .await["recordDisclosure"]
        .clone();
    let produce = "mutation($t: ID!, $id: ID!) { produceDisclosure(tenantId: $t, id: $id) { content disclosure { producedAt producedSha256 } } }";
    let produced = app
        .gql_ok(&admin, produce, json!({"t": acme, "id": gagged["id"]}))
        .await["produceDisclosure"]
        .clone();
    let content = produced["content"].as_str().unwrap();
    assert!(content.contains("ada@example.com"), "the demanded category");
    assert!(!content.contains("Ada\""), "nothing outside it: {content}");
    assert!(produced["disclosure"]["producedSha256"].is_string());
    assert_eq!(
        error_code(
            &app.gql(
                Some(&admin),
                produce,
                json!({"t": acme, "id": gagged["id"]})
            )
            .await
        ),
        "CONFLICT"
    );
    // Produced only under its record: a LEGAL_COMPLIANCE export in the tenant's ledger,
    // which the order keeps from the controller (record and instruction alike) while the
    // chain still verifies.
    assert!(
        app.access_log(&bob)
            .await
            .iter()
            .all(|r| r["purpose"] != "LEGAL_COMPLIANCE")
    );
    let instructions = "{ instructions(first: 100) { edges { node { id } } } }";
    let listed = app.gql_ok(&bob, instructions, json!({})).await;
    assert!(
        !listed["instructions"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["node"]["id"] == gagged["id"]),
        "{listed}"
    );
    let one = "query($id: ID!) { instruction(id: $id) { id } }";
    assert_eq!(
        error_code(&app.gql(Some(&bob), one, json!({"id": gagged["id"]})).await),
        "NOT_FOUND"
    );
    let verified = app
        .gql_ok(&bob, "{ verifyAccessLog { valid } }", json!({}))
        .await;
    assert_eq!(verified["verifyAccessLog"]["valid"], true);
    // Nor does the subject's own access request tell of it.
    let request = app
        .gql_ok(&bob, "mutation($c: ID!) { openPrivacyRequest(input: {kind: ACCESS, regime: GDPR, subject: {contactIds: [$c]}}) { id } }", json!({"c": ada}))
        .await["openPrivacyRequest"]["id"]
        .clone();
    app.gql_ok(
        &bob,
        "mutation($id: ID!) { completePrivacyRequest(id: $id) { id } }",
        json!({"id": request}),
    )
    .await;
    let subject_export = app
        .gql_ok(
            &bob,
            "query($id: ID!) { privacyRequest(id: $id) { export { content } } }",
            json!({"id": request}),
        )
        .await["privacyRequest"]["export"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(subject_export.contains("ada@example.com"));
    assert!(
        subject_export.contains("\"WRITE\"") && !subject_export.contains("LEGAL_COMPLIANCE"),
        "{subject_export}"
    );
    // The controller's notice is held until the order expires.
    let seen = "{ disclosures { id authority reference } transparencyReport { period total } }";
    let held = app.gql_ok(&bob, seen, json!({})).await;
    assert_eq!(held["disclosures"], json!([]));
    assert_eq!(held["transparencyReport"], json!([]));
    let open =
        app.gql_ok(&admin, record, input(json!([ada]), None)).await["recordDisclosure"].clone();
    let now_seen = app.gql_ok(&bob, seen, json!({})).await;
    assert_eq!(
        now_seen["disclosures"].as_array().unwrap().len(),
        1,
        "told at once without an order"
    );
    assert_eq!(now_seen["disclosures"][0]["id"], open["id"]);
    app.clock.advance(10 * 86_400 + 1);
    let later = app.gql_ok(&bob, seen, json!({})).await;
    assert_eq!(
        later["disclosures"].as_array().unwrap().len(),
        2,
        "told when the order expires"
    );
    // And the record and instruction appear with the notice.
    let log = app.access_log(&bob).await;
    let export = log
        .iter()
        .find(|r| r["instructionId"] == gagged["id"])
        .unwrap();
    assert_eq!(export["operation"], "EXPORT");
    assert_eq!(export["actorKind"], "PLATFORM_ADMIN");
    assert_eq!(export["purpose"], "LEGAL_COMPLIANCE");
    assert_eq!(export["resourceIds"], json!([ada]));
    assert_eq!(
        app.gql_ok(&bob, one, json!({"id": gagged["id"]})).await["instruction"]["id"],
        gagged["id"]
    );
    let report = app
        .gql_ok(
            &admin,
            "{ transparencyReport { period total byTenant { tenantId count } } }",
            json!({}),
        )
        .await;
    let total: u64 = report["transparencyReport"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["total"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 2);
    assert_eq!(
        report["transparencyReport"][0]["byTenant"][0]["tenantId"],
        acme
    );
}
