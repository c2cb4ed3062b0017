//! Run with `cargo run -p multi-protocol`; it listens on `ALLFRAME_ADDR` (default
//! 127.0.0.1:3000) for REST, GraphQL and gRPC alike.

use allframe::server::{env_addr, shutdown_signal};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = env_addr();
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;
    eprintln!(
        "multi-protocol listening on http://{local} (REST /books, /docs, /graphql, gRPC library.v1.Catalog)"
    );
    allframe::serve(listener, multi_protocol::app())
        .with_graceful_shutdown(shutdown_signal())
        .await
}
