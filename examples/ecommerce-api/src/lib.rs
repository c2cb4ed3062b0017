//! A shop on AllFrame's CQRS: a catalog and stock levels read from projections, carts
//! changed by commands through a `CommandBus`, and each checkout run as a saga (reserve
//! stock, take payment, ship) that undoes itself when a step fails.
//!
//! Run with `cargo run -p ecommerce-api`; see README.md for the endpoints.

mod api;
pub mod checkout;
pub mod commands;
pub mod domain;
pub mod error;
pub mod views;

use std::sync::Arc;

use allframe::cqrs::{
    Aggregate, Aggregates, AnyBackend, CommandBus, Projections, SagaOutcome, Storage,
};
use allframe::http::StatusCode;
use allframe::middleware::{Layer, RequestIdLayer, RequestIdService};
use allframe::{Problem, RouterService, ServerConfig};

use crate::checkout::{Checkout, CheckoutSaga};
use crate::domain::{Cart, Order, OrderCommand, Product, ShopEvent};
use crate::views::{Catalog, Inventory, OrderView, Orders};

pub use crate::api::router;

/// The backend every store of the shop uses: whichever `Storage` picked.
pub type Backend = AnyBackend<ShopEvent>;

/// The write side: the shop's aggregates, over one store.
#[derive(Debug)]
pub struct Domain {
    products: Aggregates<Product, Backend>,
    carts: Aggregates<Cart, Backend>,
    orders: Aggregates<Order, Backend>,
}

macro_rules! execute_on {
    ($($name:ident: $aggregate:ty => $field:ident, $prefix:literal;)*) => {$(
        #[doc = concat!("Executes a command on `", $prefix, "<id>`.")]
        pub async fn $name(&self, id: &str, command: <$aggregate as Aggregate>::Command) -> Result<(), Problem> {
            self.$field.execute(&format!(concat!($prefix, "{}"), id), command).await?;
            Ok(())
        }
    )*};
}

impl Domain {
    execute_on! {
        product: Product => products, "product-";
        cart: Cart => carts, "cart-";
        order: Order => orders, "order-";
    }

    /// The current state of cart `id`.
    pub async fn load_cart(&self, id: &str) -> Result<Cart, Problem> {
        Ok(self.carts.load(&format!("cart-{id}")).await?.0)
    }

    /// The current state of product `sku`.
    pub async fn load_product(&self, sku: &str) -> Result<Product, Problem> {
        Ok(self.products.load(&format!("product-{sku}")).await?.0)
    }
}

/// The whole shop: the write side, its projections and the checkout saga.
#[derive(Debug)]
pub struct Shop {
    pub domain: Arc<Domain>,
    views: Projections<ShopEvent, Backend>,
    checkout: CheckoutSaga,
    storage: String,
}

impl Shop {
    /// Opens the shop's stores in `storage` (`events` and `sagas`), catches its projections
    /// up and finishes every checkout an earlier process left half done.
    pub async fn open(storage: &Storage) -> Result<Self, Problem> {
        let events = storage.open::<ShopEvent>("events").await?;
        let domain = Arc::new(Domain {
            products: Aggregates::new(events.clone()),
            carts: Aggregates::new(events.clone()),
            orders: Aggregates::new(events.clone()),
        });
        let views = Projections::new(events)
            .register::<Catalog>()
            .register::<Inventory>()
            .register::<Orders>();
        let checkout = checkout::saga(&domain, storage.open("sagas").await?);
        let shop = Self {
            domain,
            views,
            checkout,
            storage: storage.to_string(),
        };
        for order_id in shop.checkout.unfinished().await? {
            let outcome = shop.checkout.resume(&order_id).await?;
            shop.finish(&order_id, outcome).await?;
        }
        Ok(shop)
    }

    /// Reads projection `P` once it has caught up with every event appended so far, so a
    /// client reads its own writes.
    pub async fn query<P, R>(&self, read: impl FnOnce(&P) -> R) -> Result<R, Problem>
    where
        P: allframe::cqrs::Projection<ShopEvent>,
    {
        Ok(self
            .views
            .query(read)
            .await?
            .expect("registered in Shop::open"))
    }

    /// Where the shop keeps its events, for `/health`.
    pub fn storage(&self) -> &str {
        &self.storage
    }

    /// Runs the checkout saga of an order just placed.
    async fn process(&self, checkout: Checkout) -> Result<OrderView, Problem> {
        let order_id = checkout.order_id.clone();
        let outcome = self.checkout.run(&order_id, checkout).await?;
        self.finish(&order_id, outcome).await
    }

    /// Cancels an order whose saga compensated, and says why the checkout failed.
    async fn finish(&self, order_id: &str, outcome: SagaOutcome) -> Result<OrderView, Problem> {
        let SagaOutcome::Compensated { failed_step, error } = outcome else {
            return self.order(order_id).await;
        };
        let cancel = OrderCommand::Cancel {
            order_id: order_id.to_owned(),
            reason: error.clone(),
        };
        self.domain.order(order_id, cancel).await?;
        // A failed payment is the customer's to fix (402); anything else is the stock (409).
        let status = match failed_step {
            "take-payment" => StatusCode::PAYMENT_REQUIRED,
            _ => StatusCode::CONFLICT,
        };
        Err(Problem::new(status).with_detail(format!(
            "order `{order_id}` is cancelled, its stock released: {failed_step} failed: {error}"
        )))
    }

    /// Order `id` as the orders projection has it.
    pub async fn order(&self, id: &str) -> Result<OrderView, Problem> {
        self.query(|orders: &Orders| orders.0.get(id).cloned())
            .await?
            .ok_or_else(|| {
                Problem::new(StatusCode::NOT_FOUND).with_detail(format!("no order `{id}`"))
            })
    }
}

/// The server's limits: bodies over 64 KiB are refused with 413.
pub fn server_config() -> ServerConfig {
    ServerConfig::default().body_limit(64 * 1024)
}

/// The shop as a service: its routes, each request tagged with an `x-request-id`.
pub type App = RequestIdService<RouterService<Arc<CommandBus<Shop>>>>;

/// The shop over `storage`.
pub async fn app(storage: &Storage) -> Result<App, Problem> {
    let shop = Shop::open(storage).await?;
    Ok(RequestIdLayer::new().layer(router().with_state(Arc::new(CommandBus::new(shop)))))
}
