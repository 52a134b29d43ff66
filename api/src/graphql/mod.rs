//! The GraphQL API: thin resolvers over `service/`.

pub mod mutation;
pub mod query;
pub mod schema;
pub mod types;

use async_graphql::{Context, ID};
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;

use crate::auth::Caller;
use crate::clock::SharedClock;
use crate::domain::Invalid;

/// The verified caller of this request, if it sent a token.
pub(crate) fn caller<'a>(ctx: &'a Context<'_>) -> Option<&'a Caller> {
    ctx.data_opt::<Caller>()
}

pub(crate) fn db<'a>(ctx: &'a Context<'_>) -> &'a DatabaseConnection {
    ctx.data_unchecked::<DatabaseConnection>()
}

pub(crate) fn now(ctx: &Context<'_>) -> DateTime<Utc> {
    ctx.data_unchecked::<SharedClock>().now()
}

/// Parses a public id argument.
pub(crate) fn parse_id<T: From<uuid::Uuid>>(field: &str, id: &ID) -> Result<T, Invalid> {
    uuid::Uuid::parse_str(id.trim())
        .map(T::from)
        .map_err(|_| Invalid::new(field, format!("{field} is not a valid ID")))
}

pub(crate) fn to_id(id: uuid::Uuid) -> ID {
    ID(id.to_string())
}
