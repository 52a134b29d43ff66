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

/// A value rejected at the edge, naming the input field at fault — and, when an input
/// had several, the others in `more`, so a client fixes them all at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub message: String,
    pub more: Vec<Invalid>,
}

impl Invalid {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            more: Vec::new(),
        }
    }

    /// The first of `problems`, carrying the rest; `None` when there are none.
    pub fn all(problems: Vec<Invalid>) -> Option<Self> {
        let mut flat = problems.into_iter().flat_map(Invalid::flatten);
        let mut first = flat.next()?;
        first.more = flat.collect();
        Some(first)
    }

    /// This problem and every one it carries, each on its own.
    pub fn flatten(self) -> Vec<Invalid> {
        let mut out = vec![Invalid::new(self.field, self.message)];
        out.extend(self.more.into_iter().flat_map(Invalid::flatten));
        out
    }
}

/// Gathers the problems of an input checked field by field: each check's value, or its
/// problem kept for the one error reporting them all.
#[derive(Debug, Default)]
pub struct Problems(Vec<Invalid>);

impl Problems {
    /// The value of `checked`, or the type's default with the problem kept.
    pub fn keep<T: Default>(&mut self, checked: Result<T, Invalid>) -> T {
        checked.unwrap_or_else(|e| {
            self.0.push(e);
            T::default()
        })
    }

    /// Every item checked; the problems of all of them kept.
    pub fn each<T, U>(
        &mut self,
        items: impl IntoIterator<Item = T>,
        check: impl Fn(usize, T) -> Result<U, Invalid>,
    ) -> Vec<U> {
        let mut out = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            match check(i, item) {
                Ok(v) => out.push(v),
                Err(e) => self.0.push(e),
            }
        }
        out
    }

    /// # Errors
    /// Every problem kept, as one [`Invalid`].
    pub fn finish(self) -> Result<(), Invalid> {
        Invalid::all(self.0).map_or(Ok(()), Err)
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
