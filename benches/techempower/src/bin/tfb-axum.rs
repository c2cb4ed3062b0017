//! The reference: the same tests on axum, served the way TechEmpower's axum entry serves them
//! (hyper's HTTP/1 connection builder with `pipeline_flush(true)` per accepted connection).
//!
//! Run with `cargo run -p allframe-techempower --bin tfb-axum`; it listens on `ALLFRAME_ADDR`
//! (default 127.0.0.1:3000) and adds the database routes when `DATABASE_URL` is set.

use allframe::server::env_addr;
use allframe_techempower::{
    CountParams, Db, HELLO, Message, QueriesParams, World, db_from_env, fortunes_page, serve_http1,
};
use axum::extract::{Query, State};
use axum::http::header::{HeaderValue, SERVER};
use axum::http::{Request, StatusCode};
use axum::response::{Html, Response};
use axum::routing::get;
use axum::{Json, Router};
use hyper::body::Incoming;
use hyper_util::service::TowerToHyperService;
use tower::ServiceExt;

/// A failed query or render: 500 with the reason.
type Failure = (StatusCode, String);

fn internal(err: impl std::fmt::Display) -> Failure {
    (StatusCode::INTERNAL_SERVER_ERROR, err.to_string())
}

async fn json() -> Json<Message> {
    Json(Message::HELLO)
}

async fn plaintext() -> &'static str {
    HELLO
}

async fn single_query(State(db): State<Db>) -> Result<Json<World>, Failure> {
    let world = db.random_world().await.map_err(internal)?;
    Ok(Json(world))
}

async fn queries(
    State(db): State<Db>,
    Query(params): Query<QueriesParams>,
) -> Result<Json<Vec<World>>, Failure> {
    let worlds = db.random_worlds(params.count()).await.map_err(internal)?;
    Ok(Json(worlds))
}

async fn updates(
    State(db): State<Db>,
    Query(params): Query<QueriesParams>,
) -> Result<Json<Vec<World>>, Failure> {
    let worlds = db.update_worlds(params.count()).await.map_err(internal)?;
    Ok(Json(worlds))
}

async fn fortunes(State(db): State<Db>) -> Result<Html<String>, Failure> {
    let fortunes = db.fortunes().await.map_err(internal)?;
    Ok(Html(fortunes_page(fortunes).map_err(internal)?))
}

async fn cached_queries(
    State(db): State<Db>,
    Query(params): Query<CountParams>,
) -> Result<Json<Vec<World>>, Failure> {
    let worlds = db.cached_worlds(params.count()).await.map_err(internal)?;
    Ok(Json(worlds))
}

/// Every response says who served it, as TechEmpower requires.
fn server_header(mut res: Response) -> Response {
    res.headers_mut()
        .insert(SERVER, HeaderValue::from_static("axum"));
    res
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
    let app = match &db {
        Some(db) => hello_routes()
            .route("/db", get(single_query))
            .route("/queries", get(queries))
            .route("/updates", get(updates))
            .route("/fortunes", get(fortunes))
            .route("/cached-queries", get(cached_queries))
            .with_state(db.clone()),
        None => hello_routes(),
    };
    let app = ServiceExt::<Request<Incoming>>::map_response(app, server_header);

    let listener = tokio::net::TcpListener::bind(env_addr()).await?;
    let routes = if db.is_some() {
        "all routes"
    } else {
        "no DATABASE_URL: /json and /plaintext only"
    };
    eprintln!(
        "tfb-axum listening on http://{} ({routes})",
        listener.local_addr()?
    );
    serve_http1(listener, TowerToHyperService::new(app)).await
}
