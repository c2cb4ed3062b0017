//! Run with `cargo run -p cms`: it listens on `ALLFRAME_ADDR` (default 127.0.0.1:3000) and
//! keeps its events in PostgreSQL when `DATABASE_URL` is set, else in the directory
//! `ALLFRAME_DATA` (default `./cms-data`); uploads are in `<ALLFRAME_DATA>/media` either
//! way. Tokens are signed with `CMS_SECRET`, or with a secret the CMS makes once and keeps
//! beside its data, so tokens outlive a restart.

use std::path::PathBuf;

use allframe::auth::JwtKeys;
use allframe::cqrs::Storage;
use allframe::server::{env_addr, shutdown_signal};

/// `ALLFRAME_DATA`, default `./cms-data`: the events (unless in PostgreSQL), the secret
/// and the uploaded media.
fn data_dir() -> PathBuf {
    PathBuf::from(std::env::var("ALLFRAME_DATA").unwrap_or_else(|_| "cms-data".into()))
}

/// `CMS_SECRET`, or the secret in `<ALLFRAME_DATA>/secret` (made on the first start).
fn secret() -> std::io::Result<Vec<u8>> {
    if let Ok(secret) = std::env::var("CMS_SECRET") {
        return Ok(secret.into_bytes());
    }
    let dir = data_dir();
    let path = dir.join("secret");
    match std::fs::read(&path) {
        Ok(secret) => Ok(secret),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(&dir)?;
            let secret: String = (0..64).map(|_| fastrand::alphanumeric()).collect();
            std::fs::write(&path, &secret)?;
            Ok(secret.into_bytes())
        }
        Err(err) => Err(err),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let storage = Storage::from_env("cms")?;
    let keys = JwtKeys::hs256(&secret()?)?.scheme("Token");
    let app = cms::app(&storage, keys, data_dir().join("media")).await?;
    let listener = tokio::net::TcpListener::bind(env_addr()).await?;
    eprintln!(
        "cms listening on http://{}, events in {storage}",
        listener.local_addr()?
    );
    allframe::serve(listener, app)
        .config(cms::server_config())
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}
