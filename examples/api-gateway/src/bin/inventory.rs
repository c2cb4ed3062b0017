//! The inventory backend alone: `ALLFRAME_ADDR=127.0.0.1:50051 cargo run -p api-gateway
//! --bin inventory`, then `INVENTORY_URL=http://127.0.0.1:50051 cargo run -p api-gateway`.
//! `INVENTORY_DELAY_MS` makes every call answer that late (to see deadlines at work).

use std::time::Duration;

use allframe::server::{env_addr, shutdown_signal};
use api_gateway::inventory::{self, Stock};
use api_gateway::telemetry::Telemetry;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = Telemetry::init("inventory")?;
    let delay = match std::env::var("INVENTORY_DELAY_MS") {
        Ok(ms) => Duration::from_millis(
            ms.parse()
                .map_err(|_| format!("INVENTORY_DELAY_MS={ms} is not a number of milliseconds"))?,
        ),
        Err(_) => Duration::ZERO,
    };
    let listener = tokio::net::TcpListener::bind(env_addr()).await?;
    eprintln!("inventory listening on http://{}", listener.local_addr()?);
    allframe::serve(
        listener,
        inventory::app(Stock::seeded().answering_after(delay)),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    telemetry.shutdown().await;
    Ok(())
}
