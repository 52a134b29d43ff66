//! GraphQL over HTTP: media types, status codes, GET for queries only, body rules.

use serde_json::Value;

use crate::helpers::TestApp;

crate::on_both_backends!(
    responses_follow_the_accept_header_and_the_specifications_status_codes,
    get_serves_queries_and_graphiql_but_never_mutations,
    bodies_must_be_json_and_bounded,
    health_and_readiness_answer_json,
    response_fields_come_in_the_order_the_query_asked_for_them,
);

/// GraphQL's serialized map ordering: a response's fields in the order of the query's
/// selection, not sorted.
async fn response_fields_come_in_the_order_the_query_asked_for_them(app: TestApp) {
    let (_, bob) = app.tenant_with_token("Acme").await;
    app.create_contact(
        &bob,
        serde_json::json!({"firstName": "Ada", "lastName": "Lovelace"}),
    )
    .await;
    let text = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&bob)
        .json(&serde_json::json!({"query": "{ contacts(first: 1) { nodes { lastName firstName } totalCount } }"}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        text,
        r#"{"data":{"contacts":{"nodes":[{"lastName":"Lovelace","firstName":"Ada"}],"totalCount":1}}}"#
    );
}

async fn post(app: &TestApp, accept: Option<&str>, body: &str) -> (u16, String, Value) {
    let mut req = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    let text = r.text().await.unwrap();
    (
        status,
        ct,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

async fn responses_follow_the_accept_header_and_the_specifications_status_codes(app: TestApp) {
    let ok = r#"{"query":"{ __typename }"}"#;
    let (s, ct, body) = post(&app, Some("application/graphql-response+json"), ok).await;
    assert_eq!(
        (s, ct.starts_with("application/graphql-response+json")),
        (200, true)
    );
    assert_eq!(body["data"]["__typename"], "Query");
    let (s, ct, _) = post(&app, None, ok).await;
    assert_eq!((s, ct.starts_with("application/json")), (200, true));
    let (s, ct, _) = post(&app, Some("application/json"), ok).await;
    assert_eq!((s, ct.starts_with("application/json")), (200, true));
    let (s, ct, _) = post(
        &app,
        Some("application/json;q=0.5, application/graphql-response+json"),
        ok,
    )
    .await;
    assert_eq!(
        (s, ct.starts_with("application/graphql-response+json")),
        (200, true)
    );
    let (s, _, _) = post(&app, Some("text/csv"), ok).await;
    assert_eq!(s, 406);

    // A document that does not validate: 400 under graphql-response+json, 200 under json,
    // and never a `data` entry.
    let invalid = r#"{"query":"{ noSuchField }"}"#;
    let (s, _, body) = post(&app, Some("application/graphql-response+json"), invalid).await;
    assert_eq!(s, 400);
    assert!(body.get("data").is_none());
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    let (s, _, body) = post(&app, Some("application/json"), invalid).await;
    assert_eq!(s, 200);
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    // A field error during execution is still a 200 with data.
    let (s, _, body) = post(
        &app,
        Some("application/graphql-response+json"),
        r#"{"query":"{ __typename contacts { totalCount } }"}"#,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    // Depth is bounded.
    let deep = format!(
        r#"{{"query":"{{ {} }}"}}"#,
        "__schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } }"
    );
    let (_, _, body) = post(&app, Some("application/json"), &deep).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body}"
    );
}

async fn get_serves_queries_and_graphiql_but_never_mutations(app: TestApp) {
    let url = format!("{}/graphql", app.address);
    let r = app
        .client
        .get(&url)
        .query(&[("query", "{ __typename }")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["data"]["__typename"],
        "Query"
    );
    let r = app
        .client
        .get(&url)
        .query(&[
            (
                "query",
                "query Q($n: String!) { __type(name: $n) { name } } query R { __typename }",
            ),
            ("variables", r#"{"n": "Contact"}"#),
            ("operationName", "Q"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["data"]["__type"]["name"],
        "Contact"
    );
    let r = app
        .client
        .get(&url)
        .query(&[("query", r#"mutation { createTenant(input: {name: "X", jurisdictions: [EEA], ownerAttestsAdult: true}) { id } }"#)])
        .bearer_auth(app.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.headers()["allow"], "POST");
    assert_eq!(app.count_rows("tenants").await, 0);
    let r = app
        .client
        .get(&url)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap().contains("graphiql"));
    let r = app
        .client
        .get(&url)
        .query(&[("query", "{ __typename }"), ("variables", "[1]")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}

async fn bodies_must_be_json_and_bounded(app: TestApp) {
    let url = format!("{}/graphql", app.address);
    let r = app
        .client
        .post(&url)
        .header("content-type", "text/plain")
        .body(r#"{"query":"{ __typename }"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
    let r = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    let huge = format!(
        r#"{{"query":"{{ __typename }}","variables":{{"pad":"{}"}}}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    let r = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
}

async fn health_and_readiness_answer_json(app: TestApp) {
    for (path, status) in [("healthz", "ok"), ("readyz", "ready")] {
        let r = app
            .client
            .get(format!("{}/{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.json::<Value>().await.unwrap()["status"], status);
    }
}

#[tokio::test]
async fn a_null_for_a_required_argument_is_the_clients_error() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite)
        .await
        .unwrap();
    let (_, token) = app.tenant_with_token("Acme").await;
    let body = app
        .gql(Some(&token), "query($n: Int) { __typename contact(id: \"00000000-0000-0000-0000-000000000000\") { version } contacts(first: $n) { totalCount } }", serde_json::json!({}))
        .await;
    let body2 = app
        .gql(Some(&token), "mutation($v: Int) { updateContact(id: \"00000000-0000-0000-0000-000000000000\", input: {}, expectedVersion: $v) { id } }", serde_json::json!({}))
        .await;
    assert_eq!(
        body2["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body2}"
    );
    assert!(
        body["errors"]
            .as_array()
            .is_some_and(|e| e.iter().all(|e| e["extensions"]["code"] != "INTERNAL")),
        "{body}"
    );
}
