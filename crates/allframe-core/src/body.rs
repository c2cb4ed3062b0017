//! The one body type of requests and responses.
//!
//! Most responses are a single buffer, so [`Body`] keeps that case unboxed: a `Full` body
//! reports its exact length (hyper writes `Content-Length` from it) and costs no allocation
//! beyond the bytes themselves. Request bodies wrap hyper's `Incoming` and carry the
//! server's body limit, so every extractor that reads a body honours the same limit, and
//! its body read timeout, so a client that stops sending fails the read (408) instead of
//! holding the connection.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;

use crate::stall::Stall;

/// The error type of a body stream.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request or response body.
pub struct Body {
    kind: Kind,
}

enum Kind {
    Full(Option<Bytes>),
    Incoming {
        body: hyper::body::Incoming,
        remaining: usize,
        limit: usize,
        /// The wait for the next piece of the body, bounded by the read timeout.
        stall: Stall,
    },
    Boxed(UnsyncBoxBody<Bytes, BoxError>),
}

/// The request body grew past the configured limit (answered with 413).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LengthLimitExceeded {
    /// The limit in bytes.
    pub limit: usize,
}

impl fmt::Display for LengthLimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "request body is larger than the limit of {} bytes",
            self.limit
        )
    }
}

impl std::error::Error for LengthLimitExceeded {}

/// No part of the request body arrived within the server's body read timeout (answered
/// with 408).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyReadTimedOut {
    /// The timeout.
    pub timeout: Duration,
}

impl fmt::Display for BodyReadTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no part of the request body arrived for {:?}",
            self.timeout
        )
    }
}

impl std::error::Error for BodyReadTimedOut {}

impl Body {
    /// An empty body.
    pub const fn empty() -> Self {
        Self {
            kind: Kind::Full(None),
        }
    }

    /// Wraps any [`http_body::Body`] (a stream, a channel, ...).
    pub fn new<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        Self {
            kind: Kind::Boxed(body.map_err(Into::into).boxed_unsync()),
        }
    }

    /// A request body read from the connection, cut off after `limit` bytes, failing once
    /// nothing of it has arrived for `read_timeout`.
    pub fn incoming(body: hyper::body::Incoming, limit: usize, read_timeout: Duration) -> Self {
        Self {
            kind: Kind::Incoming {
                body,
                remaining: limit,
                limit,
                stall: Stall::new(read_timeout),
            },
        }
    }

    /// A body held in memory whole (hyper writes it at once, with the head).
    pub(crate) fn is_full(&self) -> bool {
        matches!(self.kind, Kind::Full(_))
    }

    /// The body limit this request body enforces, if it comes from the connection.
    pub fn limit(&self) -> Option<usize> {
        match &self.kind {
            Kind::Incoming { limit, .. } => Some(*limit),
            _ => None,
        }
    }

    /// Lets this request body grow to `limit` bytes instead of the server's limit (a route's
    /// [`MethodRouter::body_limit`](crate::routing::MethodRouter::body_limit)); what was
    /// already read counts against it. A body not read from the connection has no limit.
    pub fn set_limit(&mut self, new_limit: usize) {
        if let Kind::Incoming {
            remaining, limit, ..
        } = &mut self.kind
        {
            let read = *limit - *remaining;
            *remaining = new_limit.saturating_sub(read);
            *limit = new_limit;
        }
    }

    /// Lets this request body wait up to `timeout` for each piece instead of the server's
    /// body read timeout (`Duration::MAX`: no bound). A body not read from the connection
    /// has no timeout.
    pub fn set_read_timeout(&mut self, timeout: Duration) {
        if let Kind::Incoming { stall, .. } = &mut self.kind {
            *stall = Stall::new(timeout);
        }
    }

    /// Reads the whole body into one buffer.
    ///
    /// Fails with [`LengthLimitExceeded`] (inside the [`BoxError`]) when the body is larger
    /// than the server's limit, and with [`BodyReadTimedOut`] when the client stops sending it.
    pub async fn to_bytes(self) -> Result<Bytes, BoxError> {
        if let Kind::Full(bytes) = self.kind {
            return Ok(bytes.unwrap_or_default());
        }
        Ok(self.collect().await?.to_bytes())
    }
}

impl Default for Body {
    fn default() -> Self {
        Self::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Full(_) => "Full",
            Kind::Incoming { .. } => "Incoming",
            Kind::Boxed(_) => "Boxed",
        };
        f.debug_struct("Body").field("kind", &kind).finish()
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        Self {
            kind: Kind::Full((!bytes.is_empty()).then_some(bytes)),
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Bytes::from(bytes).into()
    }
}

impl From<String> for Body {
    fn from(text: String) -> Self {
        Bytes::from(text).into()
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Self {
        Bytes::from_static(text.as_bytes()).into()
    }
}

impl From<&'static [u8]> for Body {
    fn from(bytes: &'static [u8]) -> Self {
        Bytes::from_static(bytes).into()
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.get_mut().kind {
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Incoming {
                body,
                remaining,
                limit,
                stall,
            } => {
                let frame = match Pin::new(body).poll_frame(cx) {
                    Poll::Ready(Some(Ok(frame))) => frame,
                    Poll::Ready(Some(Err(err))) => return Poll::Ready(Some(Err(err.into()))),
                    Poll::Ready(None) => return Poll::Ready(None),
                    Poll::Pending if stall.expired(cx) => {
                        let err = BodyReadTimedOut {
                            timeout: stall.limit(),
                        };
                        return Poll::Ready(Some(Err(err.into())));
                    }
                    Poll::Pending => return Poll::Pending,
                };
                stall.progressed();
                if let Some(data) = frame.data_ref() {
                    if data.len() > *remaining {
                        *remaining = 0;
                        let err = LengthLimitExceeded { limit: *limit };
                        return Poll::Ready(Some(Err(err.into())));
                    }
                    *remaining -= data.len();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Kind::Boxed(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(bytes) => bytes.is_none(),
            Kind::Incoming { body, .. } => body.is_end_stream(),
            Kind::Boxed(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Incoming { body, .. } => body.size_hint(),
            Kind::Boxed(body) => body.size_hint(),
        }
    }
}
