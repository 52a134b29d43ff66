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
mod webhooks;

use async_graphql::MergedObject;

#[derive(MergedObject, Default)]
pub struct Mutation(
    tenants::TenantMutation,
    contacts::ContactMutation,
    appointments::AppointmentMutation,
    instructions::InstructionMutation,
    privacy::PrivacyMutation,
    retention::RetentionMutation,
    breaches::BreachMutation,
    terms::TermsMutation,
    offboarding::OffboardingMutation,
    disclosures::DisclosureMutation,
    webhooks::WebhookMutation,
    subprocessors::SubprocessorMutation,
);
