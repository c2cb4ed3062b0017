//! The commands the API sends through the `CommandBus` (their fields were checked by the
//! API's `Valid` extractors); a checkout carrying an idempotency key runs once.

use allframe::Problem;
use allframe::cqrs::{Command, CommandHandler};

use crate::Shop;
use crate::checkout::Checkout;
use crate::domain::{CartCommand, Line, ProductCommand};
use crate::error::ShopError;
use crate::views::OrderView;

#[derive(Debug, Clone)]
pub struct ListProduct {
    pub sku: String,
    pub name: String,
    pub price_cents: u64,
    pub stock: u32,
}

impl Command for ListProduct {}

impl CommandHandler<ListProduct> for Shop {
    type Output = ();
    type Error = Problem;

    async fn handle(&self, c: ListProduct) -> Result<(), Problem> {
        let list = ProductCommand::List {
            sku: c.sku.clone(),
            name: c.name.trim().to_owned(),
            price_cents: c.price_cents,
            stock: c.stock,
        };
        self.domain.product(&c.sku, list).await
    }
}

#[derive(Debug, Clone)]
pub struct AddStock {
    pub sku: String,
    pub quantity: u32,
}

impl Command for AddStock {}

impl CommandHandler<AddStock> for Shop {
    type Output = ();
    type Error = Problem;

    async fn handle(&self, c: AddStock) -> Result<(), Problem> {
        let add = ProductCommand::AddStock {
            sku: c.sku.clone(),
            quantity: c.quantity,
        };
        self.domain.product(&c.sku, add).await
    }
}

#[derive(Debug, Clone)]
pub struct AddToCart {
    pub cart_id: String,
    pub sku: String,
    pub quantity: u32,
}

impl Command for AddToCart {}

impl CommandHandler<AddToCart> for Shop {
    type Output = ();
    type Error = Problem;

    /// The line takes the product's price of the moment.
    async fn handle(&self, c: AddToCart) -> Result<(), Problem> {
        let product = self.domain.load_product(&c.sku).await?;
        if !product.listed {
            return Err(ShopError::NotFound(format!("no product `{}`", c.sku)).into());
        }
        let line = Line {
            sku: c.sku,
            quantity: c.quantity,
            price_cents: product.price_cents,
        };
        self.domain
            .cart(
                &c.cart_id,
                CartCommand::Add {
                    cart_id: c.cart_id.clone(),
                    line,
                },
            )
            .await
    }
}

#[derive(Debug, Clone)]
pub struct RemoveFromCart {
    pub cart_id: String,
    pub sku: String,
}

impl Command for RemoveFromCart {}

impl CommandHandler<RemoveFromCart> for Shop {
    type Output = ();
    type Error = Problem;

    async fn handle(&self, c: RemoveFromCart) -> Result<(), Problem> {
        let remove = CartCommand::Remove {
            cart_id: c.cart_id.clone(),
            sku: c.sku,
        };
        self.domain.cart(&c.cart_id, remove).await
    }
}

/// Turns a cart into an order (its id is the cart's: a cart is checked out once) and runs
/// the order's saga.
#[derive(Debug, Clone)]
pub struct CheckOut {
    pub cart_id: String,
    pub payment_token: String,
    pub idempotency_key: Option<String>,
}

impl Command for CheckOut {
    fn idempotency_key(&self) -> Option<&str> {
        self.idempotency_key.as_deref()
    }
}

impl CommandHandler<CheckOut> for Shop {
    type Output = OrderView;
    type Error = Problem;

    async fn handle(&self, c: CheckOut) -> Result<OrderView, Problem> {
        let order_id = c.cart_id.clone();
        let check_out = CartCommand::CheckOut {
            cart_id: c.cart_id.clone(),
            order_id: order_id.clone(),
        };
        // Of two concurrent checkouts of one cart, the store lets one append: the other is
        // decided again on the checked-out cart and refused.
        self.domain.cart(&c.cart_id, check_out).await?;
        // Checked out, the cart no longer changes: its lines are the order's.
        let lines: Vec<Line> = self
            .domain
            .load_cart(&c.cart_id)
            .await?
            .lines
            .into_values()
            .collect();
        let place = crate::domain::OrderCommand::Place {
            order_id: order_id.clone(),
            lines: lines.clone(),
        };
        self.domain.order(&order_id, place).await?;
        self.process(Checkout {
            order_id,
            lines,
            payment_token: c.payment_token,
        })
        .await
    }
}
