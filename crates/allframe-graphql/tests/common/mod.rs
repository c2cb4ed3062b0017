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

/// [`app`] whose WebSocket also admits pages of `origin`.
pub(crate) fn app_allowing(origin: &str) -> RouterService<AppState> {
    Router::new()
        .route(
            "/graphql",
            GraphQL::new(schema()).allow_origins([origin]).into_route(),
        )
        .with_state(state())
}
