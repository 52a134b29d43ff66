//! Domain values that parse once at the edge into types that cannot hold invalid data.

/// An enum stored (and exported) as fixed SCREAMING_SNAKE_CASE text, exposed to GraphQL.
macro_rules! stored_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The stored (and exported) form.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            pub fn from_db(value: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == value)
            }
        }
    };
}

pub mod appointment;
pub mod contact;
pub mod country;
pub mod ids;
pub mod instruction;
pub mod privacy;
pub mod retention;
pub mod subprocessor;
pub mod tenant;
pub mod transfer;

pub use ids::{
    AccessRecordId, AppointmentId, BreachNoticeId, ContactId, DeliveryId, DisclosureId, ForwardId,
    IncidentId, InstructionId, LegalHoldId, PartnerTokenId, PrivacyRequestId, PurgeRunId,
    RetentionPolicyId, SubprocessorId, TenantId, TermsId, TransferId, WebhookId,
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
