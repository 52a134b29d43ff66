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
    refused_as(&app, &bob, &directives, "directives").await;
    // Complexity: fragments count each time they are spread (30 aliases × 20 spreads × 10
    // fields is past 5,000, in a few hundred tokens).
    let heavy: Vec<String> = (0..30)
        .map(|i| format!("a{i}: contacts {{ nodes {{ ...G }} }}"))
        .collect();
    let heavy = format!(
        "{{ {} }} fragment G on Contact {{ {} }} fragment F on Contact {{ id firstName lastName employer jobTitle tags version createdAt updatedAt source }}",
        heavy.join(" "),
        "...F ".repeat(20)
    );
    refused_as(&app, &bob, &heavy, "complexity").await;

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

async fn read(app: &TestApp, token: &str) -> (u16, Option<String>, Value) {
    let res = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(token)
        .json(&json!({"query": "{ contacts { totalCount } }"}))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, res.json().await.unwrap())
}

#[tokio::test]
async fn rate_limits_hold_per_token_and_per_tenant_and_refill_with_the_clock() {
    let app = TestApp::spawn_configured(|s| {
        s.rate_limit_per_token = 2;
        s.rate_limit_per_tenant = 5;
    })
    .await;
    let (acme, a1) = app.tenant_with_token("Acme").await;
    for i in 0..4 {
        assert_eq!(read(&app, &a1).await.0, 200, "burst request {i}");
    }
    let auditor = app.token(
        custodian_api::auth::Role::ControllerAdmin,
        Some(&acme),
        "auditor",
    );
    let before = app.access_log(&auditor).await.len();
    let (status, retry, body) = read(&app, &a1).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(retry.as_deref(), Some("1"));
    assert_eq!(error_code(&body), "RATE_LIMITED");
    assert_eq!(body["errors"][0]["extensions"]["limit"], "token");
    assert_eq!(body["errors"][0]["extensions"]["retryAfter"], 1);
    assert!(body.get("data").is_none());
    // The budget refills as the server's clock moves: a second buys two requests.
    app.clock.advance(1);
    assert_eq!(read(&app, &a1).await.0, 200);
    // Nothing the refused request asked for was read, so nothing was recorded for it
    // (the log reads in between are the controller's own).
    let after = app.access_log(&auditor).await;
    assert_eq!(
        after.len(),
        before + 1,
        "the one allowed read since: {:?}",
        after.iter().map(|r| &r["operation"]).collect::<Vec<_>>()
    );

    // A tenant's callers share its budget (10 in a burst); another tenant keeps its own.
    let (globex, _) = app.tenant_with_token("Globex").await;
    let tokens: Vec<String> = (0..5)
        .map(|i| {
            app.token(
                custodian_api::auth::Role::ControllerAdmin,
                Some(&globex),
                &format!("user{i}"),
            )
        })
        .collect();
    for i in 0..10 {
        let (status, _, body) = read(&app, &tokens[i % 5]).await;
        assert_eq!(status, 200, "{i}: {body}");
    }
    let (status, _, body) = read(&app, &tokens[0]).await;
    assert_eq!(status, 429);
    assert_eq!(body["errors"][0]["extensions"]["limit"], "tenant");
    let (_, initech) = app.tenant_with_token("Initech").await;
    assert_eq!(
        read(&app, &initech).await.0,
        200,
        "other tenants are unaffected"
    );
}

#[tokio::test]
async fn an_exhausted_pool_fails_requests_within_the_acquire_timeout_retryably() {
    let app = TestApp::spawn_configured(|s| {
        s.storage.db_pool_size = 1;
        s.storage.db_acquire_timeout_ms = 300;
    })
    .await;
    let (_, bob) = app.tenant_with_token("Acme").await;
    assert_eq!(read(&app, &bob).await.0, 200);
    // Hold the pool's only connection.
    use sea_orm::TransactionTrait;
    let held = app.db.begin().await.unwrap();
    let started = std::time::Instant::now();
    let (status, retry, body) = read(&app, &bob).await;
    let waited = started.elapsed();
    assert_eq!(status, 200, "a GraphQL error, not a transport one: {body}");
    assert_eq!(error_code(&body), "RATE_LIMITED", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["retryable"], true);
    assert_eq!(retry.as_deref(), Some("1"));
    assert!(
        waited < std::time::Duration::from_secs(3),
        "failed within the acquire timeout, not hanging: {waited:?}"
    );
    drop(held);
    assert_eq!(read(&app, &bob).await.0, 200, "and it recovers by itself");
    let body = read(&app, &bob).await.2;
    assert!(body.get("errors").is_none(), "{body}");
}

#[tokio::test]
async fn postgres_statements_run_under_the_configured_statement_timeout() {
    let Some(app) = TestApp::spawn(crate::helpers::Backend::Postgres).await else {
        return;
    };
    use sea_orm::ConnectionTrait;
    let row = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SHOW statement_timeout",
        ))
        .await
        .unwrap()
        .unwrap();
    let value: String = row.try_get("", "statement_timeout").unwrap();
    assert_eq!(value, "10s");
}

