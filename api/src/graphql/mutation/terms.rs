use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};

use crate::error::{GqlResult, IntoGql};
use crate::graphql::types::terms::{TermsAnswer, TermsVersion};
use crate::graphql::{parse_id, request_ctx};
use crate::service::terms;

#[derive(Default)]
pub struct TermsMutation;

#[Object]
impl TermsMutation {
    /// Announces a material change of the processing terms to every controller, effective
    /// no earlier than 30 days on (platform admin).
    async fn announce_terms(
        &self,
        ctx: &Context<'_>,
        text: String,
        effective_at: Option<DateTime<Utc>>,
    ) -> GqlResult<TermsVersion> {
        let rc = request_ctx(ctx);
        crate::policy::check_platform_admin(&rc).gql()?;
        terms::announce(&rc, &text, effective_at)
            .await
            .map(|v| TermsVersion(v, Vec::new()))
            .gql()
    }

    /// The controller's answer to announced terms, once (controller admin).
    async fn respond_to_terms(
        &self,
        ctx: &Context<'_>,
        id: ID,
        response: TermsAnswer,
        reason: Option<String>,
    ) -> GqlResult<TermsVersion> {
        let id = parse_id("id", &id).gql()?;
        let rc = request_ctx(ctx);
        terms::respond(&rc, id, response == TermsAnswer::Object, reason.as_deref())
            .await
            .gql()?;
        terms::list(&rc)
            .await
            .gql()?
            .into_iter()
            .find(|(v, _)| v.id == id)
            .map(|(v, r)| TermsVersion(v, r))
            .ok_or_else(|| crate::error::ServiceError::NotFound)
            .gql()
    }
}
