use async_graphql::{Context, ID, Object};

use crate::domain::AppointmentId;
use crate::error::{GqlResult, IntoGql};
use crate::graphql::types::contact::Appointment;
use crate::graphql::types::inputs::{CreateAppointmentInput, UpdateAppointmentInput};
use crate::graphql::{parse_id, request_ctx, selected, to_id};
use crate::service::appointments;

#[derive(Default)]
pub struct AppointmentMutation;

#[Object]
impl AppointmentMutation {
    async fn create_appointment(
        &self,
        ctx: &Context<'_>,
        input: CreateAppointmentInput,
    ) -> GqlResult<Appointment> {
        let new = input.parse().gql()?;
        let (model, grant) = appointments::create(&request_ctx(ctx), new, selected(ctx))
            .await
            .gql()?;
        Ok(Appointment { model, grant })
    }

    async fn update_appointment(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateAppointmentInput,
        expected_version: i32,
    ) -> GqlResult<Appointment> {
        let id = parse_id::<AppointmentId>("id", &id).gql()?;
        let changes = input.into_changes().gql()?;
        let (model, grant) = appointments::update(
            &request_ctx(ctx),
            id,
            changes,
            expected_version,
            selected(ctx),
        )
        .await
        .gql()?;
        Ok(Appointment { model, grant })
    }

    async fn delete_appointment(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let id = parse_id::<AppointmentId>("id", &id).gql()?;
        appointments::delete(&request_ctx(ctx), id)
            .await
            .map(to_id)
            .gql()
    }
}
