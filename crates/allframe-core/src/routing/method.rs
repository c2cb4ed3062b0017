//! Per-method handlers of one route.

use http::{Extensions, HeaderValue, Method};

use crate::handler::{BoxedHandler, Handler, boxed};

/// The methods a route can answer individually, in the order `Allow` lists them.
const METHODS: [Method; 8] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::OPTIONS,
    Method::TRACE,
];

fn slot(method: &Method) -> Option<usize> {
    METHODS.iter().position(|m| m == method)
}

/// The handlers of one route, one per method, built with [`get`], [`post`], ... and
/// chained: `get(list).post(create)`.
///
/// A `HEAD` request is answered by the `GET` handler unless a `HEAD` handler is set; the
/// router sends the headers without the body. A method without a handler is answered
/// `405 Method Not Allowed` with an `Allow` header, unless [`any`] set a catch-all.
///
/// Each handler may carry metadata ([`MethodRouter::metadata_mut`]) that the kernel keeps
/// but never reads: tools that describe routes (the `openapi` feature's document) attach
/// what they need there and read it back with [`MethodRouter::methods`].
pub struct MethodRouter<S = ()> {
    handlers: [Option<Routed<S>>; METHODS.len()],
    any: Option<BoxedHandler<S>>,
    /// [`MethodRouter::body_limit`] of the `any` handler.
    any_body_limit: Option<usize>,
}

/// A handler routed to one method, and what tools attached to it.
struct Routed<S> {
    handler: BoxedHandler<S>,
    metadata: Extensions,
    /// Its own body limit, instead of the server's.
    body_limit: Option<usize>,
}

impl<S> Clone for Routed<S> {
    fn clone(&self) -> Self {
        Self {
            handler: self.handler.clone(),
            metadata: self.metadata.clone(),
            body_limit: self.body_limit,
        }
    }
}

impl<S> std::fmt::Debug for MethodRouter<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MethodRouter")
            .field("allow", &self.allow())
            .field("any", &self.any.is_some())
            .finish()
    }
}

impl<S> Clone for MethodRouter<S> {
    fn clone(&self) -> Self {
        Self {
            handlers: self.handlers.clone(),
            any: self.any.clone(),
            any_body_limit: self.any_body_limit,
        }
    }
}

impl<S> Default for MethodRouter<S> {
    fn default() -> Self {
        Self {
            handlers: Default::default(),
            any: None,
            any_body_limit: None,
        }
    }
}

impl<S: Send + Sync + 'static> MethodRouter<S> {
    /// Routes `method` to `handler`. Panics if the route already has a handler for it.
    pub fn on<H, T>(mut self, method: Method, handler: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        let i = slot(&method).unwrap_or_else(|| {
            panic!("method {method} cannot be routed on its own; use `any` for it")
        });
        assert!(
            self.handlers[i].is_none(),
            "this route already has a {method} handler"
        );
        self.handlers[i] = Some(Routed {
            handler: boxed(handler),
            metadata: Extensions::new(),
            body_limit: None,
        });
        self
    }
}

