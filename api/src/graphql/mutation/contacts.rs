use async_graphql::{Context, ID, Object};

use crate::domain::ContactId;
use crate::error::{GqlResult, IntoGql};
use crate::graphql::types::contact::Contact;
use crate::graphql::types::inputs::ContactInput;
use crate::graphql::{parse_id, request_ctx, selected, to_id};
use crate::service::contacts;

#[derive(Default)]
pub struct ContactMutation;

/// What an import call did.
#[derive(async_graphql::SimpleObject)]
pub struct ImportResult {
    /// Contacts created by this call.
    pub imported: usize,
    /// Rows an earlier attempt of the same keyed batch had committed.
    pub skipped: usize,
    pub ids: Vec<ID>,
    /// For a keyed import: rows committed so far.
    pub rows_committed: Option<i64>,
}

#[Object]
impl ContactMutation {
    async fn create_contact(&self, ctx: &Context<'_>, input: ContactInput) -> GqlResult<Contact> {
        let changes = input.into_changes().gql()?;
        let (model, grant) = contacts::create(&request_ctx(ctx), changes, selected(ctx))
            .await
            .gql()?;
        Ok(Contact::new(model, grant))
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
        Ok(Contact::new(model, grant))
    }

    /// Imports up to 1,000 contacts, all or nothing (source `IMPORT` unless given). Every
    /// invalid row is reported in `extensions.rows` (`{row, field, message}`). With an
    /// `importKey`, the batch holds rows `offset ..` of that import and is exactly-once:
    /// rows an earlier attempt committed are skipped (see `importProgress`).
    async fn import_contacts(
        &self,
        ctx: &Context<'_>,
        contacts: Vec<ContactInput>,
        import_key: Option<String>,
        offset: Option<i64>,
    ) -> GqlResult<ImportResult> {
        let offset = offset.unwrap_or(0);
        if contacts.len() > contacts::MAX_IMPORT_BATCH {
            return Err::<ImportResult, _>(crate::domain::Invalid::new(
                "contacts",
                format!("at most {} contacts per call", contacts::MAX_IMPORT_BATCH),
            ))
            .gql();
        }
        let position = match import_key {
            None => None,
            Some(key) => {
                let key = crate::domain::bounded_text("importKey", &key, 200, true).gql()?;
                if offset < 0 {
                    return Err::<ImportResult, _>(crate::domain::Invalid::new(
                        "offset",
                        "offset must not be negative",
                    ))
                    .gql();
                }
                Some(contacts::ImportPosition { key, offset })
            }
        };
        let mut rows = Vec::with_capacity(contacts.len());
        let mut invalid = Vec::new();
        for (i, input) in contacts.into_iter().enumerate() {
            let mut input = input;
            if input.source.is_none() {
                input.source = Some(crate::domain::contact::ContactSource::Import);
            }
            match input.into_changes() {
                Ok(changes) => rows.push(changes),
                Err(e) => invalid.push((i, e)),
            }
        }
        if !invalid.is_empty() {
            return Err(crate::error::invalid_rows(&invalid));
        }
        let outcome = contacts::import(&request_ctx(ctx), rows, position)
            .await
            .gql()?;
        Ok(ImportResult {
            imported: outcome.ids.len(),
            skipped: outcome.skipped,
            ids: outcome.ids.into_iter().map(to_id).collect(),
            rows_committed: outcome.rows_committed,
        })
    }

    /// Deletes the contact and its appointments; returns its id.
    async fn delete_contact(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let id = parse_id::<ContactId>("id", &id).gql()?;
        contacts::delete(&request_ctx(ctx), id)
            .await
            .map(to_id)
            .gql()
    }
}
