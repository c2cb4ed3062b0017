//! The REST API: commands go through the bus, queries read the projections. Each request
//! type's garde rules are checked by `Valid` before a handler runs and written into its
//! schema, so the OpenAPI document says what the server refuses.

use std::sync::Arc;

use allframe::cqrs::CommandBus;
use allframe::extract::{Page, Pagination};
use allframe::http::{HeaderMap, StatusCode};
use allframe::openapi::routing::{delete, get, post};
use allframe::openapi::{Info, JsonSchema, schemars};
use allframe::validate::Valid;
use allframe::{Json, Path, Problem, Router, State};
use garde::Validate;
use serde::{Deserialize, Serialize};

use crate::Shop;
use crate::commands::{AddStock, AddToCart, CheckOut, ListProduct, RemoveFromCart};
use crate::domain::Line;
use crate::views::{Catalog, Inventory, OrderView, ProductView, Stock};

type Bus = State<Arc<CommandBus<Shop>>>;
type Reply<T> = Result<Json<T>, Problem>;

/// A product to list.
#[derive(Debug, Deserialize, JsonSchema, Validate)]
struct NewProduct {
    /// Letters, digits, `-` and `_`.
    #[garde(length(min = 1, max = 64), pattern(r"^[A-Za-z0-9_-]+$"))]
    sku: String,
    #[garde(length(chars, min = 1, max = 200))]
    name: String,
    #[garde(range(min = 1, max = 100_000_000))]
    price_cents: u64,
    /// Units on hand.
    #[garde(range(max = 1_000_000))]
    stock: u32,
}

/// Units to add to a product's stock.
#[derive(Debug, Deserialize, JsonSchema, Validate)]
struct NewStock {
    #[garde(range(min = 1, max = 1_000_000))]
    quantity: u32,
}

/// A product to put in a cart.
#[derive(Debug, Deserialize, JsonSchema, Validate)]
struct CartItem {
    #[garde(length(min = 1, max = 64), pattern(r"^[A-Za-z0-9_-]+$"))]
    sku: String,
    #[garde(range(min = 1, max = 99))]
    quantity: u32,
}

/// How the customer pays: a token from the payment provider (`tok_declined` is refused,
/// `tok_slow` never answers).
#[derive(Debug, Deserialize, JsonSchema, Validate)]
struct Payment {
    #[garde(length(min = 1, max = 64), pattern(r"^[A-Za-z0-9_-]+$"))]
    payment_token: String,
}

/// A cart's lines and total.
#[derive(Debug, Serialize, JsonSchema)]
struct CartView {
    lines: Vec<Line>,
    total_cents: u64,
    /// The order it became, once checked out.
    order_id: Option<String>,
}

