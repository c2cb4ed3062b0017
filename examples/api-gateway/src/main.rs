//! Run with `cargo run -p api-gateway`: the gateway on `ALLFRAME_ADDR` (default
//! 127.0.0.1:3000), calling the inventory at `INVENTORY_URL`; without it, the gateway
//! starts the inventory itself on a free port of 127.0.0.1 (still over gRPC).

use allframe::server::{env_addr, shutdown_signal};
use api_gateway::inventory::Stock;
use api_gateway::telemetry::Telemetry;
use api_gateway::{Backend, Resilience};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = Telemetry::init("api-gateway")?;
    let url = match std::env::var("INVENTORY_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        Some(url) => url,
        None => api_gateway::start_inventory(Stock::seeded()).await?,
    };
    let backend = Backend::connect_lazy(&url, Resilience::default())?;
    let listener = tokio::net::TcpListener::bind(env_addr()).await?;
    eprintln!(
        "api-gateway listening on http://{}, inventory at {url}",
        listener.local_addr()?
    );
    allframe::serve(listener, api_gateway::app(backend))
        .config(api_gateway::server_config())
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    telemetry.shutdown().await;
    Ok(())
}
