//! Each request's way through a connection: the body limited, the tower service called,
//! a panic caught and answered 500 (or, in a streamed answer, ending that answer as failed),
//! the `Server` header added.

use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use http::StatusCode;
use http::header::{SERVER, UPGRADE};
use hyper::body::Incoming;
use pin_project_lite::pin_project;
use tower_service::Service;

use super::Shared;
use crate::Request;
use crate::body::Body;
use crate::response::{IntoResponse, Problem, Response};

/// Adapts a tower service to hyper: limits the body, catches panics, adds `Server`.
pub(super) struct ConnectionService<S> {
    pub(super) service: S,
    pub(super) shared: Arc<Shared>,
}

impl<S> hyper::service::Service<http::Request<Incoming>> for ConnectionService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ResponseFuture<S>;

    fn call(&self, req: http::Request<Incoming>) -> ResponseFuture<S> {
        self.shared.started.fetch_add(1, Ordering::Relaxed);
        let shared = &self.shared;
        let mut req =
            req.map(|body| Body::incoming(body, shared.body_limit, shared.body_read_timeout));
        if req.headers().contains_key(UPGRADE) {
            req.extensions_mut().insert(self.shared.shutdown.clone());
        }
        ResponseFuture {
            state: CallState::Ready {
                service: self.service.clone(),
                req: Some(req),
            },
            unanswered: Some(Unanswered(Arc::clone(&self.shared))),
        }
    }
}

pin_project! {
    /// Waits for the service to be ready, calls it, and turns a panic anywhere in between
    /// into a 500 response so the connection (and the server) keep serving.
    pub(super) struct ResponseFuture<S: Service<Request>> {
        #[pin]
        state: CallState<S, S::Future>,
        // Taken when the answer is ready; dropped with the future if it never is (a
        // cancelled HTTP/2 stream).
        unanswered: Option<Unanswered>,
    }
}

/// A request not yet answered: counted as answered when dropped, with its response future
/// or with the streamed body of its answer.
struct Unanswered(Arc<Shared>);

impl Drop for Unanswered {
    fn drop(&mut self) {
        self.0.answered.fetch_add(1, Ordering::Relaxed);
    }
}

pin_project! {
    #[project = CallStateProj]
    enum CallState<S, F> {
        Ready { service: S, req: Option<Request> },
        Calling { #[pin] future: F },
    }
}

impl<S> Future for ResponseFuture<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let outcome = loop {
            match this.state.as_mut().project() {
                CallStateProj::Ready { service, req } => {
                    let called = catch_unwind(AssertUnwindSafe(|| match service.poll_ready(cx) {
                        Poll::Pending => None,
                        Poll::Ready(Ok(())) => {
                            Some(service.call(req.take().expect("request is called once")))
                        }
                    }));
                    match called {
                        Ok(Some(future)) => this.state.set(CallState::Calling { future }),
                        Ok(None) => return Poll::Pending,
                        Err(panic) => break panic_response(&*panic),
                    }
                }
                CallStateProj::Calling { future } => {
                    match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
                        Ok(Poll::Ready(Ok(res))) => break res,
                        Ok(Poll::Pending) => return Poll::Pending,
                        Err(panic) => break panic_response(&*panic),
                    }
                }
            }
        };
        let mut res = outcome;
        let unanswered = this.unanswered.take().expect("polled after its answer");
        let shared = &unanswered.0;
        if res.status() == StatusCode::SWITCHING_PROTOCOLS {
            shared.upgraded.store(true, Ordering::Relaxed);
        }
        if let Some(server) = &shared.server_header {
            res.headers_mut()
                .entry(SERVER)
                .or_insert_with(|| server.clone());
        }
        if res.body().is_full() {
            // hyper writes a whole body with its head: the request is answered now.
            drop(unanswered);
        } else {
            // A stream (or a request body echoed back) is answered when hyper is done
            // with it: until then the socket neither holds its chunks back nor times a wait
            // for the next request head.
            let body = std::mem::take(res.body_mut());
            *res.body_mut() = Body::new(Answering {
                body,
                _unanswered: unanswered,
            });
        }
        Poll::Ready(Ok(res))
    }
}

pin_project! {
    /// A streamed response body that counts its request as answered when dropped (hyper
    /// drops it once it has written its end, or when the connection ends), and turns a
    /// panic of its source into an error: hyper then resets that HTTP/2 stream as failed
    /// (`INTERNAL_ERROR`) and closes an HTTP/1.1 connection before the body's end, where an
    /// unwinding panic would take the whole connection task, every stream of it, down.
    struct Answering {
        #[pin]
        body: Body,
        _unanswered: Unanswered,
    }
}

impl http_body::Body for Answering {
    type Data = bytes::Bytes;
    type Error = crate::body::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        let body = self.project().body;
        match catch_unwind(AssertUnwindSafe(|| body.poll_frame(cx))) {
            Ok(frame) => frame,
            Err(panic) => {
                let message = panic_message(&*panic);
                tracing::error!(panic = message, "a streamed response body panicked");
                let failed = std::io::Error::other("the response body panicked");
                Poll::Ready(Some(Err(failed.into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

fn panic_response(panic: &(dyn Any + Send)) -> Response {
    let message = panic_message(panic);
    tracing::error!(panic = message, "a request handler panicked");
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR)
        .with_detail("the request handler panicked; the server logged the error")
        .into_response()
}
