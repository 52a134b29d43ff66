//! Public ids: newtypes over time-ordered UUIDs, defined with the entities that carry
//! them (see `entities::ids`).

pub use entities::ids::{
    AccessRecordId, AppointmentId, BreachNoticeId, ContactId, DeliveryId, DisclosureId, ForwardId,
    IncidentId, InstructionId, LegalHoldId, PartnerTokenId, PrivacyRequestId, PurgeRunId,
    RetentionPolicyId, SubprocessorId, TenantId, TermsId, TransferId, WebhookId,
};
