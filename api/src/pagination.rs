//! Relay-style keyset pagination: a page is the rows after (or before) a cursor in a
//! stable `(sort key, id)` order, so pages never skip or repeat rows under concurrent
//! inserts and cost the same however deep they go.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::sea_query::{Expr, ExprTrait, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, Order, QueryFilter, QueryOrder, QuerySelect,
    Select, Value,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::Invalid;

pub const DEFAULT_PAGE: u64 = 20;
pub const MAX_PAGE: u64 = 100;

/// A decoded cursor: the sort key (as text) and id of the row it points at.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Cursor {
    #[serde(rename = "k")]
    pub key: String,
    #[serde(rename = "i")]
    pub id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(field: &str, value: &str) -> Result<Self, Invalid> {
        URL_SAFE_NO_PAD
            .decode(value)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| Invalid::new(field, format!("{field} is not a valid cursor")))
    }
}

/// Which slice of the ordered rows a client asked for.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub limit: u64,
    pub forward: bool,
    pub cursor: Option<Cursor>,
}

impl PageRequest {
    /// Reads Relay arguments: `first`/`after` or `last`/`before`, at most [`MAX_PAGE`].
    ///
    /// # Errors
    /// [`Invalid`] for negative or too large counts, both directions at once, or a cursor
    /// this server did not make.
    pub fn parse(
        first: Option<i32>,
        after: Option<&str>,
        last: Option<i32>,
        before: Option<&str>,
    ) -> Result<Self, Invalid> {
        let count = |field: &str, n: i32| -> Result<u64, Invalid> {
            match u64::try_from(n) {
                Ok(n) if n <= MAX_PAGE => Ok(n),
                _ => Err(Invalid::new(
                    field,
                    format!("{field} must be between 0 and {MAX_PAGE}"),
                )),
            }
        };
        if (first.is_some() || after.is_some()) && (last.is_some() || before.is_some()) {
            return Err(Invalid::new(
                "last",
                "use first/after or last/before, not both",
            ));
        }
        if last.is_some() || before.is_some() {
            Ok(Self {
                limit: last
                    .map(|n| count("last", n))
                    .transpose()?
                    .unwrap_or(DEFAULT_PAGE),
                forward: false,
                cursor: before.map(|c| Cursor::decode("before", c)).transpose()?,
            })
        } else {
            Ok(Self {
                limit: first
                    .map(|n| count("first", n))
                    .transpose()?
                    .unwrap_or(DEFAULT_PAGE),
                forward: true,
                cursor: after.map(|c| Cursor::decode("after", c)).transpose()?,
            })
        }
    }
}

/// Rows of one page, in the requested order, with Relay's page flags.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next: bool,
    pub has_previous: bool,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            has_next: self.has_next,
            has_previous: self.has_previous,
        }
    }
}

/// The order of a listing: the sort column, its direction, and how to turn the cursor's
/// text key back into a typed value of that column.
pub struct Ordering<C> {
    pub column: C,
    pub id: C,
    pub descending: bool,
    pub key_value: fn(&str) -> Option<Value>,
}

/// Fetches one page of `select` in `ordering`.
///
/// # Errors
/// `Err(Ok(Invalid))` for a cursor whose key does not fit the order; `Err(Err(DbErr))`
/// when the query fails.
pub async fn fetch_page<E, C>(
    db: &C,
    select: Select<E>,
    ordering: &Ordering<E::Column>,
    request: &PageRequest,
) -> Result<Page<E::Model>, PageError>
where
    E: EntityTrait,
    E::Column: ColumnTrait + Copy,
    C: ConnectionTrait,
{
    fetch_page_as(db, select, ordering, request).await
}

/// [`fetch_page`], each row decoded as `M`.
///
/// # Errors
/// As [`fetch_page`].
pub async fn fetch_page_as<E, M, C>(
    db: &C,
    select: Select<E>,
    ordering: &Ordering<E::Column>,
    request: &PageRequest,
) -> Result<Page<M>, PageError>
where
    E: EntityTrait,
    E::Column: ColumnTrait + Copy,
    M: sea_orm::FromQueryResult + Send,
    C: ConnectionTrait,
{
    // Walking backwards is walking forwards in the opposite order, then reversing.
    let ascending = ordering.descending != request.forward;
    let mut select = select;
    if let Some(cursor) = &request.cursor {
        let field = if request.forward { "after" } else { "before" };
        let key = (ordering.key_value)(&cursor.key)
            .ok_or_else(|| Invalid::new(field, format!("{field} is not a valid cursor")))?;
        let col = Expr::col(ordering.column);
        let id = Expr::col(ordering.id);
        let cond: SimpleExpr = if ascending {
            col.clone()
                .gt(key.clone())
                .or(col.eq(key).and(id.gt(cursor.id)))
        } else {
            col.clone()
                .lt(key.clone())
                .or(col.eq(key).and(id.lt(cursor.id)))
        };
        select = select.filter(cond);
    }
    let order = if ascending { Order::Asc } else { Order::Desc };
    let mut rows = select
        .order_by(ordering.column, order.clone())
        .order_by(ordering.id, order)
        .limit(request.limit + 1)
        .into_model::<M>()
        .all(db)
        .await?;
    let has_more = rows.len() as u64 > request.limit;
    rows.truncate(usize::try_from(request.limit).unwrap_or(usize::MAX));
    let had_cursor = request.cursor.is_some();
    if request.forward {
        Ok(Page {
            items: rows,
            has_next: has_more,
            has_previous: had_cursor,
        })
    } else {
        rows.reverse();
        Ok(Page {
            items: rows,
            has_next: had_cursor,
            has_previous: has_more,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("{}", .0.message)]
    Invalid(Invalid),
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl From<Invalid> for PageError {
    fn from(value: Invalid) -> Self {
        Self::Invalid(value)
    }
}

impl From<PageError> for crate::error::ServiceError {
    fn from(value: PageError) -> Self {
        match value {
            PageError::Invalid(i) => i.into(),
            PageError::Db(e) => e.into(),
        }
    }
}

/// Typed key readers for [`Ordering::key_value`].
pub fn timestamp_key(key: &str) -> Option<Value> {
    chrono::DateTime::parse_from_rfc3339(key)
        .ok()
        .map(|t| Value::from(t.with_timezone(&chrono::Utc)))
}

pub fn text_key(key: &str) -> Option<Value> {
    Some(Value::from(key.to_owned()))
}

pub fn timestamp_cursor(at: chrono::DateTime<chrono::Utc>, id: impl Into<Uuid>) -> String {
    Cursor {
        key: at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        id: id.into(),
    }
    .encode()
}

pub fn text_cursor(key: &str, id: impl Into<Uuid>) -> String {
    Cursor {
        key: key.to_owned(),
        id: id.into(),
    }
    .encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_requests_are_bounded_and_one_directional() {
        assert!(PageRequest::parse(Some(101), None, None, None).is_err());
        assert!(PageRequest::parse(Some(-1), None, None, None).is_err());
        assert!(PageRequest::parse(Some(1), None, Some(1), None).is_err());
        assert!(PageRequest::parse(None, Some("garbage"), None, None).is_err());
        let r = PageRequest::parse(None, None, Some(5), None);
        assert!(matches!(
            r,
            Ok(PageRequest {
                limit: 5,
                forward: false,
                cursor: None
            })
        ));
    }

    #[test]
    fn cursors_round_trip() {
        let c = Cursor {
            key: "x".into(),
            id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::decode("after", &c.encode()), Ok(c));
    }
}
