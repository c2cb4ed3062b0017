//! The query string, deserialized.

use http::request::Parts;
use serde::de::DeserializeOwned;

use super::FromRequestParts;
use crate::rejection::QueryRejection;

/// The query string deserialized into `T` (with `serde_urlencoded`).
///
/// A missing query string is the empty one, so a struct whose fields are all `Option` or
/// `#[serde(default)]` always extracts. A value that does not parse answers 400.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = QueryRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, QueryRejection> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(Query)
            .map_err(QueryRejection)
    }
}
