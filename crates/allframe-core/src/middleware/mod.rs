//! Middleware are tower layers: any `tower::Layer` whose service answers
//! `Request -> Response` with `Error = Infallible` wraps a [`RouterService`](crate::RouterService)
//! (use `tower::ServiceBuilder` to stack several). The three here show how one is written:
//! [`RequestIdLayer`], [`TraceLayer`] and [`TimeoutLayer`].

mod request_id;
mod timeout;
mod trace;

/// Wraps a service in a middleware: `RequestIdLayer::new().layer(app)`.
pub use tower_layer::Layer;

pub use self::request_id::{REQUEST_ID, RequestId, RequestIdLayer, RequestIdService};
pub use self::timeout::{TimeoutLayer, TimeoutService};
pub use self::trace::{TraceLayer, TraceService};
