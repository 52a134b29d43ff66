use async_graphql::{EmptySubscription, Schema};
use sea_orm::DatabaseConnection;

use super::mutation::Mutation;
use super::query::Query;
use crate::auth::TokenAuthority;
use crate::clock::SharedClock;
use crate::graphql::types::subprocessor::ProcessorDetails;
use crate::ledger::Ledger;

pub type CustodianSchema = Schema<Query, Mutation, EmptySubscription>;

/// The schema without data: enough to print the SDL. It has no extension: with none, the
/// engine resolves each field directly (an extension, even one only for parsing, makes it
/// describe every field it resolves, a formatted type name each time).
pub fn builder() -> async_graphql::SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .limit_complexity(super::limits::MAX_COMPLEXITY)
        .limit_directives(super::limits::MAX_DIRECTIVES)
}

/// What resolvers read from the schema's data.
#[derive(Clone)]
pub struct SchemaData {
    pub db: DatabaseConnection,
    pub clock: SharedClock,
    pub ledger: Ledger,
    pub auth: TokenAuthority,
    pub signer: crate::signing::Signer,
    pub ledger_key: crate::ledger::checkpoint::LogKey,
    pub offboarded: crate::service::offboarding::Offboarded,
    pub processor: ProcessorDetails,
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
}

pub fn build(data: SchemaData) -> CustodianSchema {
    with_data(builder(), data)
}

/// The schema production callers other than platform admins get: no field suggestions
/// in its errors ("Did you mean …?" maps the schema for whoever probes it); the request
/// also has introspection turned off.
pub fn build_strict(data: SchemaData) -> CustodianSchema {
    with_data(builder().disable_suggestions(), data)
}

fn with_data(
    builder: async_graphql::SchemaBuilder<Query, Mutation, EmptySubscription>,
    data: SchemaData,
) -> CustodianSchema {
    builder
        .data(data.db)
        .data(data.clock)
        .data(data.ledger)
        .data(data.auth)
        .data(data.signer)
        .data(data.ledger_key)
        .data(data.offboarded)
        .data(data.processor)
        .data(data.metrics)
        .finish()
}

/// The SDL clients code against; `schema.graphql` at the repository root holds a copy.
pub fn sdl() -> String {
    builder()
        .finish()
        .sdl_with_options(async_graphql::SDLExportOptions::new().include_specified_by())
}
