//! Data-subject requests, legal holds and forwards as clients see them.

use async_graphql::{Context, ID, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entities::{legal_hold, privacy_request, privacy_request_event, privacy_request_forward};

use super::decode_list as decode;
use super::page::PageInfo;
use crate::auth::ActorKind;
use crate::domain::privacy::{
    Channel, ExportFormat, ForwardAction, HoldReason, PauseReason, Regime, RequestKind,
    RequestStatus, standing,
};
use crate::error::{GqlResult, IntoGql};
use crate::graphql::{now, request_ctx, to_id};
use crate::pagination::Page;
use crate::service::legal_holds;
use crate::service::privacy_requests::{self, export, forwards};

/// A data-subject request the controller decided to have carried out, with both clocks:
/// the regime's (statutory) and the processor's own (the contract's assistance window).
pub struct PrivacyRequest(pub privacy_request::Model);

#[Object]
impl PrivacyRequest {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn kind(&self) -> Option<RequestKind> {
        RequestKind::from_db(&self.0.kind)
    }
    /// Absent while a referral waits for the controller to open it.
    async fn regime(&self) -> Option<Regime> {
        self.0.regime.as_deref().and_then(Regime::from_db)
    }
    async fn status(&self) -> Option<RequestStatus> {
        RequestStatus::from_db(&self.0.status)
    }
    /// How a referral reached the processor.
    async fn channel(&self) -> Option<Channel> {
        self.0.channel.as_deref().and_then(Channel::from_db)
    }
    /// The contacts the request is about, as confirmed.
    async fn subject_contact_ids(&self) -> Vec<ID> {
        decode::<uuid::Uuid>(&self.0.subject_contact_ids)
            .into_iter()
            .map(to_id)
            .collect()
    }
    /// Contacts an email or phone number matched, for the controller to confirm. The
    /// identifier itself is not kept.
    async fn candidate_contact_ids(&self) -> Vec<ID> {
        decode::<uuid::Uuid>(&self.0.candidate_contact_ids)
            .into_iter()
            .map(to_id)
            .collect()
    }
    /// `EMAIL`, `PHONE` or `EMAIL_AND_PHONE` when candidates were matched by identifier.
    async fn identifier_kind(&self) -> Option<&str> {
        self.0.identifier_kind.as_deref()
    }
    /// When the controller received it: the statutory clock runs from here.
    async fn received_at(&self) -> DateTime<Utc> {
        self.0.received_at
    }
    async fn opened_at(&self) -> Option<DateTime<Utc>> {
        self.0.opened_at
    }
    /// The regime's due date, moved by pauses and by an extension.
    async fn statutory_due_at(&self) -> Option<DateTime<Utc>> {
        self.0.statutory_due_at
    }
    /// The processor's own due date: the controller's contractual assistance window from
    /// opening, moved by pauses.
    async fn processor_due_at(&self) -> Option<DateTime<Utc>> {
        self.0.processor_due_at
    }
    /// Statutorily due within 7 days and not overdue (never while paused).
    async fn due_soon(&self, ctx: &Context<'_>) -> bool {
        standing(self.status_value(), self.0.statutory_due_at, now(ctx)).0
    }
    /// Past its statutory due date and still open (never while paused).
    async fn overdue(&self, ctx: &Context<'_>) -> bool {
        standing(self.status_value(), self.0.statutory_due_at, now(ctx)).1
    }
    /// Past the processor's own due date and still open (never while paused).
    async fn processor_overdue(&self, ctx: &Context<'_>) -> bool {
        standing(self.status_value(), self.0.processor_due_at, now(ctx)).1
    }
    async fn extended_at(&self) -> Option<DateTime<Utc>> {
        self.0.extended_at
    }
    async fn extension_reason(&self) -> Option<&str> {
        self.0.extension_reason.as_deref()
    }
    async fn paused_at(&self) -> Option<DateTime<Utc>> {
        self.0.paused_at
    }
    async fn pause_reason(&self) -> Option<PauseReason> {
        self.0
            .pause_reason
            .as_deref()
            .and_then(PauseReason::from_db)
    }
    /// Seconds the clock has been stopped in earlier pauses.
    async fn paused_seconds(&self) -> i64 {
        self.0.paused_seconds
    }
    async fn external_reference(&self) -> Option<&str> {
        self.0.external_reference.as_deref()
    }
    async fn denial_reason(&self) -> Option<&str> {
        self.0.denial_reason.as_deref()
    }
    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.0.completed_at
    }
    /// What completion produced: the export's summary, the erasure report (every
    /// exception with its legal reason), or the contacts whose flags changed. Ids, counts
    /// and reasons only.
    async fn result(&self) -> Option<Json<serde_json::Value>> {
        self.0.result.clone().map(Json)
    }
    /// SHA-256 of the export (JSON) or of the report's canonical form: the hash the
    /// receipt carries.
    async fn result_sha256(&self) -> Option<&str> {
        self.0.result_sha256.as_deref()
    }
    /// The signed receipt (JSON text), once completed: check it offline with
    /// `custodian dsr verify-receipt`.
    async fn receipt(&self) -> Option<&str> {
        self.0.receipt.as_deref()
    }
    /// The request's history, oldest first.
    async fn events(&self, ctx: &Context<'_>) -> GqlResult<Vec<PrivacyRequestEvent>> {
        privacy_requests::events(&request_ctx(ctx), self.0.id)
            .await
            .map(|rows| rows.into_iter().map(PrivacyRequestEvent).collect())
            .gql()
    }
    /// Where the request was forwarded, and which confirmations are outstanding.
    async fn forwards(&self, ctx: &Context<'_>) -> GqlResult<Vec<RequestForward>> {
        forwards::of_request(&request_ctx(ctx), self.0.id)
            .await
            .map(|rows| rows.into_iter().map(RequestForward).collect())
            .gql()
    }
    /// The export of a completed access (JSON) or portability (JSON, CSV) request:
    /// the same document on every download, each download recorded in the ledger.
    async fn export(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "ExportFormat::Json")] format: ExportFormat,
    ) -> GqlResult<Option<RequestExport>> {
        export::download(&request_ctx(ctx), self.0.id, format)
            .await
            .map(|e| {
                Some(RequestExport {
                    format,
                    sha256: e.sha256,
                    content: e.content,
                })
            })
            .gql()
    }
}

