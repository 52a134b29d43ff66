use async_graphql::{Context, ID, Object};

use crate::domain::AppointmentId;
use crate::error::{GqlResult, IntoGql};
use crate::graphql::types::contact::{Appointment, AppointmentConnection};
use crate::graphql::types::inputs::AppointmentFilterInput;
use crate::graphql::{parse_id, request_ctx, selected, selected_nodes};
use crate::pagination::PageRequest;
use crate::service::appointments;

#[derive(Default)]
pub struct AppointmentQuery;

#[Object]
impl AppointmentQuery {
    async fn appointment(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Appointment> {
        let id = parse_id::<AppointmentId>("id", &id).gql()?;
        let (model, grant) = appointments::get(&request_ctx(ctx), id, selected(ctx))
            .await
            .gql()?;
        Ok(Appointment { model, grant })
    }

    /// The caller's appointments by start time.
    async fn appointments(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<AppointmentFilterInput>,
    ) -> GqlResult<AppointmentConnection> {
        let page = PageRequest::parse(first, after.as_deref(), last, before.as_deref()).gql()?;
        let filter = filter.unwrap_or_default().parse().gql()?;
        let (result, grant) =
            appointments::list(&request_ctx(ctx), &filter, &page, selected_nodes(ctx))
                .await
                .gql()?;
        Ok(AppointmentConnection::new(result, filter, grant))
    }
}
