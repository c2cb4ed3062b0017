//! The read side: projections folded from the shop's events, queried by the API.

use std::collections::BTreeMap;

use allframe::cqrs::{Envelope, Projection};
use allframe::openapi::{JsonSchema, schemars};
use serde::Serialize;

use crate::domain::{Line, OrderStatus, ShopEvent};

/// A product as the catalog shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ProductView {
    pub sku: String,
    pub name: String,
    pub price_cents: u64,
    /// On hand and not held by an order.
    pub available: u32,
}

/// The catalog: names and prices, by sku.
#[derive(Debug, Default)]
pub struct Catalog(pub BTreeMap<String, (String, u64)>);

impl Projection<ShopEvent> for Catalog {
    const NAME: &'static str = "catalog";

    fn apply(&mut self, event: &Envelope<ShopEvent>) {
        if let ShopEvent::ProductListed {
            sku,
            name,
            price_cents,
            ..
        } = &event.payload
        {
            self.0.insert(sku.clone(), (name.clone(), *price_cents));
        }
    }
}

/// Stock levels by sku: on hand, and held by orders not yet shipped.
#[derive(Debug, Default)]
pub struct Inventory(pub BTreeMap<String, Stock>);

/// One product's stock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Stock {
    pub on_hand: u32,
    pub reserved: u32,
}

impl Projection<ShopEvent> for Inventory {
    const NAME: &'static str = "inventory";

    fn apply(&mut self, event: &Envelope<ShopEvent>) {
        use ShopEvent::*;
        match &event.payload {
            ProductListed { sku, stock, .. } => {
                self.0.insert(
                    sku.clone(),
                    Stock {
                        on_hand: *stock,
                        reserved: 0,
                    },
                );
            }
            StockAdded { sku, quantity } => self.entry(sku).on_hand += quantity,
            StockReserved { sku, quantity, .. } => self.entry(sku).reserved += quantity,
            StockReleased { sku, quantity, .. } => self.entry(sku).reserved -= quantity,
            StockShipped { sku, quantity, .. } => {
                let stock = self.entry(sku);
                stock.reserved -= quantity;
                stock.on_hand -= quantity;
            }
            _ => {}
        }
    }
}

impl Inventory {
    fn entry(&mut self, sku: &str) -> &mut Stock {
        self.0.entry(sku.to_owned()).or_default()
    }
}

/// An order as its customer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct OrderView {
    pub id: String,
    pub status: OrderStatus,
    pub lines: Vec<Line>,
    pub total_cents: u64,
    /// Why it was cancelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Every order, by id.
#[derive(Debug, Default)]
pub struct Orders(pub BTreeMap<String, OrderView>);

impl Projection<ShopEvent> for Orders {
    const NAME: &'static str = "orders";

    fn apply(&mut self, event: &Envelope<ShopEvent>) {
        use ShopEvent::*;
        let (order_id, status) = match &event.payload {
            OrderPlaced {
                order_id,
                lines,
                total_cents,
            } => {
                let view = OrderView {
                    id: order_id.clone(),
                    status: OrderStatus::Placed,
                    lines: lines.clone(),
                    total_cents: *total_cents,
                    reason: None,
                };
                self.0.insert(order_id.clone(), view);
                return;
            }
            PaymentTaken { order_id, .. } => (order_id, OrderStatus::Paid),
            OrderShipped { order_id } => (order_id, OrderStatus::Shipped),
            OrderCancelled { order_id, reason } => {
                if let Some(view) = self.0.get_mut(order_id) {
                    view.reason = Some(reason.clone());
                }
                (order_id, OrderStatus::Cancelled)
            }
            _ => return,
        };
        if let Some(view) = self.0.get_mut(order_id) {
            view.status = status;
        }
    }
}
