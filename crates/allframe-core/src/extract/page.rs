//! `?offset=&limit=`: the page of a list an endpoint answers with, and the page itself.

use http::StatusCode;
use http::request::Parts;
use serde::{Deserialize, Serialize};

use super::FromRequestParts;
use crate::response::Problem;

/// The `offset` and `limit` query parameters of a list endpoint: `offset` from 0 (default
/// 0), `limit` from 1 to `MAX` (default 20, or `MAX` if smaller). A limit outside its range
/// is answered `422` naming the field, one that is not a number `400`; other parameters of
/// the query are left to other extractors.
///
/// ```
/// use allframe_core::extract::{Page, Pagination};
/// use allframe_core::{Json, Router, routing::get};
///
/// async fn users(page: Pagination) -> Json<Page<String>> {
///     // Select among borrowed items, then own only the page's.
///     Json(page.page(["ann", "bob", "cy"].iter()).map(|name| name.to_uppercase()))
/// }
///
/// let app = Router::new().route("/users", get(users)).into_service();
/// # drop(app);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pagination<const MAX: usize = 100> {
    /// Items skipped.
    pub offset: usize,
    /// Items returned at most.
    pub limit: usize,
}

impl<const MAX: usize> Pagination<MAX> {
    /// The limit when the query has none.
    pub const DEFAULT_LIMIT: usize = if MAX < 20 { MAX } else { 20 };

    /// The page of `items` (all of them, in order) this selects, with their total.
    pub fn page<T>(&self, items: impl IntoIterator<Item = T>) -> Page<T> {
        let mut total = 0;
        let mut selected = Vec::new();
        for item in items {
            if total >= self.offset && selected.len() < self.limit {
                selected.push(item);
            }
            total += 1;
        }
        Page {
            items: selected,
            total,
            offset: self.offset,
            limit: self.limit,
        }
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Items in the whole list.
    pub total: usize,
    /// Items before this page.
    pub offset: usize,
    /// The most items a page of this size holds.
    pub limit: usize,
}

impl<T> Page<T> {
    /// The same page with each item turned into another: select borrowed items first, then
    /// make the answer's owned ones from the page's items alone.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            total: self.total,
            offset: self.offset,
            limit: self.limit,
        }
    }
}

/// The two parameters, as the query string has them (others are ignored).
#[derive(Deserialize)]
struct Raw {
    offset: Option<usize>,
    limit: Option<usize>,
}

impl<S: Send + Sync, const MAX: usize> FromRequestParts<S> for Pagination<MAX> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let query = parts.uri.query().unwrap_or_default();
        let raw: Raw = serde_urlencoded::from_str(query).map_err(|err| {
            Problem::new(StatusCode::BAD_REQUEST).with_detail(format!(
                "invalid query string: {err} (`offset` and `limit` are whole numbers)"
            ))
        })?;
        let limit = raw.limit.unwrap_or(Self::DEFAULT_LIMIT);
        if !(1..=MAX).contains(&limit) {
            return Err(Problem::invalid_field(
                "limit",
                format!("must be between 1 and {MAX}"),
            ));
        }
        Ok(Self {
            offset: raw.offset.unwrap_or(0),
            limit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_selects_its_items_and_counts_all() {
        let page = Pagination::<100> {
            offset: 1,
            limit: 2,
        }
        .page(1..=5);
        assert_eq!((page.items, page.total), (vec![2, 3], 5));
        let past = Pagination::<100> {
            offset: 9,
            limit: 2,
        }
        .page(1..=5);
        assert!(past.items.is_empty());
        let doubled = Pagination::<100> {
            offset: 3,
            limit: 5,
        }
        .page(1..=5)
        .map(|n| n * 2);
        assert_eq!(
            (doubled.items, doubled.total, doubled.offset),
            (vec![8, 10], 5, 3)
        );
        assert_eq!(Pagination::<5>::DEFAULT_LIMIT, 5);
        assert_eq!(Pagination::<100>::DEFAULT_LIMIT, 20);
    }
}
