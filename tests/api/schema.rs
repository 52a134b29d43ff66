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
