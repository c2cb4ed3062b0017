//! The shop's events and its three aggregates: products (with their stock), carts and
//! orders. One event type for the whole shop, so its projections see every fact in order.

use std::collections::BTreeMap;

use allframe::cqrs::{Aggregate, Event, Upcasters};
use allframe::openapi::{JsonSchema, schemars};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::ShopError;

/// One line of an order: what, how many, at what unit price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Line {
    /// The product.
    pub sku: String,
    /// How many.
    pub quantity: u32,
    /// The unit price when it was put in the cart, in cents.
    pub price_cents: u64,
}

/// Everything that happens in the shop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ShopEvent {
    ProductListed {
        sku: String,
        name: String,
        price_cents: u64,
        stock: u32,
    },
    StockAdded {
        sku: String,
        quantity: u32,
    },
    StockReserved {
        sku: String,
        order_id: String,
        quantity: u32,
    },
    StockReleased {
        sku: String,
        order_id: String,
        quantity: u32,
    },
    /// Reserved stock left the warehouse.
    StockShipped {
        sku: String,
        order_id: String,
        quantity: u32,
    },
    ItemAdded {
        cart_id: String,
        line: Line,
    },
    ItemRemoved {
        cart_id: String,
        sku: String,
    },
    CartCheckedOut {
        cart_id: String,
        order_id: String,
    },
    /// Schema 2; schema 1 wrote `items: [{sku, qty}]` and `total` in dollars (see
    /// [`ShopEvent::upcasters`]).
    OrderPlaced {
        order_id: String,
        lines: Vec<Line>,
        total_cents: u64,
    },
    PaymentTaken {
        order_id: String,
        amount_cents: u64,
    },
    PaymentRefunded {
        order_id: String,
        amount_cents: u64,
    },
    OrderShipped {
        order_id: String,
    },
    OrderCancelled {
        order_id: String,
        reason: String,
    },
}

impl Event for ShopEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::ProductListed { .. } => "ProductListed",
            Self::StockAdded { .. } => "StockAdded",
            Self::StockReserved { .. } => "StockReserved",
            Self::StockReleased { .. } => "StockReleased",
            Self::StockShipped { .. } => "StockShipped",
            Self::ItemAdded { .. } => "ItemAdded",
            Self::ItemRemoved { .. } => "ItemRemoved",
            Self::CartCheckedOut { .. } => "CartCheckedOut",
            Self::OrderPlaced { .. } => "OrderPlaced",
            Self::PaymentTaken { .. } => "PaymentTaken",
            Self::PaymentRefunded { .. } => "PaymentRefunded",
            Self::OrderShipped { .. } => "OrderShipped",
            Self::OrderCancelled { .. } => "OrderCancelled",
        }
    }

    const SCHEMA_VERSION: u32 = 2;

    /// Schema 1 of `OrderPlaced` (2025): `{"order_id", "items": [{"sku", "qty", "unit_price"}],
    /// "total"}` with prices in dollars as JSON numbers.
    fn upcasters() -> Upcasters {
        Upcasters::new().add("OrderPlaced", 1, |old| {
            let v1 = &old["OrderPlaced"];
            let cents = |dollars: &Value| dollars.as_f64().map(|d| (d * 100.0).round() as u64);
            let lines: Option<Vec<Value>> = v1["items"]
                .as_array()
                .ok_or("no `items`")?
                .iter()
                .map(|item| {
                    Some(
                        json!({"sku": item["sku"].as_str()?, "quantity": item["qty"].as_u64()?,
                                "price_cents": cents(&item["unit_price"])?}),
                    )
                })
                .collect();
            Ok(json!({"OrderPlaced": {
                "order_id": v1["order_id"].as_str().ok_or("no `order_id`")?,
                "lines": lines.ok_or("an item lacks `sku`, `qty` or `unit_price`")?,
                "total_cents": cents(&v1["total"]).ok_or("no `total`")?,
            }}))
        })
    }
}

/// A product and its stock: what is on hand, and how much of it each order holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Product {
    pub listed: bool,
    pub price_cents: u64,
    pub on_hand: u32,
    pub reserved: BTreeMap<String, u32>,
}

