//! One service for both protocols: gRPC calls go to tonic, everything else to REST.

use std::any::Any;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use allframe_core::{Body, Request, Response};
use http::header::CONTENT_TYPE;
use pin_project_lite::pin_project;
use tonic::service::Routes;
use tower_service::Service;

use crate::message_limit::MessageLimit;

/// Whether `req` is a gRPC call: its `content-type` starts with `application/grpc`
/// (`application/grpc`, `application/grpc+proto`, ...).
pub fn is_grpc<B>(req: &http::Request<B>) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"))
}

/// A REST service and gRPC [`Routes`] behind one service, for one listener.
///
/// Requests for which [`is_grpc`] holds go to the gRPC routes, the others to `rest`.
/// Bodies stream both ways and a gRPC response's trailers (where its status lives) pass
/// through. A gRPC handler that panics is answered with the gRPC status `INTERNAL`; a call
/// whose `grpc-timeout` passes before its handler answers is dropped and answered
/// `DEADLINE_EXCEEDED`, as tonic's own server does.
#[derive(Debug, Clone)]
pub struct Multiplexed<R> {
    rest: R,
    grpc: Routes,
}

impl<R> Multiplexed<R> {
    /// Joins `rest` and `grpc` (a [`Grpc`](crate::Grpc) or tonic [`Routes`]).
    pub fn new(rest: R, grpc: impl Into<Routes>) -> Self {
        Self {
            rest,
            grpc: grpc.into(),
        }
    }
}

impl<R> Service<Request> for Multiplexed<R>
where
    R: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = MultiplexedFuture<R::Future>;

    /// Readiness is the REST service's: tonic's routes (an axum router) are always ready.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.rest.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if is_grpc(&req) {
            let deadline = grpc_timeout(req.headers()).map(|timeout| DeadlineFor {
                timeout,
                sleep: Box::pin(tokio::time::sleep(timeout)),
            });
            MultiplexedFuture::Grpc {
                future: self.grpc.call(req.map(MessageLimit::new)),
                deadline,
            }
        } else {
            MultiplexedFuture::Rest {
                future: self.rest.call(req),
            }
        }
    }
}

type GrpcFuture = <Routes as Service<Request>>::Future;

pin_project! {
    /// The response future of [`Multiplexed`].
    #[project = Projected]
    pub enum MultiplexedFuture<F> {
        /// A REST request.
        Rest { #[pin] future: F },
        /// A gRPC call, and its deadline if the client set one.
        Grpc { #[pin] future: GrpcFuture, deadline: Option<DeadlineFor> },
    }
}

/// A call's `grpc-timeout` and the timer it started.
#[doc(hidden)]
#[derive(Debug)]
pub struct DeadlineFor {
    timeout: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl<F> fmt::Debug for MultiplexedFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let protocol = match self {
            Self::Rest { .. } => "Rest",
            Self::Grpc { .. } => "Grpc",
        };
        f.debug_tuple("MultiplexedFuture").field(&protocol).finish()
    }
}

impl<F> Future for MultiplexedFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Projected::Rest { future } => future.poll(cx),
            // The server would catch the panic too, but answer it with an HTTP 500 that a
            // gRPC client can only read as UNKNOWN; INTERNAL is what gRPC expects.
            Projected::Grpc { future, deadline } => {
                match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
                    Ok(Poll::Ready(Ok(res))) => Poll::Ready(Ok(res.map(Body::new))),
                    Ok(Poll::Pending) => match deadline {
                        Some(deadline) => match deadline.sleep.as_mut().poll(cx) {
                            Poll::Ready(()) => Poll::Ready(Ok(deadline_status(deadline.timeout))),
                            Poll::Pending => Poll::Pending,
                        },
                        None => Poll::Pending,
                    },
                    Err(panic) => Poll::Ready(Ok(panic_status(&*panic))),
                }
            }
        }
    }
}

/// The `grpc-timeout` header: at most 8 digits and a unit (`H`, `M`, `S`, `m`, `u`, `n`).
/// One that does not parse is ignored, as tonic's server does: the call runs unbounded
/// rather than being refused for its client's mistake.
fn grpc_timeout(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

fn deadline_status(timeout: Duration) -> Response {
    tonic::Status::deadline_exceeded(format!(
        "the call's deadline ({timeout:?} after it arrived) passed before it was answered"
    ))
    .into_http()
}

fn panic_status(panic: &(dyn Any + Send)) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    tracing::error!(panic = message, "a gRPC handler panicked");
    tonic::Status::internal("the gRPC handler panicked; the server logged the error").into_http()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::grpc_timeout;

    #[test]
    fn grpc_timeouts_parse_as_the_protocol_writes_them() {
        let parse = |value: &str| {
            let mut headers = http::HeaderMap::new();
            headers.insert("grpc-timeout", value.parse().unwrap());
            grpc_timeout(&headers)
        };
        assert_eq!(parse("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse("30000000u"), Some(Duration::from_secs(30)));
        assert_eq!(parse("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse("5n"), Some(Duration::from_nanos(5)));
        for bad in ["", "m", "100", "123456789m", "-1S", "1x", "1.5S"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        assert_eq!(grpc_timeout(&http::HeaderMap::new()), None);
    }
}
