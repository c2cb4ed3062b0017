//! The TechEmpower tests served the way an AllFrame user would write them.
//!
//! Run with `cargo run -p allframe-techempower --bin tfb-allframe`; it listens on
//! `ALLFRAME_ADDR` (default 127.0.0.1:3000) and adds the database routes when `DATABASE_URL`
//! is set.

use allframe::http::StatusCode;
use allframe::routing::get;
use allframe::server::env_addr;
use allframe::{Html, Json, Problem, Query, Router, State};
use allframe_techempower::{
    CountParams, Db, HELLO, Message, QueriesParams, World, db_from_env, fortunes_page,
};

async fn json() -> Json<Message> {
    Json(Message::HELLO)
}

async fn plaintext() -> &'static str {
    HELLO
}

async fn single_query(State(db): State<Db>) -> Result<Json<World>, Problem> {
    let world = db.random_world().await.map_err(internal)?;
    Ok(Json(world))
}

async fn queries(
    State(db): State<Db>,
    Query(params): Query<QueriesParams>,
) -> Result<Json<Vec<World>>, Problem> {
    let worlds = db.random_worlds(params.count()).await.map_err(internal)?;
    Ok(Json(worlds))
}

async fn updates(
    State(db): State<Db>,
    Query(params): Query<QueriesParams>,
) -> Result<Json<Vec<World>>, Problem> {
    let worlds = db.update_worlds(params.count()).await.map_err(internal)?;
    Ok(Json(worlds))
}

async fn fortunes(State(db): State<Db>) -> Result<Html<String>, Problem> {
    let fortunes = db.fortunes().await.map_err(internal)?;
    Ok(Html(fortunes_page(fortunes).map_err(internal)?))
}

async fn cached_queries(
    State(db): State<Db>,
    Query(params): Query<CountParams>,
) -> Result<Json<Vec<World>>, Problem> {
    let worlds = db.cached_worlds(params.count()).await.map_err(internal)?;
    Ok(Json(worlds))
}

/// A failed query or render: 500 with the reason.
fn internal(err: impl std::fmt::Display) -> Problem {
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR).with_detail(err.to_string())
}

/// The routes that need no database, for any state.
fn hello_routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/json", get(json))
        .route("/plaintext", get(plaintext))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let db = db_from_env().await;
    let listener = tokio::net::TcpListener::bind(env_addr()).await?;
    let addr = listener.local_addr()?;
    match db {
        Some(db) => {
            eprintln!(
                "tfb-allframe listening on http://{addr} ({} worlds cached)",
                db.cached_len()
            );
            let app = hello_routes()
                .route("/db", get(single_query))
                .route("/queries", get(queries))
                .route("/updates", get(updates))
                .route("/fortunes", get(fortunes))
                .route("/cached-queries", get(cached_queries))
                .with_state(db);
            allframe::serve(listener, app).await
        }
        None => {
            eprintln!(
                "tfb-allframe listening on http://{addr} (no DATABASE_URL: /json and /plaintext only)"
            );
            allframe::serve(listener, hello_routes().into_service()).await
        }
    }
}