#[derive(Debug, Clone)]
pub enum ProductCommand {
    List {
        sku: String,
        name: String,
        price_cents: u64,
        stock: u32,
    },
    AddStock {
        sku: String,
        quantity: u32,
    },
    Reserve {
        sku: String,
        order_id: String,
        quantity: u32,
    },
    /// Releases whatever `order_id` holds (nothing if it holds nothing: retries are safe).
    Release {
        sku: String,
        order_id: String,
    },
    Ship {
        sku: String,
        order_id: String,
    },
}

impl Product {
    fn available(&self) -> u32 {
        self.on_hand - self.reserved.values().sum::<u32>()
    }
}

impl Aggregate for Product {
    type Event = ShopEvent;
    type Command = ProductCommand;
    type Error = ShopError;

    fn handle(&self, command: ProductCommand) -> Result<Vec<ShopEvent>, ShopError> {
        use ProductCommand::*;
        if !self.listed && !matches!(command, List { .. }) {
            return Err(ShopError::NotFound("no such product".into()));
        }
        Ok(match command {
            List { .. } if self.listed => {
                return Err(ShopError::Conflict("the sku is taken".into()));
            }
            List {
                sku,
                name,
                price_cents,
                stock,
            } => {
                vec![ShopEvent::ProductListed {
                    sku,
                    name,
                    price_cents,
                    stock,
                }]
            }
            AddStock { sku, quantity } => vec![ShopEvent::StockAdded { sku, quantity }],
            Reserve { order_id, .. } if self.reserved.contains_key(&order_id) => vec![],
            Reserve { sku, quantity, .. } if quantity > self.available() => {
                return Err(ShopError::Conflict(format!(
                    "only {} of `{sku}` in stock, {quantity} wanted",
                    self.available()
                )));
            }
            Reserve {
                sku,
                order_id,
                quantity,
            } => {
                vec![ShopEvent::StockReserved {
                    sku,
                    order_id,
                    quantity,
                }]
            }
            Release { sku, order_id } | Ship { sku, order_id }
                if !self.reserved.contains_key(&order_id) =>
            {
                let _ = (sku, order_id);
                vec![]
            }
            Release { sku, order_id } => {
                let quantity = self.reserved[&order_id];
                vec![ShopEvent::StockReleased {
                    sku,
                    order_id,
                    quantity,
                }]
            }
            Ship { sku, order_id } => {
                let quantity = self.reserved[&order_id];
                vec![ShopEvent::StockShipped {
                    sku,
                    order_id,
                    quantity,
                }]
            }
        })
    }

    fn apply(&mut self, event: &ShopEvent) {
        match event {
            ShopEvent::ProductListed {
                price_cents, stock, ..
            } => {
                self.listed = true;
                self.price_cents = *price_cents;
                self.on_hand = *stock;
            }
            ShopEvent::StockAdded { quantity, .. } => self.on_hand += quantity,
            ShopEvent::StockReserved {
                order_id, quantity, ..
            } => {
                self.reserved.insert(order_id.clone(), *quantity);
            }
            ShopEvent::StockReleased { order_id, .. } => drop(self.reserved.remove(order_id)),
            ShopEvent::StockShipped {
                order_id, quantity, ..
            } => {
                self.reserved.remove(order_id);
                self.on_hand -= quantity;
            }
            _ => {}
        }
    }
}

/// A cart: its lines, until it is checked out (once).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Cart {
    pub lines: BTreeMap<String, Line>,
    pub order_id: Option<String>,
}

#[derive(Debug, Clone)]
pub enum CartCommand {
    Add { cart_id: String, line: Line },
    Remove { cart_id: String, sku: String },
    CheckOut { cart_id: String, order_id: String },
}

impl Aggregate for Cart {
    type Event = ShopEvent;
    type Command = CartCommand;
    type Error = ShopError;

    fn handle(&self, command: CartCommand) -> Result<Vec<ShopEvent>, ShopError> {
        if let Some(order_id) = &self.order_id {
            return Err(ShopError::Conflict(format!(
                "the cart was checked out as order `{order_id}`"
            )));
        }
        Ok(match command {
            CartCommand::Add { cart_id, line } => vec![ShopEvent::ItemAdded { cart_id, line }],
            CartCommand::Remove { sku, .. } if !self.lines.contains_key(&sku) => {
                return Err(ShopError::NotFound(format!("`{sku}` is not in the cart")));
            }
            CartCommand::Remove { cart_id, sku } => vec![ShopEvent::ItemRemoved { cart_id, sku }],
            CartCommand::CheckOut { .. } if self.lines.is_empty() => {
                return Err(ShopError::Conflict("the cart is empty".into()));
            }
            CartCommand::CheckOut { cart_id, order_id } => {
                vec![ShopEvent::CartCheckedOut { cart_id, order_id }]
            }
        })
    }

