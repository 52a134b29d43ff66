use serde_json::json;

use crate::helpers::{TestApp, error_code};

crate::on_both_backends!(
    appointments_are_booked_listed_changed_and_cancelled,
    an_appointment_must_end_after_it_starts,
    a_listing_with_nested_appointments_reads_them_in_one_batch,
);

const CREATE: &str = "mutation($input: CreateAppointmentInput!) { createAppointment(input: $input) { id title location startsAt endsAt version contact { firstName } } }";

async fn appointments_are_booked_listed_changed_and_cancelled(app: TestApp) {
    let (_, token) = app.tenant_with_token("Acme").await;
    let ada = app
        .create_contact(&token, json!({"firstName": "Ada"}))
        .await;
    let bob = app
        .create_contact(&token, json!({"firstName": "Bob"}))
        .await;
    let mut ids = vec![];
    for (c, day) in [(&ada, "03"), (&ada, "01"), (&bob, "02")] {
        let data = app
            .gql_ok(&token, CREATE, json!({"input": {"contactId": c["id"], "startsAt": format!("2026-12-{day}T09:00:00Z"), "endsAt": format!("2026-12-{day}T10:00:00Z"), "title": format!("Meet {day}"), "location": "Room 1"}}))
            .await;
        assert_eq!(data["createAppointment"]["version"], 1);
        ids.push(data["createAppointment"]["id"].clone());
    }
    let all = app
        .gql_ok(
            &token,
            "{ appointments { totalCount nodes { title contact { firstName } } } }",
            json!({}),
        )
        .await;
    assert_eq!(all["appointments"]["totalCount"], 3);
    assert_eq!(
        all["appointments"]["nodes"],
        json!([{"title": "Meet 01", "contact": {"firstName": "Ada"}}, {"title": "Meet 02", "contact": {"firstName": "Bob"}}, {"title": "Meet 03", "contact": {"firstName": "Ada"}}])
    );
    let on_contact = app
        .gql_ok(&token, "query($id: ID!) { contact(id: $id) { appointments(first: 1) { totalCount nodes { title } pageInfo { hasNextPage } } } }", json!({"id": ada["id"]}))
        .await;
    assert_eq!(
        on_contact["contact"]["appointments"],
        json!({"totalCount": 2, "nodes": [{"title": "Meet 01"}], "pageInfo": {"hasNextPage": true}})
    );
    let window = app
        .gql_ok(&token, "{ appointments(filter: {startsAfter: \"2026-12-02T00:00:00Z\", startsBefore: \"2026-12-03T00:00:00Z\"}) { nodes { title } } }", json!({}))
        .await;
    assert_eq!(
        window["appointments"]["nodes"],
        json!([{"title": "Meet 02"}])
    );
    let updated = app
        .gql_ok(&token, "mutation($id: ID!) { updateAppointment(id: $id, input: {title: \"Moved\", location: null, endsAt: \"2026-12-03T12:00:00Z\"}, expectedVersion: 1) { title location endsAt version } }", json!({"id": ids[0]}))
        .await;
    assert_eq!(
        updated["updateAppointment"],
        json!({"title": "Moved", "location": null, "endsAt": "2026-12-03T12:00:00+00:00", "version": 2})
    );
    let stale = app
        .gql(Some(&token), "mutation($id: ID!) { updateAppointment(id: $id, input: {title: \"Lost\"}, expectedVersion: 1) { id } }", json!({"id": ids[0]}))
        .await;
    assert_eq!(error_code(&stale), "CONFLICT");
    app.gql_ok(
        &token,
        "mutation($id: ID!) { deleteAppointment(id: $id) }",
        json!({"id": ids[1]}),
    )
    .await;
    let gone = app
        .gql(
            Some(&token),
            "query($id: ID!) { appointment(id: $id) { id } }",
            json!({"id": ids[1]}),
        )
        .await;
    assert_eq!(error_code(&gone), "NOT_FOUND");
    assert_eq!(app.count_rows("appointments").await, 2);
}

async fn an_appointment_must_end_after_it_starts(app: TestApp) {
    let (_, token) = app.tenant_with_token("Acme").await;
    let ada = app
        .create_contact(&token, json!({"firstName": "Ada"}))
        .await;
    let body = app
        .gql(Some(&token), CREATE, json!({"input": {"contactId": ada["id"], "startsAt": "2026-12-01T10:00:00Z", "endsAt": "2026-12-01T09:00:00Z", "title": "Backwards"}}))
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "endsAt");
    let body = app
        .gql(Some(&token), CREATE, json!({"input": {"contactId": ada["id"], "startsAt": "2026-12-01T10:00:00Z", "endsAt": "2026-12-01T11:00:00Z", "title": ""}}))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "title");
    assert_eq!(app.count_rows("appointments").await, 0);
}

async fn a_listing_with_nested_appointments_reads_them_in_one_batch(app: TestApp) {
    let (_, token) = app.tenant_with_token("Acme").await;
    let mut contacts = Vec::new();
    for i in 0..5 {
        let c = app
            .create_contact(&token, json!({"firstName": format!("C{i}")}))
            .await;
        // Contact i has i appointments.
        for d in 0..i {
            app.gql_ok(&token, CREATE, json!({"input": {"contactId": c["id"], "startsAt": format!("2026-12-0{}T09:00:00Z", d + 1), "endsAt": format!("2026-12-0{}T10:00:00Z", d + 1), "title": format!("C{i}-{d}")}})).await;
        }
        contacts.push(c);
    }
    let before = app.access_log(&token).await.len();
    let data = app
        .gql_ok(&token, "{ contacts { nodes { firstName appointments(first: 2) { nodes { title } pageInfo { hasNextPage } } } } }", json!({}))
        .await;
    let nodes = data["contacts"]["nodes"].as_array().unwrap();
    for (i, n) in nodes.iter().enumerate() {
        let titles: Vec<&str> = n["appointments"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["title"].as_str().unwrap())
            .collect();
        let expected: Vec<String> = (0..i.min(2)).map(|d| format!("C{i}-{d}")).collect();
        assert_eq!(titles, expected, "contact {i}");
        assert_eq!(
            n["appointments"]["pageInfo"]["hasNextPage"],
            i > 2,
            "contact {i}"
        );
    }
    let log = app.access_log(&token).await;
    let new: Vec<(&str, i64)> = log[before..]
        .iter()
        .map(|r| {
            (
                r["resourceType"].as_str().unwrap(),
                r["resourceCount"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        new,
        [("CONTACT", 5), ("APPOINTMENT", 7)],
        "one record per resource type, however many contacts"
    );
    // Other arguments fall back to a query per contact, with the same answer.
    let paged = app
        .gql_ok(
            &token,
            "{ contacts { nodes { appointments(last: 1) { nodes { title } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        paged["contacts"]["nodes"][4]["appointments"]["nodes"],
        json!([{"title": "C4-3"}])
    );
}
