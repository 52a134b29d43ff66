//! All ORM code lives here, one module per domain. Public functions take the caller and
//! go through [`crate::policy`]; the helpers below them are generic over
//! `ConnectionTrait` so they compose inside one transaction.

pub mod appointments;
pub mod contacts;
pub mod pagination;
pub mod tenants;

/// Serializes a value for a JSON column. Domain values always serialize.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}
