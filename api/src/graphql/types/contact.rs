//! Contacts and the appointments made with them: one aggregate whose types refer to each
//! other both ways (`Contact.appointments`, `Appointment.contact`), so one module.

use std::sync::Arc;

use async_graphql::{Context, ID, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entities::{appointment, contact};

use super::page::PageInfo;
use crate::domain::contact::{
    AddressKind, Consent, ContactSource, Email, EmailKind, Phone, PhoneKind, PostalAddress,
};
use crate::domain::instruction::DataCategory;
use crate::error::{GqlResult, IntoGql, ServiceError};
use crate::graphql::{request_ctx, selected, selected_nodes, to_id};
use crate::pagination::{Page, PageRequest};
use crate::policy::Grant;
use crate::service::appointments::{self, AppointmentFilter};
use crate::service::contacts::{self, ContactFilter, ContactOrder};

/// A person the controller does business with. Personal-data fields are nullable: a
/// field outside the caller's instruction answers `FORBIDDEN` alone, leaving the rest.
pub struct Contact {
    pub model: contact::Model,
    pub grant: Arc<Grant>,
    /// Appointments a listing fetched for all its contacts at once.
    pub prefetched: Option<Arc<PrefetchedAppointments>>,
}

impl Contact {
    pub fn new(model: contact::Model, grant: Arc<Grant>) -> Self {
        Self {
            model,
            grant,
            prefetched: None,
        }
    }
}

/// The first `first` appointments of every contact of a page, read in one query.
pub struct PrefetchedAppointments {
    pub first: u64,
    pub pages:
        std::collections::HashMap<crate::domain::ContactId, Page<entities::appointment::Model>>,
    pub grant: Arc<Grant>,
}

/// `Ok(())` when the grant the contact was read under covers `category`.
pub(crate) fn check(grant: &Grant, category: DataCategory) -> GqlResult<()> {
    if grant.allows(category) {
        Ok(())
    } else {
        Err::<(), _>(ServiceError::Forbidden(format!(
            "the instruction does not cover {category:?} data"
        )))
        .gql()
    }
}

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

use super::decode_list as decode;

#[Object]
impl Contact {
    async fn id(&self) -> ID {
        to_id(self.model.id)
    }
    async fn first_name(&self) -> GqlResult<Option<&str>> {
        check(&self.grant, DataCategory::Identity)?;
        Ok(Some(self.model.first_name.as_str()).filter(|s| !s.is_empty()))
    }
    async fn last_name(&self) -> GqlResult<Option<&str>> {
        check(&self.grant, DataCategory::Identity)?;
        Ok(Some(self.model.last_name.as_str()).filter(|s| !s.is_empty()))
    }
    async fn emails(&self) -> GqlResult<Option<Vec<EmailAddress>>> {
        check(&self.grant, DataCategory::ContactDetails)?;
        Ok(Some(
            decode::<Email>(&self.model.emails)
                .into_iter()
                .map(|e| EmailAddress {
                    address: e.address,
                    kind: e.kind,
                })
                .collect(),
        ))
    }
    async fn phones(&self) -> GqlResult<Option<Vec<PhoneNumber>>> {
        check(&self.grant, DataCategory::ContactDetails)?;
        Ok(Some(
            decode::<Phone>(&self.model.phones)
                .into_iter()
                .map(|p| PhoneNumber {
                    number: p.number,
                    kind: p.kind,
                })
                .collect(),
        ))
    }
    async fn addresses(&self) -> GqlResult<Option<Vec<PostalAddressOutput>>> {
        check(&self.grant, DataCategory::ContactDetails)?;
        Ok(Some(
            decode::<PostalAddress>(&self.model.addresses)
                .into_iter()
                .map(|a| PostalAddressOutput {
                    kind: a.kind,
                    lines: a.lines,
                    city: a.city,
                    region: a.region,
                    postal_code: a.postal_code,
                    country: a.country,
                })
                .collect(),
        ))
    }
    async fn employer(&self) -> GqlResult<Option<&str>> {
        check(&self.grant, DataCategory::Employment)?;
        Ok(self.model.employer.as_deref())
    }
    async fn job_title(&self) -> GqlResult<Option<&str>> {
        check(&self.grant, DataCategory::Employment)?;
        Ok(self.model.job_title.as_deref())
    }
    /// Fields the controller defines, as a JSON object.
    async fn custom_fields(&self) -> GqlResult<Option<Json<serde_json::Value>>> {
        check(&self.grant, DataCategory::CustomFields)?;
        Ok(Some(Json(self.model.custom_fields.clone())))
    }
    async fn tags(&self) -> GqlResult<Option<Vec<String>>> {
        check(&self.grant, DataCategory::Identity)?;
        Ok(Some(decode(&self.model.tags)))
    }
    async fn source(&self) -> GqlResult<Option<ContactSource>> {
        check(&self.grant, DataCategory::Identity)?;
        Ok(Some(ContactSource::from_db(&self.model.source)))
    }
    async fn marketing_preferences(&self) -> GqlResult<Option<MarketingPreferences>> {
        check(&self.grant, DataCategory::Preferences)?;
        Ok(Some(MarketingPreferences {
            email: Consent::from_db(&self.model.marketing_email),
            sms: Consent::from_db(&self.model.marketing_sms),
            phone: Consent::from_db(&self.model.marketing_phone),
        }))
    }
    /// The subject opted out of the sale of their personal information (CCPA, Nevada).
    async fn opt_out_of_sale(&self) -> GqlResult<Option<bool>> {
        check(&self.grant, DataCategory::Preferences)?;
        Ok(Some(self.model.opt_out_sale))
    }
    /// The subject opted out of sharing for cross-context behavioural advertising (CCPA).
    async fn opt_out_of_sharing(&self) -> GqlResult<Option<bool>> {
        check(&self.grant, DataCategory::Preferences)?;
        Ok(Some(self.model.opt_out_sharing))
    }
    /// Processing is restricted (GDPR Art. 18): kept and shown to the controller, refused
    /// to everyone else, written only to lift the restriction.
    async fn restricted(&self) -> bool {
        self.model.restricted_at.is_some()
    }
    async fn restricted_at(&self) -> Option<DateTime<Utc>> {
        self.model.restricted_at
    }
    /// Increases with every change; pass it as `expectedVersion` to update.
    async fn version(&self) -> i32 {
        self.model.version
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at
    }
    /// This contact's appointments, by start time.
    async fn appointments(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Option<AppointmentConnection>> {
        check(&self.grant, DataCategory::Appointments)?;
        let page = PageRequest::parse(first, after.as_deref(), last, before.as_deref()).gql()?;
        let filter = AppointmentFilter {
            contact_id: Some(self.model.id),
            ..AppointmentFilter::default()
        };
        if let Some(pre) = &self.prefetched
            && page.forward
            && page.cursor.is_none()
            && page.limit == pre.first
            && let Some(found) = pre.pages.get(&self.model.id)
        {
            return Ok(Some(AppointmentConnection::new(
                found.clone(),
                filter,
                pre.grant.clone(),
            )));
        }
        // Boxed: inline, this read's future would size every field future of `Contact`,
        // and the engine moves one for each field of each contact it resolves.
        let (result, grant) = Box::pin(appointments::list(
            &request_ctx(ctx),
            &filter,
            &page,
            selected_nodes(ctx),
        ))
        .await
        .gql()?;
        Ok(Some(AppointmentConnection::new(result, filter, grant)))
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
    grant: Arc<Grant>,
    prefetched: Option<Arc<PrefetchedAppointments>>,
}

impl ContactConnection {
    pub fn new(
        page: Page<contact::Model>,
        order: ContactOrder,
        filter: ContactFilter,
        grant: Arc<Grant>,
    ) -> Self {
        Self {
            page,
            order,
            filter,
            grant,
            prefetched: None,
        }
    }

    pub fn allows(&self, category: DataCategory) -> bool {
        self.grant.allows(category)
    }

    /// The page's contact ids, for prefetching what their nodes select.
    pub fn contact_ids(&self) -> Vec<crate::domain::ContactId> {
        self.page.items.iter().map(|c| c.id).collect()
    }

    pub fn with_appointments(mut self, prefetched: PrefetchedAppointments) -> Self {
        self.prefetched = Some(Arc::new(prefetched));
        self
    }

    fn node(&self, model: &contact::Model) -> Contact {
        Contact {
            model: model.clone(),
            grant: self.grant.clone(),
            prefetched: self.prefetched.clone(),
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
                node: self.node(c),
            })
            .collect()
    }
    async fn nodes(&self) -> Vec<Contact> {
        self.page.items.iter().map(|c| self.node(c)).collect()
    }
    async fn page_info(&self) -> PageInfo {
        PageInfo::of(&self.page, |c| contacts::cursor(c, self.order))
    }
    /// How many contacts match the filter, across all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> GqlResult<u64> {
        contacts::count(&request_ctx(ctx), &self.filter).await.gql()
    }
}

/// A meeting with a contact.
pub struct Appointment {
    pub model: appointment::Model,
    pub grant: Arc<Grant>,
}

#[Object]
impl Appointment {
    async fn id(&self) -> ID {
        to_id(self.model.id)
    }
    async fn contact_id(&self) -> ID {
        to_id(self.model.contact_id)
    }
    /// The contact met (read, and recorded, as its own access).
    async fn contact(&self, ctx: &Context<'_>) -> GqlResult<Option<Contact>> {
        let (model, grant) = contacts::get(&request_ctx(ctx), self.model.contact_id, selected(ctx))
            .await
            .gql()?;
        Ok(Some(Contact::new(model, grant)))
    }
    async fn starts_at(&self) -> GqlResult<Option<DateTime<Utc>>> {
        check(&self.grant, DataCategory::Appointments)?;
        Ok(Some(self.model.starts_at))
    }
    async fn ends_at(&self) -> GqlResult<Option<DateTime<Utc>>> {
        check(&self.grant, DataCategory::Appointments)?;
        Ok(Some(self.model.ends_at))
    }
    async fn title(&self) -> GqlResult<Option<&str>> {
        check(&self.grant, DataCategory::Appointments)?;
        Ok(Some(self.model.title.as_str()))
    }
    async fn location(&self) -> GqlResult<Option<&str>> {
        check(&self.grant, DataCategory::Appointments)?;
        Ok(self.model.location.as_deref())
    }
    async fn notes(&self) -> GqlResult<Option<&str>> {
        check(&self.grant, DataCategory::Appointments)?;
        Ok(self.model.notes.as_deref())
    }
    async fn version(&self) -> i32 {
        self.model.version
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at
    }
}

#[derive(SimpleObject)]
pub struct AppointmentEdge {
    pub cursor: String,
    pub node: Appointment,
}

/// A page of appointments.
pub struct AppointmentConnection {
    page: Page<appointment::Model>,
    filter: AppointmentFilter,
    grant: Arc<Grant>,
}

impl AppointmentConnection {
    pub fn new(
        page: Page<appointment::Model>,
        filter: AppointmentFilter,
        grant: Arc<Grant>,
    ) -> Self {
        Self {
            page,
            filter,
            grant,
        }
    }

    fn node(&self, model: &appointment::Model) -> Appointment {
        Appointment {
            model: model.clone(),
            grant: self.grant.clone(),
        }
    }
}

#[Object]
impl AppointmentConnection {
    async fn edges(&self) -> Vec<AppointmentEdge> {
        self.page
            .items
            .iter()
            .map(|a| AppointmentEdge {
                cursor: appointments::cursor(a),
                node: self.node(a),
            })
            .collect()
    }
    async fn nodes(&self) -> Vec<Appointment> {
        self.page.items.iter().map(|a| self.node(a)).collect()
    }
    async fn page_info(&self) -> PageInfo {
        PageInfo::of(&self.page, appointments::cursor)
    }
    async fn total_count(&self, ctx: &Context<'_>) -> GqlResult<u64> {
        appointments::count(&request_ctx(ctx), &self.filter)
            .await
            .gql()
    }
}
