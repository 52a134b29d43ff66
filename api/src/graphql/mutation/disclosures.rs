use async_graphql::{Context, ID, Object};

use crate::error::{GqlResult, IntoGql};
use crate::graphql::types::disclosure::{Disclosure, DisclosureProduction, RecordDisclosureInput};
use crate::graphql::types::privacy::parse_ids;
use crate::graphql::{now, parse_id, request_ctx};
use crate::service::disclosures::{self, NewDisclosure};

#[derive(Default)]
pub struct DisclosureMutation;

#[Object]
impl DisclosureMutation {
    /// Records a disclosure compelled by legal process (platform admin): the authority,
    /// the legal basis and reference, the tenant, the contacts and categories demanded,
    /// and whether a non-disclosure order applies.
    async fn record_disclosure(
        &self,
        ctx: &Context<'_>,
        input: RecordDisclosureInput,
    ) -> GqlResult<Disclosure> {
        let rc = request_ctx(ctx);
        crate::policy::check_platform_admin(&rc).gql()?;
        let tenant = parse_id("tenantId", &input.tenant_id).gql()?;
        let contacts = parse_ids("contactIds", &input.contact_ids).gql()?;
        let new = NewDisclosure::parse(
            tenant,
            &input.authority,
            &input.legal_basis,
            &input.reference,
            contacts,
            input.data_categories.clone(),
            input.nondisclosure_until,
            now(ctx),
        )
        .gql()?;
        disclosures::record(&rc, new).await.map(Disclosure).gql()
    }

    /// Produces the demanded data under the disclosure's record (platform admin),
    /// recorded in the tenant's ledger.
    async fn produce_disclosure(
        &self,
        ctx: &Context<'_>,
        tenant_id: ID,
        id: ID,
    ) -> GqlResult<DisclosureProduction> {
        let tenant = parse_id("tenantId", &tenant_id).gql()?;
        let id = parse_id("id", &id).gql()?;
        disclosures::produce(&request_ctx(ctx), tenant, id)
            .await
            .map(|(d, content)| DisclosureProduction {
                disclosure: Disclosure(d),
                content,
            })
            .gql()
    }
}
