//! The floor: raw hyper answering /json and /plaintext (404 otherwise), no framework at all.
//!
//! Run with `cargo run -p allframe-techempower --bin tfb-hyper`; it listens on `ALLFRAME_ADDR`
//! (default 127.0.0.1:3000).

use std::convert::Infallible;

use allframe::server::env_addr;
use allframe_techempower::{HELLO, Message, serve_http1};
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue, SERVER};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;

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
    serve_http1(listener, service_fn(handle)).await
}
