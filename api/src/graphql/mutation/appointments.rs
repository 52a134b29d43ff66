use async_graphql::{Context, ID, Object};

use crate::domain::AppointmentId;
use crate::error::{GqlResult, IntoGql};
use crate::graphql::types::appointment::Appointment;
use crate::graphql::types::inputs::{CreateAppointmentInput, UpdateAppointmentInput};
use crate::graphql::{caller, db, now, parse_id, to_id};
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
        appointments::create(db(ctx), caller(ctx), new, now(ctx))
            .await
            .map(Appointment)
            .gql()
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
        appointments::update(
            db(ctx),
            caller(ctx),
            id,
            changes,
            expected_version,
            now(ctx),
        )
        .await
        .map(Appointment)
        .gql()
    }

    async fn delete_appointment(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let id = parse_id::<AppointmentId>("id", &id).gql()?;
        appointments::delete(db(ctx), caller(ctx), id)
            .await
            .map(|id| to_id(id.as_uuid()))
            .gql()
    }
}
