//! Turns `allframe/openapi` on for the whole build and describes one route.

use allframe::openapi::routing::post;
use allframe::openapi::{Info, JsonSchema, OpenApi, schemars};
use allframe::{Json, Router};
use serde::{Deserialize, Serialize};

/// A body that describes itself.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct Described {
    /// A name.
    pub name: String,
}

async fn echo(Json(body): Json<Described>) -> Json<Described> {
    Json(body)
}

/// The document of a router with one described route.
pub fn document() -> OpenApi {
    Router::<()>::new()
        .route("/described", post(echo))
        .openapi(Info::new("additivity", "1"))
}
