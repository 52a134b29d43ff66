//! Public ids are time-ordered UUIDs (v7) in newtypes, so a tenant id can never be passed
//! where a contact id belongs.

use std::fmt;

use uuid::Uuid;

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// Parses the textual form of the id.
            ///
            /// # Errors
            /// When `value` is not a UUID.
            pub fn parse(value: &str) -> Result<Self, uuid::Error> {
                Uuid::parse_str(value.trim()).map(Self)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(value: Uuid) -> Self {
                Self(value)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_newtype!(
    /// A controller account.
    TenantId
);
id_newtype!(
    /// A contact within one tenant.
    ContactId
);
id_newtype!(
    /// An appointment within one tenant.
    AppointmentId
);
