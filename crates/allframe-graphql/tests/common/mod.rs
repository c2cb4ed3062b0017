//! The schema and application the tests serve: a greeting and a counter kept in the
//! router's state, shared with a REST route.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use allframe_core::routing::get;
use allframe_core::{FromRef, Router, RouterService, State};
use allframe_graphql::GraphQL;
use allframe_graphql::async_graphql::{Context, Object, Schema, SimpleObject, Subscription};
use futures_util::Stream;

#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub(crate) greeting: &'static str,
    pub(crate) counter: Counter,
}

/// A part of the state, for `into_route_with`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counter(pub Arc<AtomicI64>);

impl FromRef<AppState> for Counter {
    fn from_ref(state: &AppState) -> Self {
        state.counter.clone()
    }
}

pub(crate) struct Query;

#[Object]
impl Query {
    async fn greeting(&self, ctx: &Context<'_>) -> &'static str {
        ctx.data_unchecked::<AppState>().greeting
    }

    async fn counter(&self, ctx: &Context<'_>) -> i64 {
        ctx.data_unchecked::<AppState>()
            .counter
            .0
            .load(Ordering::SeqCst)
    }

    /// The root of an endless tree, for depth and complexity tests.
    async fn node(&self) -> Node {
        Node { value: 1 }
    }
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub(crate) struct Node {
    value: i32,
}

#[allframe_graphql::async_graphql::ComplexObject]
impl Node {
    async fn child(&self) -> Node {
        Node {
            value: self.value + 1,
        }
    }
}

pub(crate) struct Mutation;

#[Object]
impl Mutation {
    async fn add(&self, ctx: &Context<'_>, by: i64) -> i64 {
        ctx.data_unchecked::<AppState>()
            .counter
            .0
            .fetch_add(by, Ordering::SeqCst)
            + by
    }
}

pub(crate) struct Subscription;

#[Subscription]
impl Subscription {
    /// `count` greetings, numbered: the resolver reads the router's state.
    async fn ticks(&self, ctx: &Context<'_>, count: i32) -> impl Stream<Item = String> + use<> {
        let greeting = ctx.data_unchecked::<AppState>().greeting;
        futures_util::stream::iter((0..count).map(move |i| format!("{greeting} {i}")))
    }

    /// A subscription that sends nothing and never ends, as most live ones do between events.
    async fn idle(&self) -> impl Stream<Item = i32> + use<> {
        futures_util::stream::pending()
    }
}

pub(crate) type TestSchema = Schema<Query, Mutation, Subscription>;

pub(crate) fn schema() -> TestSchema {
    allframe_graphql::schema(Query, Mutation, Subscription).finish()
}

pub(crate) fn state() -> AppState {
    AppState {
        greeting: "hello",
        counter: Counter::default(),
    }
}

async fn rest_counter(State(Counter(counter)): State<Counter>) -> String {
    counter.load(Ordering::SeqCst).to_string()
}

/// GraphQL at `/graphql`, and the counter as REST at `/counter`.
pub(crate) fn app() -> RouterService<AppState> {
    Router::new()
        .route("/graphql", GraphQL::new(schema()).into_route())
        .route("/counter", get(rest_counter))
        .with_state(state())
}

/// [`app`] with its endpoint configured by `configure`.
pub(crate) fn app_configured(
    configure: impl FnOnce(GraphQL<TestSchema>) -> GraphQL<TestSchema>,
) -> RouterService<AppState> {
    Router::new()
        .route("/graphql", configure(GraphQL::new(schema())).into_route())
        .with_state(state())
}

/// [`app`] whose WebSocket also admits pages of `origin`.
pub(crate) fn app_allowing(origin: &str) -> RouterService<AppState> {
    Router::new()
        .route(
            "/graphql",
            GraphQL::new(schema()).allow_origins([origin]).into_route(),
        )
        .with_state(state())
}

/// The caller the tests' authentication gives resolvers; a socket's keeps `online` counted.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) name: String,
    _online: Option<Arc<Online>>,
}

/// One socket counted as online while it lives.
#[derive(Debug)]
pub(crate) struct Online(Arc<AtomicI64>);

impl Drop for Online {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(crate) struct CallerQuery;

#[Object]
impl CallerQuery {
    /// Who calls, if anyone signed in.
    async fn me(&self, ctx: &Context<'_>) -> Option<String> {
        ctx.data_opt::<User>().map(|user| user.name.clone())
    }
}

pub(crate) struct CallerSubscription;

#[Subscription]
impl CallerSubscription {
    /// The caller's name, once: refused to a socket nobody signed in on.
    async fn my_name(
        &self,
        ctx: &Context<'_>,
    ) -> allframe_graphql::async_graphql::Result<impl Stream<Item = String> + use<>> {
        let user = ctx
            .data_opt::<User>()
            .ok_or("sign in first: send `authorization` in `connection_init`")?;
        Ok(futures_util::stream::iter([user.name.clone()]))
    }
}

/// GraphQL at `/graphql` whose callers authenticate with `Bearer <name>` (any name but
/// `forged`); `online` counts the sockets signed in and open; sockets are pinged `every`.
pub(crate) fn app_authenticating(
    online: Arc<AtomicI64>,
    every: Option<std::time::Duration>,
) -> RouterService<()> {
    let schema = allframe_graphql::schema(
        CallerQuery,
        allframe_graphql::async_graphql::EmptyMutation,
        CallerSubscription,
    )
    .finish();
    let graphql =
        GraphQL::new(schema)
            .keepalive(every)
            .authenticate(move |credential, transport| {
                let name = credential
                    .strip_prefix("Bearer ")
                    .filter(|name| !name.is_empty() && *name != "forged")
                    .ok_or_else(|| format!("`{credential}` is not a valid token"))?;
                let online = (transport == allframe_graphql::Transport::WebSocket).then(|| {
                    online.fetch_add(1, Ordering::SeqCst);
                    Arc::new(Online(Arc::clone(&online)))
                });
                Ok(User {
                    name: name.to_owned(),
                    _online: online,
                })
            });
    Router::new()
        .route("/graphql", graphql.into_route())
        .with_state(())
}
