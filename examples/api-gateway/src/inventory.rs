//! The backend: `inventory.v1.Inventory` over gRPC (with health and reflection), on
//! AllFrame's server. Each call is logged with the request id the gateway sent as metadata.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use allframe::grpc::{Grpc, Multiplexed};
use allframe::routing::get;
use allframe::{Router, RouterService};
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::REQUEST_ID_METADATA;
use crate::pb::inventory_server::{Inventory, InventoryServer};
use crate::pb::{self, GetItemRequest, Item, ListItemsReply, ListItemsRequest, ReserveRequest};

/// The most one reservation takes.
pub const MAX_RESERVATION: u32 = 1000;

/// The items in stock, by SKU.
#[derive(Debug, Clone, Default)]
pub struct Stock {
    items: Arc<Mutex<BTreeMap<String, Item>>>,
    /// How long every call waits before it answers: a slow backend, for the deadline tests.
    delay: Duration,
}

impl Stock {
    /// A few items to start with: `apple` (10), `pear` (5), `plum` (none left).
    pub fn seeded() -> Self {
        let stock = Self::default();
        for (sku, name, count) in [
            ("apple", "Apple", 10),
            ("pear", "Pear", 5),
            ("plum", "Plum", 0),
        ] {
            stock.lock().insert(
                sku.to_owned(),
                Item {
                    sku: sku.to_owned(),
                    name: name.to_owned(),
                    stock: count,
                },
            );
        }
        stock
    }

    /// The same stock, answering every call `delay` late.
    pub fn answering_after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Item>> {
        self.items.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The call's span, in the trace of the caller's `traceparent`, and its log line.
    fn arrive<T>(&self, method: &str, req: &Request<T>) -> tracing::Span {
        let request_id = req
            .metadata()
            .get(REQUEST_ID_METADATA)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        let span = tracing::info_span!(
            "inventory.serve",
            otel.kind = "server",
            otel.name = %format_args!("inventory.v1.Inventory/{method}"),
            request_id,
        );
        crate::telemetry::continue_trace(&span, req.metadata().as_ref());
        span.in_scope(|| tracing::info!(method, request_id, "call"));
        span
    }

    async fn wait(&self) {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
    }
}

/// A SKU is 1 to 64 of `a-z`, `0-9`, `-`; the gateway checks the same before it calls.
fn check_sku(sku: &str) -> Result<(), Status> {
    let ok = (1..=64).contains(&sku.len())
        && sku
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Status::invalid_argument(format!(
            "`{sku}` is not a SKU: 1 to 64 of a-z, 0-9 and `-`"
        )))
    }
}

#[tonic::async_trait]
impl Inventory for Stock {
    async fn get_item(&self, req: Request<GetItemRequest>) -> Result<Response<Item>, Status> {
        let span = self.arrive("GetItem", &req);
        let sku = req.into_inner().sku;
        async {
            self.wait().await;
            check_sku(&sku)?;
            let item = self.lock().get(&sku).cloned();
            item.map(Response::new)
                .ok_or_else(|| Status::not_found(format!("there is no item `{sku}`")))
        }
        .instrument(span)
        .await
    }

    async fn list_items(
        &self,
        req: Request<ListItemsRequest>,
    ) -> Result<Response<ListItemsReply>, Status> {
        let span = self.arrive("ListItems", &req);
        async {
            self.wait().await;
            let items = self.lock().values().cloned().collect();
            Ok(Response::new(ListItemsReply { items }))
        }
        .instrument(span)
        .await
    }

    async fn reserve(&self, req: Request<ReserveRequest>) -> Result<Response<Item>, Status> {
        let span = self.arrive("Reserve", &req);
        let ReserveRequest { sku, quantity } = req.into_inner();
        async {
            self.wait().await;
            self.take(&sku, quantity)
        }
        .instrument(span)
        .await
    }
}

impl Stock {
    fn take(&self, sku: &str, quantity: u32) -> Result<Response<Item>, Status> {
        check_sku(sku)?;
        if !(1..=MAX_RESERVATION).contains(&quantity) {
            return Err(Status::invalid_argument(format!(
                "a reservation takes 1 to {MAX_RESERVATION}, not {quantity}"
            )));
        }
        let mut items = self.lock();
        let item = items
            .get_mut(sku)
            .ok_or_else(|| Status::not_found(format!("there is no item `{sku}`")))?;
        if item.stock < quantity {
            return Err(Status::failed_precondition(format!(
                "only {} of `{sku}` in stock, {quantity} asked",
                item.stock
            )));
        }
        item.stock -= quantity;
        Ok(Response::new(item.clone()))
    }
}

/// The backend as a service: the inventory, gRPC health and reflection, and `GET /health`.
pub fn app(stock: Stock) -> Multiplexed<RouterService> {
    let rest = Router::new()
        .route("/health", get(|| async { "ok" }))
        .into_service();
    Grpc::new()
        .add_service(InventoryServer::new(stock))
        .with_health()
        .with_reflection(pb::FILE_DESCRIPTOR_SET)
        .with_rest(rest)
}
