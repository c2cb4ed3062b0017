//! Why an extractor refused a request: one type per failure mode, each carrying its status
//! and a message that says what was wrong. All of them answer with a [`Problem`] body.

use std::fmt;

use http::StatusCode;

use crate::body::{BodyReadTimedOut, BoxError, LengthLimitExceeded};
use crate::response::{IntoResponse, Problem, Response};

macro_rules! rejection_response {
    ($($ty:ty),*) => {$(
        impl IntoResponse for $ty {
            fn into_response(self) -> Response {
                Problem::from(self).into_response()
            }
        }

        /// So a handler returning `Result<_, Problem>` can use `?` on it.
        impl From<$ty> for Problem {
            fn from(rejection: $ty) -> Self {
                Problem::new(rejection.status()).with_detail(rejection.to_string())
            }
        }

        impl std::error::Error for $ty {}
    )*};
}

rejection_response!(
    BodyRejection,
    StringRejection,
    JsonRejection,
    QueryRejection,
    PathRejection
);

#[cfg(feature = "multipart")]
rejection_response!(MultipartRejection);

/// A `multipart/form-data` body was refused.
#[cfg(feature = "multipart")]
#[derive(Debug)]
pub enum MultipartRejection {
    /// The `Content-Type` is not `multipart/form-data` with a boundary: 415.
    NotMultipart,
    /// The body is larger than its limit: 413.
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The client stopped sending the body for the server's body read timeout: 408.
    TimedOut {
        /// The timeout.
        timeout: std::time::Duration,
    },
    /// The body is not well-formed multipart, or its connection failed: 400.
    Malformed(String),
}

#[cfg(feature = "multipart")]
impl From<BodyRejection> for MultipartRejection {
    fn from(err: BodyRejection) -> Self {
        match err {
            BodyRejection::TooLarge { limit } => Self::TooLarge { limit },
            BodyRejection::TimedOut { timeout } => Self::TimedOut { timeout },
            BodyRejection::Read(err) => Self::Malformed(err.to_string()),
        }
    }
}

#[cfg(feature = "multipart")]
impl MultipartRejection {
    /// The response status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotMultipart => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TimedOut { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::Malformed(_) => StatusCode::BAD_REQUEST,
        }
    }
}

#[cfg(feature = "multipart")]
impl fmt::Display for MultipartRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotMultipart => f.write_str(
                "expected a request with `Content-Type: multipart/form-data; boundary=...`",
            ),
            Self::TooLarge { limit } => {
                write!(f, "request body is larger than the limit of {limit} bytes")
            }
            Self::TimedOut { timeout } => {
                write!(f, "no part of the request body arrived for {timeout:?}")
            }
            Self::Malformed(why) => write!(f, "malformed multipart body: {why}"),
        }
    }
}

/// The body could not be read.
#[derive(Debug)]
pub enum BodyRejection {
    /// The body is larger than the server's limit: 413.
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The client stopped sending the body for the server's body read timeout: 408.
    TimedOut {
        /// The timeout.
        timeout: std::time::Duration,
    },
    /// The connection failed or the body was malformed while reading: 400.
    Read(BoxError),
}

impl BodyRejection {
    pub(crate) fn from_error(err: BoxError) -> Self {
        if let Some(exceeded) = err.downcast_ref::<LengthLimitExceeded>() {
            return Self::TooLarge {
                limit: exceeded.limit,
            };
        }
        if let Some(timed_out) = err.downcast_ref::<BodyReadTimedOut>() {
            return Self::TimedOut {
                timeout: timed_out.timeout,
            };
        }
        Self::Read(err)
    }

    /// The response status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TimedOut { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::Read(_) => StatusCode::BAD_REQUEST,
        }
    }
}

impl fmt::Display for BodyRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { limit } => {
                write!(f, "request body is larger than the limit of {limit} bytes")
            }
            Self::TimedOut { timeout } => {
                write!(f, "no part of the request body arrived for {timeout:?}")
            }
            Self::Read(err) => write!(f, "failed to read the request body: {err}"),
        }
    }
}

/// A `String` body was not UTF-8, or could not be read.
#[derive(Debug)]
pub enum StringRejection {
    /// See [`BodyRejection`].
    Body(BodyRejection),
    /// The body is not valid UTF-8: 400.
    InvalidUtf8(std::str::Utf8Error),
}

impl From<BodyRejection> for StringRejection {
    fn from(err: BodyRejection) -> Self {
        Self::Body(err)
    }
}

impl StringRejection {
    /// The response status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Body(err) => err.status(),
            Self::InvalidUtf8(_) => StatusCode::BAD_REQUEST,
        }
    }
}

impl fmt::Display for StringRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Body(err) => err.fmt(f),
            Self::InvalidUtf8(err) => write!(f, "request body is not valid UTF-8: {err}"),
        }
    }
}

/// A JSON body was refused.
#[derive(Debug)]
pub enum JsonRejection {
    /// The `Content-Type` is not `application/json` (or `+json`): 415.
    MissingJsonContentType,
    /// See [`BodyRejection`].
    Body(BodyRejection),
    /// The body is not JSON at all (a syntax error or a truncated document): 400.
    Syntax(serde_json::Error),
    /// The body is JSON but not of the expected shape (a missing field, a wrong type): 422.
    Data(serde_json::Error),
}

impl JsonRejection {
    pub(crate) fn from_serde(err: serde_json::Error) -> Self {
        match err.classify() {
            serde_json::error::Category::Data => Self::Data(err),
            _ => Self::Syntax(err),
        }
    }

    /// The response status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingJsonContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Body(err) => err.status(),
            Self::Syntax(_) => StatusCode::BAD_REQUEST,
            Self::Data(_) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }
}

impl From<BodyRejection> for JsonRejection {
    fn from(err: BodyRejection) -> Self {
        Self::Body(err)
    }
}

impl fmt::Display for JsonRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingJsonContentType => {
                f.write_str("expected a request with `Content-Type: application/json`")
            }
            Self::Body(err) => err.fmt(f),
            Self::Syntax(err) => write!(f, "the request body is not valid JSON: {err}"),
            Self::Data(err) => write!(f, "the JSON request body does not match: {err}"),
        }
    }
}

/// The query string did not deserialize: 400.
#[derive(Debug)]
pub struct QueryRejection(pub(crate) serde_urlencoded::de::Error);

impl QueryRejection {
    /// The response status.
    pub fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }
}

impl fmt::Display for QueryRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid query string: {}", self.0)
    }
}

/// The path parameters did not deserialize.
#[derive(Debug)]
pub enum PathRejection {
    /// A value does not parse as the requested type: 400.
    Invalid(String),
    /// A percent-encoded value is not UTF-8 once decoded: 400.
    InvalidUtf8 {
        /// The parameter's name.
        name: String,
    },
    /// The handler asks for `Path` on a route without parameters: a programming error, 500.
    NoParams,
}

impl PathRejection {
    /// The response status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) | Self::InvalidUtf8 { .. } => StatusCode::BAD_REQUEST,
            Self::NoParams => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl fmt::Display for PathRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(msg) => write!(f, "invalid path parameter: {msg}"),
            Self::InvalidUtf8 { name } => {
                write!(
                    f,
                    "path parameter `{name}` is not valid UTF-8 once percent-decoded"
                )
            }
            Self::NoParams => {
                f.write_str("the handler extracts `Path`, but its route has no parameters")
            }
        }
    }
}
