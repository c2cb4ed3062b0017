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
/// Built with [`Ranged::new`], fitted to one request with [`Ranged::for_request`], and
/// returned from a handler:
///
/// - `If-None-Match` naming its tag (or `*`): `304 Not Modified` without a body for `GET`
///   and `HEAD`, `412 Precondition Failed` for other methods;
/// - one `Range: bytes=...` (and an `If-Range` that names its tag, if any): `206 Partial
///   Content` with `Content-Range` (a suffix longer than the body is all of it); a range
///   that starts past the end, or any range of an empty body: `416` with
///   `Content-Range: bytes */<length>`;
/// - anything else, several ranges and a malformed or reversed `Range` included: `200`
///   with the whole body (a server may always ignore `Range`).
///
/// Every answer carries `ETag` and `Accept-Ranges: bytes`; [`Ranged::cache_control`] is
/// added to the successful ones (200, 206, 304) only, so no cache keeps an error.
///
/// ```
/// use allframe_core::http::{HeaderMap, Method};
/// use allframe_core::response::Ranged;
///
/// async fn logo(method: Method, headers: HeaderMap) -> Ranged {
///     Ranged::new(&b"\x89PNG..."[..], "image/png", "logo-v3")
///         .expect("valid header text")
///         .for_request(&method, &headers)
/// }
/// # let _ = allframe_core::Router::<()>::new().route("/logo.png", allframe_core::routing::get(logo));
/// ```
#[derive(Debug, Clone)]
pub struct Ranged {
    body: Bytes,
    content_type: HeaderValue,
    etag: HeaderValue,
    cache_control: Option<HeaderValue>,
    answer: Answer,
}

/// What [`Ranged::for_request`] decided to send.
#[derive(Debug, Clone)]
enum Answer {
    Whole,
    NotModified,
    PreconditionFailed,
    Part(RangeInclusive<u64>),
    Unsatisfiable,
}

impl Ranged {
    /// `body` of `content_type`, tagged `"<tag>"`, served whole until fitted to a request.
    /// The tag must change whenever the bytes do (a content hash does); `None` if either is
    /// not valid header text or the tag holds a `"`.
    pub fn new(body: impl Into<Bytes>, content_type: &str, tag: &str) -> Option<Self> {
        if tag.contains('"') {
            return None;
        }
        Some(Self {
            body: body.into(),
            content_type: HeaderValue::from_str(content_type).ok()?,
            etag: HeaderValue::from_str(&format!("\"{tag}\"")).ok()?,
            cache_control: None,
            answer: Answer::Whole,
        })
    }

    /// `Cache-Control` for the successful answers (`public, max-age=31536000, immutable`
    /// for bytes whose tag is their hash).
    pub fn cache_control(mut self, value: &'static str) -> Self {
        self.cache_control = Some(HeaderValue::from_static(value));
        self
    }

    /// The answer to a request with `method` and `headers`.
    pub fn for_request(mut self, method: &Method, headers: &HeaderMap) -> Self {
        let reads = method == Method::GET || method == Method::HEAD;
        self.answer = if self.not_modified(headers) {
            if reads {
                Answer::NotModified
            } else {
                Answer::PreconditionFailed
            }
        } else if !reads {
            Answer::Whole
        } else {
            match self.range(headers) {
                Some(Ok(range)) => Answer::Part(range),
                Some(Err(())) => Answer::Unsatisfiable,
                None => Answer::Whole,
            }
        };
        self
    }

    /// Whether `headers` hold an `If-None-Match` that names `tag` (compared weakly, as that
    /// header is) or is `*`: a handler can answer 304 before it loads the bytes.
    pub fn is_current(tag: &str, headers: &HeaderMap) -> bool {
        names(format!("\"{tag}\"").as_bytes(), headers)
    }

    fn not_modified(&self, headers: &HeaderMap) -> bool {
        names(self.etag.as_bytes(), headers)
    }

