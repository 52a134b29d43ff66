//! Bulk import: all-or-nothing batches, every bad row named, one ledger record per batch,
//! exactly-once keyed batches.

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code};

crate::on_both_backends!(
    an_import_batch_is_all_or_nothing_and_names_every_bad_row,
    an_import_is_one_ledger_record_per_batch,
    keyed_batches_are_exactly_once_and_refuse_gaps,
    an_imported_contact_reads_back_as_the_same_contact_created_one_by_one,
);

const IMPORT: &str = "mutation($c: [ContactInput!]!, $k: String, $o: Int) { importContacts(contacts: $c, importKey: $k, offset: $o) { imported skipped ids rowsCommitted } }";

fn rows(n: usize, start: usize) -> Vec<Value> {
    (start..start + n)
        .map(|i| json!({"firstName": format!("P{i}"), "emails": [{"address": format!("p{i}@example.com")}]}))
        .collect()
}

async fn an_import_batch_is_all_or_nothing_and_names_every_bad_row(app: TestApp) {
    let (_, bob) = app.tenant_with_token("Acme").await;
    let mut batch = rows(5, 0);
    batch[1]["emails"] = json!([{"address": "broken"}]);
    batch[3]["phones"] = json!([{"number": "12"}]);
    let body = app.gql(Some(&bob), IMPORT, json!({"c": batch})).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(
        body["errors"][0]["extensions"]["field"],
        "contacts[1].emails[0].address"
    );
    let bad: Vec<(u64, &str)> = body["errors"][0]["extensions"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["row"].as_u64().unwrap(), r["field"].as_str().unwrap()))
        .collect();
    assert_eq!(bad, [(1, "emails[0].address"), (3, "phones[0].number")]);
    assert_eq!(app.count_rows("contacts").await, 0);
    assert!(
        app.access_log(&bob).await.is_empty(),
        "nothing happened, nothing recorded"
    );
    let too_many = app
        .gql(Some(&bob), IMPORT, json!({"c": rows(1001, 0)}))
        .await;
    assert_eq!(error_code(&too_many), "BAD_USER_INPUT");
    assert_eq!(too_many["errors"][0]["extensions"]["field"], "contacts");
}

async fn an_import_is_one_ledger_record_per_batch(app: TestApp) {
    let (_, bob) = app.tenant_with_token("Acme").await;
    let data = app.gql_ok(&bob, IMPORT, json!({"c": rows(1000, 0)})).await;
    assert_eq!(data["importContacts"]["imported"], 1000);
    assert_eq!(data["importContacts"]["rowsCommitted"], Value::Null);
    let log = app.access_log(&bob).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["operation"], "WRITE");
    assert_eq!(log[0]["resourceCount"], 1000);
    assert_eq!(log[0]["resourceIds"].as_array().unwrap().len(), 1000);
    let listed = app
        .gql_ok(
            &bob,
            "{ contacts(filter: {source: IMPORT}) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(listed["contacts"]["totalCount"], 1000);
    let found = app
        .gql_ok(
            &bob,
            "{ contacts(filter: {text: \"p999@example\"}) { nodes { firstName } } }",
            json!({}),
        )
        .await;
    assert_eq!(found["contacts"]["nodes"], json!([{"firstName": "P999"}]));
    assert_eq!(app.verify_log(&bob).await["valid"], true);
}

