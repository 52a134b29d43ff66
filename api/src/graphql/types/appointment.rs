use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entities::appointment;

use super::contact::Contact;
use super::page::PageInfo;
use crate::error::{GqlResult, IntoGql};
use crate::graphql::{caller, db, to_id};
use crate::service::appointments::{self, AppointmentFilter};
use crate::service::contacts;
use crate::service::pagination::Page;

/// A meeting with a contact.
pub struct Appointment(pub appointment::Model);

#[Object]
impl Appointment {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }
    async fn contact_id(&self) -> ID {
        to_id(self.0.contact_id)
    }
    /// The contact met.
    async fn contact(&self, ctx: &Context<'_>) -> GqlResult<Contact> {
        contacts::get(db(ctx), caller(ctx), self.0.contact_id.into())
            .await
            .map(Contact)
            .gql()
    }
    async fn starts_at(&self) -> DateTime<Utc> {
        self.0.starts_at
    }
    async fn ends_at(&self) -> DateTime<Utc> {
        self.0.ends_at
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn location(&self) -> Option<&str> {
        self.0.location.as_deref()
    }
    async fn notes(&self) -> Option<&str> {
        self.0.notes.as_deref()
    }
    async fn version(&self) -> i32 {
        self.0.version
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
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
}

impl AppointmentConnection {
    pub fn new(page: Page<appointment::Model>, filter: AppointmentFilter) -> Self {
        Self { page, filter }
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
                node: Appointment(a.clone()),
            })
            .collect()
    }
    async fn nodes(&self) -> Vec<Appointment> {
        self.page.items.iter().cloned().map(Appointment).collect()
    }
    async fn page_info(&self) -> PageInfo {
        PageInfo::of(&self.page, appointments::cursor)
    }
    async fn total_count(&self, ctx: &Context<'_>) -> GqlResult<u64> {
        appointments::count(db(ctx), caller(ctx), &self.filter)
            .await
            .gql()
    }
}
