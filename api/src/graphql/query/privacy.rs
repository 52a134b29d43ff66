use async_graphql::{Context, ID, Object};

use crate::error::{GqlResult, IntoGql};
use crate::graphql::types::privacy::{
    LegalHold, PrivacyRequest, PrivacyRequestConnection, PrivacyRequestFilterInput, RequestForward,
};
use crate::graphql::{parse_id, request_ctx};
use crate::pagination::PageRequest;
use crate::service::legal_holds;
use crate::service::privacy_requests::{self, forwards};

#[derive(Default)]
pub struct PrivacyQuery;

#[Object]
impl PrivacyQuery {
    /// The tenant's data-subject requests, oldest first: referrals waiting to be opened,
    /// open ones with both due dates, closed ones with their evidence (controller admin,
    /// or processor staff handling requests under an instruction).
    async fn privacy_requests(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] filter: PrivacyRequestFilterInput,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<PrivacyRequestConnection> {
        let filter = filter.parse().gql()?;
        let page = PageRequest::parse(first, after.as_deref(), last, before.as_deref()).gql()?;
        let result = privacy_requests::list(&request_ctx(ctx), &filter, &page)
            .await
            .gql()?;
        Ok(PrivacyRequestConnection {
            page: result,
            filter,
        })
    }

    /// One of the tenant's requests; another tenant's answers like a missing one.
    async fn privacy_request(&self, ctx: &Context<'_>, id: ID) -> GqlResult<PrivacyRequest> {
        let id = parse_id("id", &id).gql()?;
        privacy_requests::get(&request_ctx(ctx), id)
            .await
            .map(PrivacyRequest)
            .gql()
    }

    /// The tenant's legal holds, optionally on one contact (the controller's users).
    async fn legal_holds(
        &self,
        ctx: &Context<'_>,
        contact_id: Option<ID>,
    ) -> GqlResult<Vec<LegalHold>> {
        let contact = contact_id
            .map(|id| parse_id("contactId", &id))
            .transpose()
            .gql()?;
        legal_holds::list(&request_ctx(ctx), contact)
            .await
            .map(|rows| rows.into_iter().map(LegalHold).collect())
            .gql()
    }

    /// What the calling partner's tenant forwarded to it (its own token only), oldest
    /// first; only those it has not confirmed when `outstanding`.
    async fn request_forwards(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] outstanding: bool,
    ) -> GqlResult<Vec<RequestForward>> {
        forwards::inbox(&request_ctx(ctx), outstanding)
            .await
            .map(|rows| rows.into_iter().map(RequestForward).collect())
            .gql()
    }
}
