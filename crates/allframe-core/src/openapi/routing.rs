//! Described routes: the kernel's `get`, `post`, ... with the handler's OpenAPI operation
//! attached, so `Router::openapi` can list what it reads and answers.
//!
//! ```
//! use allframe_core::openapi::routing::get;
//! use allframe_core::openapi::{Info, JsonSchema, schemars};
//! use allframe_core::{Json, Router};
//!
//! #[derive(serde::Serialize, JsonSchema)]
//! struct Health { ok: bool }
//!
//! async fn health() -> Json<Health> { Json(Health { ok: true }) }
//!
//! let router: Router = Router::new().route("/health", get(health));
//! let doc = router.openapi(Info::new("Demo", "1.0.0"));
//! assert!(doc.paths["/health"].get.is_some());
//! ```

use http::Method;

use super::{DescribeHandler, Operation, SchemaGenerator};
use crate::Handler;
use crate::routing::MethodRouter;

/// What a described handler leaves in its route's metadata.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Described {
    /// The handler type's [`DescribeHandler::describe`].
    pub(crate) describe: fn(&mut Operation, &mut SchemaGenerator),
    /// The handler's type name, for its `operationId`.
    pub(crate) type_name: &'static str,
}

/// The handlers of one route, each described, built with this module's [`get`], [`post`],
/// ... and chained: `get(list).post(create)`. [`Router::route`](crate::Router::route)
/// takes it as it takes the kernel's `MethodRouter`.
pub struct ApiMethodRouter<S = ()>(MethodRouter<S>);

impl<S> std::fmt::Debug for ApiMethodRouter<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ApiMethodRouter").field(&self.0).finish()
    }
}

impl<S> Default for ApiMethodRouter<S> {
    fn default() -> Self {
        Self(MethodRouter::default())
    }
}

impl<S> From<ApiMethodRouter<S>> for MethodRouter<S> {
    fn from(described: ApiMethodRouter<S>) -> Self {
        described.0
    }
}

impl<S> ApiMethodRouter<S> {
    /// See [`MethodRouter::body_limit`]; the document states the limit on the request body.
    pub fn body_limit(self, bytes: usize) -> Self {
        Self(self.0.body_limit(bytes))
    }
}

impl<S: Send + Sync + 'static> ApiMethodRouter<S> {
    /// Routes `method` to `handler`, described. Panics if the route already has a handler
    /// for it.
    pub fn on<H, T>(self, method: Method, handler: H) -> Self
    where
        H: Handler<T, S> + DescribeHandler<T>,
        T: 'static,
    {
        let mut methods = self.0.on(method.clone(), handler);
        methods
            .metadata_mut(&method)
            .expect("the handler was just routed")
            .insert(Described {
                describe: <H as DescribeHandler<T>>::describe,
                type_name: std::any::type_name::<H>(),
            });
        Self(methods)
    }
}

macro_rules! described_fns {
    ($($name:ident => $method:ident,)*) => {
        $(
            #[doc = concat!("Routes `", stringify!($method), "` requests to `handler`, described.")]
            pub fn $name<H, T, S>(handler: H) -> ApiMethodRouter<S>
            where
                H: Handler<T, S> + DescribeHandler<T>,
                T: 'static,
                S: Send + Sync + 'static,
            {
                ApiMethodRouter::default().on(Method::$method, handler)
            }
        )*

        impl<S: Send + Sync + 'static> ApiMethodRouter<S> {
            $(
                #[doc = concat!("Also routes `", stringify!($method), "` requests to `handler`, described.")]
                pub fn $name<H, T>(self, handler: H) -> Self
                where
                    H: Handler<T, S> + DescribeHandler<T>,
                    T: 'static,
                {
                    self.on(Method::$method, handler)
                }
            )*
        }
    };
}

described_fns! {
    get => GET,
    head => HEAD,
    post => POST,
    put => PUT,
    delete => DELETE,
    patch => PATCH,
    options => OPTIONS,
    trace => TRACE,
}
