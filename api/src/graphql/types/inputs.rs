//! Input types, and their one conversion into validated domain values.

use async_graphql::{ID, InputObject, Json, MaybeUndefined};
use chrono::{DateTime, Utc};

use crate::domain::appointment::{AppointmentChanges, NewAppointment};
use crate::domain::contact::{
    AddressKind, Consent, ContactChanges, ContactSource, Email, EmailKind, MAX_ADDRESSES,
    MAX_EMAILS, MAX_NAME, MAX_PHONES, Phone, PhoneKind, PostalAddress, PostalAddressParts,
    bounded_list, parse_custom_fields, parse_tags,
};
use crate::domain::tenant::{Jurisdiction, NewTenant};
use crate::domain::{ContactId, Invalid, bounded_text, optional_text};
use crate::graphql::parse_id;
use crate::service::appointments::AppointmentFilter;
use crate::service::contacts::{ContactFilter, ContactOrder, ContactOrderField};

#[derive(InputObject)]
pub struct CreateTenantInput {
    pub name: String,
    pub jurisdictions: Vec<Jurisdiction>,
    /// The account owner attests to being 18 or older; `false` is refused.
    pub owner_attests_adult: bool,
}

impl CreateTenantInput {
    /// # Errors
    /// [`Invalid`] naming the field at fault.
    pub fn parse(&self) -> Result<NewTenant, Invalid> {
        NewTenant::parse(&self.name, &self.jurisdictions, self.owner_attests_adult)
    }
}

#[derive(InputObject)]
pub struct EmailInput {
    pub address: String,
    #[graphql(default)]
    pub kind: EmailKind,
}

#[derive(InputObject)]
pub struct PhoneInput {
    /// E.164; spaces, dashes, dots and parentheses are ignored.
    pub number: String,
    #[graphql(default)]
    pub kind: PhoneKind,
}

#[derive(InputObject)]
pub struct PostalAddressInput {
    #[graphql(default)]
    pub kind: AddressKind,
    #[graphql(default)]
    pub lines: Vec<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: String,
}

#[derive(InputObject)]
pub struct MarketingPreferencesInput {
    pub email: Option<Consent>,
    pub sms: Option<Consent>,
    pub phone: Option<Consent>,
}

/// A contact's fields. On create, absent fields take their defaults; on update, absent
/// fields are left as they are, `null` clears an optional one, and a list replaces the
/// whole list.
#[derive(InputObject, Default)]
pub struct ContactInput {
    pub first_name: MaybeUndefined<String>,
    pub last_name: MaybeUndefined<String>,
    pub emails: Option<Vec<EmailInput>>,
    pub phones: Option<Vec<PhoneInput>>,
    pub addresses: Option<Vec<PostalAddressInput>>,
    pub employer: MaybeUndefined<String>,
    pub job_title: MaybeUndefined<String>,
    /// A JSON object.
    pub custom_fields: Option<Json<serde_json::Value>>,
    pub tags: Option<Vec<String>>,
    pub source: Option<ContactSource>,
    pub marketing_preferences: Option<MarketingPreferencesInput>,
    pub opt_out_of_sale: Option<bool>,
    pub opt_out_of_sharing: Option<bool>,
}

fn name(field: &str, value: MaybeUndefined<String>) -> Result<Option<String>, Invalid> {
    match value {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Ok(Some(String::new())),
        MaybeUndefined::Value(v) => bounded_text(field, &v, MAX_NAME, false).map(Some),
    }
}

fn optional(
    field: &str,
    value: MaybeUndefined<String>,
    max: usize,
) -> Result<Option<Option<String>>, Invalid> {
    match value {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Ok(Some(None)),
        MaybeUndefined::Value(v) => optional_text(field, Some(&v), max).map(Some),
    }
}