impl PrivacyRequest {
    fn status_value(&self) -> RequestStatus {
        RequestStatus::from_db(&self.0.status).unwrap_or(RequestStatus::Received)
    }
}

/// A stored export.
#[derive(SimpleObject)]
pub struct RequestExport {
    pub format: ExportFormat,
    pub sha256: String,
    pub content: String,
}

/// One step in a request's life.
pub struct PrivacyRequestEvent(pub privacy_request_event::Model);

#[Object]
impl PrivacyRequestEvent {
    async fn seq(&self) -> i32 {
        self.0.seq
    }
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    async fn actor_kind(&self) -> Option<ActorKind> {
        ActorKind::from_db(&self.0.actor_kind)
    }
    async fn actor_id(&self) -> &str {
        &self.0.actor_id
    }
    /// `REFERRED`, `OPENED`, `SUBJECT_CONFIRMED`, `PAUSED`, `RESUMED`, `EXTENDED`,
    /// `RECTIFIED`, `COMPLETED`, `DENIED`, `WITHDRAWN`, …
    async fn action(&self) -> &str {
        &self.0.action
    }
    /// The status after the step.
    async fn status(&self) -> Option<RequestStatus> {
        RequestStatus::from_db(&self.0.status)
    }
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
}

/// A request passed on to a subprocessor, and its confirmation.
pub struct RequestForward(pub privacy_request_forward::Model);

#[Object]
impl RequestForward {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn request_id(&self) -> ID {
        to_id(self.0.request_id)
    }
    async fn subprocessor_id(&self) -> ID {
        to_id(self.0.subprocessor_id)
    }
    async fn action(&self) -> Option<ForwardAction> {
        ForwardAction::from_db(&self.0.action)
    }
    async fn contact_ids(&self) -> Vec<ID> {
        decode::<uuid::Uuid>(&self.0.contact_ids)
            .into_iter()
            .map(to_id)
            .collect()
    }
    async fn forwarded_at(&self) -> DateTime<Utc> {
        self.0.forwarded_at
    }
    async fn confirmed_at(&self) -> Option<DateTime<Utc>> {
        self.0.confirmed_at
    }
    async fn confirmed_by(&self) -> Option<&str> {
        self.0.confirmed_by.as_deref()
    }
}

/// A legal hold on a contact.
pub struct LegalHold(pub legal_hold::Model);

#[Object]
impl LegalHold {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn contact_id(&self) -> ID {
        to_id(self.0.contact_id)
    }
    async fn reason(&self) -> Option<HoldReason> {
        HoldReason::from_db(&self.0.reason)
    }
    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }
    async fn ends_at(&self) -> Option<DateTime<Utc>> {
        self.0.ends_at
    }
    async fn placed_by(&self) -> &str {
        &self.0.placed_by
    }
    async fn placed_at(&self) -> DateTime<Utc> {
        self.0.placed_at
    }
    async fn released_by(&self) -> Option<&str> {
        self.0.released_by.as_deref()
    }
    async fn released_at(&self) -> Option<DateTime<Utc>> {
        self.0.released_at
    }
    /// Placed, not released, not past its end.
    async fn in_force(&self, ctx: &Context<'_>) -> bool {
        legal_holds::is_in_force(&self.0, now(ctx))
    }
}

#[derive(SimpleObject)]
pub struct PrivacyRequestEdge {
    pub cursor: String,
    pub node: PrivacyRequest,
}

