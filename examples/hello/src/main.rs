//! Run with `cargo run -p hello`; it listens on `ALLFRAME_ADDR` (default 127.0.0.1:3000).

use allframe::server::{env_addr, shutdown_signal};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = env_addr();
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("hello listening on http://{}", listener.local_addr()?);
    allframe::serve(listener, hello::app())
        .with_graceful_shutdown(shutdown_signal())
        .await
}
