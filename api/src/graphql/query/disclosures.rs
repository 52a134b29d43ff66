use async_graphql::{Context, Object};

use crate::error::{GqlResult, IntoGql};
use crate::graphql::types::disclosure::{Disclosure, TenantCount, TransparencyPeriod};
use crate::graphql::{request_ctx, to_id};
use crate::service::disclosures;

#[derive(Default)]
pub struct DisclosureQuery;

#[Object]
impl DisclosureQuery {
    /// Disclosures under legal process: every tenant's for the platform admin; the
    /// tenant's own for its users once their notice is due (held while a non-disclosure
    /// order applies).
    async fn disclosures(&self, ctx: &Context<'_>) -> GqlResult<Vec<Disclosure>> {
        disclosures::list(&request_ctx(ctx))
            .await
            .map(|rows| rows.into_iter().map(Disclosure).collect())
            .gql()
    }

    /// How many disclosures were made per half-year, per tenant and in all, as the caller
    /// may see them.
    async fn transparency_report(&self, ctx: &Context<'_>) -> GqlResult<Vec<TransparencyPeriod>> {
        disclosures::transparency(&request_ctx(ctx))
            .await
            .map(|m| {
                m.into_iter()
                    .map(|(period, (total, tenants))| TransparencyPeriod {
                        period,
                        total,
                        by_tenant: tenants
                            .into_iter()
                            .map(|(t, count)| TenantCount {
                                tenant_id: to_id(t),
                                count,
                            })
                            .collect(),
                    })
                    .collect()
            })
            .gql()
    }
}
