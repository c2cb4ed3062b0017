//! What a backend call inherits from the request that caused it, whatever its protocol: the
//! request id (`x-request-id`, sent on as gRPC metadata) and the request's deadline (each
//! call's `grpc-timeout` is at most what is left of it).

use std::convert::Infallible;
use std::future::Future;
use std::task::{Context, Poll};
use std::time::Duration;

use allframe::middleware::{Layer, REQUEST_ID};
use allframe::{Request, Response};
use tokio::time::Instant;
use tower::Service;
use tracing::Instrument;

/// The request a backend call is made for.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub request_id: String,
    pub deadline: Instant,
}

tokio::task_local! {
    static INBOUND: Inbound;
}

impl Inbound {
    /// The request being served, or (outside one) a fresh one with `budget`.
    pub fn current(budget: Duration) -> Self {
        INBOUND.try_with(Clone::clone).unwrap_or_else(|_| Self {
            request_id: "-".to_owned(),
            deadline: Instant::now() + budget,
        })
    }
}

/// Makes each request's id and deadline (`budget` from its arrival) the [`Inbound`] of its
/// handler. Put it inside `RequestIdLayer`, which gives every request an id.
#[derive(Debug, Clone, Copy)]
pub struct InboundLayer {
    pub budget: Duration,
}

impl<S> Layer<S> for InboundLayer {
    type Service = InboundService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        InboundService {
            inner,
            budget: self.budget,
        }
    }
}

#[derive(Debug, Clone)]
pub struct InboundService<S> {
    inner: S,
    budget: Duration,
}

impl<S> Service<Request> for InboundService<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let inbound = Inbound {
            request_id: req
                .headers()
                .get(&REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_owned(),
            deadline: Instant::now() + self.budget,
        };
        let span = tracing::info_span!(
            "gateway.request",
            otel.kind = "server",
            otel.name = %format_args!("{} {}", req.method(), req.uri().path()),
            request_id = %inbound.request_id,
        );
        crate::telemetry::continue_trace(&span, req.headers());
        let handled = span.in_scope(|| self.inner.call(req));
        Box::pin(INBOUND.scope(inbound, handled).instrument(span))
    }
}
