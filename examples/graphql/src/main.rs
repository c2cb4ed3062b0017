//! Run with `cargo run -p graphql-example`; it listens on `ALLFRAME_ADDR` (default
//! 127.0.0.1:3000). Open http://127.0.0.1:3000/graphql in a browser for GraphiQL.

use allframe::server::{env_addr, shutdown_signal};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = env_addr();
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!(
        "graphql-example listening on http://{}/graphql",
        listener.local_addr()?
    );
    allframe::serve(listener, graphql_example::app())
        .with_graceful_shutdown(shutdown_signal())
        .await
}
