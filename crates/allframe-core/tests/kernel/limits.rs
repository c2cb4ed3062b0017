//! Bad and abusive input: each answered with its status while the server keeps serving.

use std::time::Duration;

use allframe_core::http::{Method, StatusCode};
use allframe_core::routing::{get, post};
use allframe_core::{Body, Response, Router, ServerConfig};
use allframe_test::TestServer;
use bytes::Bytes;

fn app() -> allframe_core::RouterService {
    Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route(
            "/upload",
            post(|body: Bytes| async move { body.len().to_string() }),
        )
        .route("/panic", get(panic_async))
        .route(
            "/ticks",
            get(|| async { Response::new(Body::new(Ticks::new(8))) }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(900)).await;
                "slow"
            }),
        )
        .route("/panic-before-await", get(panic_sync))
        .into_service()
}

async fn panic_async() -> &'static str {
    tokio::task::yield_now().await;
    panic!("boom")
}

#[allow(clippy::unused_async)]
async fn panic_sync() -> &'static str {
    let v: Vec<u8> = Vec::new();
    let _ = v[3];
    "unreachable"
}

#[tokio::test]
async fn a_route_body_limit_replaces_the_servers() {
    let echo_len = |body: Bytes| async move { body.len().to_string() };
    let app = Router::new()
        .route("/big", post(echo_len).body_limit(4096).put(echo_len))
        .route("/small", post(echo_len).body_limit(10))
        .route("/default", post(echo_len))
        .into_service();
    let config = ServerConfig::default().body_limit(1024);
    let server = TestServer::start_with(app, config).await;
    let mut c = server.http1().await;
    let mut post_len =
        async |path: &str, len: usize| c.request(Method::POST, path, &[], vec![1u8; len]).await;
    assert_eq!(post_len("/big", 4096).await.text(), "4096");
    let refused = post_len("/big", 4097).await;
    assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        refused.text().contains("limit of 4096 bytes"),
        "{}",
        refused.text()
    );
    assert_eq!(
        post_len("/small", 11).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        post_len("/default", 1025).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );

    // Undeclared (chunked): counted against the route's limit while it is read.
    let mut raw = server.raw().await;
    let chunk = "x".repeat(3000);
    raw.write(
        format!(
            "POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
             bb8\r\n{chunk}\r\n0\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    let read = raw.read_response().await.expect("an answer");
    assert_eq!(read.status, 200);
    raw.write(
        format!(
            "POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
             bb8\r\n{chunk}\r\nbb8\r\n{chunk}\r\n0\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(raw.read_response().await.expect("an answer").status, 413);
    still_serving_at(&server, "/default").await;
}

async fn still_serving_at(server: &TestServer, path: &str) {
    let mut c = server.http1().await;
    let res = c.request(Method::POST, path, &[], vec![1u8; 10]).await;
    assert_eq!(res.text(), "10", "the server keeps serving");
}

async fn still_serving(server: &TestServer) {
    assert_eq!(
        server.get("/ok").await.text(),
        "ok",
        "the server keeps serving"
    );
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let config = ServerConfig::default().body_limit(1024);
    let server = TestServer::start_with(app(), config).await;
    let mut c = server.http1().await;
    assert_eq!(
        c.request(Method::POST, "/upload", &[], vec![1u8; 1024])
            .await
            .text(),
        "1024"
    );

    // Declared too large: refused before the body is read.
    let res = c
        .request(Method::POST, "/upload", &[], vec![1u8; 1025])
        .await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        res.json()["detail"]
            .as_str()
            .unwrap()
            .contains("limit of 1024 bytes")
    );

    // Undeclared (chunked) and too large: cut off while reading.
    let mut raw = server.raw().await;
    let chunk = "x".repeat(800);
    raw.write(
        format!(
            "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
             320\r\n{chunk}\r\n320\r\n{chunk}\r\n0\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(raw.read_response().await.unwrap().status, 413);

    // Over HTTP/2 as well.
    let res = server
        .http2()
        .await
        .request(Method::POST, "/upload", &[], vec![0u8; 4096])
        .await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE);
    still_serving(&server).await;
}

#[tokio::test]
async fn a_panicking_handler_is_500_and_the_server_keeps_serving() {
    let server = TestServer::start(app()).await;
    let mut c = server.http1().await;
    for path in ["/panic", "/panic-before-await"] {
        let res = c.get(path).await;
        assert_eq!(res.status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        assert_eq!(res.header("server"), Some("AllFrame"));
        assert!(res.json()["detail"].as_str().unwrap().contains("panicked"));
    }
    // The same connection is still usable.
    assert_eq!(c.get("/ok").await.text(), "ok");
    let mut h2 = server.http2().await;
    assert_eq!(
        h2.get("/panic").await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(h2.get("/ok").await.text(), "ok");
}

#[tokio::test]
async fn malformed_requests_are_400() {
    let server = TestServer::start(app()).await;
    for garbage in [
        &b"NOT HTTP AT ALL\r\n\r\n"[..],
        b"GET /ok HTTP/1.1\r\nHost x\r\n\r\n",
        b"GET /ok HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"GET /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    ] {
        let mut raw = server.raw().await;
        raw.write(garbage).await;
        let res = raw
            .read_response()
            .await
            .expect("an answer before the connection closes");
        assert_eq!(res.status, 400, "{:?}", String::from_utf8_lossy(garbage));
        assert_eq!(res.header("connection"), Some("close"));
    }
    still_serving(&server).await;
}

#[tokio::test]
async fn too_many_or_too_large_headers_are_431() {
    let config = ServerConfig::default()
        .max_headers(20)
        .max_header_bytes(8 * 1024);
    let server = TestServer::start_with(app(), config).await;

    let mut many = String::from("GET /ok HTTP/1.1\r\nHost: x\r\n");
    for i in 0..30 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let mut raw = server.raw().await;
    raw.write(many.as_bytes()).await;
    assert_eq!(raw.read_response().await.unwrap().status, 431);

    let big = format!(
        "GET /ok HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20 * 1024)
    );
    let mut raw = server.raw().await;
    raw.write(big.as_bytes()).await;
    assert_eq!(raw.read_response().await.unwrap().status, 431);
    still_serving(&server).await;
}

#[tokio::test]
async fn slow_clients_are_disconnected_after_the_header_timeout() {
    let config = ServerConfig::default().header_read_timeout(Duration::from_millis(300));
    let server = TestServer::start_with(app(), config).await;

    // Slowloris: a request head that never ends.
    let mut slow = server.raw().await;
    slow.write(b"GET /ok HTTP/1.1\r\nHost: x\r\n").await;
    // A connection that never sends a byte.
    let mut silent = server.raw().await;
    // A few bytes of the HTTP/2 preface, then nothing: the protocol is never known.
    let mut partial_preface = server.raw().await;
    partial_preface.write(b"PRI * HT").await;

    assert!(
        slow.closed_within(Duration::from_secs(5)).await,
        "slow client disconnected"
    );
    assert!(
        silent.closed_within(Duration::from_secs(5)).await,
        "silent client disconnected"
    );
    still_serving(&server).await;
}

#[tokio::test]
async fn the_header_timeout_times_the_wait_for_a_head_not_the_handler() {
    let config = ServerConfig::default().header_read_timeout(Duration::from_millis(300));
    let server = TestServer::start_with(app(), config).await;

    // A handler slower than the header timeout is answered: its request head came in time.
    let mut patient = server.raw().await;
    patient
        .write(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let answer = patient.read_response_within(Duration::from_secs(5)).await;
    assert_eq!(
        answer.map(|r| r.status),
        Some(200),
        "a slow handler is answered"
    );

    // Then the connection idles, waiting for a next head that never comes: it is closed.
    assert!(
        patient.closed_within(Duration::from_secs(5)).await,
        "an idle keep-alive connection is closed after the header timeout"
    );

    // Pipelined heads, the second one cut short and never finished: the first is
    // answered, then the connection is closed.
    let mut half = server.raw().await;
    half.write(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHo")
        .await;
    let first = half.read_response_within(Duration::from_secs(5)).await;
    assert_eq!(first.map(|r| r.status), Some(200));
    assert!(
        half.closed_within(Duration::from_secs(5)).await,
        "an unfinished head is timed out"
    );
    still_serving(&server).await;
}

/// A streamed body: `n` chunks, one every 100 ms.
struct Ticks {
    left: u32,
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl Ticks {
    fn new(n: u32) -> Self {
        Self {
            left: n,
            sleep: Box::pin(tokio::time::sleep(Duration::from_millis(100))),
        }
    }
}

impl http_body::Body for Ticks {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        use std::future::Future;
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        std::task::ready!(self.sleep.as_mut().poll(cx));
        self.left -= 1;
        let next = tokio::time::Instant::now() + Duration::from_millis(100);
        self.sleep.as_mut().reset(next);
        let chunk = Bytes::from(format!("tick{}\n", self.left));
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(chunk))))
    }
}

#[tokio::test]
async fn a_stream_longer_than_the_header_timeout_is_written_whole() {
    let config = ServerConfig::default().header_read_timeout(Duration::from_millis(300));
    let server = TestServer::start_with(app(), config).await;
    // 800 ms of chunks: the wait for the next head starts only once the stream has ended.
    let res = server.http1().await.get("/ticks").await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.text().lines().count(), 8, "{}", res.text());
    assert!(res.text().ends_with("tick0\n"));
}

#[tokio::test]
async fn a_stream_is_not_held_back_behind_a_pipelined_request() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start(app()).await;
    let mut stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    // The second request is already in the server's read buffer while the first streams.
    stream
        .write_all(b"GET /ticks HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut seen = Vec::new();
    let first_chunk = tokio::time::timeout(Duration::from_millis(600), async {
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&seen).contains("tick7") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the connection closed");
            seen.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    assert!(
        first_chunk.is_ok(),
        "the first chunk (due after 100 ms) arrives while the stream goes on: {}",
        String::from_utf8_lossy(&seen)
    );
}

#[tokio::test]
async fn a_header_timeout_too_large_to_add_is_no_timeout() {
    let config = ServerConfig::default().header_read_timeout(Duration::MAX);
    let server = TestServer::start_with(app(), config).await;
    let mut client = server.http1().await;
    assert_eq!(client.get("/ok").await.text(), "ok");
    assert_eq!(
        client.get("/ok").await.text(),
        "ok",
        "the connection lives on"
    );
}
