//! Run with `cargo run -p ecommerce-api`: it listens on `ALLFRAME_ADDR` (default
//! 127.0.0.1:3000) and keeps its events in PostgreSQL when `DATABASE_URL` is set, else in
//! the directory `ALLFRAME_DATA` (default `./ecommerce-api-data`).

use allframe::cqrs::Storage;
use allframe::server::{env_addr, shutdown_signal};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let storage = Storage::from_env("ecommerce-api")?;
    let app = ecommerce_api::app(&storage).await?;
    let listener = tokio::net::TcpListener::bind(env_addr()).await?;
    eprintln!(
        "ecommerce-api listening on http://{}, events in {storage}",
        listener.local_addr()?
    );
    allframe::serve(listener, app)
        .config(ecommerce_api::server_config())
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}
