//! The router: a route table built once, matched without allocating.

mod method;
pub(crate) mod path;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{ALLOW, CONTENT_LENGTH};
use http::{HeaderValue, Method, StatusCode};
use http_body::Body as _;

pub use self::method::{MethodRouter, any, delete, get, head, options, patch, post, put, trace};
use crate::Request;
use crate::extract::RawPathParams;
use crate::handler::{BoxFuture, BoxedHandler, Handler, boxed};
use crate::response::{IntoResponse, Problem, Response};

/// Collects routes; [`Router::with_state`] (or [`Router::into_service`] when there is no
/// state) freezes them into a [`RouterService`] that serves requests.
///
/// Patterns are static (`/health`), with parameters (`/users/:id` or `/users/{id}`) or end
/// in a wildcard (`/files/*path` or `/files/{*path}`). A bad pattern, two handlers for one
/// method of one route, or two routes that cannot be told apart is a programming error and
/// panics when the router is built, naming the route.
pub struct Router<S = ()> {
    routes: Vec<Route<S>>,
    fallback: Option<BoxedHandler<S>>,
    /// Run on the whole route table when it is frozen, each with the prefix its router was
    /// nested under.
    freeze_hooks: Vec<(String, FreezeHook<S>)>,
}

/// What [`Router::on_freeze`] runs: the complete router, and the prefix the router that
/// registered the hook was nested under (`""` at the top).
pub type FreezeHook<S> = Box<dyn FnOnce(Router<S>, &str) -> Router<S> + Send + Sync>;

struct Route<S> {
    path: String,
    methods: MethodRouter<S>,
}

impl<S> std::fmt::Debug for Router<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let paths: Vec<&str> = self.routes.iter().map(|r| r.path.as_str()).collect();
        f.debug_struct("Router").field("routes", &paths).finish()
    }
}

impl<S> Default for Router<S> {
    fn default() -> Self {
        Self {
            routes: Vec::new(),
            fallback: None,
            freeze_hooks: Vec::new(),
        }
    }
}

impl<S> Router<S> {
    /// The routes added so far, by pattern as written, with their handlers per method.
    pub fn routes(&self) -> impl Iterator<Item = (&str, &MethodRouter<S>)> {
        self.routes.iter().map(|r| (r.path.as_str(), &r.methods))
    }
}

impl<S: Clone + Send + Sync + 'static> Router<S> {
    /// An empty router.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the handlers of `methods` at `path`; calling it twice for one path combines the
    /// methods.
    #[track_caller]
    pub fn route(mut self, path: &str, methods: impl Into<MethodRouter<S>>) -> Self {
        let methods = methods.into();
        let pattern = match path::parse(path) {
            Ok(pattern) => pattern.matchit,
            Err(reason) => panic!("invalid route `{path}`: {reason}"),
        };
        // `/users/:id` and `/users/{id}` are one route: compare them as matchit sees them.
        let same = |route: &Route<S>| path::parse(&route.path).is_ok_and(|p| p.matchit == pattern);
        match self.routes.iter_mut().find(|r| same(r)) {
            Some(existing) => existing.methods.merge(methods, path),
            None => self.routes.push(Route {
                path: path.to_owned(),
                methods,
            }),
        }
        self
    }

    /// Serves `router`'s routes under `prefix`: `nest("/api", users)` serves users' `/list`
    /// at `/api/list`. The nested router must not have a fallback of its own.
    #[track_caller]
    pub fn nest(mut self, prefix: &str, router: Router<S>) -> Self {
        assert!(
            router.fallback.is_none(),
            "nest(`{prefix}`): a nested router cannot have its own fallback; set it on the outer router"
        );
        for (inner, hook) in router.freeze_hooks {
            self.freeze_hooks.push((path::join(prefix, &inner), hook));
        }
        for route in router.routes {
            self = self.route(&path::join(prefix, &route.path), route.methods);
        }
        self
    }

    /// Adds all of `other`'s routes (and its fallback, if this router has none).
    #[track_caller]
    pub fn merge(mut self, other: Router<S>) -> Self {
        if let Some(fallback) = other.fallback {
            assert!(
                self.fallback.is_none(),
                "merge: both routers have a fallback"
            );
            self.fallback = Some(fallback);
        }
        self.freeze_hooks.extend(other.freeze_hooks);
        for route in other.routes {
            self = self.route(&route.path, route.methods);
        }
        self
    }

    /// Answers requests that match no route (instead of the default 404 problem).
    pub fn fallback<H, T>(mut self, handler: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        self.fallback = Some(boxed(handler));
        self
    }

    /// Runs `hook` on the complete route table when this router is frozen, with the prefix
    /// this router ends up nested under (`""` if it is not nested): tools that need every
    /// route, including those added later or merged in, hook in here (the `openapi`
    /// feature's `with_openapi` mounts its document this way). Hooks run in the order they
    /// were added; a hook that adds a hook does not see it run.
    pub fn on_freeze<F>(mut self, hook: F) -> Self
    where
        F: FnOnce(Router<S>, &str) -> Router<S> + Send + Sync + 'static,
    {
        self.freeze_hooks.push((String::new(), Box::new(hook)));
        self
    }

    /// Freezes the route table and gives every handler access to `state`.
    #[track_caller]
    pub fn with_state(self, state: S) -> RouterService<S> {
        let mut router = self;
        for (prefix, hook) in std::mem::take(&mut router.freeze_hooks) {
            router = hook(router, &prefix);
        }
        let mut matcher = matchit::Router::new();
        let mut endpoints = Vec::with_capacity(router.routes.len());
        for (index, route) in router.routes.into_iter().enumerate() {
            let pattern = path::parse(&route.path).expect("checked in `route`");
            if let Err(err) = matcher.insert(pattern.matchit, index) {
                panic!("route `{}` cannot be added: {err}", route.path);
            }
            endpoints.push(Endpoint {
                allow: route.methods.allow(),
                methods: route.methods,
                param_names: pattern.names.into(),
            });
        }
        RouterService {
            inner: Arc::new(Frozen {
                matcher,
                endpoints,
                fallback: router.fallback,
                state,
            }),
        }
    }
}

