use async_graphql::{Context, ID, Object};

use crate::domain::privacy::{PauseReason, RequestStatus};
use crate::domain::{ContactId, TenantId};
use crate::error::{GqlResult, IntoGql};
use crate::graphql::types::contact::Contact;
use crate::graphql::types::inputs::ContactInput;
use crate::graphql::types::privacy::{
    LegalHold, OpenPrivacyRequestInput, PlaceLegalHoldInput, PrivacyRequest,
    ReferPrivacyRequestInput, RequestForward, parse_ids,
};
use crate::graphql::types::tenant::Tenant;
use crate::graphql::{now, parse_id, request_ctx, selected};
use crate::service::legal_holds::{self, NewHold};
use crate::service::privacy_requests::{self, NewReferral, execute, forwards};
use crate::signing::Signer;

#[derive(Default)]
pub struct PrivacyMutation;

#[Object]
impl PrivacyMutation {
    /// Records a request a subject sent to the processor instead of the controller
    /// (platform admin): it waits in the controller's queue as `REFERRED`, and nothing is
    /// carried out until the controller opens it.
    async fn refer_privacy_request(
        &self,
        ctx: &Context<'_>,
        input: ReferPrivacyRequestInput,
    ) -> GqlResult<PrivacyRequest> {
        let rc = request_ctx(ctx);
        crate::policy::check_platform_admin(&rc).gql()?;
        let tenant = parse_id::<TenantId>("tenantId", &input.tenant_id).gql()?;
        let received_at = input.received_at.unwrap_or(now(ctx));
        if received_at > now(ctx) {
            return Err::<PrivacyRequest, _>(crate::domain::Invalid::new(
                "receivedAt",
                "receivedAt must not be in the future",
            ))
            .gql();
        }
        let external_reference = crate::domain::optional_text(
            "externalReference",
            input.external_reference.as_deref(),
            200,
        )
        .gql()?;
        let new = NewReferral {
            tenant,
            kind: input.kind,
            channel: input.channel,
            received_at,
            external_reference,
        };
        privacy_requests::refer(&rc, new)
            .await
            .map(PrivacyRequest)
            .gql()
    }

    /// Opens a data-subject request the controller decided to have carried out: new, or
    /// taking over a referral. Opening it documents the instruction every step is
    /// recorded against.
    async fn open_privacy_request(
        &self,
        ctx: &Context<'_>,
        input: OpenPrivacyRequestInput,
    ) -> GqlResult<PrivacyRequest> {
        let new = input.parse(now(ctx)).gql()?;
        privacy_requests::open(&request_ctx(ctx), new)
            .await
            .map(PrivacyRequest)
            .gql()
    }

    /// Sets the contacts a request is about (e.g. from its candidates).
    async fn confirm_privacy_request_subject(
        &self,
        ctx: &Context<'_>,
        id: ID,
        contact_ids: Vec<ID>,
    ) -> GqlResult<PrivacyRequest> {
        let id = parse_id("id", &id).gql()?;
        let ids = parse_ids::<ContactId>("contactIds", &contact_ids).gql()?;
        privacy_requests::confirm_subject(&request_ctx(ctx), id, ids)
            .await
            .map(PrivacyRequest)
            .gql()
    }

    /// Stops the request's clock while awaiting the subject.
    async fn pause_privacy_request(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: PauseReason,
        note: Option<String>,
    ) -> GqlResult<PrivacyRequest> {
        let id = parse_id("id", &id).gql()?;
        privacy_requests::pause(&request_ctx(ctx), id, reason, note.as_deref())
            .await
            .map(PrivacyRequest)
            .gql()
    }

    /// Restarts a paused request's clock; both due dates move by the paused time.
    async fn resume_privacy_request(&self, ctx: &Context<'_>, id: ID) -> GqlResult<PrivacyRequest> {
        let id = parse_id("id", &id).gql()?;
        privacy_requests::resume(&request_ctx(ctx), id)
            .await
            .map(PrivacyRequest)
            .gql()
    }

    /// Extends the statutory due date once, as the regime allows (GDPR family: two further
    /// months; CCPA: 45 days; Nevada: 30 days), with the reason.
    async fn extend_privacy_request(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
    ) -> GqlResult<PrivacyRequest> {
        let id = parse_id("id", &id).gql()?;
        privacy_requests::extend(&request_ctx(ctx), id, &reason)
            .await
            .map(PrivacyRequest)
            .gql()
    }

