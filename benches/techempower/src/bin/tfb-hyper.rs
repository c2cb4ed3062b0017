//! The floor: raw hyper answering /json and /plaintext (404 otherwise), no framework at all.
//!
//! Run with `cargo run -p allframe-techempower --bin tfb-hyper`; it listens on `ALLFRAME_ADDR`
//! (default 127.0.0.1:3000).

use std::convert::Infallible;
use std::time::Duration;

use allframe::server::env_addr;
use allframe_techempower::{HELLO, Message};
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue, SERVER};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, content_type, body) = match req.uri().path() {
        "/plaintext" => (
            StatusCode::OK,
            "text/plain; charset=utf-8",
            Bytes::from_static(HELLO.as_bytes()),
        ),
        "/json" => (
            StatusCode::OK,
            "application/json",
            serde_json::to_vec(&Message::HELLO)
                .expect("a message always serialises")
                .into(),
        ),
        _ => (StatusCode::NOT_FOUND, "text/plain", Bytes::new()),
    };
    let mut res = Response::new(Full::new(body));
    *res.status_mut() = status;
    let headers = res.headers_mut();
    headers.insert(SERVER, HeaderValue::from_static("hyper"));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(res)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(env_addr()).await?;
    eprintln!("tfb-hyper listening on http://{}", listener.local_addr()?);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of file descriptors under load: serve the connections we have, retry shortly.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .pipeline_flush(true)
                .serve_connection(TokioIo::new(stream), service_fn(handle))
                .await;
        });
    }
}
