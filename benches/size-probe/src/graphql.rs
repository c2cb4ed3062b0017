//! GraphQL at `/graphql`: a query that reads the router's state, a mutation and a
//! subscription, so async-graphql's parser, validation, executor, GraphiQL page and the
//! WebSocket protocols are linked and measured.

use std::sync::atomic::{AtomicU64, Ordering};

use allframe::Router;
use allframe::graphql::GraphQL;
use async_graphql::futures_util::{Stream, stream};
use async_graphql::{Context, Object, Schema, Subscription};

use crate::AppState;

/// The most items one `countTo` subscription streams.
const MAX_COUNT: u32 = 100;

static TOTAL: AtomicU64 = AtomicU64::new(0);

struct Query;

#[Object]
impl Query {
    /// The greeting of the router's state.
    async fn greeting(&self, ctx: &Context<'_>) -> &'static str {
        ctx.data_unchecked::<AppState>().greeting.0
    }

    /// The sum of every `add`.
    async fn total(&self) -> u64 {
        TOTAL.load(Ordering::Relaxed)
    }
}

struct Mutation;

#[Object]
impl Mutation {
    /// Adds `amount` to the total; answers the new total.
    async fn add(&self, amount: u64) -> u64 {
        TOTAL.fetch_add(amount, Ordering::Relaxed) + amount
    }
}

struct Subscription;

#[Subscription]
impl Subscription {
    /// 1, 2, .. `to` (at most 100).
    async fn count_to(&self, to: u32) -> impl Stream<Item = u32> + use<> {
        stream::iter(1..=to.min(MAX_COUNT))
    }
}

pub(crate) fn routes(router: Router<AppState>) -> Router<AppState> {
    let schema: Schema<Query, Mutation, Subscription> =
        allframe::graphql::schema(Query, Mutation, Subscription).finish();
    router.route("/graphql", GraphQL::new(schema).into_route())
}
