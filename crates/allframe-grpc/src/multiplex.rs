//! One service for both protocols: gRPC calls go to tonic, everything else to REST.

use std::any::Any;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use allframe_core::body::{BoxError, LengthLimitExceeded};
use allframe_core::{Body, Request, Response};
use http::header::CONTENT_TYPE;
use http_body_util::BodyExt;
use pin_project_lite::pin_project;
use tonic::service::Routes;
use tower_service::Service;

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
/// through. A gRPC handler that panics is answered with the gRPC status `INTERNAL`.
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
            MultiplexedFuture::Grpc {
                future: self.grpc.call(req.map(|body| body.map_err(limit_status))),
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
        /// A gRPC call.
        Grpc { #[pin] future: GrpcFuture },
    }
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
            Projected::Grpc { future } => {
                match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
                    Ok(Poll::Ready(Ok(res))) => Poll::Ready(Ok(res.map(Body::new))),
                    Ok(Poll::Pending) => Poll::Pending,
                    Err(panic) => Poll::Ready(Ok(panic_status(&*panic))),
                }
            }
        }
    }
}

/// The server's body limit, as gRPC says it: `RESOURCE_EXHAUSTED` (tonic reads a
/// [`tonic::Status`] out of a body error; any other error would be `UNKNOWN`).
fn limit_status(err: BoxError) -> BoxError {
    if err.is::<LengthLimitExceeded>() {
        Box::new(tonic::Status::resource_exhausted(err.to_string()))
    } else {
        err
    }
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
