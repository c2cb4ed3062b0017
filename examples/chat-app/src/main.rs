//! Run with `cargo run -p chat-app`: it listens on `ALLFRAME_ADDR` (default 127.0.0.1:3000)
//! and keeps its events in PostgreSQL when `DATABASE_URL` is set, else in the directory
//! `ALLFRAME_DATA` (default `./chat-app-data`). Tokens are signed with `CHAT_SECRET` (at
//! least 32 bytes), else with a secret made at start, so they end with the process.

use allframe::auth::JwtKeys;
use allframe::cqrs::Storage;
use allframe::server::{env_addr, shutdown_signal};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("CHAT_SECRET")
        .unwrap_or_else(|_| (0..64).map(|_| fastrand::alphanumeric()).collect());
    let keys = JwtKeys::hs256(secret.as_bytes())?;
    let storage = Storage::from_env("chat-app")?;
    let app = chat_app::app(&storage, keys, chat_app::Limits::default()).await?;
    let listener = tokio::net::TcpListener::bind(env_addr()).await?;
    eprintln!(
        "chat-app listening on http://{}, events in {storage}",
        listener.local_addr()?
    );
    allframe::serve(listener, app)
        .config(chat_app::server_config())
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}
