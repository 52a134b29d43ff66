use std::sync::Arc;

use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entities::appointment;

use super::contact::{Contact, check};
use super::page::PageInfo;
use crate::domain::instruction::DataCategory;
use crate::error::{GqlResult, IntoGql};
use crate::graphql::{request_ctx, selected, to_id};
use crate::pagination::Page;
use crate::policy::Grant;
use crate::service::appointments::{self, AppointmentFilter};
use crate::service::contacts;

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
        let (model, grant) = contacts::get(
            &request_ctx(ctx),
            self.model.contact_id.into(),
            selected(ctx),
        )
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
