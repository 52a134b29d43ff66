use async_graphql::{Context, ID, Object};

use crate::domain::ContactId;
use crate::error::{GqlResult, IntoGql};
use crate::graphql::types::contact::{Contact, ContactConnection, PrefetchedAppointments};
use crate::graphql::types::inputs::{ContactFilterInput, ContactOrderInput};
use crate::graphql::{
    node_fields, node_selection, parse_id, request_ctx, selected, selected_nodes,
};
use crate::pagination::{DEFAULT_PAGE, MAX_PAGE, PageRequest};
use crate::service::appointments;
use crate::service::contacts::{self, ContactOrder};

#[derive(Default)]
pub struct ContactQuery;

// Relay's four paging arguments plus filter and order are the API; the resolver only
// forwards them.
#[allow(clippy::too_many_arguments)]
#[Object]
impl ContactQuery {
    /// One of the caller's contacts. Another tenant's id answers exactly like an id that
    /// does not exist: `NOT_FOUND`.
    async fn contact(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Contact> {
        let id = parse_id::<ContactId>("id", &id).gql()?;
        let (model, grant) = contacts::get(&request_ctx(ctx), id, selected(ctx))
            .await
            .gql()?;
        Ok(Contact::new(model, grant))
    }

    /// How many rows of the keyed import `importKey` are committed: where a resumed
    /// import starts.
    async fn import_progress(&self, ctx: &Context<'_>, import_key: String) -> GqlResult<i64> {
        contacts::import_progress(&request_ctx(ctx), &import_key)
            .await
            .gql()
    }

    /// The caller's contacts, a page at a time (`first`/`last` at most 100, default 20).
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<ContactFilterInput>,
        order_by: Option<ContactOrderInput>,
    ) -> GqlResult<ContactConnection> {
        let page = PageRequest::parse(first, after.as_deref(), last, before.as_deref()).gql()?;
        let filter = filter.unwrap_or_default().parse().gql()?;
        let order = order_by.map(ContactOrder::from).unwrap_or_default();
        let (result, grant) = contacts::list(
            &request_ctx(ctx),
            &filter,
            order,
            &page,
            selected_nodes(ctx),
        )
        .await
        .gql()?;
        let connection = ContactConnection::new(result, order, filter, grant);
        // Nodes selecting their first appointments get them from one query for the page.
        let Some(nested) = node_selection(ctx, "appointments") else {
            return Ok(connection);
        };
        let args = nested.arguments().unwrap_or_default();
        let arg = |name: &str| {
            args.iter()
                .find(|(n, _)| n.as_str() == name)
                .map(|(_, v)| v.clone())
        };
        if ["after", "last", "before"]
            .iter()
            .any(|a| arg(a).is_some_and(|v| v != async_graphql::Value::Null))
        {
            return Ok(connection);
        }
        let first = match arg("first") {
            Some(async_graphql::Value::Number(n)) => n.as_u64().unwrap_or(DEFAULT_PAGE),
            _ => DEFAULT_PAGE,
        };
        if first > MAX_PAGE || !grant_allows_appointments(&connection) {
            return Ok(connection);
        }
        let (pages, grant) = appointments::first_pages(
            &request_ctx(ctx),
            &connection.contact_ids(),
            first,
            node_fields(nested),
        )
        .await
        .gql()?;
        Ok(connection.with_appointments(PrefetchedAppointments {
            first,
            pages,
            grant,
        }))
    }
}

/// Whether the grant the contacts were read under covers appointments at all (if not,
/// each node answers `FORBIDDEN` for them and nothing is fetched).
fn grant_allows_appointments(connection: &ContactConnection) -> bool {
    connection.allows(crate::domain::instruction::DataCategory::Appointments)
}