    /// Denies an open request, with the reason (required).
    async fn deny_privacy_request(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
    ) -> GqlResult<PrivacyRequest> {
        let id = parse_id("id", &id).gql()?;
        privacy_requests::close(&request_ctx(ctx), id, RequestStatus::Denied, Some(&reason))
            .await
            .map(PrivacyRequest)
            .gql()
    }

    /// Records that the subject withdrew an open request.
    async fn withdraw_privacy_request(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: Option<String>,
    ) -> GqlResult<PrivacyRequest> {
        let id = parse_id("id", &id).gql()?;
        privacy_requests::close(
            &request_ctx(ctx),
            id,
            RequestStatus::Withdrawn,
            reason.as_deref(),
        )
        .await
        .map(PrivacyRequest)
        .gql()
    }

    /// Applies the controller's corrections to one of a rectification request's contacts,
    /// through the normal validation; `expectedVersion` as for `updateContact`.
    async fn rectify_contact(
        &self,
        ctx: &Context<'_>,
        request_id: ID,
        contact_id: ID,
        input: ContactInput,
        expected_version: i32,
    ) -> GqlResult<Contact> {
        let request = parse_id("requestId", &request_id).gql()?;
        let contact = parse_id("contactId", &contact_id).gql()?;
        let changes = input.into_changes().gql()?;
        let (model, grant) = execute::rectify(
            &request_ctx(ctx),
            request,
            contact,
            changes,
            expected_version,
            selected(ctx),
        )
        .await
        .gql()?;
        Ok(Contact::new(model, grant))
    }

    /// Carries out the request on its subject and completes it: the export (access,
    /// portability), the erasure with its report (every exception a legal hold keeps),
    /// the restriction, objection or opt-out; forwards it to the subprocessors holding the
    /// data; returns it with its signed receipt.
    async fn complete_privacy_request(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> GqlResult<PrivacyRequest> {
        let id = parse_id("id", &id).gql()?;
        let signer = ctx.data_unchecked::<Signer>();
        execute::complete(&request_ctx(ctx), signer, id)
            .await
            .map(PrivacyRequest)
            .gql()
    }

    /// Lifts a contact's restriction: it is processed again (controller).
    async fn lift_contact_restriction(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Contact> {
        let id = parse_id::<ContactId>("id", &id).gql()?;
        let (model, grant) = execute::lift_restriction(&request_ctx(ctx), id)
            .await
            .gql()?;
        Ok(Contact::new(model, grant))
    }

    /// Places a legal hold on a contact: erasure and retention keep it while it is in
    /// force, and it cannot be deleted (controller admin).
    async fn place_legal_hold(
        &self,
        ctx: &Context<'_>,
        input: PlaceLegalHoldInput,
    ) -> GqlResult<LegalHold> {
        let contact = parse_id("contactId", &input.contact_id).gql()?;
        let new = NewHold::parse(
            contact,
            input.reason,
            input.note.as_deref(),
            input.ends_at,
            now(ctx),
        )
        .gql()?;
        legal_holds::place(&request_ctx(ctx), new)
            .await
            .map(LegalHold)
            .gql()
    }

    /// Releases a legal hold from now on (controller admin).
    async fn release_legal_hold(&self, ctx: &Context<'_>, id: ID) -> GqlResult<LegalHold> {
        let id = parse_id("id", &id).gql()?;
        legal_holds::release(&request_ctx(ctx), id)
            .await
            .map(LegalHold)
            .gql()
    }

    /// Confirms, with the partner's own token, that it carried out a forwarded request.
    async fn confirm_request_forward(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> GqlResult<RequestForward> {
        let id = parse_id("id", &id).gql()?;
        forwards::confirm(&request_ctx(ctx), id)
            .await
            .map(RequestForward)
            .gql()
    }

    /// Sets a tenant's contractual assistance window for data-subject requests, in days
    /// from opening (platform admin).
    async fn set_request_assistance_window(
        &self,
        ctx: &Context<'_>,
        tenant_id: ID,
        days: i32,
    ) -> GqlResult<Tenant> {
        let tenant = parse_id("tenantId", &tenant_id).gql()?;
        privacy_requests::set_assistance_window(&request_ctx(ctx), tenant, days)
            .await
            .map(Tenant)
            .gql()
    }
}
