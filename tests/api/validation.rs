//! Invalid input is refused with `BAD_USER_INPUT` naming the field, and changes nothing.

use serde_json::json;

use crate::helpers::{TestApp, error_code};

crate::on_both_backends!(
    invalid_contact_input_names_the_field_and_stores_nothing,
    an_invalid_update_leaves_the_contact_as_it_was,
    every_invalid_field_is_reported_at_once,
    phones_and_emails_are_checked_against_real_numbering_and_idna,
);

async fn every_invalid_field_is_reported_at_once(app: TestApp) {
    let (_, token) = app.tenant_with_token("Acme").await;
    let before = app.access_log(&token).await.len();
    let body = app
        .gql(
            Some(&token),
            "mutation($i: ContactInput!) { createContact(input: $i) { id } }",
            json!({"i": {"firstName": "x".repeat(201), "emails": [{"address": "ada@example.com"}, {"address": "nope"}],
                "phones": [{"number": "+442071234567"}, {"number": "+999123456789"}], "addresses": [{"country": "XX"}],
                "tags": ["ok", ""]}}),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    let fields: Vec<&str> = body["errors"][0]["extensions"]["fields"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    for wanted in [
        "emails[1].address",
        "phones[1].number",
        "addresses[0].country",
        "firstName",
    ] {
        assert!(fields.contains(&wanted), "{wanted} not in {fields:?}");
    }
    assert_eq!(body["errors"][0]["extensions"]["field"], fields[0]);
    assert_eq!(app.count_rows("contacts").await, 0, "nothing stored");
    assert_eq!(
        app.access_log(&token).await.len(),
        before,
        "nothing recorded"
    );
}

async fn phones_and_emails_are_checked_against_real_numbering_and_idna(app: TestApp) {
    let (_, token) = app.tenant_with_token("Acme").await;
    for bad in ["+999123456789", "+44 20 7123", "+1 202 555"] {
        let body = app
            .gql(
                Some(&token),
                "mutation($i: ContactInput!) { createContact(input: $i) { id } }",
                json!({"i": {"phones": [{"number": bad}]}}),
            )
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{bad}: {body}");
    }
    let made = app
        .create_contact(
            &token,
            json!({"firstName": "Ada", "emails": [{"address": "Ada@XN--R8JZ45G.JP"}], "phones": [{"number": "+33 (0)1 42 68 53 00".replace("(0)", "")}]}),
        )
        .await;
    let read = app
        .gql_ok(
            &token,
            "query($id: ID!) { contact(id: $id) { emails { address } phones { number } } }",
            json!({"id": made["id"]}),
        )
        .await;
    assert_eq!(read["contact"]["emails"][0]["address"], "Ada@例え.jp");
    assert_eq!(read["contact"]["phones"][0]["number"], "+33142685300");
    // However it is typed, the address finds its contact.
    let found = app
        .gql_ok(
            &token,
            "{ contacts(filter: {text: \"例え.jp\"}) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(found["contacts"]["totalCount"], 1);
}

async fn invalid_contact_input_names_the_field_and_stores_nothing(app: TestApp) {
    let (_, token) = app.tenant_with_token("Acme").await;
    let long = "x".repeat(201);
    let cases = [
        (
            json!({"emails": [{"address": "ada@example.com"}, {"address": "not-an-email"}]}),
            "emails[1].address",
        ),
        (
            json!({"phones": [{"number": "020 7123 4567"}]}),
            "phones[0].number",
        ),
        (
            json!({"addresses": [{"country": "XX"}]}),
            "addresses[0].country",
        ),
        (
            json!({"addresses": [{"country": "GB", "city": long}]}),
            "addresses[0].city",
        ),
        (json!({"customFields": [1, 2]}), "customFields"),
        (json!({"customFields": "text"}), "customFields"),
        (json!({"firstName": long}), "firstName"),
        (json!({"employer": "x".repeat(201)}), "employer"),
        (json!({"tags": ["ok", ""]}), "tags[1]"),
        (
            json!({"tags": (0..51).map(|i| format!("t{i}")).collect::<Vec<_>>()}),
            "tags",
        ),
        (
            json!({"emails": (0..21).map(|i| json!({"address": format!("a{i}@example.com")})).collect::<Vec<_>>()}),
            "emails",
        ),
        (json!({"lastName": "bad\u{0007}bell"}), "lastName"),
    ];
    for (input, field) in cases {
        let body = app
            .gql(
                Some(&token),
                "mutation($input: ContactInput!) { createContact(input: $input) { id } }",
                json!({"input": input}),
            )
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{field}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    assert_eq!(app.count_rows("contacts").await, 0);
    // An unknown enum value or a wrong type is caught by the schema, also as BAD_USER_INPUT.
    let body = app
        .gql(
            Some(&token),
            "mutation($input: ContactInput!) { createContact(input: $input) { id } }",
            json!({"input": {"phones": [{"number": "+442071234567", "kind": "PAGER"}]}}),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    let body = app
        .gql(
            Some(&token),
            "query { contact(id: \"not-a-uuid\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "id");
}

async fn an_invalid_update_leaves_the_contact_as_it_was(app: TestApp) {
    let (_, token) = app.tenant_with_token("Acme").await;
    let c = app
        .create_contact(
            &token,
            json!({"firstName": "Ada", "emails": [{"address": "ada@example.com"}]}),
        )
        .await;
    let body = app
        .gql(
            Some(&token),
            "mutation($id: ID!, $input: ContactInput!) { updateContact(id: $id, input: $input, expectedVersion: 1) { id } }",
            json!({"id": c["id"], "input": {"firstName": "Changed", "emails": [{"address": "broken@"}]}}),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["field"],
        "emails[0].address"
    );
    let read = app
        .gql_ok(
            &token,
            "query($id: ID!) { contact(id: $id) { firstName version emails { address } } }",
            json!({"id": c["id"]}),
        )
        .await;
    assert_eq!(
        read["contact"],
        json!({"firstName": "Ada", "version": 1, "emails": [{"address": "ada@example.com"}]})
    );
}
