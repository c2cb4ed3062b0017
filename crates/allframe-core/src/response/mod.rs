//! Responders: everything a handler may return implements [`IntoResponse`].

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::convert::Infallible;

use bytes::{BufMut, Bytes, BytesMut};
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;

use crate::body::Body;

mod ranged;

pub use self::ranged::Ranged;

/// The response type of every handler, middleware and of the server.
pub type Response<B = Body> = http::Response<B>;

/// A value a handler can return.
///
/// Implemented for text (`&'static str`, `String`: `text/plain; charset=utf-8`), bytes
/// (`Bytes`, `Vec<u8>`: `application/octet-stream`), [`Json`], [`Html`], [`StatusCode`],
/// [`Problem`], `()`, [`Response`], `Result<T, E>` where both sides are responders, and
/// tuples that set a status and/or headers before a responder:
/// `(StatusCode, R)`, `(H, R)` and `(StatusCode, H, R)` where `H` is a [`HeaderMap`] or an
/// array of `(HeaderName, HeaderValue)` pairs.
pub trait IntoResponse {
    /// Turns `self` into a response.
    fn into_response(self) -> Response;
}

/// Headers a responder tuple may add: a [`HeaderMap`] or an array of pairs.
pub trait IntoHeaders {
    /// Adds the headers to `headers`, replacing any of the same name.
    fn apply(self, headers: &mut HeaderMap);
}

impl IntoHeaders for HeaderMap {
    fn apply(self, headers: &mut HeaderMap) {
        headers.extend(self);
    }
}

impl<const N: usize> IntoHeaders for [(HeaderName, HeaderValue); N] {
    fn apply(self, headers: &mut HeaderMap) {
        for (name, value) in self {
            headers.insert(name, value);
        }
    }
}

impl<const N: usize> IntoHeaders for [(HeaderName, &'static str); N] {
    fn apply(self, headers: &mut HeaderMap) {
        for (name, value) in self {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
}

fn with_content_type(body: impl Into<Body>, content_type: &'static str) -> Response {
    let mut res = Response::new(body.into());
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

pub(crate) const TEXT_PLAIN: &str = "text/plain; charset=utf-8";
pub(crate) const APPLICATION_JSON: &str = "application/json";
const TEXT_HTML: &str = "text/html; charset=utf-8";
const OCTET_STREAM: &str = "application/octet-stream";
pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl IntoResponse for Infallible {
    fn into_response(self) -> Response {
        match self {}
    }
}

impl IntoResponse for () {
    fn into_response(self) -> Response {
        Response::new(Body::empty())
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        let mut res = Response::new(Body::empty());
        *res.status_mut() = self;
        res
    }
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        with_content_type(self, TEXT_PLAIN)
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        with_content_type(self, TEXT_PLAIN)
    }
}

impl IntoResponse for Cow<'static, str> {
    fn into_response(self) -> Response {
        match self {
            Cow::Borrowed(text) => text.into_response(),
            Cow::Owned(text) => text.into_response(),
        }
    }
}

impl IntoResponse for Bytes {
    fn into_response(self) -> Response {
        with_content_type(self, OCTET_STREAM)
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Response {
        with_content_type(self, OCTET_STREAM)
    }
}

impl IntoResponse for Body {
    fn into_response(self) -> Response {
        Response::new(self)
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(value) => value.into_response(),
            Err(err) => err.into_response(),
        }
    }
}

impl<R: IntoResponse> IntoResponse for (StatusCode, R) {
    fn into_response(self) -> Response {
        let mut res = self.1.into_response();
        *res.status_mut() = self.0;
        res
    }
}

impl<H: IntoHeaders, R: IntoResponse> IntoResponse for (H, R) {
    fn into_response(self) -> Response {
        let mut res = self.1.into_response();
        self.0.apply(res.headers_mut());
        res
    }
}

impl<H: IntoHeaders, R: IntoResponse> IntoResponse for (StatusCode, H, R) {
    fn into_response(self) -> Response {
        let mut res = (self.1, self.2).into_response();
        *res.status_mut() = self.0;
        res
    }
}

/// An HTML response (`text/html; charset=utf-8`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Html<T>(pub T);

impl<T: Into<Body>> IntoResponse for Html<T> {
    fn into_response(self) -> Response {
        with_content_type(self.0, TEXT_HTML)
    }
}

/// A JSON request body (as an extractor) or response body (as a responder).
///
/// As a responder it serializes the value per response, with `Content-Type:
/// application/json`; a value that cannot be serialized becomes a 500 [`Problem`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        // Most API bodies are small: one allocation of this size usually suffices.
        let mut buf = BytesMut::with_capacity(128).writer();
        match serde_json::to_writer(&mut buf, &self.0) {
            Ok(()) => with_content_type(buf.into_inner().freeze(), APPLICATION_JSON),
            Err(err) => Problem::new(StatusCode::INTERNAL_SERVER_ERROR)
                .with_detail(format!(
                    "the response could not be serialized to JSON: {err}"
                ))
                .into_response(),
        }
    }
}

