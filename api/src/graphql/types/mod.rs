//! GraphQL output and input types, written by hand so every personal-data field is
//! exposed on purpose.

pub mod access_record;
pub mod breach;
pub mod contact;
pub mod disclosure;
pub mod inputs;
pub mod instruction;
pub mod offboarding;
pub mod page;
pub mod privacy;
pub mod retention;
pub mod subprocessor;
pub mod tenant;
pub mod terms;
pub mod webhook;

/// A JSON list column as typed values; stored lists were written from the same types.
pub(crate) fn decode_list<T: serde::de::DeserializeOwned>(value: &serde_json::Value) -> Vec<T> {
    serde_json::from_value(value.clone()).unwrap_or_default()
}