async fn keyed_batches_are_exactly_once_and_refuse_gaps(app: TestApp) {
    let (_, bob) = app.tenant_with_token("Acme").await;
    let first = app
        .gql_ok(
            &bob,
            IMPORT,
            json!({"c": rows(10, 0), "k": "crm-2026", "o": 0}),
        )
        .await;
    assert_eq!(
        (
            first["importContacts"]["imported"].as_i64(),
            first["importContacts"]["rowsCommitted"].as_i64()
        ),
        (Some(10), Some(10))
    );
    // The same batch again (a client retrying after a lost answer): nothing new.
    let again = app
        .gql_ok(
            &bob,
            IMPORT,
            json!({"c": rows(10, 0), "k": "crm-2026", "o": 0}),
        )
        .await;
    assert_eq!(
        (
            again["importContacts"]["imported"].as_i64(),
            again["importContacts"]["skipped"].as_i64()
        ),
        (Some(0), Some(10))
    );
    // Overlapping: only the new half goes in.
    let overlap = app
        .gql_ok(
            &bob,
            IMPORT,
            json!({"c": rows(10, 5), "k": "crm-2026", "o": 5}),
        )
        .await;
    assert_eq!(
        (
            overlap["importContacts"]["imported"].as_i64(),
            overlap["importContacts"]["skipped"].as_i64()
        ),
        (Some(5), Some(5))
    );
    let gap = app
        .gql(
            Some(&bob),
            IMPORT,
            json!({"c": rows(5, 30), "k": "crm-2026", "o": 30}),
        )
        .await;
    assert_eq!(error_code(&gap), "CONFLICT");
    let progress = app
        .gql_ok(
            &bob,
            "{ importProgress(importKey: \"crm-2026\") }",
            json!({}),
        )
        .await;
    assert_eq!(progress["importProgress"], 15);
    assert_eq!(app.count_rows("contacts").await, 15);
    // Keys are per tenant.
    let (_, eve) = app.tenant_with_token("Other").await;
    assert_eq!(
        app.gql_ok(
            &eve,
            "{ importProgress(importKey: \"crm-2026\") }",
            json!({})
        )
        .await["importProgress"],
        0
    );
}

/// Import writes rows its own way (one statement per batch on PostgreSQL): every field
/// must come back exactly as `createContact` stores it, absent fields included.
async fn an_imported_contact_reads_back_as_the_same_contact_created_one_by_one(app: TestApp) {
    let (_, bob) = app.tenant_with_token("Acme").await;
    let full = json!({
        "firstName": "Zoë", "lastName": "O'Brien \"quoted\"",
        "emails": [{"address": "zoe@example.com", "kind": "WORK"}, {"address": "z@example.org"}],
        "phones": [{"number": "+44 20 7123 4567", "kind": "WORK"}],
        "addresses": [{"kind": "HOME", "lines": ["1 High St", "Flat 2"], "city": "London", "postalCode": "N1 1AA", "country": "GB"}],
        "employer": "Acme", "jobTitle": "CTO",
        "customFields": {"tier": "gold", "score": 7, "nested": {"a": [1, null]}},
        "tags": ["vip", "émigré"],
        "marketingPreferences": {"email": "OPTED_IN", "sms": "OPTED_OUT"},
        "optOutOfSale": true, "optOutOfSharing": false
    });
    let minimal = json!({"firstName": "Min"});
    const FIELDS: &str = "id firstName lastName emails { address kind } phones { number kind } addresses { kind lines city region postalCode country } employer jobTitle customFields tags marketingPreferences { email sms phone } optOutOfSale optOutOfSharing version createdAt updatedAt";
    let imported = app
        .gql_ok(&bob, IMPORT, json!({"c": [full, minimal]}))
        .await["importContacts"]["ids"]
        .clone();
    let read = |id: Value| {
        let app = &app;
        let bob = &bob;
        async move {
            app.gql_ok(
                bob,
                &format!("query($id: ID!) {{ contact(id: $id) {{ {FIELDS} }} }}"),
                json!({ "id": id }),
            )
            .await["contact"]
                .clone()
        }
    };
    for (i, input) in [full, minimal].into_iter().enumerate() {
        let mut got = read(imported[i].clone()).await;
        let created_id = app.create_contact(&bob, input).await["id"].clone();
        let mut expected = read(created_id).await;
        assert_eq!(got["createdAt"], got["updatedAt"]);
        for key in ["id", "createdAt", "updatedAt"] {
            got.as_object_mut().unwrap().remove(key);
            expected.as_object_mut().unwrap().remove(key);
        }
        assert_eq!(got, expected, "row {i}");
    }
}