    /// The one byte range to send, `Err` when the range asked for is past the end, `None`
    /// to send everything.
    fn range(&self, headers: &HeaderMap) -> Option<Result<RangeInclusive<u64>, ()>> {
        let asked = headers.get(header::RANGE)?.to_str().ok()?;
        // A range is valid only for the representation the client already has part of.
        if let Some(if_range) = headers.get(header::IF_RANGE)
            && if_range != self.etag
        {
            return None;
        }
        let parsed = http_range_header::parse_range_header(asked).ok()?;
        match parsed.ranges.as_slice() {
            [one] => satisfiable(*one, self.body.len() as u64),
            _ => None,
        }
    }
}

/// The bytes `range` asks for of a body `len` long (RFC 9110, 14.1.1): `Err` when none of
/// them exists, `None` for a range to ignore (its last byte before its first).
fn satisfiable(
    range: http_range_header::SyntacticallyCorrectRange,
    len: u64,
) -> Option<Result<RangeInclusive<u64>, ()>> {
    use http_range_header::{EndPosition, StartPosition};
    let Some(last_byte) = len.checked_sub(1) else {
        return Some(Err(()));
    };
    match (range.start, range.end) {
        (StartPosition::FromLast(0), _) => Some(Err(())),
        (StartPosition::FromLast(n), _) => Some(Ok(len.saturating_sub(n)..=last_byte)),
        (StartPosition::Index(first), _) if first >= len => Some(Err(())),
        (StartPosition::Index(first), EndPosition::LastByte) => Some(Ok(first..=last_byte)),
        (StartPosition::Index(first), EndPosition::Index(last)) if last < first => None,
        (StartPosition::Index(first), EndPosition::Index(last)) => {
            Some(Ok(first..=last.min(last_byte)))
        }
    }
}

/// Whether an `If-None-Match` of `headers` names `etag` (quoted; compared weakly, as that
/// header is) or is `*`.
fn names(etag: &[u8], headers: &HeaderMap) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|asked| asked == "*" || asked.strip_prefix("W/").unwrap_or(asked).as_bytes() == etag)
}

fn content_range(value: String) -> HeaderValue {
    HeaderValue::from_str(&value).expect("digits and ASCII")
}

impl IntoResponse for Ranged {
    fn into_response(self) -> Response {
        let length = self.body.len();
        let mut res = match self.answer {
            Answer::NotModified => {
                let mut res = Response::new(Body::empty());
                *res.status_mut() = StatusCode::NOT_MODIFIED;
                res
            }
            Answer::PreconditionFailed => Problem::new(StatusCode::PRECONDITION_FAILED)
                .with_detail("`If-None-Match` names the current representation")
                .into_response(),
            Answer::Unsatisfiable => {
                let detail = format!("the range asked for is not within the {length} bytes");
                let mut res = Problem::new(StatusCode::RANGE_NOT_SATISFIABLE)
                    .with_detail(detail)
                    .into_response();
                let unsatisfied = content_range(format!("bytes */{length}"));
                res.headers_mut().insert(header::CONTENT_RANGE, unsatisfied);
                res
            }
            Answer::Whole => {
                let mut res = Response::new(Body::from(self.body));
                res.headers_mut()
                    .insert(header::CONTENT_TYPE, self.content_type);
                res
            }
            Answer::Part(range) => {
                let (start, end) = (*range.start(), *range.end());
                let part = self.body.slice(start as usize..=end as usize);
                let mut res = Response::new(Body::from(part));
                *res.status_mut() = StatusCode::PARTIAL_CONTENT;
                let h = res.headers_mut();
                h.insert(header::CONTENT_TYPE, self.content_type);
                let sent = content_range(format!("bytes {start}-{end}/{length}"));
                h.insert(header::CONTENT_RANGE, sent);
                res
            }
        };
        let succeeded = res.status().is_success() || res.status() == StatusCode::NOT_MODIFIED;
        let h = res.headers_mut();
        h.insert(header::ETAG, self.etag);
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        if let Some(cache_control) = self.cache_control.filter(|_| succeeded) {
            h.insert(header::CACHE_CONTROL, cache_control);
        }
        res
    }
}
