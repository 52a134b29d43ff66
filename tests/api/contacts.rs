use serde_json::json;

use crate::helpers::{TestApp, error_code};

crate::on_both_backends!(
    the_acceptance_example_works_as_written,
    a_contact_keeps_every_field_it_was_given,
    an_update_changes_only_given_fields_and_bumps_the_version,
    a_stale_expected_version_conflicts_and_changes_nothing,
    deleting_a_contact_removes_it_and_its_appointments,
    contacts_page_forwards_and_backwards_without_gaps,
    contacts_filter_by_text_tag_source_and_update_time,
    contacts_order_by_last_name_descending,
    page_sizes_are_capped_at_one_hundred,
    a_tenant_that_was_never_opened_takes_no_contacts,
);

const FULL: &str = "id firstName lastName emails { address kind } phones { number kind } addresses { kind lines city region postalCode country } employer jobTitle customFields tags source marketingPreferences { email sms phone } optOutOfSale optOutOfSharing version createdAt updatedAt";

async fn the_acceptance_example_works_as_written(app: TestApp) {
    let admin = app.admin_token();
    let data = app
        .gql_ok(&admin, r#"mutation { createTenant(input: {name: "Acme", jurisdictions: [EEA], ownerAttestsAdult: true}) { id } }"#, json!({}))
        .await;
    let tenant = data["createTenant"]["id"].as_str().unwrap();
    let bob = app.controller_token(tenant);
    let created = app
        .gql_ok(&bob, r#"mutation { createContact(input: {firstName: "Ada", lastName: "Lovelace",
  emails: [{address: "ada@example.com"}], phones: [{number: "+442071234567", kind: FAX}]}) { id version } }"#, json!({}))
        .await;
    let id = created["createContact"]["id"].as_str().unwrap();
    assert_eq!(created["createContact"]["version"], 1);
    let read = app
        .gql_ok(&bob, &format!(r#"query {{ contact(id: "{id}") {{ firstName emails {{ address }} phones {{ number kind }} }} }}"#), json!({}))
        .await;
    assert_eq!(
        read["contact"],
        json!({"firstName": "Ada", "emails": [{"address": "ada@example.com"}], "phones": [{"number": "+442071234567", "kind": "FAX"}]})
    );
    let list = app
        .gql_ok(&bob, "query { contacts(first: 10) { totalCount edges { node { id } } pageInfo { hasNextPage endCursor } } }", json!({}))
        .await;
    assert_eq!(list["contacts"]["totalCount"], 1);
    assert_eq!(list["contacts"]["edges"][0]["node"]["id"], id);
    assert_eq!(list["contacts"]["pageInfo"]["hasNextPage"], false);
}

async fn a_contact_keeps_every_field_it_was_given(app: TestApp) {
    let (_, token) = app.tenant_with_token("Acme").await;
    let input = json!({
        "firstName": "Grace", "lastName": "Hopper",
        "emails": [{"address": "grace@Navy.MIL", "kind": "WORK"}, {"address": "g@example.org", "kind": "PERSONAL"}],
        "phones": [{"number": "+1 (202) 555-0143", "kind": "MOBILE"}, {"number": "+12025550100", "kind": "FAX"}],
        "addresses": [{"kind": "WORK", "lines": ["1 Navy Way"], "city": "Arlington", "region": "VA", "postalCode": "22202", "country": "us"}],
        "employer": "US Navy", "jobTitle": "Rear Admiral",
        "customFields": {"tier": "gold", "score": 7},
        "tags": ["vip", "pioneer"], "source": "IMPORT",
        "marketingPreferences": {"email": "OPTED_IN", "sms": "OPTED_OUT"},
        "optOutOfSale": true, "optOutOfSharing": false
    });
    let data = app
        .gql_ok(
            &token,
            &format!(
                "mutation($input: ContactInput!) {{ createContact(input: $input) {{ {FULL} }} }}"
            ),
            json!({"input": input}),
        )
        .await;
    let c = &data["createContact"];
    assert_eq!(
        c["emails"],
        json!([{"address": "grace@navy.mil", "kind": "WORK"}, {"address": "g@example.org", "kind": "PERSONAL"}])
    );
    assert_eq!(
        c["phones"],
        json!([{"number": "+12025550143", "kind": "MOBILE"}, {"number": "+12025550100", "kind": "FAX"}])
    );
    assert_eq!(c["addresses"][0]["country"], "US");
    assert_eq!(c["addresses"][0]["lines"], json!(["1 Navy Way"]));
    assert_eq!(c["customFields"], json!({"tier": "gold", "score": 7}));
    assert_eq!(c["tags"], json!(["vip", "pioneer"]));
    assert_eq!(c["source"], "IMPORT");
    assert_eq!(
        c["marketingPreferences"],
        json!({"email": "OPTED_IN", "sms": "OPTED_OUT", "phone": "UNKNOWN"})
    );
    assert_eq!(c["optOutOfSale"], true);
    assert_eq!(c["employer"], "US Navy");
    let read = app
        .gql_ok(
            &token,
            &format!("query($id: ID!) {{ contact(id: $id) {{ {FULL} }} }}"),
            json!({"id": c["id"]}),
        )
        .await;
    assert_eq!(
        &read["contact"], c,
        "what is read back equals what was returned on create"
    );
    // Reads decode a row by position, the create's answer by name: every column holds
    // a value no other column of its type holds (the two opt-outs, and after an update
    // the two timestamps), so a read that swapped two columns would differ.
    app.clock.advance(60);
    let updated = app
        .gql_ok(
            &token,
            &format!("mutation($id: ID!) {{ updateContact(id: $id, input: {{jobTitle: \"Commodore\"}}, expectedVersion: 1) {{ {FULL} }} }}"),
            json!({"id": c["id"]}),
        )
        .await["updateContact"]
        .clone();
    assert_eq!(updated["createdAt"], c["createdAt"]);
    assert_ne!(updated["updatedAt"], c["updatedAt"]);
    let read = app
        .gql_ok(
            &token,
            &format!("query($id: ID!) {{ contact(id: $id) {{ {FULL} }} }}"),
            json!({"id": c["id"]}),
        )
        .await;
    let page = app
        .gql_ok(
            &token,
            &format!("{{ contacts(first: 5) {{ nodes {{ {FULL} }} }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(read["contact"], updated, "by id");
    assert_eq!(page["contacts"]["nodes"], json!([updated]), "in a page");
}

async fn an_update_changes_only_given_fields_and_bumps_the_version(app: TestApp) {
    let (_, token) = app.tenant_with_token("Acme").await;
    let c = app
        .create_contact(&token, json!({"firstName": "Ada", "lastName": "Lovelace", "employer": "Analytical Engines", "tags": ["a"]}))
        .await;
    let data = app
        .gql_ok(
            &token,
            "mutation($id: ID!, $input: ContactInput!) { updateContact(id: $id, input: $input, expectedVersion: 1) { firstName lastName employer tags version } }",
            json!({"id": c["id"], "input": {"lastName": "King", "employer": null}}),
        )
        .await;
    assert_eq!(
        data["updateContact"],
        json!({"firstName": "Ada", "lastName": "King", "employer": null, "tags": ["a"], "version": 2})
    );
}

async fn a_stale_expected_version_conflicts_and_changes_nothing(app: TestApp) {
    let (_, token) = app.tenant_with_token("Acme").await;
    let c = app
        .create_contact(&token, json!({"firstName": "Ada"}))
        .await;
    let update = "mutation($id: ID!, $v: Int!, $input: ContactInput!) { updateContact(id: $id, input: $input, expectedVersion: $v) { version } }";
    app.gql_ok(
        &token,
        update,
        json!({"id": c["id"], "v": 1, "input": {"firstName": "Ada2"}}),
    )
    .await;
    let stale = app
        .gql(
            Some(&token),
            update,
            json!({"id": c["id"], "v": 1, "input": {"firstName": "Lost"}}),
        )
        .await;
    assert_eq!(error_code(&stale), "CONFLICT");
    let read = app
        .gql_ok(
            &token,
            "query($id: ID!) { contact(id: $id) { firstName version } }",
            json!({"id": c["id"]}),
        )
        .await;
    assert_eq!(read["contact"], json!({"firstName": "Ada2", "version": 2}));
}

async fn deleting_a_contact_removes_it_and_its_appointments(app: TestApp) {
    let (_, token) = app.tenant_with_token("Acme").await;
    let c = app
        .create_contact(&token, json!({"firstName": "Ada"}))
        .await;
    app.gql_ok(
        &token,
        "mutation($c: ID!) { createAppointment(input: {contactId: $c, startsAt: \"2026-12-01T10:00:00Z\", endsAt: \"2026-12-01T11:00:00Z\", title: \"Intro\"}) { id } }",
        json!({"c": c["id"]}),
    )
    .await;
    let deleted = app
        .gql_ok(
            &token,
            "mutation($id: ID!) { deleteContact(id: $id) }",
            json!({"id": c["id"]}),
        )
        .await;
    assert_eq!(deleted["deleteContact"], c["id"]);
    let again = app
        .gql(
            Some(&token),
            "mutation($id: ID!) { deleteContact(id: $id) }",
            json!({"id": c["id"]}),
        )
        .await;
    assert_eq!(error_code(&again), "NOT_FOUND");
    let read = app
        .gql(
            Some(&token),
            "query($id: ID!) { contact(id: $id) { id } }",
            json!({"id": c["id"]}),
        )
        .await;
    assert_eq!(error_code(&read), "NOT_FOUND");
    assert_eq!(app.count_rows("contacts").await, 0);
    assert_eq!(app.count_rows("appointments").await, 0);
}

async fn contacts_page_forwards_and_backwards_without_gaps(app: TestApp) {
    let (_, token) = app.tenant_with_token("Acme").await;
    let mut ids = Vec::new();
    for i in 0..7 {
        app.clock.advance(1);
        let c = app
            .create_contact(&token, json!({"firstName": format!("C{i}")}))
            .await;
        ids.push(c["id"].as_str().unwrap().to_owned());
    }
    let page = "query($first: Int, $after: String, $last: Int, $before: String) { contacts(first: $first, after: $after, last: $last, before: $before) { totalCount edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let data = app
            .gql_ok(&token, page, json!({"first": 3, "after": after}))
            .await;
        let conn = &data["contacts"];
        assert_eq!(conn["totalCount"], 7);
        for e in conn["edges"].as_array().unwrap() {
            seen.push(e["node"]["id"].as_str().unwrap().to_owned());
        }
        if conn["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = conn["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(
        seen, ids,
        "forward pages cover every contact once, in creation order"
    );
    let last = app.gql_ok(&token, page, json!({"last": 2})).await;
    let tail: Vec<_> = last["contacts"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(tail, ids[5..].to_vec());
    assert_eq!(last["contacts"]["pageInfo"]["hasPreviousPage"], true);
    let before = last["contacts"]["pageInfo"]["startCursor"]
        .as_str()
        .unwrap();
    let prev = app
        .gql_ok(&token, page, json!({"last": 2, "before": before}))
        .await;
    let prev_ids: Vec<_> = prev["contacts"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(prev_ids, ids[3..5].to_vec());
}

async fn contacts_filter_by_text_tag_source_and_update_time(app: TestApp) {
    let (_, token) = app.tenant_with_token("Acme").await;
    app.create_contact(&token, json!({"firstName": "Ada", "lastName": "Lovelace", "emails": [{"address": "ada@engines.example"}], "tags": ["vip"]})).await;
    app.create_contact(&token, json!({"firstName": "Charles", "employer": "Difference_Works", "phones": [{"number": "+442071234567"}], "source": "IMPORT"})).await;
    app.clock.advance(60);
    let since = app.clock_now();
    app.create_contact(
        &token,
        json!({"firstName": "100% Percy", "tags": ["vip", "late"]}),
    )
    .await;
    let names = |filter: serde_json::Value| {
        let app = &app;
        let token = token.clone();
        async move {
            let data = app
                .gql_ok(&token, "query($f: ContactFilterInput) { contacts(filter: $f) { totalCount nodes { firstName } } }", json!({"f": filter}))
                .await;
            let mut names: Vec<String> = data["contacts"]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["firstName"].as_str().unwrap().to_owned())
                .collect();
            names.sort();
            assert_eq!(data["contacts"]["totalCount"], names.len());
            names
        }
    };
    assert_eq!(names(json!({"text": "LOVE"})).await, ["Ada"]);
    assert_eq!(names(json!({"text": "engines.example"})).await, ["Ada"]);
    assert_eq!(names(json!({"text": "2071234"})).await, ["Charles"]);
    assert_eq!(names(json!({"text": "difference_"})).await, ["Charles"]);
    assert_eq!(names(json!({"text": "100%"})).await, ["100% Percy"]);
    assert_eq!(
        names(json!({"text": "_"})).await,
        ["Charles"],
        "LIKE wildcards are literal"
    );
    assert_eq!(names(json!({"tag": "vip"})).await, ["100% Percy", "Ada"]);
    assert_eq!(names(json!({"tag": "vi"})).await, Vec::<String>::new());
    assert_eq!(names(json!({"source": "IMPORT"})).await, ["Charles"]);
    assert_eq!(names(json!({"updatedSince": since})).await, ["100% Percy"]);
    assert_eq!(names(json!({"tag": "vip", "text": "ada"})).await, ["Ada"]);
}

async fn contacts_order_by_last_name_descending(app: TestApp) {
    let (_, token) = app.tenant_with_token("Acme").await;
    for name in ["Babbage", "Lovelace", "Hopper", "Turing"] {
        app.create_contact(&token, json!({"lastName": name})).await;
    }
    let q = "query($after: String) { contacts(first: 2, after: $after, orderBy: {field: LAST_NAME, direction: DESC}) { nodes { lastName } pageInfo { endCursor } } }";
    let first = app.gql_ok(&token, q, json!({})).await;
    assert_eq!(
        first["contacts"]["nodes"],
        json!([{"lastName": "Turing"}, {"lastName": "Lovelace"}])
    );
    let next = app
        .gql_ok(
            &token,
            q,
            json!({"after": first["contacts"]["pageInfo"]["endCursor"]}),
        )
        .await;
    assert_eq!(
        next["contacts"]["nodes"],
        json!([{"lastName": "Hopper"}, {"lastName": "Babbage"}])
    );
}

async fn page_sizes_are_capped_at_one_hundred(app: TestApp) {
    let (_, token) = app.tenant_with_token("Acme").await;
    for (args, field) in [
        ("first: 101", "first"),
        ("last: 101", "last"),
        ("first: -1", "first"),
        ("after: \"nonsense\"", "after"),
    ] {
        let body = app
            .gql(
                Some(&token),
                &format!("{{ contacts({args}) {{ totalCount }} }}"),
                json!({}),
            )
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{args}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{args}");
    }
    let ok = app
        .gql_ok(&token, "{ contacts(first: 100) { totalCount } }", json!({}))
        .await;
    assert_eq!(ok["contacts"]["totalCount"], 0);
}

/// A token may name a tenant that was never opened: a contact created or imported there
/// would have nowhere to go. Refused, saying why; no contact is stored and the ledger is
/// as it was.
async fn a_tenant_that_was_never_opened_takes_no_contacts(app: TestApp) {
    let nowhere = app.controller_token(&uuid::Uuid::new_v4().to_string());
    let tables = ["contacts", "access_pending", "access_records"];
    let mut before = Vec::new();
    for table in tables {
        before.push(app.count_rows(table).await);
    }
    for mutation in [
        r#"mutation { createContact(input: {firstName: "Nobody"}) { id } }"#,
        r#"mutation { importContacts(contacts: [{firstName: "Nobody"}]) { imported } }"#,
    ] {
        let refused = app.gql(Some(&nowhere), mutation, json!({})).await;
        assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");
        assert_eq!(
            refused["errors"][0]["message"], "the tenant does not exist",
            "{refused}"
        );
    }
    let mut after = Vec::new();
    for table in tables {
        after.push(app.count_rows(table).await);
    }
    assert_eq!(after, before, "{tables:?}");
}
