//! All ORM code lives here, one module per domain. Public functions take the caller and
//! go through [`crate::policy`]; the helpers below them are generic over
//! `ConnectionTrait` so they compose inside one transaction.

pub mod appointments;
pub mod contacts;
pub mod instructions;
pub mod ledger;
pub mod pagination;
pub mod partners;
pub mod subprocessors;
pub mod tenants;
pub mod transfers;

/// Serializes a value for a JSON column. Domain values always serialize.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// `column` (a JSON array of strings) contains `value`.
pub(crate) fn json_array_contains(
    backend: sea_orm::DatabaseBackend,
    column: &str,
    value: String,
) -> sea_orm::sea_query::SimpleExpr {
    use sea_orm::sea_query::Expr;
    match backend {
        sea_orm::DatabaseBackend::Postgres => Expr::cust_with_values(
            format!("{column} @> $1"),
            [sea_orm::Value::from(serde_json::json!([value]))],
        ),
        // SQLite reads `$1` as a named parameter shared by every `$1` in the statement;
        // `?` is positional.
        _ => Expr::cust_with_values(
            format!("EXISTS (SELECT 1 FROM json_each({column}) WHERE json_each.value = ?)"),
            [value],
        ),
    }
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
