//! The GraphQL schema at `/graphql`, on the same [`Library`] as the REST routes.

use allframe::graphql::GraphQL;
use allframe::routing::MethodRouter;
use async_graphql::{Context, Object, Result, Schema, Subscription};
use futures_util::Stream;
use tokio::sync::broadcast;

use crate::{Book, Library, NewBook};

/// Reads the library.
#[derive(Debug)]
pub(crate) struct Query;

#[Object]
impl Query {
    /// Every book, oldest first.
    async fn books(&self, ctx: &Context<'_>) -> Vec<Book> {
        ctx.data_unchecked::<Library>().books()
    }

    /// The book with this id, if there is one.
    async fn book(&self, ctx: &Context<'_>, id: u64) -> Option<Book> {
        ctx.data_unchecked::<Library>().book(id)
    }
}

/// Writes to the library.
#[derive(Debug)]
pub(crate) struct Mutation;

#[Object]
impl Mutation {
    /// Adds a book; answers it with its id.
    async fn add_book(&self, ctx: &Context<'_>, title: String, author: String) -> Result<Book> {
        Ok(ctx
            .data_unchecked::<Library>()
            .add(NewBook { title, author })?)
    }
}

/// Watches the library.
#[derive(Debug)]
pub(crate) struct Subscription;

#[Subscription]
impl Subscription {
    /// The books already in the library, then each book as it is added (over any
    /// protocol).
    async fn book_added(&self, ctx: &Context<'_>) -> impl Stream<Item = Book> + use<> {
        let (past, live) = ctx.data_unchecked::<Library>().watch();
        let live = futures_util::stream::unfold(live, |mut live| async move {
            loop {
                match live.recv().await {
                    Ok(book) => return Some((book, live)),
                    // A slow subscriber misses books rather than holding the library up.
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        futures_util::StreamExt::chain(futures_util::stream::iter(past), live)
    }
}

/// The route: queries and mutations over `GET`/`POST`, GraphiQL for a browser,
/// subscriptions over WebSocket.
pub(crate) fn route() -> MethodRouter<Library> {
    // `allframe::graphql::schema` turns the depth and complexity limits on.
    let schema: Schema<Query, Mutation, Subscription> =
        allframe::graphql::schema(Query, Mutation, Subscription).finish();
    GraphQL::new(schema).into_route()
}
