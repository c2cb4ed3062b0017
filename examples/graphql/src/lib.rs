//! GraphQL beside REST on one router, sharing one typed state: a notice board.
//!
//! Run with `cargo run -p graphql-example`, then:
//! ```text
//! curl -H 'content-type: application/json' -d '{"query":"mutation { addNote(text: \"hi\") }"}' localhost:3000/graphql
//! curl -G --data-urlencode 'query={ notes noteCount }' localhost:3000/graphql
//! curl localhost:3000/notes
//! ```
//! and open <http://localhost:3000/graphql> in a browser for GraphiQL, where
//! `subscription { noteAdded }` shows notes as they are added.

use std::sync::{Arc, Mutex, PoisonError};

use allframe::graphql::GraphQL;
use allframe::routing::get;
use allframe::{Json, Router, RouterService, State};
use async_graphql::{Context, Object, Schema, Subscription};
use futures_util::Stream;
use tokio::sync::broadcast;

/// The state REST handlers and GraphQL resolvers share.
#[derive(Debug, Clone)]
pub struct AppState {
    notes: Arc<Mutex<Vec<String>>>,
    added: broadcast::Sender<String>,
}

impl AppState {
    /// An empty board.
    pub fn new() -> Self {
        Self {
            notes: Arc::default(),
            added: broadcast::channel(64).0,
        }
    }

    fn notes(&self) -> Vec<String> {
        self.notes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn add(&self, text: String) -> usize {
        let count = {
            let mut notes = self.notes.lock().unwrap_or_else(PoisonError::into_inner);
            notes.push(text.clone());
            notes.len()
        };
        // No subscriber is not an error.
        let _ = self.added.send(text);
        count
    }
}

impl Default for AppState {
    fn default() -> Self {
        Self::new()
    }
}

/// Reads the board.
#[derive(Debug)]
pub struct Query;

#[Object]
impl Query {
    /// Every note, oldest first.
    async fn notes(&self, ctx: &Context<'_>) -> Vec<String> {
        ctx.data_unchecked::<AppState>().notes()
    }

    /// How many notes there are.
    async fn note_count(&self, ctx: &Context<'_>) -> usize {
        ctx.data_unchecked::<AppState>().notes().len()
    }
}

/// Writes to the board.
#[derive(Debug)]
pub struct Mutation;

#[Object]
impl Mutation {
    /// Adds a note; answers how many there are now.
    async fn add_note(&self, ctx: &Context<'_>, text: String) -> usize {
        ctx.data_unchecked::<AppState>().add(text)
    }
}

/// Watches the board.
#[derive(Debug)]
pub struct Subscription;

#[Subscription]
impl Subscription {
    /// The notes already on the board, then each note as it is added.
    async fn note_added(&self, ctx: &Context<'_>) -> impl Stream<Item = String> + use<> {
        let state = ctx.data_unchecked::<AppState>();
        // Subscribe before reading the board, so no note falls between the two.
        let live = state.added.subscribe();
        let past = futures_util::stream::iter(state.notes());
        let live = futures_util::stream::unfold(live, |mut live| async move {
            loop {
                match live.recv().await {
                    Ok(note) => return Some((note, live)),
                    // A slow subscriber misses notes rather than holding the board up.
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        futures_util::StreamExt::chain(past, live)
    }
}

/// The schema type.
pub type BoardSchema = Schema<Query, Mutation, Subscription>;

/// `GET /notes`: the same board as a REST resource.
async fn list_notes(State(state): State<AppState>) -> Json<Vec<String>> {
    Json(state.notes())
}

/// The application: GraphQL at `/graphql` and REST at `/notes`, on one state.
pub fn app() -> RouterService<AppState> {
    app_with(AppState::new())
}

/// The application on a given state.
pub fn app_with(state: AppState) -> RouterService<AppState> {
    // `allframe::graphql::schema` turns the depth and complexity limits on.
    let schema: BoardSchema = allframe::graphql::schema(Query, Mutation, Subscription).finish();
    Router::new()
        .route("/graphql", GraphQL::new(schema).into_route())
        .route("/notes", get(list_notes))
        .with_state(state)
}