impl ContactInput {
    /// Validates every field present, and reports every one at fault.
    ///
    /// # Errors
    /// [`Invalid`] naming the first field at fault, e.g. `emails[1].address`, and
    /// carrying the others.
    pub fn into_changes(self) -> Result<ContactChanges, Invalid> {
        let mut p = crate::domain::Problems::default();
        let emails = self.emails.map(|list| {
            p.keep(bounded_list("emails", &list, MAX_EMAILS));
            p.each(&list, |i, e| {
                Email::parse(&format!("emails[{i}].address"), &e.address, e.kind)
            })
        });
        let phones = self.phones.map(|list| {
            p.keep(bounded_list("phones", &list, MAX_PHONES));
            p.each(&list, |i, ph| {
                Phone::parse(&format!("phones[{i}].number"), &ph.number, ph.kind)
            })
        });
        let addresses = self.addresses.map(|list| {
            p.keep(bounded_list("addresses", &list, MAX_ADDRESSES));
            p.each(&list, |i, a| {
                PostalAddress::parse(
                    &format!("addresses[{i}]"),
                    PostalAddressParts {
                        kind: a.kind,
                        lines: &a.lines,
                        city: a.city.as_deref(),
                        region: a.region.as_deref(),
                        postal_code: a.postal_code.as_deref(),
                        country: &a.country,
                    },
                )
            })
        });
        let first_name = p.keep(name("firstName", self.first_name));
        let last_name = p.keep(name("lastName", self.last_name));
        let employer = p.keep(optional("employer", self.employer, MAX_NAME));
        let job_title = p.keep(optional("jobTitle", self.job_title, MAX_NAME));
        let custom_fields = p.keep(
            self.custom_fields
                .map(|Json(v)| parse_custom_fields("customFields", v))
                .transpose(),
        );
        let tags = p.keep(self.tags.map(|t| parse_tags("tags", &t)).transpose());
        p.finish()?;
        let marketing = self.marketing_preferences;
        Ok(ContactChanges {
            first_name,
            last_name,
            emails,
            phones,
            addresses,
            employer,
            job_title,
            custom_fields,
            tags,
            source: self.source,
            marketing_email: marketing.as_ref().and_then(|m| m.email),
            marketing_sms: marketing.as_ref().and_then(|m| m.sms),
            marketing_phone: marketing.as_ref().and_then(|m| m.phone),
            opt_out_sale: self.opt_out_of_sale,
            opt_out_sharing: self.opt_out_of_sharing,
        })
    }
}

#[derive(InputObject, Default)]
pub struct ContactFilterInput {
    /// Case-insensitive substring of a name, email address, phone number or employer.
    pub text: Option<String>,
    /// Contacts carrying this tag.
    pub tag: Option<String>,
    pub source: Option<ContactSource>,
    /// Contacts changed at or after this time.
    pub updated_since: Option<DateTime<Utc>>,
}

impl ContactFilterInput {
    /// # Errors
    /// [`Invalid`] for over-long search text or tag.
    pub fn parse(self) -> Result<ContactFilter, Invalid> {
        Ok(ContactFilter {
            text: optional_text("filter.text", self.text.as_deref(), 200)?,
            tag: optional_text("filter.tag", self.tag.as_deref(), 64)?,
            source: self.source,
            updated_since: self.updated_since,
        })
    }
}

#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortDirection {
    #[default]
    Asc,
    Desc,
}

#[derive(InputObject)]
pub struct ContactOrderInput {
    #[graphql(default)]
    pub field: ContactOrderField,
    #[graphql(default)]
    pub direction: SortDirection,
}

impl From<ContactOrderInput> for ContactOrder {
    fn from(value: ContactOrderInput) -> Self {
        Self {
            field: value.field,
            descending: value.direction == SortDirection::Desc,
        }
    }
}

#[derive(InputObject)]
pub struct CreateAppointmentInput {
    pub contact_id: ID,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub title: String,
    pub location: Option<String>,
    pub notes: Option<String>,
}

impl CreateAppointmentInput {
    /// # Errors
    /// [`Invalid`] naming the field at fault.
    pub fn parse(&self) -> Result<NewAppointment, Invalid> {
        NewAppointment::parse(
            parse_id::<ContactId>("contactId", &self.contact_id)?,
            self.starts_at,
            self.ends_at,
            &self.title,
            self.location.as_deref(),
            self.notes.as_deref(),
        )
    }
}

/// Absent fields are left as they are; `null` clears `location` or `notes`.
#[derive(InputObject)]
pub struct UpdateAppointmentInput {
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub title: Option<String>,
    pub location: MaybeUndefined<String>,
    pub notes: MaybeUndefined<String>,
}