/// An error response with a JSON problem body (RFC 9457, `application/problem+json`):
/// `{"type":"about:blank","title":"Not Found","status":404,"detail":"..."}`.
///
/// Every error the framework produces is a `Problem`; applications map their own error
/// types into one with `impl From<MyError> for Problem` and return `Result<T, Problem>`.
/// A request refused for its fields names them: [`Problem::with_field_error`] adds
/// `"errors": {"quantity": ["must be at least 1"]}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    status: StatusCode,
    detail: Cow<'static, str>,
    errors: Vec<(Cow<'static, str>, String)>,
}

impl Problem {
    /// A problem with this status and no detail yet.
    pub fn new(status: StatusCode) -> Self {
        Self {
            status,
            detail: Cow::Borrowed(""),
            errors: Vec::new(),
        }
    }

    /// A `422 Unprocessable Entity` saying what is wrong with one field.
    pub fn invalid_field(field: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY)
            .with_detail("the request has invalid fields")
            .with_field_error(field, message)
    }

    /// Adds what is wrong with one field of the request (a field may have several).
    pub fn with_field_error(
        mut self,
        field: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        self.errors.push((field.into(), message.into()));
        self
    }

    /// The field errors, in the order they were added.
    pub fn field_errors(&self) -> impl Iterator<Item = (&str, &str)> {
        self.errors.iter().map(|(f, m)| (&**f, m.as_str()))
    }

    /// The human-readable explanation of this occurrence.
    pub fn with_detail(mut self, detail: impl Into<Cow<'static, str>>) -> Self {
        self.detail = detail.into();
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The detail message.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.detail)
    }
}

impl std::error::Error for Problem {}

/// An RFC 9457 problem details object.
#[derive(Serialize)]
pub(crate) struct ProblemBody<'a> {
    /// A URI reference that identifies the problem type (`about:blank`: the status says it).
    #[serde(rename = "type")]
    kind: &'static str,
    /// The status's reason phrase.
    title: &'static str,
    /// The HTTP status code.
    status: u16,
    /// What went wrong with this request.
    #[serde(skip_serializing_if = "str::is_empty")]
    detail: &'a str,
    /// Each invalid field's messages.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    errors: BTreeMap<&'a str, Vec<&'a str>>,
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = ProblemBody {
            kind: "about:blank",
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            detail: &self.detail,
            errors: self.errors.iter().fold(BTreeMap::new(), |mut map, (f, m)| {
                map.entry(&**f).or_insert_with(Vec::new).push(m.as_str());
                map
            }),
        };
        let json = serde_json::to_vec(&body).expect("a problem body always serializes");
        let mut res = with_content_type(json, PROBLEM_JSON);
        *res.status_mut() = self.status;
        res
    }
}
