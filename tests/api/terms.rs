//! Notices of material change to the processing terms, on SQLite and PostgreSQL.

use custodian_api::auth::Role;
use serde_json::json;

use crate::helpers::{TestApp, error_code};

crate::on_both_backends!(a_change_of_terms_gives_thirty_days_notice_and_records_each_answer);

async fn a_change_of_terms_gives_thirty_days_notice_and_records_each_answer(app: TestApp) {
    let admin = app.admin_token();
    let (acme, bob) = app.tenant_with_token("Acme").await;
    let (_, carol) = app.tenant_with_token("Beta").await;
    let announce = "mutation($t: String!, $at: DateTime) { announceTerms(text: $t, effectiveAt: $at) { id effectiveAt effective } }";
    let soon = (app.clock.now_chrono() + chrono::Duration::days(29)).to_rfc3339();
    let early = app
        .gql(Some(&admin), announce, json!({"t": "v2", "at": soon}))
        .await;
    assert_eq!(early["errors"][0]["extensions"]["field"], "effectiveAt");
    assert_eq!(
        error_code(&app.gql(Some(&bob), announce, json!({"t": "v2"})).await),
        "FORBIDDEN"
    );
    assert_eq!(app.count_rows("terms_versions").await, 0);
    let v2 = app
        .gql_ok(
            &admin,
            announce,
            json!({"t": "Processing terms v2: backups kept 35 days", "at": null}),
        )
        .await["announceTerms"]
        .clone();
    assert_eq!(v2["effective"], false);
    let list = "{ termsVersions { id text effective responses { tenantId response reason } } }";
    let seen = app.gql_ok(&bob, list, json!({})).await;
    assert_eq!(
        seen["termsVersions"][0]["id"], v2["id"],
        "every controller sees the notice"
    );
    let respond = "mutation($id: ID!, $r: TermsAnswer!, $why: String) { respondToTerms(id: $id, response: $r, reason: $why) { responses { tenantId response reason } } }";
    let ack = app
        .gql_ok(&bob, respond, json!({"id": v2["id"], "r": "ACKNOWLEDGE"}))
        .await;
    assert_eq!(
        ack["respondToTerms"]["responses"],
        json!([{"tenantId": acme, "response": "ACKNOWLEDGE", "reason": null}])
    );
    app.gql_ok(
        &carol,
        respond,
        json!({"id": v2["id"], "r": "OBJECT", "why": "backups must stay in the EEA"}),
    )
    .await;
    let twice = app
        .gql(Some(&bob), respond, json!({"id": v2["id"], "r": "OBJECT"}))
        .await;
    assert_eq!(error_code(&twice), "CONFLICT");
    // Each controller sees its own answer; the platform admin sees every one.
    let own = app.gql_ok(&carol, list, json!({})).await;
    assert_eq!(
        own["termsVersions"][0]["responses"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        own["termsVersions"][0]["responses"][0]["response"],
        "OBJECT"
    );
    let all = app.gql_ok(&admin, list, json!({})).await;
    assert_eq!(
        all["termsVersions"][0]["responses"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let staff = app.instructed_token(Role::ProcessorStaff, &acme, "support", None);
    assert_eq!(
        error_code(&app.gql(Some(&staff), list, json!({})).await),
        "FORBIDDEN"
    );
    let unknown = app
        .gql(
            Some(&bob),
            respond,
            json!({"id": uuid::Uuid::now_v7().to_string(), "r": "ACKNOWLEDGE"}),
        )
        .await;
    assert_eq!(error_code(&unknown), "NOT_FOUND");
    // In force after the notice period: the record of processing states it.
    let before = app
        .gql_ok(
            &bob,
            "{ recordOfProcessing { termsInForce { id } } }",
            json!({}),
        )
        .await;
    assert!(before["recordOfProcessing"]["termsInForce"].is_null());
    app.clock.advance(30 * 86_400 + 1);
    let after = app
        .gql_ok(
            &bob,
            "{ recordOfProcessing { termsInForce { id text effective } } }",
            json!({}),
        )
        .await;
    assert_eq!(after["recordOfProcessing"]["termsInForce"]["id"], v2["id"]);
    assert_eq!(
        after["recordOfProcessing"]["termsInForce"]["effective"],
        true
    );
}
