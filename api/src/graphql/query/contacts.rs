use async_graphql::{Context, ID, Object};

use crate::domain::ContactId;
use crate::error::{GqlResult, IntoGql};
use crate::graphql::types::contact::{Contact, ContactConnection};
use crate::graphql::types::inputs::{ContactFilterInput, ContactOrderInput};
use crate::graphql::{parse_id, request_ctx, selected, selected_nodes};
use crate::service::contacts::{self, ContactOrder};
use crate::service::pagination::PageRequest;

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
        Ok(Contact { model, grant })
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
        Ok(ContactConnection::new(result, order, filter, grant))
    }
}
