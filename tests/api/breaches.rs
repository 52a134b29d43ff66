//! Breach notices, on SQLite and PostgreSQL: deadlines met and missed, acknowledgements,
//! updates that reach every notice, the platform admin's outstanding list and gauges.

use custodian_api::auth::Role;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code};

crate::on_both_backends!(
    breach_deadlines_are_met_or_missed_and_updates_reach_every_notice,
    bad_breach_input_is_refused_and_changes_nothing,
);

const NOTICE: &str = "id tenantId estimatedRecords deadlineAt sentAt deadlineMet acknowledged acknowledgedAt incident { id summary version dataCategories }";

async fn notices(app: &TestApp, token: &str, outstanding: bool) -> Vec<Value> {
    app.gql_ok(
        token,
        &format!("query($o: Boolean!) {{ breachNotices(outstanding: $o) {{ {NOTICE} }} }}"),
        json!({ "o": outstanding }),
    )
    .await["breachNotices"]
        .as_array()
        .unwrap()
        .clone()
}

async fn breach_deadlines_are_met_or_missed_and_updates_reach_every_notice(app: TestApp) {
    let admin = app.admin_token();
    let (acme, bob) = app.tenant_with_token("Acme").await;
    let (beta, carol) = app.tenant_with_token("Beta").await;
    let window = app.gql_ok(&admin, "mutation($t: ID!) { setBreachNoticeWindow(tenantId: $t, hours: 4) { breachNoticeHours } }", json!({"t": beta})).await;
    assert_eq!(window["setBreachNoticeWindow"]["breachNoticeHours"], 4);
    let detected = (app.clock.now_chrono() - chrono::Duration::hours(6)).to_rfc3339();
    let recorded = app
        .gql_ok(&admin, "mutation($i: BreachIncidentInput!) { recordBreachIncident(input: $i) { id version } }", json!({"i": {"detectedAt": detected, "summary": "A misconfigured export bucket", "dataCategories": ["CONTACT_DETAILS"], "affected": [{"tenantId": acme, "estimatedRecords": 120}, {"tenantId": beta, "estimatedRecords": 7}]}}))
        .await["recordBreachIncident"]
        .clone();
    // Each controller sees its own notice, measured against its own window.
    let mine = notices(&app, &bob, false).await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["tenantId"], acme);
    assert_eq!(mine[0]["estimatedRecords"], 120);
    assert_eq!(mine[0]["deadlineMet"], true, "24 hours from detection: met");
    assert_eq!(
        mine[0]["incident"]["summary"],
        "A misconfigured export bucket"
    );
    let theirs = notices(&app, &carol, false).await;
    assert_eq!(theirs.len(), 1);
    assert_eq!(
        theirs[0]["deadlineMet"], false,
        "4 hours from detection: missed"
    );
    // Acknowledged by one; the other stays outstanding for the platform admin.
    let ack = app
        .gql_ok(&bob, "mutation($id: ID!) { acknowledgeBreachNotice(id: $id) { acknowledged acknowledgedAt } }", json!({"id": mine[0]["id"]}))
        .await;
    assert_eq!(ack["acknowledgeBreachNotice"]["acknowledged"], true);
    let outstanding = notices(&app, &admin, true).await;
    assert_eq!(outstanding.len(), 1);
    assert_eq!(outstanding[0]["tenantId"], beta);
    assert_eq!(notices(&app, &admin, false).await.len(), 2);
    assert_eq!(
        app.gauge("custodian_breach_notices_unacknowledged").await,
        1
    );
    assert_eq!(app.gauge("custodian_breach_notices_late").await, 1);
    // An update reaches every notice and asks to be acknowledged again.
    let updated = app
        .gql_ok(&admin, "mutation($id: ID!, $i: BreachIncidentInput!) { updateBreachIncident(id: $id, input: $i) { version } }", json!({"id": recorded["id"], "i": {"summary": "A misconfigured export bucket; access logs show two downloads", "dataCategories": ["CONTACT_DETAILS", "IDENTITY"]}}))
        .await;
    assert_eq!(updated["updateBreachIncident"]["version"], 2);
    let mine = notices(&app, &bob, false).await;
    assert_eq!(mine[0]["incident"]["version"], 2);
    assert_eq!(
        mine[0]["incident"]["dataCategories"],
        json!(["CONTACT_DETAILS", "IDENTITY"])
    );
    assert_eq!(
        mine[0]["acknowledged"], false,
        "the update is not yet acknowledged"
    );
    assert_eq!(notices(&app, &bob, true).await.len(), 1);
    assert_eq!(
        app.gauge("custodian_breach_notices_unacknowledged").await,
        2
    );
    app.gql_ok(
        &bob,
        "mutation($id: ID!) { acknowledgeBreachNotice(id: $id) { id } }",
        json!({"id": mine[0]["id"]}),
    )
    .await;
    assert!(notices(&app, &bob, true).await.is_empty());
}

