mod appointments;
mod breaches;
mod contacts;
mod disclosures;
mod instructions;
mod offboarding;
mod privacy;
mod retention;
mod subprocessors;
mod tenants;
mod terms;
mod viewer;
mod webhooks;

use async_graphql::MergedObject;

#[derive(MergedObject, Default)]
pub struct Query(
    viewer::ViewerQuery,
    tenants::TenantQuery,
    contacts::ContactQuery,
    appointments::AppointmentQuery,
    instructions::InstructionQuery,
    privacy::PrivacyQuery,
    retention::RetentionQuery,
    breaches::BreachQuery,
    terms::TermsQuery,
    offboarding::OffboardingQuery,
    disclosures::DisclosureQuery,
    webhooks::WebhookQuery,
    subprocessors::SubprocessorQuery,
);