impl Router<()> {
    /// Freezes a router that needs no state.
    #[track_caller]
    pub fn into_service(self) -> RouterService<()> {
        self.with_state(())
    }
}

struct Endpoint<S> {
    methods: MethodRouter<S>,
    allow: HeaderValue,
    param_names: Arc<[Box<str>]>,
}

struct Frozen<S> {
    matcher: matchit::Router<usize>,
    endpoints: Vec<Endpoint<S>>,
    fallback: Option<BoxedHandler<S>>,
    state: S,
}

/// A frozen router with its state: a `tower::Service` that never fails (every error is a
/// response), cheap to clone.
pub struct RouterService<S = ()> {
    inner: Arc<Frozen<S>>,
}

impl<S> Clone for RouterService<S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S> std::fmt::Debug for RouterService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterService")
            .field("routes", &self.inner.endpoints.len())
            .finish()
    }
}

impl<S: Clone + Send + Sync + 'static> RouterService<S> {
    /// Routes one request and runs its handler.
    pub fn handle(&self, req: Request) -> RouteFuture {
        let head = req.method() == Method::HEAD;
        let mut future = self.route(req);
        future.head = head;
        future
    }

    fn route(&self, mut req: Request) -> RouteFuture {
        let inner = &*self.inner;
        let path = req.uri().path();
        let Ok(matched) = inner.matcher.at(path) else {
            return match &inner.fallback {
                Some(fallback) => RouteFuture::handler(fallback.call(req, inner.state.clone())),
                None => RouteFuture::ready(
                    Problem::new(StatusCode::NOT_FOUND)
                        .with_detail(format!("no route matches `{path}`"))
                        .into_response(),
                ),
            };
        };
        let endpoint = &inner.endpoints[*matched.value];
        let params = (!matched.params.is_empty()).then(|| {
            let values = matched.params.iter().map(|(_, value)| value);
            RawPathParams::new(Arc::clone(&endpoint.param_names), path, values)
        });
        let Some((handler, body_limit)) = endpoint.methods.handler(req.method()) else {
            let detail = format!("`{path}` does not answer {}", req.method());
            let mut res = Problem::new(StatusCode::METHOD_NOT_ALLOWED)
                .with_detail(detail)
                .into_response();
            res.headers_mut().insert(ALLOW, endpoint.allow.clone());
            return RouteFuture::ready(res);
        };
        if let Some(params) = params {
            req.extensions_mut().insert(params);
        }
        if let Some(limit) = body_limit {
            req.body_mut().set_limit(limit);
        }
        RouteFuture::handler(handler.call(req, inner.state.clone()))
    }
}

impl<S: Clone + Send + Sync + 'static> tower_service::Service<Request> for RouterService<S> {
    type Response = Response;
    type Error = Infallible;
    type Future = RouteFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> RouteFuture {
        self.handle(req)
    }
}

/// The response future of [`RouterService`].
pub struct RouteFuture {
    kind: RouteFutureKind,
    /// A `HEAD` request: the response keeps its headers and loses its body (HTTP/2 would
    /// otherwise send the body a `GET` handler produced).
    head: bool,
}

enum RouteFutureKind {
    Handler(BoxFuture<Response>),
    Ready(Option<Response>),
}

impl RouteFuture {
    fn handler(fut: BoxFuture<Response>) -> Self {
        Self {
            kind: RouteFutureKind::Handler(fut),
            head: false,
        }
    }

    fn ready(res: Response) -> Self {
        Self {
            kind: RouteFutureKind::Ready(Some(res)),
            head: false,
        }
    }
}

impl std::fmt::Debug for RouteFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteFuture").finish_non_exhaustive()
    }
}

impl Future for RouteFuture {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut res = match &mut this.kind {
            RouteFutureKind::Handler(fut) => std::task::ready!(fut.as_mut().poll(cx)),
            RouteFutureKind::Ready(res) => res.take().expect("RouteFuture polled after completion"),
        };
        if this.head {
            if let Some(len) = res.body().size_hint().exact().filter(|len| *len > 0) {
                res.headers_mut()
                    .entry(CONTENT_LENGTH)
                    .or_insert_with(|| len.into());
            }
            *res.body_mut() = crate::Body::empty();
        }
        Poll::Ready(Ok(res))
    }
}
