//! Asks `allframe` for no feature and uses `Json<T>` whose `T` has no `JsonSchema`: this
//! must compile whatever another crate of the build turns on.

use allframe::routing::post;
use allframe::{Json, Path, Query, Router, RouterService};
use serde::{Deserialize, Serialize};

/// A body with serde's traits only.
#[derive(Debug, Deserialize, Serialize)]
pub struct Plain {
    /// A name.
    pub name: String,
}

/// A query with serde's traits only.
#[derive(Debug, Deserialize)]
pub struct Paging {
    /// The page, from 1.
    pub page: Option<u32>,
}

async fn echo(
    Path(id): Path<u64>,
    Query(paging): Query<Paging>,
    Json(body): Json<Plain>,
) -> Json<Plain> {
    let page = paging.page.unwrap_or(1);
    Json(Plain {
        name: format!("{id}/{page}/{}", body.name),
    })
}

/// A router whose handler takes and returns schema-less types.
pub fn app() -> RouterService {
    Router::new()
        .route("/plain/{id}", post(echo))
        .into_service()
}