impl UpdateAppointmentInput {
    /// # Errors
    /// [`Invalid`] naming the field at fault.
    pub fn into_changes(self) -> Result<AppointmentChanges, Invalid> {
        Ok(AppointmentChanges {
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            title: self
                .title
                .map(|t| bounded_text("title", &t, crate::domain::appointment::MAX_TITLE, true))
                .transpose()?,
            location: optional(
                "location",
                self.location,
                crate::domain::appointment::MAX_LOCATION,
            )?,
            notes: optional("notes", self.notes, crate::domain::appointment::MAX_NOTES)?,
        })
    }
}

#[derive(InputObject, Default)]
pub struct AppointmentFilterInput {
    pub contact_id: Option<ID>,
    /// Appointments starting at or after this time.
    pub starts_after: Option<DateTime<Utc>>,
    /// Appointments starting before this time.
    pub starts_before: Option<DateTime<Utc>>,
}

impl AppointmentFilterInput {
    /// # Errors
    /// [`Invalid`] for a malformed contact id.
    pub fn parse(self) -> Result<AppointmentFilter, Invalid> {
        Ok(AppointmentFilter {
            contact_id: self
                .contact_id
                .as_ref()
                .map(|id| parse_id::<ContactId>("filter.contactId", id))
                .transpose()?,
            starts_after: self.starts_after,
            starts_before: self.starts_before,
        })
    }
}

#[derive(InputObject)]
pub struct IssueInstructionInput {
    pub purpose: crate::domain::instruction::Purpose,
    /// Who may act under it: `PROCESSOR_STAFF`, `PLATFORM_ADMIN`, `SUBPROCESSOR`.
    pub actor_kinds: Vec<crate::auth::ActorKind>,
    /// Required with actor kind `SUBPROCESSOR`.
    #[graphql(default)]
    pub subprocessor_ids: Vec<ID>,
    pub data_categories: Vec<crate::domain::instruction::DataCategory>,
    pub operations: Vec<crate::domain::instruction::AccessOperation>,
    /// Default: now.
    pub valid_from: Option<DateTime<Utc>>,
    /// Default: until revoked.
    pub valid_until: Option<DateTime<Utc>>,
    /// A ticket, DPA clause or other reference.
    pub external_reference: Option<String>,
    pub description: Option<String>,
    /// The purpose involves selling the contacts' data: contacts that opted out of sale
    /// are invisible under this instruction.
    #[graphql(default)]
    pub involves_sale: bool,
    /// The purpose involves sharing the contacts' data for cross-context behavioural
    /// advertising: contacts that opted out of sharing are invisible under it.
    #[graphql(default)]
    pub involves_sharing: bool,
}

impl IssueInstructionInput {
    /// # Errors
    /// [`Invalid`] naming the field at fault.
    pub fn parse(&self) -> Result<crate::service::instructions::NewInstruction, Invalid> {
        let subprocessor_ids = self
            .subprocessor_ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                parse_id::<crate::domain::SubprocessorId>(&format!("subprocessorIds[{i}]"), id)
            })
            .collect::<Result<Vec<_>, _>>()?;
        crate::service::instructions::NewInstruction::parse(
            crate::service::instructions::InstructionParts {
                purpose: self.purpose,
                actor_kinds: &self.actor_kinds,
                subprocessor_ids,
                data_categories: &self.data_categories,
                operations: &self.operations,
                valid_from: self.valid_from,
                valid_until: self.valid_until,
                external_reference: self.external_reference.as_deref(),
                description: self.description.as_deref(),
                involves_sale: self.involves_sale,
                involves_sharing: self.involves_sharing,
            },
        )
    }
}

#[derive(InputObject, Default)]
pub struct AccessLogFilterInput {
    pub actor_kind: Option<crate::auth::ActorKind>,
    pub operation: Option<crate::domain::instruction::AccessOperation>,
    pub outcome: Option<crate::ledger::Outcome>,
    /// Records of accesses to this contact.
    pub contact_id: Option<ID>,
    pub instruction_id: Option<ID>,
    /// Recorded at or after.
    pub since: Option<DateTime<Utc>>,
    /// Recorded before.
    pub until: Option<DateTime<Utc>>,
}

