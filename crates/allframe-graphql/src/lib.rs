#![doc = include_str!("../README.md")]

mod limits;
mod request;
mod ws;

use std::sync::Arc;

use allframe_core::routing::{MethodRouter, get};
use allframe_core::{FromRef, FromRequest, IntoResponse, Request, Response, State};
use async_graphql::Executor;

pub use async_graphql;

pub use crate::limits::{DEFAULT_MAX_COMPLEXITY, DEFAULT_MAX_DEPTH, limits, schema};
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
}

impl<E: Executor> GraphQL<E> {
    /// Serves `executor` (usually an [`async_graphql::Schema`]; build it with [`schema`] so
    /// the depth and complexity limits are on).
    pub fn new(executor: E) -> Self {
        Self {
            executor,
            graphiql: cfg!(feature = "graphiql"),
            allowed_origins: Arc::new([]),
        }
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
                match GraphQLRequest::from_request(req, &()).await {
                    Ok(request) => request
                        .data(data)
                        .execute(&for_post.executor)
                        .await
                        .into_response(),
                    Err(rejection) => rejection.into_response(),
                }
            },
        )
    }

    async fn get<T>(self, req: Request, data: T) -> Response
    where
        T: Clone + Send + Sync + 'static,
    {
        if ws::is_upgrade(req.headers()) {
            if let Err(refused) = ws::check_origin(req.headers(), &self.allowed_origins) {
                return refused.into_response();
            }
            return ws::upgrade(self.executor, req, data);
        }
        if self.graphiql && wants_graphiql(&req) {
            return graphiql_page(req.uri().path());
        }
        match GraphQLRequest::from_request(req, &()).await {
            Ok(request) => request
                .data(data)
                .execute(&self.executor)
                .await
                .into_response(),
            Err(rejection) => rejection.into_response(),
        }
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
