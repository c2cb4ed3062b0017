//! Run with `cargo run -p banking-system`: it listens on `ALLFRAME_ADDR` (default
//! 127.0.0.1:3000) and keeps its events in PostgreSQL when `DATABASE_URL` is set, else in
//! the directory `ALLFRAME_DATA` (default `./banking-system-data`).
//! `BANKING_CREDIT_DELAY_MS` delays every transfer's credit step (fault injection: the
//! crash test kills the process while a transfer waits there).

use std::time::Duration;

use allframe::cqrs::Storage;
use allframe::server::{env_addr, shutdown_signal};
use banking_system::transfer::Rules;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rules = Rules::default();
    if let Ok(ms) = std::env::var("BANKING_CREDIT_DELAY_MS") {
        let ms: u64 = ms
            .parse()
            .map_err(|e| format!("BANKING_CREDIT_DELAY_MS={ms}: {e}"))?;
        rules.credit_delay = Duration::from_millis(ms);
    }
    let storage = Storage::from_env("banking-system")?;
    let app = banking_system::app(&storage, rules).await?;
    let listener = tokio::net::TcpListener::bind(env_addr()).await?;
    eprintln!(
        "banking-system listening on http://{}, events in {storage}",
        listener.local_addr()?
    );
    allframe::serve(listener, app)
        .config(banking_system::server_config())
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}
