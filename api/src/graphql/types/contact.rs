use async_graphql::{Context, ID, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entities::contact;

use super::appointment::AppointmentConnection;
use super::page::PageInfo;
use crate::domain::contact::{
    AddressKind, Consent, ContactSource, Email, EmailKind, Phone, PhoneKind, PostalAddress,
};
use crate::error::{GqlResult, IntoGql};
use crate::graphql::{caller, db, to_id};
use crate::service::appointments::{self, AppointmentFilter};
use crate::service::contacts::{self, ContactFilter, ContactOrder};
use crate::service::pagination::{Page, PageRequest};

/// A person the controller does business with.
pub struct Contact(pub contact::Model);

#[derive(SimpleObject, Debug, Clone)]
pub struct EmailAddress {
    pub address: String,
    pub kind: EmailKind,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct PhoneNumber {
    /// E.164, e.g. `+442071234567`.
    pub number: String,
    pub kind: PhoneKind,
}

#[derive(SimpleObject, Debug, Clone)]
#[graphql(name = "PostalAddress")]
pub struct PostalAddressOutput {
    pub kind: AddressKind,
    pub lines: Vec<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: String,
}

/// The data subject's choice per marketing channel.
#[derive(SimpleObject, Debug, Clone)]
pub struct MarketingPreferences {
    pub email: Consent,
    pub sms: Consent,
    pub phone: Consent,
}

fn decode<T: serde::de::DeserializeOwned>(value: &serde_json::Value) -> Vec<T> {
    serde_json::from_value(value.clone()).unwrap_or_default()
}

#[Object]
impl Contact {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn first_name(&self) -> Option<&str> {
        Some(self.0.first_name.as_str()).filter(|s| !s.is_empty())
    }
    async fn last_name(&self) -> Option<&str> {
        Some(self.0.last_name.as_str()).filter(|s| !s.is_empty())
    }
    async fn emails(&self) -> Vec<EmailAddress> {
        decode::<Email>(&self.0.emails)
            .into_iter()
            .map(|e| EmailAddress {
                address: e.address,
                kind: e.kind,
            })
            .collect()
    }
    async fn phones(&self) -> Vec<PhoneNumber> {
        decode::<Phone>(&self.0.phones)
            .into_iter()
            .map(|p| PhoneNumber {
                number: p.number,
                kind: p.kind,
            })
            .collect()
    }
    async fn addresses(&self) -> Vec<PostalAddressOutput> {
        decode::<PostalAddress>(&self.0.addresses)
            .into_iter()
            .map(|a| PostalAddressOutput {
                kind: a.kind,
                lines: a.lines,
                city: a.city,
                region: a.region,
                postal_code: a.postal_code,
                country: a.country,
            })
            .collect()
    }
    async fn employer(&self) -> Option<&str> {
        self.0.employer.as_deref()
    }
    async fn job_title(&self) -> Option<&str> {
        self.0.job_title.as_deref()
    }
    /// Fields the controller defines, as a JSON object.
    async fn custom_fields(&self) -> Json<serde_json::Value> {
        Json(self.0.custom_fields.clone())
    }
    async fn tags(&self) -> Vec<String> {
        decode(&self.0.tags)
    }
    async fn source(&self) -> ContactSource {
        ContactSource::from_db(&self.0.source)
    }
    async fn marketing_preferences(&self) -> MarketingPreferences {
        MarketingPreferences {
            email: Consent::from_db(&self.0.marketing_email),
            sms: Consent::from_db(&self.0.marketing_sms),
            phone: Consent::from_db(&self.0.marketing_phone),
        }
    }
    /// The subject opted out of the sale of their personal information (CCPA, Nevada).
    async fn opt_out_of_sale(&self) -> bool {
        self.0.opt_out_sale
    }
    /// The subject opted out of sharing for cross-context behavioural advertising (CCPA).
    async fn opt_out_of_sharing(&self) -> bool {
        self.0.opt_out_sharing
    }
    /// Increases with every change; pass it as `expectedVersion` to update.
    async fn version(&self) -> i32 {
        self.0.version
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// This contact's appointments, by start time.
    async fn appointments(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<AppointmentConnection> {
        let page = PageRequest::parse(first, after.as_deref(), last, before.as_deref()).gql()?;
        let filter = AppointmentFilter {
            contact_id: Some(self.0.id.into()),
            ..AppointmentFilter::default()
        };
        let result = appointments::list(db(ctx), caller(ctx), &filter, &page)
            .await
            .gql()?;
        Ok(AppointmentConnection::new(result, filter))
    }
}

#[derive(SimpleObject)]
pub struct ContactEdge {
    pub cursor: String,
    pub node: Contact,
}

/// A page of contacts.
pub struct ContactConnection {
    page: Page<contact::Model>,
    order: ContactOrder,
    filter: ContactFilter,
}

impl ContactConnection {
    pub fn new(page: Page<contact::Model>, order: ContactOrder, filter: ContactFilter) -> Self {
        Self {
            page,
            order,
            filter,
        }
    }
}

#[Object]
impl ContactConnection {
    async fn edges(&self) -> Vec<ContactEdge> {
        self.page
            .items
            .iter()
            .map(|c| ContactEdge {
                cursor: contacts::cursor(c, self.order),
                node: Contact(c.clone()),
            })
            .collect()
    }
    async fn nodes(&self) -> Vec<Contact> {
        self.page.items.iter().cloned().map(Contact).collect()
    }
    async fn page_info(&self) -> PageInfo {
        PageInfo::of(&self.page, |c| contacts::cursor(c, self.order))
    }
    /// How many contacts match the filter, across all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> GqlResult<u64> {
        contacts::count(db(ctx), caller(ctx), &self.filter)
            .await
            .gql()
    }
}