impl<S> MethodRouter<S> {
    /// Request bodies of the handlers routed so far (`post(upload).body_limit(..)`: the
    /// upload, not a `get` chained after it) may be up to `bytes` long, instead of the
    /// server's [`body_limit`](crate::ServerConfig::body_limit): an upload takes megabytes
    /// while every other handler keeps the server's small limit. Larger bodies are refused
    /// with 413, as the server's limit is.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        for routed in self.handlers.iter_mut().flatten() {
            routed.body_limit = Some(bytes);
        }
        if self.any.is_some() {
            self.any_body_limit = Some(bytes);
        }
        self
    }

    /// The [`MethodRouter::body_limit`] of `method`'s own handler, if it has one.
    #[cfg(feature = "openapi")]
    pub(crate) fn body_limit_of(&self, method: &Method) -> Option<usize> {
        self.handlers[slot(method)?].as_ref()?.body_limit
    }

    /// The handler for `method`, if any, and its body limit, if it has its own.
    pub(crate) fn handler(&self, method: &Method) -> Option<(&BoxedHandler<S>, Option<usize>)> {
        let found = match slot(method) {
            Some(1) => self.handlers[1].as_ref().or(self.handlers[0].as_ref()),
            Some(i) => self.handlers[i].as_ref(),
            None => None,
        };
        match found {
            Some(routed) => Some((&routed.handler, routed.body_limit)),
            None => self.any.as_ref().map(|any| (any, self.any_body_limit)),
        }
    }

    /// The value of the `Allow` header of a 405 answer.
    pub(crate) fn allow(&self) -> HeaderValue {
        let has_get = self.handlers[0].is_some();
        let allowed: Vec<&str> = METHODS
            .iter()
            .zip(&self.handlers)
            .filter(|(m, h)| h.is_some() || (**m == Method::HEAD && has_get))
            .map(|(m, _)| m.as_str())
            .collect();
        HeaderValue::from_str(&allowed.join(", ")).expect("method names are valid header text")
    }

    /// The methods routed to a handler of their own, in `Allow`'s order, each with its
    /// handler's metadata (the implicit `HEAD` of a `GET` and an [`any`] catch-all are not
    /// among them).
    pub fn methods(&self) -> impl Iterator<Item = (&Method, &Extensions)> {
        METHODS
            .iter()
            .zip(&self.handlers)
            .filter_map(|(m, h)| Some((m, &h.as_ref()?.metadata)))
    }

    /// The metadata of `method`'s handler, to attach a value to it; `None` when no handler
    /// is routed to `method` on its own.
    pub fn metadata_mut(&mut self, method: &Method) -> Option<&mut Extensions> {
        let routed = self.handlers[slot(method)?].as_mut()?;
        Some(&mut routed.metadata)
    }

    /// Adds `other`'s handlers to these. Panics on a method both routers handle.
    pub(crate) fn merge(&mut self, other: MethodRouter<S>, path: &str) {
        for (i, handler) in other.handlers.into_iter().enumerate() {
            if let Some(handler) = handler {
                assert!(
                    self.handlers[i].is_none(),
                    "route `{path}` has two {} handlers",
                    METHODS[i]
                );
                self.handlers[i] = Some(handler);
            }
        }
        if let Some(any) = other.any {
            assert!(self.any.is_none(), "route `{path}` has two `any` handlers");
            self.any = Some(any);
            self.any_body_limit = other.any_body_limit;
        }
    }
}

/// Routes every method to `handler`.
pub fn any<H, T, S>(handler: H) -> MethodRouter<S>
where
    H: Handler<T, S>,
    T: 'static,
    S: Send + Sync + 'static,
{
    MethodRouter {
        any: Some(boxed(handler)),
        ..MethodRouter::default()
    }
}

macro_rules! method_fns {
    ($($name:ident => $method:ident,)*) => {
        $(
            #[doc = concat!("Routes `", stringify!($method), "` requests to `handler`.")]
            pub fn $name<H, T, S>(handler: H) -> MethodRouter<S>
            where
                H: Handler<T, S>,
                T: 'static,
                S: Send + Sync + 'static,
            {
                MethodRouter::default().on(Method::$method, handler)
            }
        )*

        impl<S: Send + Sync + 'static> MethodRouter<S> {
            $(
                #[doc = concat!("Also routes `", stringify!($method), "` requests to `handler`.")]
                pub fn $name<H, T>(self, handler: H) -> Self
                where
                    H: Handler<T, S>,
                    T: 'static,
                {
                    self.on(Method::$method, handler)
                }
            )*
        }
    };
}

method_fns! {
    get => GET,
    head => HEAD,
    post => POST,
    put => PUT,
    delete => DELETE,
    patch => PATCH,
    options => OPTIONS,
    trace => TRACE,
}
