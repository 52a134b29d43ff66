use async_graphql::{Context, Object};

use crate::error::{GqlResult, IntoGql};
use crate::graphql::request_ctx;
use crate::graphql::types::terms::TermsVersion;
use crate::service::terms;

#[derive(Default)]
pub struct TermsQuery;

#[Object]
impl TermsQuery {
    /// The processor's processing terms, newest announcement first, with the answers the
    /// caller may see (controllers' users and the platform admin).
    async fn terms_versions(&self, ctx: &Context<'_>) -> GqlResult<Vec<TermsVersion>> {
        terms::list(&request_ctx(ctx))
            .await
            .map(|rows| rows.into_iter().map(|(v, r)| TermsVersion(v, r)).collect())
            .gql()
    }
}
