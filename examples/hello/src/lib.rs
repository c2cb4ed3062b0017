//! The smallest useful AllFrame service: `GET /json`, `GET /plaintext` and `POST /echo`,
//! with their OpenAPI document at `/openapi.json` and an API reference at `/docs`.
//!
//! Run with `cargo run -p hello`, then:
//! ```text
//! curl localhost:3000/json
//! curl localhost:3000/plaintext
//! curl -d '{"any":"json"}' -H 'content-type: application/json' localhost:3000/echo
//! curl localhost:3000/openapi.json    # or open localhost:3000/docs in a browser
//! ```

// Routed with `openapi::routing`, each handler describes itself in the document.
use allframe::openapi::routing::{get, post};
use allframe::openapi::{Info, JsonSchema, schemars};
use allframe::{Json, Router, RouterService};
use serde::Serialize;

/// The greeting `GET /json` answers.
#[derive(Serialize, JsonSchema)]
struct Message {
    message: &'static str,
}

async fn json() -> Json<Message> {
    Json(Message {
        message: "Hello, World!",
    })
}

async fn plaintext() -> &'static str {
    "Hello, World!"
}

/// Any JSON document in, the same document out. A body that is not JSON is answered 400,
/// one without `Content-Type: application/json` 415.
async fn echo(Json(body): Json<serde_json::Value>) -> Json<serde_json::Value> {
    Json(body)
}

/// The application: its routes, frozen into a service.
pub fn app() -> RouterService {
    Router::new()
        .route("/json", get(json))
        .route("/plaintext", get(plaintext))
        .route("/echo", post(echo))
        .with_openapi(Info::new("hello", env!("CARGO_PKG_VERSION")))
        .into_service()
}
