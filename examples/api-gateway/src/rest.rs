//! The REST API: items and reservations, each a call to the inventory. What a handler
//! refuses before calling (a malformed SKU, a quantity out of range) is in its schema, so
//! the OpenAPI document says it.

use allframe::http::StatusCode;
use allframe::openapi::routing::{get, post};
use allframe::openapi::{JsonSchema, schemars};
use allframe::validate::Valid;
use allframe::{Json, Path, Problem, Router, State};
use garde::Validate;
use serde::{Deserialize, Serialize};

use crate::Gateway;
use crate::inventory::MAX_RESERVATION;
use crate::pb;

type Reply<T> = Result<Json<T>, Problem>;

/// An item in stock.
#[derive(Debug, Serialize, JsonSchema, async_graphql::SimpleObject)]
pub(crate) struct Item {
    sku: String,
    name: String,
    /// Units in stock.
    stock: u32,
}

impl From<pb::Item> for Item {
    fn from(item: pb::Item) -> Self {
        Self {
            sku: item.sku,
            name: item.name,
            stock: item.stock,
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema, Validate)]
struct Sku {
    /// 1 to 64 of `a-z`, `0-9` and `-`.
    #[garde(length(min = 1, max = 64), pattern(r"^[a-z0-9-]+$"))]
    sku: String,
}

/// Units to take out of stock.
#[derive(Debug, Deserialize, JsonSchema, Validate)]
struct Reservation {
    #[garde(range(min = 1, max = MAX_RESERVATION))]
    quantity: u32,
}

/// The gateway is up (whether the backend is, its calls' answers say).
#[derive(Debug, Serialize, JsonSchema)]
struct Health {
    status: &'static str,
    /// The inventory service it calls.
    inventory: String,
}

async fn health(State(gateway): State<Gateway>) -> Json<Health> {
    Json(Health {
        status: "ok",
        inventory: gateway.backend.url().to_owned(),
    })
}

/// Every item.
async fn items(State(gateway): State<Gateway>) -> Reply<Vec<Item>> {
    let items = gateway.backend.items().await?;
    Ok(Json(items.into_iter().map(Item::from).collect()))
}

/// One item: `404` when there is none with this SKU.
async fn item(
    State(gateway): State<Gateway>,
    Valid(Path(Sku { sku })): Valid<Path<Sku>>,
) -> Reply<Item> {
    Ok(Json(gateway.backend.item(&sku).await?.into()))
}

/// Takes `quantity` out of an item's stock: `201` with what is left, `409` when fewer are
/// in stock. Never retried by the gateway (it is not idempotent).
async fn reserve(
    State(gateway): State<Gateway>,
    Valid(Path(Sku { sku })): Valid<Path<Sku>>,
    Valid(Json(Reservation { quantity })): Valid<Json<Reservation>>,
) -> Result<(StatusCode, Json<Item>), Problem> {
    let item = gateway.backend.reserve(&sku, quantity).await?;
    Ok((StatusCode::CREATED, Json(item.into())))
}

pub(crate) fn routes() -> Router<Gateway> {
    Router::new()
        .route("/health", get(health))
        .route("/items", get(items))
        .route("/items/{sku}", get(item))
        .route("/items/{sku}/reservations", post(reserve))
}
