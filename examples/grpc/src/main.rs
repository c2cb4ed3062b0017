//! Run with `cargo run -p grpc-example`; it listens on `ALLFRAME_ADDR` (default
//! 127.0.0.1:3000) for gRPC (h2c) and REST (HTTP/1.1 and h2c) alike.

use allframe::server::{env_addr, shutdown_signal};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = env_addr();
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!(
        "grpc-example listening on http://{}",
        listener.local_addr()?
    );
    allframe::serve(listener, grpc_example::app())
        .with_graceful_shutdown(shutdown_signal())
        .await
}
