use async_graphql::{Context, Object};

use crate::auth::Viewer;
use crate::graphql::request_ctx;

#[derive(Default)]
pub struct ViewerQuery;

#[Object]
impl ViewerQuery {
    /// Who the caller is; `null` without a token.
    async fn viewer(&self, ctx: &Context<'_>) -> Option<Viewer> {
        request_ctx(ctx).viewer()
    }
}
