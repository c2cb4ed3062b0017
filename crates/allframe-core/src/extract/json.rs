//! JSON request bodies.

use http::HeaderMap;
use http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

use super::{FromRequest, read_body};
use crate::Request;
use crate::rejection::JsonRejection;
use crate::response::Json;

/// `application/json`, or any `application/*+json` type.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some(subtype) = essence
        .split_once('/')
        .filter(|(kind, _)| kind.eq_ignore_ascii_case("application"))
        .map(|(_, subtype)| subtype)
    else {
        return false;
    };
    subtype.eq_ignore_ascii_case("json")
        || subtype.len() > 5 && subtype[subtype.len() - 5..].eq_ignore_ascii_case("+json")
}

impl<S, T> FromRequest<S> for Json<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = JsonRejection;

    async fn from_request(req: Request, _: &S) -> Result<Self, JsonRejection> {
        if !is_json(req.headers()) {
            return Err(JsonRejection::MissingJsonContentType);
        }
        let bytes = read_body(req).await?;
        serde_json::from_slice(&bytes)
            .map(Json)
            .map_err(JsonRejection::from_serde)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_json_content_types() {
        let accepts = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, value.parse().unwrap());
            is_json(&headers)
        };
        assert!(accepts("application/json"));
        assert!(accepts("application/json; charset=utf-8"));
        assert!(accepts("Application/JSON"));
        assert!(accepts("application/problem+json"));
        assert!(!accepts("text/json"));
        assert!(!accepts("application/jsonx"));
        assert!(!accepts("application/+json"));
        assert!(!accepts("text/plain"));
        assert!(!is_json(&HeaderMap::new()));
    }
}
