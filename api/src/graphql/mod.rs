//! The GraphQL API: thin resolvers over `service/`.

pub mod limits;
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
use crate::ledger::Ledger;
use crate::policy::RequestCtx;

/// The request id, as the HTTP layer assigned it; it goes into ledger records and logs.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub request_id: String,
}

/// What a service call needs, read from the GraphQL context.
pub(crate) fn request_ctx<'a>(ctx: &'a Context<'_>) -> RequestCtx<'a> {
    RequestCtx::new(
        db(ctx),
        ctx.data_unchecked::<Ledger>(),
        caller(ctx),
        ctx.data_opt::<RequestMeta>().map(|m| m.request_id.as_str()),
        now(ctx),
    )
    .counted(ctx.data_opt())
}

/// The sub-fields the client selected on the current field.
pub(crate) fn selected(ctx: &Context<'_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in ctx.field().selection_set() {
        push_unique(&mut out, f.name());
    }
    out
}

/// The sub-fields selected on a connection's nodes (`nodes { … }` and `edges { node { … } }`).
pub(crate) fn selected_nodes(ctx: &Context<'_>) -> Vec<String> {
    node_fields(ctx.field())
}

/// [`selected_nodes`] of any connection field.
pub(crate) fn node_fields(connection: async_graphql::SelectionField<'_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in connection.selection_set() {
        match f.name() {
            "nodes" => f
                .selection_set()
                .for_each(|n| push_unique(&mut out, n.name())),
            "edges" => {
                for e in f.selection_set().filter(|e| e.name() == "node") {
                    e.selection_set()
                        .for_each(|n| push_unique(&mut out, n.name()));
                }
            }
            _ => {}
        }
    }
    out
}

fn push_unique(out: &mut Vec<String>, name: &str) {
    if !out.iter().any(|n| n == name) {
        out.push(name.to_owned());
    }
}

/// The verified caller of this request, if it sent a token: handed to the policy, which
/// alone reads it.
fn caller<'a>(ctx: &'a Context<'_>) -> Option<&'a Caller> {
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

pub(crate) fn to_id(id: impl Into<uuid::Uuid>) -> ID {
    ID(id.into().to_string())
}

/// The first selection of `field` on the nodes of the current connection field.
pub(crate) fn node_selection<'a>(
    ctx: &'a Context<'_>,
    field: &str,
) -> Option<async_graphql::SelectionField<'a>> {
    for f in ctx.field().selection_set() {
        let nodes: Vec<async_graphql::SelectionField<'a>> = match f.name() {
            "nodes" => vec![f],
            "edges" => f.selection_set().filter(|e| e.name() == "node").collect(),
            _ => continue,
        };
        for n in nodes {
            if let Some(found) = n.selection_set().find(|s| s.name() == field) {
                return Some(found);
            }
        }
    }
    None
}