/// A page of requests.
pub struct PrivacyRequestConnection {
    pub page: Page<privacy_request::Model>,
    pub filter: privacy_requests::RequestFilter,
}

#[Object]
impl PrivacyRequestConnection {
    async fn edges(&self) -> Vec<PrivacyRequestEdge> {
        self.page
            .items
            .iter()
            .map(|r| PrivacyRequestEdge {
                cursor: privacy_requests::cursor(r),
                node: PrivacyRequest(r.clone()),
            })
            .collect()
    }
    async fn nodes(&self) -> Vec<PrivacyRequest> {
        self.page
            .items
            .iter()
            .cloned()
            .map(PrivacyRequest)
            .collect()
    }
    async fn page_info(&self) -> PageInfo {
        PageInfo::of(&self.page, privacy_requests::cursor)
    }
    async fn total_count(&self, ctx: &Context<'_>) -> GqlResult<u64> {
        privacy_requests::count(&request_ctx(ctx), &self.filter)
            .await
            .gql()
    }
}

/// Who a request is about: contacts by id, or an email or phone number the server
/// matches against the tenant's contacts (the matches are listed for confirmation; the
/// identifier is not kept).
#[derive(async_graphql::InputObject, Default)]
pub struct SubjectInput {
    #[graphql(default)]
    pub contact_ids: Vec<ID>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(async_graphql::InputObject)]
pub struct OpenPrivacyRequestInput {
    pub kind: RequestKind,
    pub regime: Regime,
    #[graphql(default)]
    pub subject: SubjectInput,
    /// When the controller received it. Default: now.
    pub received_at: Option<DateTime<Utc>>,
    /// The controller's ticket or case reference.
    pub external_reference: Option<String>,
    /// A referral in the tenant's queue to open as this request.
    pub referral_id: Option<ID>,
}

impl OpenPrivacyRequestInput {
    /// # Errors
    /// [`crate::domain::Invalid`] naming the field at fault.
    pub fn parse(
        &self,
        now: DateTime<Utc>,
    ) -> Result<privacy_requests::NewRequest, crate::domain::Invalid> {
        let contact_ids = parse_ids("subject.contactIds", &self.subject.contact_ids)?;
        let referral = self
            .referral_id
            .as_ref()
            .map(|id| crate::graphql::parse_id("referralId", id))
            .transpose()?;
        privacy_requests::NewRequest::parse(
            self.kind,
            self.regime,
            privacy_requests::Subject {
                contact_ids,
                email: self.subject.email.clone(),
                phone: self.subject.phone.clone(),
            },
            self.received_at,
            self.external_reference.as_deref(),
            referral,
            now,
        )
    }
}

/// Parses a list of ids, naming `field[i]` at fault.
pub(crate) fn parse_ids<T: From<uuid::Uuid>>(
    field: &str,
    ids: &[ID],
) -> Result<Vec<T>, crate::domain::Invalid> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| crate::graphql::parse_id(&format!("{field}[{i}]"), id))
        .collect()
}

#[derive(async_graphql::InputObject)]
pub struct ReferPrivacyRequestInput {
    /// The controller the subject named.
    pub tenant_id: ID,
    pub kind: RequestKind,
    pub channel: Channel,
    /// When the processor received it. Default: now.
    pub received_at: Option<DateTime<Utc>>,
    /// The processor's ticket reference. No personal data: the subject is directed to the
    /// controller.
    pub external_reference: Option<String>,
}

#[derive(async_graphql::InputObject)]
pub struct PlaceLegalHoldInput {
    pub contact_id: ID,
    pub reason: HoldReason,
    pub note: Option<String>,
    /// Default: until released.
    pub ends_at: Option<DateTime<Utc>>,
}

#[derive(async_graphql::InputObject, Default)]
pub struct PrivacyRequestFilterInput {
    #[graphql(default)]
    pub statuses: Vec<RequestStatus>,
    /// Open and statutorily due within this many days (overdue ones included).
    pub due_within_days: Option<i32>,
    pub overdue: Option<bool>,
    pub processor_overdue: Option<bool>,
}

impl PrivacyRequestFilterInput {
    /// # Errors
    /// [`crate::domain::Invalid`] for a negative or absurd window.
    pub fn parse(&self) -> Result<privacy_requests::RequestFilter, crate::domain::Invalid> {
        if let Some(d) = self.due_within_days
            && !(0..=3660).contains(&d)
        {
            return Err(crate::domain::Invalid::new(
                "filter.dueWithinDays",
                "dueWithinDays must be between 0 and 3660",
            ));
        }
        Ok(privacy_requests::RequestFilter {
            statuses: self.statuses.clone(),
            due_within_days: self.due_within_days.map(i64::from),
            overdue: self.overdue,
            processor_overdue: self.processor_overdue,
        })
    }
}
