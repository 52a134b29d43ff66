//! Subprocessors: who the processor engages, and the notice controllers get.

use async_graphql::Enum;
use chrono::{DateTime, Duration, Utc};

use super::contact::{Email, EmailKind};
use super::country::CountryCode;
use super::instruction::DataCategory;
use super::{Invalid, bounded_text};

/// The notice period: a subprocessor becomes active no earlier than this after it is
/// announced to controllers.
pub const NOTICE_DAYS: i64 = 30;

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubprocessorStatus {
    /// Registered, or announced and still in its notice period.
    Proposed,
    /// Announced, and its effective date has come.
    Active,
    Retired,
}

/// The status at `now`, from the dates: nothing has to run for a subprocessor to become
/// active when its notice period ends.
pub fn status_at(
    effective_at: Option<DateTime<Utc>>,
    retired_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> SubprocessorStatus {
    if retired_at.is_some_and(|r| r <= now) {
        SubprocessorStatus::Retired
    } else if effective_at.is_some_and(|e| e <= now) {
        SubprocessorStatus::Active
    } else {
        SubprocessorStatus::Proposed
    }
}

/// The earliest effective date an announcement made at `announced_at` allows.
pub fn earliest_effective(announced_at: DateTime<Utc>) -> DateTime<Utc> {
    announced_at + Duration::days(NOTICE_DAYS)
}

/// A validated subprocessor to register.
#[derive(Debug, Clone)]
pub struct NewSubprocessor {
    pub name: String,
    pub service: String,
    pub data_categories: Vec<DataCategory>,
    pub locations: Vec<String>,
    pub contact_email: Option<String>,
}

impl NewSubprocessor {
    /// # Errors
    /// [`Invalid`] naming the field at fault.
    pub fn parse(
        name: &str,
        service: &str,
        data_categories: &[DataCategory],
        locations: &[String],
        contact_email: Option<&str>,
    ) -> Result<Self, Invalid> {
        if data_categories.is_empty() {
            return Err(Invalid::new(
                "dataCategories",
                "dataCategories must not be empty",
            ));
        }
        if locations.is_empty() {
            return Err(Invalid::new(
                "locations",
                "locations must name at least one country",
            ));
        }
        let mut codes: Vec<String> = Vec::new();
        for (i, l) in locations.iter().enumerate() {
            let code = CountryCode::parse(&format!("locations[{i}]"), l)?
                .as_str()
                .to_owned();
            if !codes.contains(&code) {
                codes.push(code);
            }
        }
        let mut categories = Vec::new();
        for c in data_categories {
            if !categories.contains(c) {
                categories.push(*c);
            }
        }
        Ok(Self {
            name: bounded_text("name", name, 200, true)?,
            service: bounded_text("service", service, 500, true)?,
            data_categories: categories,
            locations: codes,
            contact_email: contact_email
                .map(|e| Email::parse("contactEmail", e, EmailKind::Work).map(|e| e.address))
                .transpose()?,
        })
    }
}

/// A partner token scope: `contacts:read`, `contacts.contact_details:read`,
/// `appointments:read`, … (`<resource>[.<category>]:<operation>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub resource: ScopeResource,
    pub category: Option<DataCategory>,
    pub operation: super::instruction::AccessOperation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeResource {
    Contacts,
    Appointments,
}

impl Scope {
    /// # Errors
    /// [`Invalid`] naming `field` for anything else.
    pub fn parse(field: &str, value: &str) -> Result<Self, Invalid> {
        use super::instruction::AccessOperation as Op;
        let bad = || {
            Invalid::new(
                field,
                format!(
                    "{value:?} is not a scope: use <resource>[.<category>]:<operation>, e.g. contacts.contact_details:read"
                ),
            )
        };
        let (target, op) = value.trim().split_once(':').ok_or_else(bad)?;
        let operation = match op {
            "read" => Op::Read,
            "write" => Op::Write,
            "export" => Op::Export,
            "erase" => Op::Erase,
            _ => return Err(bad()),
        };
        let (resource, category) = match target.split_once('.') {
            Some(("contacts", category)) => (
                ScopeResource::Contacts,
                Some(match category {
                    "identity" => DataCategory::Identity,
                    "contact_details" => DataCategory::ContactDetails,
                    "employment" => DataCategory::Employment,
                    "appointments" => DataCategory::Appointments,
                    "custom_fields" => DataCategory::CustomFields,
                    "preferences" => DataCategory::Preferences,
                    _ => return Err(bad()),
                }),
            ),
            None if target == "contacts" => (ScopeResource::Contacts, None),
            None if target == "appointments" => (ScopeResource::Appointments, None),
            _ => return Err(bad()),
        };
        Ok(Self {
            resource,
            category,
            operation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_resource_category_and_operation() {
        use crate::domain::instruction::AccessOperation as Op;
        assert_eq!(
            Scope::parse("s", "contacts.contact_details:read"),
            Ok(Scope {
                resource: ScopeResource::Contacts,
                category: Some(DataCategory::ContactDetails),
                operation: Op::Read
            })
        );
        assert!(Scope::parse("s", "contacts:read").is_ok());
        assert!(Scope::parse("s", "appointments:write").is_ok());
        for bad in [
            "contacts",
            "contacts:fly",
            "tenants:read",
            "contacts.secrets:read",
            "",
        ] {
            assert!(Scope::parse("s", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_subprocessor_is_active_only_from_its_effective_date_until_retired() {
        let now = Utc::now();
        assert_eq!(status_at(None, None, now), SubprocessorStatus::Proposed);
        assert_eq!(
            status_at(Some(now + Duration::days(1)), None, now),
            SubprocessorStatus::Proposed
        );
        assert_eq!(status_at(Some(now), None, now), SubprocessorStatus::Active);
        assert_eq!(
            status_at(Some(now), Some(now), now),
            SubprocessorStatus::Retired
        );
    }
}
