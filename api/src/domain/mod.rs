//! Domain values that parse once at the edge into types that cannot hold invalid data.

pub mod appointment;
pub mod contact;
pub mod country;
pub mod ids;
pub mod instruction;
pub mod privacy;
pub mod subprocessor;
pub mod tenant;
pub mod transfer;

pub use ids::{
    AccessRecordId, AppointmentId, ContactId, ForwardId, InstructionId, LegalHoldId,
    PartnerTokenId, PrivacyRequestId, SubprocessorId, TenantId, TransferId,
};

/// A value rejected at the edge, naming the input field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Trims `value` and checks it is at most `max` characters (and, when `required`, not
/// empty).
///
/// # Errors
/// [`Invalid`] naming `field` when a limit is broken.
pub fn bounded_text(
    field: &str,
    value: &str,
    max: usize,
    required: bool,
) -> Result<String, Invalid> {
    let trimmed = value.trim();
    if required && trimmed.is_empty() {
        return Err(Invalid::new(field, format!("{field} must not be empty")));
    }
    if trimmed.chars().count() > max {
        return Err(Invalid::new(
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(Invalid::new(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// Like [`bounded_text`] for optional values: absent or blank becomes `None`.
///
/// # Errors
/// [`Invalid`] naming `field` when a limit is broken.
pub fn optional_text(
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, Invalid> {
    match value {
        None => Ok(None),
        Some(v) => bounded_text(field, v, max, false).map(|s| Some(s).filter(|s| !s.is_empty())),
    }
}