impl AccessLogFilterInput {
    /// # Errors
    /// [`Invalid`] for malformed ids.
    pub fn parse(self) -> Result<crate::ledger::RecordFilter, Invalid> {
        Ok(crate::ledger::RecordFilter {
            actor_kind: self.actor_kind,
            operation: self.operation,
            outcome: self.outcome,
            contact_id: self
                .contact_id
                .as_ref()
                .map(|id| parse_id("filter.contactId", id))
                .transpose()?,
            instruction_id: self
                .instruction_id
                .as_ref()
                .map(|id| parse_id("filter.instructionId", id))
                .transpose()?,
            since: self.since,
            hidden_instructions: None,
            until: self.until,
        })
    }
}

#[derive(InputObject)]
pub struct RegisterSubprocessorInput {
    pub name: String,
    /// The service it provides.
    pub service: String,
    pub data_categories: Vec<crate::domain::instruction::DataCategory>,
    /// Where it processes: ISO 3166-1 alpha-2 codes.
    pub locations: Vec<String>,
    pub contact_email: Option<String>,
}

impl RegisterSubprocessorInput {
    /// # Errors
    /// [`Invalid`] naming the field at fault.
    pub fn parse(&self) -> Result<crate::domain::subprocessor::NewSubprocessor, Invalid> {
        crate::domain::subprocessor::NewSubprocessor::parse(
            &self.name,
            &self.service,
            &self.data_categories,
            &self.locations,
            self.contact_email.as_deref(),
        )
    }
}

#[derive(InputObject)]
pub struct RecordTransferInput {
    pub subprocessor_id: ID,
    pub origin_region: crate::domain::transfer::OriginRegion,
    /// ISO 3166-1 alpha-2.
    pub destination_country: String,
    pub data_categories: Vec<crate::domain::instruction::DataCategory>,
    /// Required: a transfer without one is refused.
    pub safeguard: Option<crate::domain::transfer::Safeguard>,
    /// Required with `STANDARD_CONTRACTUAL_CLAUSES`.
    pub scc_module: Option<crate::domain::transfer::SccModule>,
    /// Required for binding corporate rules, codes of conduct, certifications and
    /// derogations.
    pub instrument_reference: Option<String>,
    pub impact_assessed_at: Option<DateTime<Utc>>,
    pub supplementary_measures: Option<String>,
    /// Default: now.
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    /// When the transfer must next be reviewed; not in the past.
    pub review_due_at: DateTime<Utc>,
}

impl RecordTransferInput {
    /// # Errors
    /// [`Invalid`] naming the field at fault, with the reason.
    pub fn parse(
        &self,
        now: DateTime<Utc>,
    ) -> Result<
        (
            crate::domain::SubprocessorId,
            crate::domain::transfer::NewTransfer,
        ),
        Invalid,
    > {
        let subprocessor = parse_id("subprocessorId", &self.subprocessor_id)?;
        let new = crate::domain::transfer::NewTransfer::parse(
            crate::domain::transfer::TransferParts {
                origin: self.origin_region,
                destination: &self.destination_country,
                data_categories: &self.data_categories,
                safeguard: self.safeguard,
                scc_module: self.scc_module,
                instrument_reference: self.instrument_reference.as_deref(),
                impact_assessed_at: self.impact_assessed_at,
                supplementary_measures: self.supplementary_measures.as_deref(),
                valid_from: self.valid_from,
                valid_until: self.valid_until,
                review_due_at: self.review_due_at,
            },
            now,
        )?;
        Ok((subprocessor, new))
    }
}

#[derive(InputObject)]
pub struct MintPartnerTokenInput {
    pub tenant_id: ID,
    pub subprocessor_id: ID,
    pub purpose: crate::domain::instruction::Purpose,
    /// `contacts:read`, `contacts.contact_details:read`, `appointments:read`, … —
    /// `<resource>[.<category>]:<operation>`.
    pub scopes: Vec<String>,
    /// Lifetime, 60 s to 90 days.
    #[graphql(default = 3600)]
    pub ttl_seconds: i64,
}

impl MintPartnerTokenInput {
    /// # Errors
    /// [`Invalid`] naming the field at fault.
    pub fn parse(&self) -> Result<crate::service::partners::NewPartnerToken, Invalid> {
        crate::service::partners::NewPartnerToken::parse(
            parse_id("tenantId", &self.tenant_id)?,
            parse_id("subprocessorId", &self.subprocessor_id)?,
            self.purpose,
            &self.scopes,
            self.ttl_seconds,
        )
    }
}
