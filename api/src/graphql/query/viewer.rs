use async_graphql::{Context, Object};

use crate::auth::Viewer;
use crate::graphql::caller;

#[derive(Default)]
pub struct ViewerQuery;

#[Object]
impl ViewerQuery {
    /// Who the caller is; `null` without a token.
    async fn viewer(&self, ctx: &Context<'_>) -> Option<Viewer> {
        caller(ctx).map(Viewer::from)
    }
}
