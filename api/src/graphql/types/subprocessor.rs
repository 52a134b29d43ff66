use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entities::{partner_token, subprocessor, subprocessor_objection, transfer_record};

use super::instruction::Instruction;
use super::tenant::Tenant;
use crate::domain::instruction::{DataCategory, Purpose};
use crate::domain::subprocessor::{SubprocessorStatus, status_at};
use crate::domain::transfer::{OriginRegion, Safeguard, SccModule, review_due};
use crate::error::{GqlResult, IntoGql};
use crate::graphql::{now, request_ctx, to_id};
use crate::service::{subprocessors, transfers};

use super::decode_list as decode;

/// A third party the processor engages to process controllers' personal data.
pub struct Subprocessor(pub subprocessor::Model);

#[Object]
impl Subprocessor {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The service it provides to the processor.
    async fn service(&self) -> &str {
        &self.0.service
    }
    async fn data_categories(&self) -> Vec<DataCategory> {
        decode(&self.0.data_categories)
    }
    /// Where it processes: ISO 3166-1 alpha-2 codes.
    async fn locations(&self) -> Vec<String> {
        decode(&self.0.locations)
    }
    async fn contact_email(&self) -> Option<&str> {
        self.0.contact_email.as_deref()
    }
    /// `PROPOSED` until its effective date (at least 30 days after the announcement),
    /// then `ACTIVE`, until `RETIRED`.
    async fn status(&self, ctx: &Context<'_>) -> SubprocessorStatus {
        status_at(self.0.effective_at, self.0.retired_at, now(ctx))
    }
    /// When controllers were notified.
    async fn announced_at(&self) -> Option<DateTime<Utc>> {
        self.0.announced_at
    }
    async fn effective_at(&self) -> Option<DateTime<Utc>> {
        self.0.effective_at
    }
    async fn retired_at(&self) -> Option<DateTime<Utc>> {
        self.0.retired_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Objections: every tenant's for a platform admin, your own for a controller.
    async fn objections(&self, ctx: &Context<'_>) -> GqlResult<Vec<SubprocessorObjection>> {
        subprocessors::objections(&request_ctx(ctx), self.0.id)
            .await
            .map(|rows| rows.into_iter().map(SubprocessorObjection).collect())
            .gql()
    }
    /// The transfers of personal data to it.
    async fn transfers(&self, ctx: &Context<'_>) -> GqlResult<Vec<TransferRecord>> {
        transfers::list(&request_ctx(ctx), Some(self.0.id))
            .await
            .map(|rows| rows.into_iter().map(TransferRecord).collect())
            .gql()
    }
}

/// A controller's objection to a subprocessor, which blocks it from the tenant's data.
pub struct SubprocessorObjection(pub subprocessor_objection::Model);

#[Object]
impl SubprocessorObjection {
    async fn tenant_id(&self) -> ID {
        to_id(self.0.tenant_id)
    }
    async fn subprocessor_id(&self) -> ID {
        to_id(self.0.subprocessor_id)
    }
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    async fn objected_by(&self) -> &str {
        &self.0.objected_by
    }
    async fn objected_at(&self) -> DateTime<Utc> {
        self.0.objected_at
    }
}

/// An international transfer to a subprocessor and the safeguard it rests on.
pub struct TransferRecord(pub transfer_record::Model);

#[Object]
impl TransferRecord {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn subprocessor_id(&self) -> ID {
        to_id(self.0.subprocessor_id)
    }
    async fn origin_region(&self) -> Option<OriginRegion> {
        OriginRegion::from_db(&self.0.origin_region)
    }
    /// ISO 3166-1 alpha-2.
    async fn destination_country(&self) -> &str {
        &self.0.destination_country
    }
    async fn data_categories(&self) -> Vec<DataCategory> {
        decode(&self.0.data_categories)
    }
    async fn safeguard(&self) -> Option<Safeguard> {
        Safeguard::from_db(&self.0.safeguard)
    }
    /// For standard contractual clauses, the module signed.
    async fn scc_module(&self) -> Option<SccModule> {
        self.0.scc_module.as_deref().and_then(SccModule::from_db)
    }
    /// The instrument: the decision, the clauses' reference, the rules, the code.
    async fn instrument_reference(&self) -> Option<&str> {
        self.0.instrument_reference.as_deref()
    }
    /// When the transfer impact assessment was made.
    async fn impact_assessed_at(&self) -> Option<DateTime<Utc>> {
        self.0.impact_assessed_at
    }
    async fn supplementary_measures(&self) -> Option<&str> {
        self.0.supplementary_measures.as_deref()
    }
    async fn valid_from(&self) -> DateTime<Utc> {
        self.0.valid_from
    }
    async fn valid_until(&self) -> Option<DateTime<Utc>> {
        self.0.valid_until
    }
    async fn review_due_at(&self) -> DateTime<Utc> {
        self.0.review_due_at
    }
    /// The review is due within 30 days, or overdue.
    async fn review_due(&self, ctx: &Context<'_>) -> bool {
        review_due(self.0.review_due_at, now(ctx))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A scoped token a subprocessor uses to reach one tenant's data.
pub struct PartnerToken(pub partner_token::Model);

#[Object]
impl PartnerToken {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn tenant_id(&self) -> ID {
        to_id(self.0.tenant_id)
    }
    async fn subprocessor_id(&self) -> ID {
        to_id(self.0.subprocessor_id)
    }
    async fn purpose(&self) -> Option<Purpose> {
        Purpose::parse(&self.0.purpose)
    }
    async fn scopes(&self) -> Vec<String> {
        decode(&self.0.scopes)
    }
    async fn issued_by(&self) -> &str {
        &self.0.issued_by
    }
    async fn issued_at(&self) -> DateTime<Utc> {
        self.0.issued_at
    }
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
}

/// A freshly minted partner token: `token` is shown once and not stored.
#[derive(SimpleObject)]
pub struct MintedPartnerToken {
    pub token: String,
    pub partner_token: PartnerToken,
}

/// Who the processor is, as the record of processing names it.
#[derive(SimpleObject, Debug, Clone)]
pub struct ProcessorDetails {
    pub name: String,
    pub contact_email: Option<String>,
}

#[derive(SimpleObject)]
pub struct EngagedSubprocessor {
    pub subprocessor: Subprocessor,
    /// The controller objected: the subprocessor is blocked from its data.
    pub objected: bool,
}

/// The record of processing activities carried out on the controller's behalf
/// (GDPR Art. 30(2)), generated from what is registered now.
#[derive(SimpleObject)]
pub struct RecordOfProcessing {
    pub generated_at: DateTime<Utc>,
    pub controller: Tenant,
    pub processor: ProcessorDetails,
    /// Categories of processing: the controller's active instructions.
    pub processing_activities: Vec<Instruction>,
    pub subprocessors: Vec<EngagedSubprocessor>,
    /// Transfers to third countries, with their safeguards.
    pub transfers: Vec<TransferRecord>,
    /// Technical and organisational security measures (Art. 32).
    pub security_measures: Vec<String>,
    /// The processor's processing terms in force.
    pub terms_in_force: Option<crate::graphql::types::terms::TermsVersion>,
    /// The verifier key of the access ledger's signed checkpoints (C2SP signed-note
    /// form; also at `/.well-known/custodian/ledger-key`): what proofs are checked against.
    pub ledger_verifier_key: String,
}
