use async_graphql::{Context, ID, Object};

use crate::domain::ContactId;
use crate::error::{GqlResult, IntoGql};
use crate::graphql::types::contact::Contact;
use crate::graphql::types::inputs::ContactInput;
use crate::graphql::{caller, db, now, parse_id, to_id};
use crate::service::contacts;

#[derive(Default)]
pub struct ContactMutation;

#[Object]
impl ContactMutation {
    async fn create_contact(&self, ctx: &Context<'_>, input: ContactInput) -> GqlResult<Contact> {
        let changes = input.into_changes().gql()?;
        contacts::create(db(ctx), caller(ctx), changes, now(ctx))
            .await
            .map(Contact)
            .gql()
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
        contacts::update(
            db(ctx),
            caller(ctx),
            id,
            changes,
            expected_version,
            now(ctx),
        )
        .await
        .map(Contact)
        .gql()
    }

    /// Deletes the contact and its appointments; returns its id.
    async fn delete_contact(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let id = parse_id::<ContactId>("id", &id).gql()?;
        contacts::delete(db(ctx), caller(ctx), id)
            .await
            .map(|id| to_id(id.as_uuid()))
            .gql()
    }
}
