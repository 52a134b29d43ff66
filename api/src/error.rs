//! The service error, and its one mapping to the stable `extensions.code`s clients see.

use async_graphql::ErrorExtensions;

use crate::domain::Invalid;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Also what another tenant's row looks like: the two are indistinguishable.
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    /// `more`: the input's other invalid fields, reported together.
    #[error("{message}")]
    Validation {
        field: String,
        message: String,
        more: Vec<Invalid>,
    },
    #[error("{0}")]
    Forbidden(String),
    #[error("authentication required")]
    Unauthenticated,
    /// Never shown to clients: logged with the request id, reported as `INTERNAL` (or as
    /// the retryable `RATE_LIMITED` when the database was only unavailable).
    #[error("database error: {0}")]
    Db(#[from] sea_orm::DbErr),
    /// A fault that is not the database's (a part of the server that stopped, output that
    /// could not be written): like `Db`, logged and reported as `INTERNAL`.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<Invalid> for ServiceError {
    fn from(value: Invalid) -> Self {
        Self::Validation {
            field: value.field,
            message: value.message,
            more: value.more,
        }
    }
}

/// The codes of DESIGN.md, the only ones a client ever sees.
pub mod code {
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    pub const FORBIDDEN: &str = "FORBIDDEN";
    pub const NOT_FOUND: &str = "NOT_FOUND";
    pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    pub const CONFLICT: &str = "CONFLICT";
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
    pub const INTERNAL: &str = "INTERNAL";

    /// `code` as one of the constants above, if it is one (bounded metrics labels).
    pub fn known(code: &str) -> Option<&'static str> {
        [
            UNAUTHENTICATED,
            FORBIDDEN,
            NOT_FOUND,
            BAD_USER_INPUT,
            CONFLICT,
            RATE_LIMITED,
            INTERNAL,
        ]
        .into_iter()
        .find(|c| *c == code)
    }
}

impl ServiceError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => code::NOT_FOUND,
            Self::Conflict(_) => code::CONFLICT,
            Self::Validation { .. } => code::BAD_USER_INPUT,
            Self::Forbidden(_) => code::FORBIDDEN,
            Self::Unauthenticated => code::UNAUTHENTICATED,
            Self::Db(_) | Self::Internal(_) if self.transient() => code::RATE_LIMITED,
            Self::Db(_) | Self::Internal(_) => code::INTERNAL,
        }
    }
}

impl ServiceError {
    /// The database was unavailable or too busy, not wrong: no pooled connection within
    /// the acquire timeout, a statement past `statement_timeout` (SQLSTATE 57014), a
    /// connection lost or refused while the server restarts (57P01, 57P03). Retrying
    /// later can succeed, so these answer the retryable `RATE_LIMITED`, not `INTERNAL`.
    pub fn transient(&self) -> bool {
        let text = match self {
            Self::Db(sea_orm::DbErr::ConnectionAcquire(_) | sea_orm::DbErr::Conn(_)) => {
                return true;
            }
            Self::Db(e) => e.to_string(),
            Self::Internal(text) => text.clone(),
            _ => return false,
        };
        [
            "canceling statement due to statement timeout",
            "Failed to acquire connection",
            "Connection pool timed out",
            "Connection Error",
            "error communicating with database",
            "expected to read",
            "terminating connection due to administrator command",
            "the database system is starting up",
            "the database system is shutting down",
            "the database system is in recovery mode",
            "connection was closed",
            "Connection reset by peer",
            "Connection refused",
            "Broken pipe",
        ]
        .iter()
        .any(|needle| text.contains(needle))
    }
}

impl ErrorExtensions for ServiceError {
    fn extend(&self) -> async_graphql::Error {
        if matches!(self, Self::Db(_) | Self::Internal(_)) && self.transient() {
            tracing::warn!(error = %self, "the database is unavailable or overloaded");
            return async_graphql::Error::new("the server is busy; retry shortly").extend_with(
                |_, e| {
                    e.set("code", code::RATE_LIMITED);
                    e.set("retryable", true);
                    e.set("retryAfter", 1);
                },
            );
        }
        let internal = match self {
            Self::Db(cause) => Some(cause.to_string()),
            Self::Internal(cause) => Some(cause.clone()),
            _ => None,
        };
        if let Some(cause) = internal {
            // The current span is the request's (`http::context`): the line carries its id.
            tracing::error!(error = %cause, "internal error");
            return async_graphql::Error::new("internal error")
                .extend_with(|_, e| e.set("code", code::INTERNAL));
        }
        async_graphql::Error::new(self.to_string()).extend_with(|_, e| {
            e.set("code", self.code());
            if let Self::Validation {
                field,
                message,
                more,
            } = self
            {
                e.set("field", field.as_str());
                if !more.is_empty() {
                    let entry = |f: &str, m: &str| {
                        let mut map = async_graphql::indexmap::IndexMap::new();
                        map.insert(async_graphql::Name::new("field"), f.into());
                        map.insert(async_graphql::Name::new("message"), m.into());
                        async_graphql::Value::Object(map)
                    };
                    let mut all = vec![entry(field, message)];
                    all.extend(more.iter().map(|i| entry(&i.field, &i.message)));
                    e.set("fields", async_graphql::Value::List(all));
                }
            }
        })
    }
}

/// What resolvers return: `service_call().await.extend()?` yields a coded error.
pub type GqlResult<T> = async_graphql::Result<T>;

/// Turns a service or validation result into a coded GraphQL result: `svc(..).await.gql()`.
pub trait IntoGql<T> {
    /// # Errors
    /// The coded GraphQL error.
    fn gql(self) -> GqlResult<T>;
}

impl<T, E: Into<ServiceError>> IntoGql<T> for Result<T, E> {
    fn gql(self) -> GqlResult<T> {
        self.map_err(|e| e.into().extend())
    }
}

/// One `BAD_USER_INPUT` error for a batch with invalid rows: `extensions.rows` lists every
/// `{row, field, message}`; `field` names the first, as `contacts[row].field`.
pub fn invalid_rows(rows: &[(usize, Invalid)]) -> async_graphql::Error {
    let first = rows
        .first()
        .map(|(i, e)| format!("contacts[{i}].{}", e.field))
        .unwrap_or_default();
    async_graphql::Error::new(format!(
        "{} row(s) are invalid; nothing was imported",
        rows.len()
    ))
    .extend_with(|_, e| {
        e.set("code", code::BAD_USER_INPUT);
        e.set("field", first.as_str());
        let list: Vec<async_graphql::Value> = rows
            .iter()
            .map(|(i, err)| {
                let mut m = async_graphql::indexmap::IndexMap::new();
                m.insert(
                    async_graphql::Name::new("row"),
                    async_graphql::Value::from(*i as u64),
                );
                m.insert(
                    async_graphql::Name::new("field"),
                    async_graphql::Value::from(err.field.as_str()),
                );
                m.insert(
                    async_graphql::Name::new("message"),
                    async_graphql::Value::from(err.message.as_str()),
                );
                async_graphql::Value::Object(m)
            })
            .collect();
        e.set("rows", async_graphql::Value::List(list));
    })
}