async fn bad_breach_input_is_refused_and_changes_nothing(app: TestApp) {
    let admin = app.admin_token();
    let (acme, bob) = app.tenant_with_token("Acme").await;
    let (_, carol) = app.tenant_with_token("Beta").await;
    let record = "mutation($i: BreachIncidentInput!) { recordBreachIncident(input: $i) { id } }";
    let now = app.clock.now_chrono();
    let future = (now + chrono::Duration::hours(1)).to_rfc3339();
    let past = (now - chrono::Duration::hours(1)).to_rfc3339();
    let base = |affected: Value, detected: &str| json!({"i": {"detectedAt": detected, "summary": "S", "dataCategories": ["IDENTITY"], "affected": affected}});
    let cases = [
        (
            base(
                json!([{"tenantId": uuid::Uuid::now_v7().to_string(), "estimatedRecords": 1}]),
                &past,
            ),
            "affected[0].tenantId",
        ),
        (
            base(json!([{"tenantId": acme, "estimatedRecords": -1}]), &past),
            "affected[0].estimatedRecords",
        ),
        (
            base(
                json!([{"tenantId": acme, "estimatedRecords": 1}, {"tenantId": acme, "estimatedRecords": 2}]),
                &past,
            ),
            "affected[1].tenantId",
        ),
        (
            base(json!([{"tenantId": acme, "estimatedRecords": 1}]), &future),
            "detectedAt",
        ),
        (base(json!([]), &past), "affected"),
    ];
    for (vars, field) in cases {
        let body = app.gql(Some(&admin), record, vars.clone()).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{vars}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{vars}");
    }
    assert_eq!(
        app.count_rows("breach_incidents").await,
        0,
        "nothing recorded"
    );
    assert_eq!(app.count_rows("breach_notices").await, 0);
    let by_controller = app
        .gql(
            Some(&bob),
            record,
            base(json!([{"tenantId": acme, "estimatedRecords": 1}]), &past),
        )
        .await;
    assert_eq!(error_code(&by_controller), "FORBIDDEN");
    // Another tenant's notice answers like a missing one.
    app.gql_ok(
        &admin,
        record,
        base(json!([{"tenantId": acme, "estimatedRecords": 1}]), &past),
    )
    .await;
    let id = notices(&app, &bob, false).await[0]["id"].clone();
    let theirs = app
        .gql(
            Some(&carol),
            "mutation($id: ID!) { acknowledgeBreachNotice(id: $id) { id } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(error_code(&theirs), "NOT_FOUND");
    assert!(notices(&app, &carol, false).await.is_empty());
    let staff = app.instructed_token(Role::ProcessorStaff, &acme, "support", None);
    assert_eq!(
        error_code(
            &app.gql(Some(&staff), "{ breachNotices { id } }", json!({}))
                .await
        ),
        "FORBIDDEN"
    );
    let bad_window = app
        .gql(
            Some(&admin),
            "mutation($t: ID!) { setBreachNoticeWindow(tenantId: $t, hours: 0) { id } }",
            json!({"t": acme}),
        )
        .await;
    assert_eq!(bad_window["errors"][0]["extensions"]["field"], "hours");
}
