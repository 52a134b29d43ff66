use async_graphql::{Context, ID, Object};

use crate::domain::ContactId;
use crate::error::{GqlResult, IntoGql};
use crate::graphql::types::contact::Contact;
use crate::graphql::types::inputs::ContactInput;
use crate::graphql::{parse_id, request_ctx, selected, to_id};
use crate::service::contacts;

#[derive(Default)]
pub struct ContactMutation;

#[Object]
impl ContactMutation {
    async fn create_contact(&self, ctx: &Context<'_>, input: ContactInput) -> GqlResult<Contact> {
        let changes = input.into_changes().gql()?;
        let (model, grant) = contacts::create(&request_ctx(ctx), changes, selected(ctx))
            .await
            .gql()?;
        Ok(Contact { model, grant })
    }

    /// Changes the fields given. `expectedVersion` must be the contact's current
    /// `version`, else `CONFLICT` and nothing changes.
    async fn update_contact(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: ContactInput,
        expected_version: i32,
    ) -> GqlResult<Contact> {
        let id = parse_id::<ContactId>("id", &id).gql()?;
        let changes = input.into_changes().gql()?;
        let (model, grant) = contacts::update(
            &request_ctx(ctx),
            id,
            changes,
            expected_version,
            selected(ctx),
        )
        .await
        .gql()?;
        Ok(Contact { model, grant })
    }

    /// Deletes the contact and its appointments; returns its id.
    async fn delete_contact(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let id = parse_id::<ContactId>("id", &id).gql()?;
        contacts::delete(&request_ctx(ctx), id)
            .await
            .map(|id| to_id(id.as_uuid()))
            .gql()
    }
}
