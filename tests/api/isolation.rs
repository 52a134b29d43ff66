//! Another tenant's row must look exactly like a row that does not exist, for every
//! operation, and must never change.

use serde_json::{Value, json};

use crate::helpers::TestApp;

crate::on_every_backend!(
    every_operation_on_another_tenants_rows_answers_like_a_missing_row,
    listings_and_counts_never_include_another_tenants_rows,
);

/// Strips what legitimately differs between two answers (nothing should).
fn shape(body: &Value) -> Value {
    let mut body = body.clone();
    if let Some(errors) = body["errors"].as_array_mut() {
        for e in errors {
            e.as_object_mut().map(|o| o.remove("locations"));
            // Each request's own id, the same for a row that is missing.
            e["extensions"]
                .as_object_mut()
                .map(|x| x.remove("requestId"));
        }
    }
    body
}

async fn every_operation_on_another_tenants_rows_answers_like_a_missing_row(app: TestApp) {
    let (_, acme) = app.tenant_with_token("Acme").await;
    let (_, globex) = app.tenant_with_token("Globex").await;
    let contact = app
        .create_contact(&globex, json!({"firstName": "Secret", "lastName": "Agent"}))
        .await;
    let appt = app
        .gql_ok(
            &globex,
            "mutation($c: ID!) { createAppointment(input: {contactId: $c, startsAt: \"2026-12-01T10:00:00Z\", endsAt: \"2026-12-01T11:00:00Z\", title: \"Plot\"}) { id } }",
            json!({"c": contact["id"]}),
        )
        .await["createAppointment"]["id"]
        .clone();
    let missing = json!(uuid::Uuid::now_v7().to_string());
    let operations: Vec<(&str, &str)> = vec![
        (
            "contact",
            "query($id: ID!) { contact(id: $id) { id firstName } }",
        ),
        (
            "updateContact",
            "mutation($id: ID!) { updateContact(id: $id, input: {firstName: \"Pwned\"}, expectedVersion: 1) { id } }",
        ),
        (
            "deleteContact",
            "mutation($id: ID!) { deleteContact(id: $id) }",
        ),
        (
            "createAppointment",
            "mutation($id: ID!) { createAppointment(input: {contactId: $id, startsAt: \"2026-12-01T10:00:00Z\", endsAt: \"2026-12-01T11:00:00Z\", title: \"x\"}) { id } }",
        ),
        (
            "appointments",
            "query($id: ID!) { appointments(filter: {contactId: $id}) { totalCount nodes { id } } }",
        ),
        (
            "appointment",
            "query($id: ID!) { appointment(id: $id) { id title } }",
        ),
        (
            "updateAppointment",
            "mutation($id: ID!) { updateAppointment(id: $id, input: {title: \"Pwned\"}, expectedVersion: 1) { id } }",
        ),
        (
            "deleteAppointment",
            "mutation($id: ID!) { deleteAppointment(id: $id) }",
        ),
    ];
    for (name, op) in operations {
        let target =
            if name.contains("ppointment") && name != "createAppointment" && name != "appointments"
            {
                &appt
            } else {
                &contact["id"]
            };
        let theirs = app.gql(Some(&acme), op, json!({"id": target})).await;
        let nobody = app.gql(Some(&acme), op, json!({"id": missing})).await;
        assert_eq!(
            shape(&theirs),
            shape(&nobody),
            "{name}: another tenant's row must look missing"
        );
        assert!(
            theirs.get("errors").is_some() || name == "appointments",
            "{name} must fail: {theirs}"
        );
    }
    // Nothing of Globex's changed.
    let still = app
        .gql_ok(&globex, "query($id: ID!) { contact(id: $id) { firstName version appointments { totalCount nodes { title version } } } }", json!({"id": contact["id"]}))
        .await;
    assert_eq!(
        still["contact"],
        json!({"firstName": "Secret", "version": 1, "appointments": {"totalCount": 1, "nodes": [{"title": "Plot", "version": 1}]}})
    );
    assert_eq!(app.count_rows("contacts").await, 1);
    assert_eq!(app.count_rows("appointments").await, 1);
}

async fn listings_and_counts_never_include_another_tenants_rows(app: TestApp) {
    let (_, acme) = app.tenant_with_token("Acme").await;
    let (_, globex) = app.tenant_with_token("Globex").await;
    app.create_contact(&acme, json!({"firstName": "Mine", "tags": ["shared"]}))
        .await;
    for i in 0..3 {
        app.create_contact(
            &globex,
            json!({"firstName": format!("Theirs{i}"), "tags": ["shared"]}),
        )
        .await;
    }
    for filter in [
        json!({}),
        json!({"tag": "shared"}),
        json!({"text": "theirs"}),
    ] {
        let data = app
            .gql_ok(&acme, "query($f: ContactFilterInput) { contacts(first: 100, filter: $f) { totalCount nodes { firstName } } }", json!({"f": filter}))
            .await;
        for node in data["contacts"]["nodes"].as_array().unwrap() {
            assert_eq!(node["firstName"], "Mine");
        }
        assert!(data["contacts"]["totalCount"].as_u64().unwrap() <= 1);
    }
    let appts = app
        .gql_ok(&acme, "{ appointments { totalCount } }", json!({}))
        .await;
    assert_eq!(appts["appointments"]["totalCount"], 0);
}
