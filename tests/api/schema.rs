//! `schema.graphql` is the contract with client apps: it must be exactly what the server
//! serves. Regenerate with `cargo run -p custodian-api -- schema --output schema.graphql`.

#[test]
fn schema_graphql_matches_the_served_schema() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let served = custodian_api::graphql::schema::sdl();
    assert!(
        committed == served,
        "schema.graphql is out of date; run `cargo run -p custodian-api -- schema --output schema.graphql`"
    );
}

/// graphql-js 16.15's `getIntrospectionQuery` with every option on (what GraphiQL, code
/// generators, `gql-cli --print-schema` and schemathesis send); regenerate with
/// `node -e "process.stdout.write(require('graphql').getIntrospectionQuery({descriptions:true,specifiedByUrl:true,directiveIsRepeatable:true,schemaDescription:true,inputValueDeprecation:true,oneOf:true}))"`.
const GRAPHQL_JS_INTROSPECTION: &str = include_str!("graphql-js-introspection.graphql");

#[tokio::test]
async fn the_standard_introspection_query_passes_and_data_depth_stays_bounded() {
    let app = crate::helpers::TestApp::spawn(crate::helpers::Backend::Sqlite)
        .await
        .unwrap();
    let admin = app.admin_token();
    let body = app
        .gql(
            Some(&admin),
            GRAPHQL_JS_INTROSPECTION,
            serde_json::json!({}),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let types = body["data"]["__schema"]["types"].as_array().unwrap();
    assert!(types.iter().any(|t| t["name"] == "Contact"), "{body}");

    // A data query past the limit is refused before anything runs, naming it.
    let mut deep = String::from("id");
    for _ in 0..6 {
        deep = format!("contact {{ appointments {{ nodes {{ {deep} }} }} }}");
    }
    let query = format!("{{ contacts {{ nodes {{ {deep} }} }} }}");
    let body = app.gql(Some(&admin), &query, serde_json::json!({})).await;
    assert_eq!(
        crate::helpers::error_code(&body),
        "BAD_USER_INPUT",
        "{body}"
    );
    assert_eq!(body["errors"][0]["extensions"]["limit"], "depth", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["max"], 12, "{body}");

    // Introspection has its own budget: `ofType` nested without end is refused too.
    let mut of_type = String::from("name");
    for _ in 0..20 {
        of_type = format!("ofType {{ {of_type} }}");
    }
    let query = format!("{{ __type(name: \"Contact\") {{ fields {{ type {{ {of_type} }} }} }} }}");
    let body = app.gql(Some(&admin), &query, serde_json::json!({})).await;
    assert_eq!(
        body["errors"][0]["extensions"]["limit"], "introspectionDepth",
        "{body}"
    );
}