/// The server is up and its store answers.
#[derive(Debug, Serialize, JsonSchema)]
struct Health {
    status: &'static str,
    storage: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct Sku {
    sku: String,
}

#[derive(Debug, Deserialize, JsonSchema, Validate)]
struct CartId {
    #[garde(length(min = 1, max = 64), pattern(r"^[A-Za-z0-9_-]+$"))]
    cart_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct CartLine {
    cart_id: String,
    sku: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct OrderId {
    order_id: String,
}

async fn health(State(bus): Bus) -> Reply<Health> {
    let shop = bus.handlers();
    shop.query(|_: &Catalog| ()).await?;
    Ok(Json(Health {
        status: "ok",
        storage: shop.storage().to_owned(),
    }))
}

async fn list_product(
    State(bus): Bus,
    Valid(Json(p)): Valid<Json<NewProduct>>,
) -> Result<(StatusCode, Json<ProductView>), Problem> {
    let command = ListProduct {
        sku: p.sku.clone(),
        name: p.name,
        price_cents: p.price_cents,
        stock: p.stock,
    };
    bus.dispatch(command).await?;
    Ok((
        StatusCode::CREATED,
        product(State(bus), Path(Sku { sku: p.sku })).await?,
    ))
}

async fn add_stock(
    State(bus): Bus,
    Path(Sku { sku }): Path<Sku>,
    Valid(Json(s)): Valid<Json<NewStock>>,
) -> Reply<ProductView> {
    bus.dispatch(AddStock {
        sku: sku.clone(),
        quantity: s.quantity,
    })
    .await?;
    product(State(bus), Path(Sku { sku })).await
}

/// Products from the catalog projection, in sku order, with the inventory projection's
/// stock.
async fn products(State(bus): Bus, page: Pagination) -> Reply<Page<ProductView>> {
    let shop = bus.handlers();
    let listed = shop
        .query(|catalog: &Catalog| {
            page.page(catalog.0.iter())
                .map(|(sku, (name, price))| (sku.clone(), name.clone(), *price))
        })
        .await?;
    let products = shop
        .query(|inventory: &Inventory| {
            listed.map(|(sku, name, price)| {
                let stock = inventory.0.get(&sku).copied().unwrap_or_default();
                view(sku, name, price, stock)
            })
        })
        .await?;
    Ok(Json(products))
}

fn view(sku: String, name: String, price_cents: u64, stock: Stock) -> ProductView {
    ProductView {
        sku,
        name,
        price_cents,
        available: stock.on_hand - stock.reserved,
    }
}

async fn product(State(bus): Bus, Path(Sku { sku }): Path<Sku>) -> Reply<ProductView> {
    let shop = bus.handlers();
    let stock = shop
        .query(|inventory: &Inventory| inventory.0.get(&sku).copied())
        .await?;
    let found = shop
        .query(|catalog: &Catalog| catalog.0.get(&sku).cloned())
        .await?;
    let (Some((name, price)), Some(stock)) = (found, stock) else {
        return Err(Problem::new(StatusCode::NOT_FOUND).with_detail(format!("no product `{sku}`")));
    };
    Ok(Json(view(sku, name, price, stock)))
}

async fn cart(
    State(bus): Bus,
    Valid(Path(CartId { cart_id })): Valid<Path<CartId>>,
) -> Reply<CartView> {
    let cart = bus.handlers().domain.load_cart(&cart_id).await?;
    let lines: Vec<Line> = cart.lines.into_values().collect();
    let total_cents = lines
        .iter()
        .map(|l| l.price_cents * u64::from(l.quantity))
        .sum();
    Ok(Json(CartView {
        lines,
        total_cents,
        order_id: cart.order_id,
    }))
}

async fn add_to_cart(
    State(bus): Bus,
    Valid(Path(CartId { cart_id })): Valid<Path<CartId>>,
    Valid(Json(item)): Valid<Json<CartItem>>,
) -> Reply<CartView> {
    bus.dispatch(AddToCart {
        cart_id: cart_id.clone(),
        sku: item.sku,
        quantity: item.quantity,
    })
    .await?;
    cart(State(bus), Valid(Path(CartId { cart_id }))).await
}

async fn remove_from_cart(
    State(bus): Bus,
    Path(CartLine { cart_id, sku }): Path<CartLine>,
) -> Reply<CartView> {
    bus.dispatch(RemoveFromCart {
        cart_id: cart_id.clone(),
        sku,
    })
    .await?;
    cart(State(bus), Valid(Path(CartId { cart_id }))).await
}

/// Checks the cart out and processes its order. A repeat with the same `Idempotency-Key`
/// header returns the first answer.
async fn checkout(
    State(bus): Bus,
    Valid(Path(CartId { cart_id })): Valid<Path<CartId>>,
    headers: HeaderMap,
    Valid(Json(p)): Valid<Json<Payment>>,
) -> Result<(StatusCode, Json<OrderView>), Problem> {
    let idempotency_key = headers
        .get("idempotency-key")
        .and_then(|k| k.to_str().ok())
        .map(str::to_owned);
    let order = bus
        .dispatch(CheckOut {
            cart_id,
            payment_token: p.payment_token,
            idempotency_key,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(order)))
}

async fn order(State(bus): Bus, Path(OrderId { order_id }): Path<OrderId>) -> Reply<OrderView> {
    Ok(Json(bus.handlers().order(&order_id).await?))
}

/// The routes, with the OpenAPI document at `/openapi.json` and its reference at `/docs`.
pub fn router() -> Router<Arc<CommandBus<Shop>>> {
    Router::new()
        .route("/health", get(health))
        .route("/products", get(products).post(list_product))
        .route("/products/{sku}", get(product))
        .route("/products/{sku}/stock", post(add_stock))
        .route("/carts/{cart_id}", get(cart))
        .route("/carts/{cart_id}/items", post(add_to_cart))
        .route("/carts/{cart_id}/items/{sku}", delete(remove_from_cart))
        .route("/carts/{cart_id}/checkout", post(checkout))
        .route("/orders/{order_id}", get(order))
        .with_openapi(Info::new("ecommerce-api", env!("CARGO_PKG_VERSION")))
}
