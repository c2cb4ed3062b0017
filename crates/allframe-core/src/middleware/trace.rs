//! A `tracing` span per request, and one event when its response is ready.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;
use tracing::Span;

use super::REQUEST_ID;
use crate::Request;
use crate::response::Response;

/// Opens an `http.request` span (method, path, request id) around each request and logs
/// the status and latency at `INFO` when the response is ready.
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceLayer;

impl TraceLayer {
    /// The layer.
    pub fn new() -> Self {
        Self
    }
}

impl<S> Layer<S> for TraceLayer {
    type Service = TraceService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TraceService { inner }
    }
}

/// The service of [`TraceLayer`].
#[derive(Debug, Clone)]
pub struct TraceService<S> {
    inner: S,
}

impl<S> Service<Request> for TraceService<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = TraceFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let request_id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok());
        let span = tracing::info_span!(
            "http.request",
            method = %req.method(),
            path = req.uri().path(),
            request_id,
        );
        let inner = span.in_scope(|| self.inner.call(req));
        TraceFuture {
            inner,
            span,
            start: Instant::now(),
        }
    }
}

pin_project! {
    /// The response future of [`TraceService`].
    #[derive(Debug)]
    pub struct TraceFuture<F> {
        #[pin]
        inner: F,
        span: Span,
        start: Instant,
    }
}

impl<F> Future for TraceFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let Ok(res) = std::task::ready!(this.inner.poll(cx));
        let latency_us = this.start.elapsed().as_micros() as u64;
        tracing::info!(status = res.status().as_u16(), latency_us, "response");
        Poll::Ready(Ok(res))
    }
}
