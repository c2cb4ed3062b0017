//! An API gateway in front of a gRPC service: REST (with its OpenAPI document) and GraphQL
//! on one port, each request translated into calls to the `inventory.v1.Inventory` backend
//! through a tonic client. Every call carries the request's id as metadata and a deadline
//! from the request's; idempotent calls are retried when the backend could not take them; a
//! circuit breaker answers at once while the backend keeps failing. One failure means the
//! same in all three protocols (see [`Failure::codes`]).

mod backend;
mod failure;
mod graphql;
mod inbound;
pub mod inventory;
mod rest;
pub mod telemetry;

use std::time::Duration;

use allframe::middleware::{Layer, RequestIdLayer, RequestIdService};
use allframe::openapi::Info;
use allframe::{RouterService, ServerConfig};

pub use crate::backend::{Backend, Resilience};
pub use crate::failure::Failure;
pub use crate::inbound::{Inbound, InboundLayer, InboundService};

/// The code tonic-prost-build generated from `proto/inventory.proto` (see `build.rs`).
// Generated code: not ours to document or lint.
#[allow(unreachable_pub, missing_debug_implementations, clippy::all)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/inventory.v1.rs"));

    /// The encoded `FileDescriptorSet` of `inventory.proto`, for the reflection service.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/inventory_descriptor.bin"));
}

/// The gRPC metadata key of the request id (the gateway's `x-request-id`).
pub const REQUEST_ID_METADATA: &str = "x-request-id";

/// How long one request to the gateway may take, backend calls and retries included.
pub const REQUEST_BUDGET: Duration = Duration::from_secs(2);

/// What every handler shares: the backend.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub backend: Backend,
}

/// Serves the inventory on a free port of 127.0.0.1 in this process (still over gRPC, on a
/// task of its own): its URL.
pub async fn start_inventory(stock: inventory::Stock) -> std::io::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(allframe::serve(listener, inventory::app(stock)).into_future());
    Ok(url)
}

/// Request bodies over 64 KiB are refused.
pub fn server_config() -> ServerConfig {
    ServerConfig::default().body_limit(64 * 1024)
}

/// The gateway as a service: `/items...`, `/graphql`, `/health`, `/openapi.json`, `/docs`;
/// every request gets an `x-request-id` (the client's or a new one) and [`REQUEST_BUDGET`].
pub fn app(backend: Backend) -> RequestIdService<InboundService<RouterService<Gateway>>> {
    let graphql = allframe::graphql::GraphQL::new(graphql::schema());
    let router = rest::routes()
        .route("/graphql", graphql.into_route())
        .with_openapi(
            Info::new("api-gateway", env!("CARGO_PKG_VERSION"))
                .description("Items and reservations of the inventory service, over REST."),
        )
        .with_state(Gateway { backend });
    let inbound = InboundLayer {
        budget: REQUEST_BUDGET,
    };
    RequestIdLayer::new().layer(inbound.layer(router))
}
