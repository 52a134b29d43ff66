//! Retention rules: how long a tenant keeps one kind of data, and what has expired.

use async_graphql::Enum;
use chrono::{DateTime, Months, Utc};
use serde::{Deserialize, Serialize};

use super::Invalid;
use super::instruction::DataCategory;

/// The longest period a policy may set: a hundred years.
pub const MAX_MONTHS: i32 = 1_200;

stored_enum!(
    /// What a retention policy removes, and counted from when.
    RetentionRule {
        /// Contacts, so many months after their last update.
        ContactsAfterLastUpdate => "CONTACTS_AFTER_LAST_UPDATE",
        /// Appointments, so many months after they ended.
        AppointmentsAfterEnd => "APPOINTMENTS_AFTER_END",
        /// Imported contacts never used since (never updated, no appointment), so many
        /// months after their import.
        ImportedNeverUsed => "IMPORTED_NEVER_USED",
    }
);

impl RetentionRule {
    /// The categories removing its data reaches.
    pub fn categories(self) -> Vec<DataCategory> {
        match self {
            Self::AppointmentsAfterEnd => vec![DataCategory::Appointments],
            _ => DataCategory::ALL.to_vec(),
        }
    }

    pub fn describe(self, months: i32) -> String {
        match self {
            Self::ContactsAfterLastUpdate => {
                format!("Retention: contacts {months} months after their last update")
            }
            Self::AppointmentsAfterEnd => {
                format!("Retention: appointments {months} months after they end")
            }
            Self::ImportedNeverUsed => {
                format!("Retention: imported contacts never used, {months} months after import")
            }
        }
    }
}

/// What is older than this has expired at `now` under a policy of `months`.
pub fn cutoff(now: DateTime<Utc>, months: i32) -> DateTime<Utc> {
    u32::try_from(months)
        .ok()
        .and_then(|m| now.checked_sub_months(Months::new(m)))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Checks a policy against the tenant's others: a positive period of at most
/// [`MAX_MONTHS`], and no rule that another makes pointless (imported contacts never used
/// kept longer than contacts are).
///
/// # Errors
/// [`Invalid`] naming `months`.
pub fn check(
    rule: RetentionRule,
    months: i32,
    others: &[(RetentionRule, i32)],
) -> Result<(), Invalid> {
    if !(1..=MAX_MONTHS).contains(&months) {
        return Err(Invalid::new(
            "months",
            format!("months must be between 1 and {MAX_MONTHS}"),
        ));
    }
    let other = |r: RetentionRule| others.iter().find(|(o, _)| *o == r).map(|(_, m)| *m);
    let overlap = match rule {
        RetentionRule::ImportedNeverUsed => other(RetentionRule::ContactsAfterLastUpdate)
            .filter(|contacts| months >= *contacts)
            .map(|contacts| format!("contacts are removed after {contacts} months anyway")),
        RetentionRule::ContactsAfterLastUpdate => other(RetentionRule::ImportedNeverUsed)
            .filter(|imported| *imported >= months)
            .map(|imported| {
                format!("imported contacts never used are kept {imported} months, no shorter")
            }),
        RetentionRule::AppointmentsAfterEnd => None,
    };
    match overlap {
        Some(why) => Err(Invalid::new(
            "months",
            format!("the policy overlaps another: {why}"),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_positive_bounded_and_do_not_overlap() {
        assert!(check(RetentionRule::ContactsAfterLastUpdate, 0, &[]).is_err());
        assert!(check(RetentionRule::ContactsAfterLastUpdate, -3, &[]).is_err());
        assert!(check(RetentionRule::ContactsAfterLastUpdate, 36, &[]).is_ok());
        let contacts = [(RetentionRule::ContactsAfterLastUpdate, 36)];
        assert!(check(RetentionRule::ImportedNeverUsed, 12, &contacts).is_ok());
        assert_eq!(
            check(RetentionRule::ImportedNeverUsed, 36, &contacts)
                .unwrap_err()
                .field,
            "months"
        );
        let imported = [(RetentionRule::ImportedNeverUsed, 12)];
        assert!(check(RetentionRule::ContactsAfterLastUpdate, 12, &imported).is_err());
    }

    #[test]
    fn the_cutoff_is_calendar_months_back() {
        let now = DateTime::parse_from_rfc3339("2029-03-31T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(cutoff(now, 36).to_rfc3339(), "2026-03-31T12:00:00+00:00");
        assert_eq!(cutoff(now, 1).to_rfc3339(), "2029-02-28T12:00:00+00:00");
    }
}
