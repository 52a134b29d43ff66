//! Abusive documents are refused before any resolver runs, each with `BAD_USER_INPUT`
//! and the limit named, and leave the ledger as it was; the same shapes within the limits
//! pass.

use serde_json::{Value, json};

use crate::helpers::{TestApp, error_code};

crate::on_both_backends!(abusive_documents_are_refused_before_anything_runs,);

async fn refused_as(app: &TestApp, token: &str, query: &str, limit: &str) {
    let body = app.gql(Some(token), query, json!({})).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{limit}: {body}");
    assert_eq!(body["errors"][0]["extensions"]["limit"], limit, "{body}");
    assert!(
        body.get("data").is_none() || body["data"].is_null(),
        "{body}"
    );
}

async fn abusive_documents_are_refused_before_anything_runs(app: TestApp) {
    let (_, bob) = app.tenant_with_token("Acme").await;
    app.create_contact(&bob, json!({"firstName": "Ada"})).await;
    let before = app.access_log(&bob).await.len();

    // Aliases: 30 pass, 31 do not — counted where a fragment is spread.
    let aliased = |n: usize| {
        let fields: Vec<String> = (0..n)
            .map(|i| format!("a{i}: contacts {{ totalCount }}"))
            .collect();
        format!("{{ {} }}", fields.join(" "))
    };
    let ok = app.gql(Some(&bob), &aliased(30), json!({})).await;
    assert!(ok.get("errors").is_none(), "{ok}");
    refused_as(&app, &bob, &aliased(31), "aliases").await;
    let fragments = "{ ...F ...F } fragment F on Query { \
        a: contacts { totalCount } b: contacts { totalCount } c: contacts { totalCount } \
        d: contacts { totalCount } e: contacts { totalCount } f: contacts { totalCount } \
        g: contacts { totalCount } h: contacts { totalCount } i: contacts { totalCount } \
        j: contacts { totalCount } k: contacts { totalCount } l: contacts { totalCount } \
        m: contacts { totalCount } n: contacts { totalCount } o: contacts { totalCount } \
        p: contacts { totalCount } }";
    refused_as(&app, &bob, fragments, "aliases").await;
    let after_allowed = app.access_log(&bob).await.len();

    // Depth, fragment cycles, tokens.
    let mut deep = String::from("id");
    for _ in 0..5 {
        deep = format!("contact {{ appointments {{ nodes {{ {deep} }} }} }}");
    }
    refused_as(
        &app,
        &bob,
        &format!("{{ contacts {{ nodes {{ {deep} }} }} }}"),
        "depth",
    )
    .await;
    refused_as(
        &app,
        &bob,
        "{ contacts { ...A } } fragment A on ContactConnection { nodes { id } ...B } \
         fragment B on ContactConnection { ...A }",
        "recursion",
    )
    .await;
    let padded = format!(
        "{{ contacts {{ totalCount {} }} }}",
        "__typename ".repeat(3_000)
    );
    refused_as(&app, &bob, &padded, "tokens").await;

    // Directives beyond 16 on a field.
    let directives = format!(
        "{{ contacts {{ totalCount {} }} }}",
        "@include(if: true) ".repeat(17)
    );
    let body = app.gql(Some(&bob), &directives, json!({})).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");

    // A page larger than 100 rows is refused with the field named.
    let body = app
        .gql(
            Some(&bob),
            "{ contacts(first: 1000) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "first", "{body}");

    // A JSON array of operations is refused as a batch.
    let res = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&bob)
        .header("accept", "application/graphql-response+json")
        .json(&json!([{"query": "{ contacts { totalCount } }"}, {"query": "{ contacts { totalCount } }"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["limit"], "batch", "{body}");

    // None of the refused documents reached a contact: only the allowed ones are recorded.
    assert!(after_allowed > before, "the allowed aliases were recorded");
    assert_eq!(
        app.access_log(&bob).await.len(),
        after_allowed,
        "nothing since"
    );
}
