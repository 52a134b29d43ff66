//! The vocabulary of processing instructions: purposes, data categories, operations.

use std::collections::BTreeSet;

use async_graphql::Enum;
use serde::{Deserialize, Serialize};

/// Why personal data is processed.
#[derive(
    Enum, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Purpose {
    /// Providing the service to the controller: its own users' requests.
    ServiceDelivery,
    Support,
    EmailMarketing,
    Import,
    Security,
    LegalCompliance,
    /// Carrying out data-subject requests the controller decided on (GDPR Art. 28(3)(e)).
    DataSubjectRequests,
    /// Removing what the controller's retention policies say has expired.
    Retention,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ServiceDelivery => "SERVICE_DELIVERY",
            Self::Support => "SUPPORT",
            Self::EmailMarketing => "EMAIL_MARKETING",
            Self::Import => "IMPORT",
            Self::Security => "SECURITY",
            Self::LegalCompliance => "LEGAL_COMPLIANCE",
            Self::DataSubjectRequests => "DATA_SUBJECT_REQUESTS",
            Self::Retention => "RETENTION",
        }
    }

    /// Reads a purpose as tokens and the database carry it (`support`, `SUPPORT`).
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_uppercase().as_str() {
            "SERVICE_DELIVERY" => Some(Self::ServiceDelivery),
            "SUPPORT" => Some(Self::Support),
            "EMAIL_MARKETING" => Some(Self::EmailMarketing),
            "IMPORT" => Some(Self::Import),
            "SECURITY" => Some(Self::Security),
            "LEGAL_COMPLIANCE" => Some(Self::LegalCompliance),
            "DATA_SUBJECT_REQUESTS" => Some(Self::DataSubjectRequests),
            "RETENTION" => Some(Self::Retention),
            _ => None,
        }
    }
}

/// What kind of personal data: the unit instructions and partner scopes speak of.
#[derive(
    Enum, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DataCategory {
    /// First and last name, tags, source.
    Identity,
    /// Emails, phone and fax numbers, postal addresses.
    ContactDetails,
    /// Employer, job title.
    Employment,
    /// Appointments: times, locations, titles, notes.
    Appointments,
    /// The controller-defined custom fields.
    CustomFields,
    /// Marketing preferences, opt-outs of sale and sharing.
    Preferences,
}

impl DataCategory {
    pub const ALL: [Self; 6] = [
        Self::Identity,
        Self::ContactDetails,
        Self::Employment,
        Self::Appointments,
        Self::CustomFields,
        Self::Preferences,
    ];
}

/// What is done with personal data.
#[derive(
    Enum, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccessOperation {
    Read,
    Write,
    Export,
    Erase,
}

impl AccessOperation {
    pub const ALL: [Self; 4] = [Self::Read, Self::Write, Self::Export, Self::Erase];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "READ",
            Self::Write => "WRITE",
            Self::Export => "EXPORT",
            Self::Erase => "ERASE",
        }
    }

    pub fn writes(self) -> bool {
        matches!(self, Self::Write | Self::Erase)
    }
}

/// The category of a contact field as GraphQL names it; `None` for what is not personal
/// data (ids, `version`, timestamps).
pub fn contact_field_category(field: &str) -> Option<DataCategory> {
    match field {
        "firstName" | "lastName" | "tags" | "source" => Some(DataCategory::Identity),
        "emails" | "phones" | "addresses" => Some(DataCategory::ContactDetails),
        "employer" | "jobTitle" => Some(DataCategory::Employment),
        "appointments" => Some(DataCategory::Appointments),
        "customFields" => Some(DataCategory::CustomFields),
        "marketingPreferences" | "optOutOfSale" | "optOutOfSharing" => {
            Some(DataCategory::Preferences)
        }
        _ => None,
    }
}

/// The category of an appointment field as GraphQL names it.
pub fn appointment_field_category(field: &str) -> Option<DataCategory> {
    match field {
        "startsAt" | "endsAt" | "title" | "location" | "notes" => Some(DataCategory::Appointments),
        _ => None,
    }
}

/// The categories `fields` of a resource fall into.
pub fn categories_of(
    fields: &[String],
    category: fn(&str) -> Option<DataCategory>,
) -> BTreeSet<DataCategory> {
    fields.iter().filter_map(|f| category(f)).collect()
}