    fn apply(&mut self, event: &ShopEvent) {
        match event {
            ShopEvent::ItemAdded { line, .. } => {
                // Adding a product again adds to its quantity at the newest price.
                let quantity = self.lines.get(&line.sku).map_or(0, |l| l.quantity);
                let line = Line {
                    quantity: quantity + line.quantity,
                    ..line.clone()
                };
                self.lines.insert(line.sku.clone(), line);
            }
            ShopEvent::ItemRemoved { sku, .. } => drop(self.lines.remove(sku)),
            ShopEvent::CartCheckedOut { order_id, .. } => self.order_id = Some(order_id.clone()),
            _ => {}
        }
    }
}

/// Where an order stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    #[default]
    New,
    Placed,
    Paid,
    Shipped,
    Cancelled,
}

/// An order: its lines and total, and how far it got.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Order {
    pub status: OrderStatus,
    pub lines: Vec<Line>,
    pub total_cents: u64,
    pub paid_cents: u64,
}

#[derive(Debug, Clone)]
pub enum OrderCommand {
    Place {
        order_id: String,
        lines: Vec<Line>,
    },
    /// Records a payment (nothing if already paid: retries are safe).
    Pay {
        order_id: String,
    },
    Refund {
        order_id: String,
    },
    Ship {
        order_id: String,
    },
    Cancel {
        order_id: String,
        reason: String,
    },
}

impl Aggregate for Order {
    type Event = ShopEvent;
    type Command = OrderCommand;
    type Error = ShopError;

    fn handle(&self, command: OrderCommand) -> Result<Vec<ShopEvent>, ShopError> {
        use OrderStatus::*;
        let status = self.status;
        Ok(match command {
            OrderCommand::Place { .. } if status != New => vec![],
            OrderCommand::Place { order_id, lines } => {
                let total_cents = lines
                    .iter()
                    .map(|l| l.price_cents * u64::from(l.quantity))
                    .sum();
                vec![ShopEvent::OrderPlaced {
                    order_id,
                    lines,
                    total_cents,
                }]
            }
            OrderCommand::Pay { order_id } if status == Placed => {
                vec![ShopEvent::PaymentTaken {
                    order_id,
                    amount_cents: self.total_cents,
                }]
            }
            OrderCommand::Refund { order_id } if self.paid_cents > 0 => {
                vec![ShopEvent::PaymentRefunded {
                    order_id,
                    amount_cents: self.paid_cents,
                }]
            }
            OrderCommand::Ship { order_id } if status == Paid => {
                vec![ShopEvent::OrderShipped { order_id }]
            }
            OrderCommand::Cancel { order_id, reason } if matches!(status, Placed | Paid) => {
                vec![ShopEvent::OrderCancelled { order_id, reason }]
            }
            OrderCommand::Pay { .. } | OrderCommand::Refund { .. } => vec![],
            OrderCommand::Ship { .. } | OrderCommand::Cancel { .. } => {
                return Err(ShopError::Conflict(format!("the order is {status:?}")));
            }
        })
    }

    fn apply(&mut self, event: &ShopEvent) {
        match event {
            ShopEvent::OrderPlaced {
                lines, total_cents, ..
            } => {
                self.status = OrderStatus::Placed;
                self.lines = lines.clone();
                self.total_cents = *total_cents;
            }
            ShopEvent::PaymentTaken { amount_cents, .. } => {
                self.status = OrderStatus::Paid;
                self.paid_cents = *amount_cents;
            }
            ShopEvent::PaymentRefunded { .. } => self.paid_cents = 0,
            ShopEvent::OrderShipped { .. } => self.status = OrderStatus::Shipped,
            ShopEvent::OrderCancelled { .. } => self.status = OrderStatus::Cancelled,
            _ => {}
        }
    }
}
