//! Invalid input is refused with `BAD_USER_INPUT` naming the field, and changes nothing.

use serde_json::json;

use crate::helpers::{TestApp, error_code};

crate::on_both_backends!(
    invalid_contact_input_names_the_field_and_stores_nothing,
    an_invalid_update_leaves_the_contact_as_it_was,
);

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
