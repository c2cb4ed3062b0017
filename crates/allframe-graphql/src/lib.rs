#![doc = include_str!("../README.md")]

mod caller;
mod limits;
mod operations;
mod request;
mod ws;

use std::sync::Arc;
use std::time::Duration;

use allframe_core::routing::{MethodRouter, get};
use allframe_core::{FromRef, FromRequest, IntoResponse, Request, Response, State};
use async_graphql::Executor;
use http::header::AUTHORIZATION;

use crate::caller::Authenticator;

pub use async_graphql;

pub use crate::caller::Transport;
pub use crate::limits::{DEFAULT_MAX_COMPLEXITY, DEFAULT_MAX_DEPTH, limits, schema};
pub use crate::operations::DEFAULT_MAX_OPERATIONS;
pub use crate::request::{GraphQLRejection, GraphQLRequest, GraphQLResponse};

/// A GraphQL endpoint: queries and mutations over `POST` and `GET`, the GraphiQL page, and
/// subscriptions over WebSocket, all on one route.
///
/// Mount it with [`GraphQL::into_route`] (resolvers see the router's state as
/// `ctx.data::<S>()`) or [`GraphQL::into_route_with`] (resolvers see a part of it).
#[derive(Debug, Clone)]
pub struct GraphQL<E> {
    executor: E,
    graphiql: bool,
    /// Origins besides the endpoint's own whose pages may open its WebSocket.
    allowed_origins: Arc<[String]>,
    caller: Option<Authenticator>,
    keepalive: Option<Duration>,
    init_timeout: Duration,
    max_operations: usize,
}

/// How often a WebSocket is pinged by default; one that answers nothing for two of these
/// is closed.
pub const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(30);

/// How long a WebSocket may wait before its `connection_init` by default.
pub const DEFAULT_CONNECTION_INIT_TIMEOUT: Duration = Duration::from_secs(10);

impl<E: Executor> GraphQL<E> {
    /// Serves `executor` (usually an [`async_graphql::Schema`]; build it with [`schema`] so
    /// the depth and complexity limits are on).
    pub fn new(executor: E) -> Self {
        Self {
            executor,
            graphiql: cfg!(feature = "graphiql"),
            allowed_origins: Arc::new([]),
            caller: None,
            keepalive: Some(DEFAULT_KEEPALIVE),
            init_timeout: DEFAULT_CONNECTION_INIT_TIMEOUT,
            max_operations: DEFAULT_MAX_OPERATIONS,
        }
    }

    /// Who calls. `authenticate` gets the credential as the client sent it (`Bearer
    /// <token>`): the `Authorization` header of an HTTP request or of a WebSocket handshake,
    /// or the `authorization` field of a WebSocket's `connection_init` payload, which is
    /// what browsers can send. What it returns, resolvers read as `ctx.data::<C>()`: per
    /// request over HTTP, for the socket's whole life over WebSocket. A credential it
    /// refuses is answered `401` over HTTP and closes the socket with `4403` and the reason;
    /// no credential leaves `C` out of the data, so each resolver decides whether it needs
    /// one (a subscription that does answers a GraphQL error and the socket stays open).
    pub fn authenticate<C, F>(mut self, authenticate: F) -> Self
    where
        F: Fn(&str, Transport) -> Result<C, String> + Send + Sync + 'static,
        C: Clone + Send + Sync + 'static,
    {
        self.caller = Some(Authenticator::new(authenticate));
        self
    }

    /// How often the server pings each WebSocket ([`DEFAULT_KEEPALIVE`]); a socket that
    /// sends nothing, not even the pong every client owes a ping, for two of these is
    /// closed, so a vanished peer does not stay subscribed (or online) forever. `None`
    /// sends no pings.
    pub fn keepalive(mut self, every: Option<Duration>) -> Self {
        self.keepalive = every;
        self
    }

    /// How long a WebSocket may stay open before its `connection_init`
    /// ([`DEFAULT_CONNECTION_INIT_TIMEOUT`]); one that sends none in time is closed with
    /// `4408`, as graphql-transport-ws says, so sockets that never start cost nothing.
    pub fn connection_init_timeout(mut self, timeout: Duration) -> Self {
        self.init_timeout = timeout;
        self
    }

