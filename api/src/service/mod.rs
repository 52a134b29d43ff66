//! All ORM code lives here, one module per domain. Public functions take the caller and
//! go through [`crate::policy`]; the helpers below them are generic over
//! `ConnectionTrait` so they compose inside one transaction.

pub mod access_log;
pub mod appointments;
pub mod breaches;
pub mod contacts;
pub mod disclosures;
pub mod gauges;
pub(crate) mod held;
pub mod instructions;
pub mod legal_holds;
pub mod offboarding;
pub mod partners;
pub mod privacy_requests;
pub mod retention;
pub mod subprocessors;
pub mod tenants;
pub mod terms;
pub mod transfers;
pub mod webhooks;

/// Serializes a value for a JSON column. Domain values always serialize.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// Fields a write touches: those it sets, then those it returns.
pub(crate) fn touched_fields(mut written: Vec<String>, returned: Vec<String>) -> Vec<String> {
    for f in returned {
        if !written.contains(&f) {
            written.push(f);
        }
    }
    written
}