#[tokio::test]
async fn production_mode_keeps_introspection_suggestions_and_the_playground_to_platform_admins() {
    let app = TestApp::spawn_configured(|s| s.production = true).await;
    let (_, bob) = app.tenant_with_token("Acme").await;
    let admin = app.admin_token();
    let page = app
        .client
        .get(format!("{}/graphql", app.address))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert!(
        !page.text().await.unwrap().contains("<html"),
        "no playground in production"
    );
    let intro = "{ __schema { queryType { name } } }";
    let body = app.gql(Some(&bob), intro, json!({})).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    let body = app.gql(None, intro, json!({})).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "anonymous: {body}");
    // Hidden in a fragment, it answers nothing.
    let hidden = "{ ...F } fragment F on Query { __schema { queryType { name } } }";
    let body = app.gql(Some(&bob), hidden, json!({})).await;
    assert!(body["data"]["__schema"].is_null(), "{body}");
    let body = app.gql(Some(&admin), intro, json!({})).await;
    assert_eq!(
        body["data"]["__schema"]["queryType"]["name"], "Query",
        "{body}"
    );
    let typo = "{ contactz { totalCount } }";
    let body = app.gql(Some(&bob), typo, json!({})).await;
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(!message.contains("Did you mean"), "{message}");
    let body = app.gql(Some(&admin), typo, json!({})).await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Did you mean"),
        "{body}"
    );
    let body = app.gql(Some(&bob), "{ __typename }", json!({})).await;
    assert_eq!(body["data"]["__typename"], "Query");
}

#[tokio::test]
async fn a_database_fault_answers_internal_without_sql_or_names() {
    let Some(app) = TestApp::spawn(crate::helpers::Backend::Postgres).await else {
        return;
    };
    let (tenant, bob) = app.tenant_with_token("Acme").await;
    app.create_contact(&bob, json!({"firstName": "Ada"})).await;
    let su = sea_orm::Database::connect(app.superuser_url.clone().unwrap())
        .await
        .unwrap();
    use sea_orm::ConnectionTrait;
    su.execute_unprepared("REVOKE SELECT ON contacts FROM custodian_app")
        .await
        .unwrap();
    let body = app
        .gql(
            Some(&bob),
            "{ contacts { nodes { id firstName } } }",
            json!({}),
        )
        .await;
    su.execute_unprepared("GRANT SELECT ON contacts TO custodian_app")
        .await
        .unwrap();
    assert_eq!(error_code(&body), "INTERNAL", "{body}");
    assert_eq!(body["errors"][0]["message"], "internal error");
    let text = body.to_string().to_lowercase();
    for leak in [
        "permission",
        "select",
        "relation",
        "sqlx",
        "panicked",
        "src/",
        &tenant,
    ] {
        assert!(!text.contains(leak), "{leak} leaked: {body}");
    }
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

#[tokio::test]
async fn only_persisted_operations_run_when_the_allow_list_is_required() {
    let dir = tempfile::tempdir().unwrap();
    let count = "query Count { contacts { totalCount } }";
    let create = "mutation Create { createContact(input: {firstName: \"Ada\"}) { id } }";
    let manifest = dir.path().join("manifest.json");
    std::fs::write(
        &manifest,
        json!({"format": "apollo-persisted-query-manifest", "version": 1, "operations": [
            {"id": sha256_hex(count), "name": "Count", "type": "query", "body": count},
            {"id": sha256_hex(create), "name": "Create", "type": "mutation", "body": create},
        ]})
        .to_string(),
    )
    .unwrap();
    let path = manifest.clone();
    let app = TestApp::spawn_configured(move |s| {
        s.persisted_queries = Some(path);
        s.require_persisted_queries = true;
    })
    .await;
    let (_, bob) = app.tenant_with_token("Acme").await;
    let post = async |body: Value| {
        let res = app
            .client
            .post(format!("{}/graphql", app.address))
            .bearer_auth(&bob)
            .json(&body)
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.json::<Value>().await.unwrap())
    };
    let by_hash = |doc: &str| json!({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(doc)}}});
    let (status, body) = post(by_hash(create)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["createContact"]["id"].is_string(), "{body}");
    let (_, body) = post(by_hash(count)).await;
    assert_eq!(body["data"]["contacts"]["totalCount"], 1, "{body}");
    let (_, body) = post(json!({"query": count, "extensions": by_hash(count)["extensions"]})).await;
    assert_eq!(
        body["data"]["contacts"]["totalCount"], 1,
        "query and its hash: {body}"
    );

    let reason = |b: &Value| b["errors"][0]["extensions"]["reason"].clone();
    let (status, body) = post(
        json!({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "ab".repeat(32)}}}),
    )
    .await;
    assert_eq!(
        (status, reason(&body)),
        (400, json!("PERSISTED_QUERY_NOT_FOUND")),
        "{body}"
    );
    let (status, body) = post(
        json!({"query": "{ contacts { totalCount } }", "extensions": by_hash(count)["extensions"]}),
    )
    .await;
    assert_eq!(
        (status, reason(&body)),
        (400, json!("PERSISTED_QUERY_HASH_MISMATCH")),
        "{body}"
    );
    let (status, body) = post(json!({"query": "{ contacts { totalCount } }"})).await;
    assert_eq!(
        (status, reason(&body)),
        (400, json!("PERSISTED_QUERY_REQUIRED")),
        "{body}"
    );
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    // The platform admin's playground sends whatever is typed.
    let body = app
        .gql(
            Some(&app.admin_token()),
            "{ tenants { nodes { name } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["data"]["tenants"]["nodes"][0]["name"], "Acme",
        "{body}"
    );

    // Over GET, a hash runs a listed query — and never a listed mutation.
    let get = async |doc: &str| {
        let ext = by_hash(doc)["extensions"].to_string();
        app.client
            .get(format!("{}/graphql", app.address))
            .query(&[("extensions", ext.as_str())])
            .bearer_auth(&bob)
            .send()
            .await
            .unwrap()
    };
    let res = get(count).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap()["data"]["contacts"]["totalCount"],
        1
    );
    assert_eq!(get(create).await.status(), 405);
}
