//! One application, three protocols, one state: a library of books served over REST (with
//! its OpenAPI document and an API reference), GraphQL (queries, mutations, and a
//! subscription over WebSocket) and gRPC (with the health and reflection services), all on
//! one listener. A book added through any of them is seen by all of them.
//!
//! Run with `cargo run -p multi-protocol`, then:
//! ```text
//! curl -H 'content-type: application/json' -d '{"title":"Dune","author":"Frank Herbert"}' localhost:3000/books
//! curl localhost:3000/books/1
//! curl -G --data-urlencode 'query={ books { id title author } }' localhost:3000/graphql
//! grpcurl -plaintext -d '{"id":1}' localhost:3000 library.v1.Catalog/GetBook
//! grpcurl -plaintext localhost:3000 library.v1.Catalog/ListBooks
//! grpcurl -plaintext localhost:3000 grpc.health.v1.Health/Check
//! ```
//! and open <http://localhost:3000/docs> (the API reference) or
//! <http://localhost:3000/graphql> (GraphiQL, where `subscription { bookAdded { title } }`
//! shows books as they are added) in a browser.

mod graphql;
mod grpc;
mod rest;

use std::sync::{Arc, PoisonError, RwLock};

use allframe::grpc::Multiplexed;
use allframe::openapi::{Info, JsonSchema, schemars};
use allframe::{Router, RouterService};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

pub use crate::grpc::pb;

/// A book of the library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema, async_graphql::SimpleObject)]
pub struct Book {
    /// Given by the library: 1, 2, 3, ...
    pub id: u64,
    /// The title.
    pub title: String,
    /// Who wrote it.
    pub author: String,
}

/// A book to add: everything but its id.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct NewBook {
    /// The title (not empty).
    pub title: String,
    /// Who wrote it.
    pub author: String,
}

/// Why a book was not added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmptyTitle;

impl std::fmt::Display for EmptyTitle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a book needs a title")
    }
}

impl std::error::Error for EmptyTitle {}

/// The state every protocol shares: the books, and the news of each one added.
#[derive(Debug, Clone)]
pub struct Library {
    books: Arc<RwLock<Vec<Book>>>,
    added: broadcast::Sender<Book>,
}

impl Library {
    /// An empty library.
    pub fn new() -> Self {
        Self {
            books: Arc::default(),
            added: broadcast::channel(64).0,
        }
    }

    /// Every book, oldest first.
    pub fn books(&self) -> Vec<Book> {
        self.books
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The book with this id.
    pub fn book(&self, id: u64) -> Option<Book> {
        let books = self.books.read().unwrap_or_else(PoisonError::into_inner);
        let index = usize::try_from(id).ok()?.checked_sub(1)?;
        books.get(index).cloned()
    }

    /// Adds a book and tells the subscribers; answers it with its id.
    pub fn add(&self, new: NewBook) -> Result<Book, EmptyTitle> {
        if new.title.trim().is_empty() {
            return Err(EmptyTitle);
        }
        let mut books = self.books.write().unwrap_or_else(PoisonError::into_inner);
        let book = Book {
            id: books.len() as u64 + 1,
            title: new.title,
            author: new.author,
        };
        books.push(book.clone());
        // Sent under the lock, so a subscriber (see `watch`) sees each book exactly once.
        // No subscriber is not an error.
        let _ = self.added.send(book.clone());
        Ok(book)
    }

    /// The books already there and a receiver of every book added after them.
    pub fn watch(&self) -> (Vec<Book>, broadcast::Receiver<Book>) {
        let books = self.books.read().unwrap_or_else(PoisonError::into_inner);
        (books.clone(), self.added.subscribe())
    }
}

impl Default for Library {
    fn default() -> Self {
        Self::new()
    }
}

/// The application on an empty library.
pub fn app() -> Multiplexed<RouterService<Library>> {
    app_with(Library::new())
}

/// The application: REST, `/openapi.json`, `/docs` and `/graphql` on the router, the gRPC
/// services beside it, on one `library`.
pub fn app_with(library: Library) -> Multiplexed<RouterService<Library>> {
    let router = rest::routes(Router::new())
        .route("/graphql", graphql::route())
        .with_openapi(
            Info::new("multi-protocol", env!("CARGO_PKG_VERSION"))
                .description("A library of books; the same books over GraphQL and gRPC."),
        )
        .with_state(library.clone());
    // gRPC calls (h2c, `content-type: application/grpc`) go to tonic, the rest to the router.
    grpc::services(library).with_rest(router)
}
