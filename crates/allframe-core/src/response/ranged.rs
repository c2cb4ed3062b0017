//! Bytes served as HTTP caches and download managers expect: a strong entity tag answering
//! `If-None-Match` with 304, and byte ranges (`Range`, `If-Range`) with 206 or 416, as
//! RFC 9110 (sections 13 and 14) says.

use std::ops::RangeInclusive;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};

use super::{IntoResponse, Problem, Response};
use crate::body::Body;

/// A representation with a strong `ETag` that answers conditional and range requests.
///
/// Built with [`Ranged::new`] and answered for one request with [`Ranged::respond`]:
///
/// - `If-None-Match` naming its tag (or `*`): `304 Not Modified`, no body;
/// - one satisfiable `Range: bytes=...` (and an `If-Range` that names its tag, if any):
///   `206 Partial Content` with `Content-Range`; a range past the end: `416` with
///   `Content-Range: bytes */<length>`;
/// - anything else, several ranges and a malformed `Range` included: `200` with the whole
///   body (a server may always ignore `Range`).
///
/// Every answer carries `ETag` and `Accept-Ranges: bytes`.
#[derive(Debug, Clone)]
pub struct Ranged {
    body: Bytes,
    content_type: HeaderValue,
    etag: HeaderValue,
}

impl Ranged {
    /// `body` of `content_type`, tagged `"<tag>"`. The tag must change whenever the bytes
    /// do (a content hash does); `None` if either is not valid header text or the tag holds
    /// a `"`.
    pub fn new(body: impl Into<Bytes>, content_type: &str, tag: &str) -> Option<Self> {
        if tag.contains('"') {
            return None;
        }
        Some(Self {
            body: body.into(),
            content_type: HeaderValue::from_str(content_type).ok()?,
            etag: HeaderValue::from_str(&format!("\"{tag}\"")).ok()?,
        })
    }

    /// The answer to a request with `method` and `headers`.
    pub fn respond(self, method: &Method, headers: &HeaderMap) -> Response {
        let mut res = if self.not_modified(headers) {
            let mut res = Response::new(Body::empty());
            *res.status_mut() = StatusCode::NOT_MODIFIED;
            res
        } else {
            match self.range(method, headers) {
                Some(Ok(range)) => self.partial(range),
                Some(Err(())) => self.unsatisfiable(),
                None => self.whole(),
            }
        };
        let h = res.headers_mut();
        h.insert(header::ETAG, self.etag);
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        res
    }

    /// `If-None-Match` lists this tag (compared weakly, as that header is) or is `*`.
    fn not_modified(&self, headers: &HeaderMap) -> bool {
        let ours = self.etag.as_bytes();
        headers
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag).as_bytes() == ours)
    }

    /// The one byte range to send, `Err` when the range asked for is past the end, `None`
    /// to send everything.
    fn range(
        &self,
        method: &Method,
        headers: &HeaderMap,
    ) -> Option<Result<RangeInclusive<u64>, ()>> {
        if method != Method::GET && method != Method::HEAD {
            return None;
        }
        let asked = headers.get(header::RANGE)?.to_str().ok()?;
        // A range is valid only for the representation the client already has part of.
        if let Some(if_range) = headers.get(header::IF_RANGE)
            && if_range != self.etag
        {
            return None;
        }
        let parsed = http_range_header::parse_range_header(asked).ok()?;
        match parsed.validate(self.body.len() as u64) {
            Ok(ranges) if ranges.len() == 1 => ranges.into_iter().next().map(Ok),
            Ok(_) => None,
            Err(_) => Some(Err(())),
        }
    }

    fn whole(&self) -> Response {
        let mut res = Response::new(Body::from(self.body.clone()));
        res.headers_mut()
            .insert(header::CONTENT_TYPE, self.content_type.clone());
        res
    }

    fn partial(&self, range: RangeInclusive<u64>) -> Response {
        let (start, end) = (*range.start(), *range.end());
        let part = self.body.slice(start as usize..=end as usize);
        let mut res = Response::new(Body::from(part));
        *res.status_mut() = StatusCode::PARTIAL_CONTENT;
        let h = res.headers_mut();
        h.insert(header::CONTENT_TYPE, self.content_type.clone());
        let content_range = format!("bytes {start}-{end}/{}", self.body.len());
        h.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&content_range).expect("digits and ASCII"),
        );
        res
    }

    fn unsatisfiable(&self) -> Response {
        let detail = format!(
            "the range asked for is not within the {} bytes",
            self.body.len()
        );
        let mut res = Problem::new(StatusCode::RANGE_NOT_SATISFIABLE)
            .with_detail(detail)
            .into_response();
        let content_range = format!("bytes */{}", self.body.len());
        res.headers_mut().insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&content_range).expect("digits and ASCII"),
        );
        res
    }
}
