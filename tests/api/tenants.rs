use custodian_api::auth::Role;
use serde_json::json;

use crate::helpers::{TestApp, error_code};

crate::on_both_backends!(
    a_platform_admin_creates_and_lists_tenants,
    a_tenant_needs_an_adult_owner_and_nothing_is_stored_otherwise,
    only_a_platform_admin_creates_tenants,
    a_controller_sees_only_its_own_tenant,
);

const CREATE: &str = "mutation($input: CreateTenantInput!) { createTenant(input: $input) { id name jurisdictions ownerAttestsAdult status } }";

async fn a_platform_admin_creates_and_lists_tenants(app: TestApp) {
    let admin = app.admin_token();
    let data = app
        .gql_ok(
            &admin,
            CREATE,
            json!({"input": {"name": "Acme", "jurisdictions": ["EEA", "US_CA", "EEA"], "ownerAttestsAdult": true}}),
        )
        .await;
    let tenant = &data["createTenant"];
    assert_eq!(tenant["name"], "Acme");
    assert_eq!(tenant["jurisdictions"], json!(["EEA", "US_CA"]));
    assert_eq!(tenant["status"], "ACTIVE");
    app.create_tenant("Globex").await;
    let list = app
        .gql_ok(
            &admin,
            "{ tenants(first: 1) { edges { node { name } } pageInfo { hasNextPage endCursor } } }",
            json!({}),
        )
        .await;
    assert_eq!(list["tenants"]["edges"][0]["node"]["name"], "Acme");
    assert_eq!(list["tenants"]["pageInfo"]["hasNextPage"], true);
    let cursor = list["tenants"]["pageInfo"]["endCursor"].as_str().unwrap();
    let next = app
        .gql_ok(&admin, "query($after: String) { tenants(first: 5, after: $after) { edges { node { name } } pageInfo { hasNextPage } } }", json!({"after": cursor}))
        .await;
    assert_eq!(next["tenants"]["edges"][0]["node"]["name"], "Globex");
    assert_eq!(next["tenants"]["pageInfo"]["hasNextPage"], false);
}

async fn a_tenant_needs_an_adult_owner_and_nothing_is_stored_otherwise(app: TestApp) {
    let body = app
        .gql(
            Some(&app.admin_token()),
            CREATE,
            json!({"input": {"name": "Kids Inc", "jurisdictions": ["UK"], "ownerAttestsAdult": false}}),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(
        body["errors"][0]["extensions"]["field"],
        "ownerAttestsAdult"
    );
    let body = app
        .gql(
            Some(&app.admin_token()),
            CREATE,
            json!({"input": {"name": "  ", "jurisdictions": ["UK"], "ownerAttestsAdult": true}}),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "name");
    assert_eq!(app.count_rows("tenants").await, 0);
}

async fn only_a_platform_admin_creates_tenants(app: TestApp) {
    let tenant = app.create_tenant("Acme").await;
    let input =
        json!({"input": {"name": "Rogue", "jurisdictions": ["EEA"], "ownerAttestsAdult": true}});
    let controller = app.controller_token(&tenant);
    assert_eq!(
        error_code(&app.gql(Some(&controller), CREATE, input.clone()).await),
        "FORBIDDEN"
    );
    assert_eq!(
        error_code(&app.gql(None, CREATE, input.clone()).await),
        "UNAUTHENTICATED"
    );
    let staff = app.token(Role::ProcessorStaff, Some(&tenant), "sam");
    assert_eq!(
        error_code(&app.gql(Some(&staff), CREATE, input).await),
        "FORBIDDEN"
    );
    let list = app
        .gql(
            Some(&controller),
            "{ tenants { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&list), "FORBIDDEN");
    assert_eq!(app.count_rows("tenants").await, 1);
}

async fn a_controller_sees_only_its_own_tenant(app: TestApp) {
    let (acme, acme_token) = app.tenant_with_token("Acme").await;
    let globex = app.create_tenant("Globex").await;
    let own = app
        .gql_ok(&acme_token, "{ tenant { id name } }", json!({}))
        .await;
    assert_eq!(own["tenant"]["id"], acme.as_str());
    let other = app
        .gql(
            Some(&acme_token),
            "query($id: ID) { tenant(id: $id) { id name } }",
            json!({"id": globex}),
        )
        .await;
    let missing = app
        .gql(
            Some(&acme_token),
            "query($id: ID) { tenant(id: $id) { id name } }",
            json!({"id": uuid::Uuid::now_v7().to_string()}),
        )
        .await;
    assert_eq!(error_code(&other), "NOT_FOUND");
    assert_eq!(
        other["errors"][0]["message"],
        missing["errors"][0]["message"]
    );
    assert_eq!(other["data"], missing["data"]);
    let by_admin = app
        .gql_ok(
            &app.admin_token(),
            "query($id: ID) { tenant(id: $id) { name } }",
            json!({"id": globex}),
        )
        .await;
    assert_eq!(by_admin["tenant"]["name"], "Globex");
}