    /// How many operations (subscriptions, and queries or mutations sent over the socket)
    /// one WebSocket may run at once ([`DEFAULT_MAX_OPERATIONS`]). One more is answered
    /// with an `error` message whose GraphQL error has `extensions.code`
    /// `TOO_MANY_OPERATIONS`; the socket and its other operations go on.
    pub fn max_operations(mut self, max: usize) -> Self {
        self.max_operations = max;
        self
    }

    /// Origins (`https://app.example.com`) whose pages may open the subscription WebSocket
    /// besides the endpoint's own. A browser sends its page's `Origin` with the user's
    /// cookies, so by default only same-origin pages (and clients that send no `Origin`,
    /// which are not browsers) are let in: another site's page is refused with 403.
    pub fn allow_origins<O: Into<String>>(mut self, origins: impl IntoIterator<Item = O>) -> Self {
        self.allowed_origins = origins.into_iter().map(Into::into).collect();
        self
    }

    /// Whether a browser's `GET` without a query is answered with the GraphiQL page (on by
    /// default when the `graphiql` feature is).
    pub fn graphiql(mut self, enabled: bool) -> Self {
        self.graphiql = enabled && cfg!(feature = "graphiql");
        self
    }

    /// The route: `GET` and `POST`, with the router's state `S` in every request's data,
    /// so a resolver reads it with `ctx.data::<S>()` (or `ctx.data_unchecked::<S>()`).
    pub fn into_route<S>(self) -> MethodRouter<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        self.into_route_with::<S, S>()
    }

    /// The route, with the part `T` of the router's state (see [`FromRef`]) in every
    /// request's data: `into_route_with::<Db, _>()` lets resolvers call `ctx.data::<Db>()`.
    pub fn into_route_with<T, S>(self) -> MethodRouter<S>
    where
        T: FromRef<S> + Clone + Send + Sync + 'static,
        S: Clone + Send + Sync + 'static,
    {
        let for_post = self.clone();
        get(move |State(data): State<T>, req: Request| self.get(req, data)).post(
            move |State(data): State<T>, req: Request| async move {
                for_post.execute(req, data).await
            },
        )
    }

    /// Runs an HTTP request with `data` and its caller in the context.
    async fn execute<T>(&self, req: Request, data: T) -> Response
    where
        T: Clone + Send + Sync + 'static,
    {
        let credential = req.headers().get(AUTHORIZATION).cloned();
        let request = match GraphQLRequest::from_request(req, &()).await {
            Ok(request) => request.data(data),
            Err(rejection) => return rejection.into_response(),
        };
        let request = match (&self.caller, credential) {
            (Some(caller), Some(credential)) => {
                let authenticated = credential
                    .to_str()
                    .map_err(|_| "the `Authorization` header is not text".to_owned())
                    .and_then(|credential| caller.request(credential, request));
                match authenticated {
                    Ok(request) => request,
                    Err(why) => return GraphQLRejection::unauthorized(&why).into_response(),
                }
            }
            _ => request,
        };
        request.execute(&self.executor).await.into_response()
    }

    async fn get<T>(self, req: Request, data: T) -> Response
    where
        T: Clone + Send + Sync + 'static,
    {
        if ws::is_upgrade(req.headers()) {
            if let Err(refused) = ws::check_origin(req.headers(), &self.allowed_origins) {
                return refused.into_response();
            }
            let socket = ws::Options {
                caller: self.caller,
                keepalive: self.keepalive,
                init_timeout: self.init_timeout,
                max_operations: self.max_operations,
            };
            return ws::upgrade(self.executor, req, data, socket);
        }
        if self.graphiql && wants_graphiql(&req) {
            return graphiql_page(req.uri().path());
        }
        self.execute(req, data).await
    }
}

/// A browser opening the endpoint: it accepts HTML and asks no query.
fn wants_graphiql(req: &Request) -> bool {
    let accepts_html = req
        .headers()
        .get_all(::http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"));
    let has_query = req
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|pair| pair.starts_with("query=")));
    accepts_html && !has_query
}

#[cfg(feature = "graphiql")]
fn graphiql_page(path: &str) -> Response {
    // Rendered per request from the path the route is mounted at: the page is a
    // development tool, and the path is only known once a request arrives.
    let page = async_graphql::http::GraphiQLSource::build()
        .endpoint(path)
        .subscription_endpoint(path)
        .finish();
    allframe_core::Html(page).into_response()
}

#[cfg(not(feature = "graphiql"))]
fn graphiql_page(_: &str) -> Response {
    unreachable!("`GraphQL::graphiql` is false without the `graphiql` feature")
}
