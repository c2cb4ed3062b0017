//! Connections as a resource: how many may be open, how long one may idle, stall a body or
//! leave its answer unread, what a streamed answer's panic costs, and what one HTTP/2
//! connection may hold.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use allframe_core::http::header::{CONNECTION, UPGRADE};
use allframe_core::http::{HeaderValue, StatusCode};
use allframe_core::routing::{get, post};
use allframe_core::{Body, Request, Response, Router, ServerConfig};
use allframe_test::{RawConnection, TestServer};
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn app() -> allframe_core::RouterService {
    Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route(
            "/upload",
            post(|body: Bytes| async move { body.len().to_string() }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(900)).await;
                "slow"
            }),
        )
        .route(
            "/endless",
            get(|| async { Response::new(Body::new(Endless)) }),
        )
        .route(
            "/panics-midway",
            get(|| async { Response::new(Body::new(PanicsMidway { sent: false })) }),
        )
        .route("/upgrade", get(hold_upgraded))
        .into_service()
}

/// Answers `101` and keeps the upgraded socket open until the client closes it.
async fn hold_upgraded(mut req: Request) -> Response {
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            let mut socket = hyper_util::rt::TokioIo::new(upgraded);
            let mut buf = [0u8; 64];
            while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
        }
    });
    let mut res = Response::new(Body::empty());
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    res.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("upgrade"));
    res.headers_mut()
        .insert(UPGRADE, HeaderValue::from_static("hold"));
    res
}

/// A body that never ends, 64 KiB at a time.
struct Endless;

impl http_body::Body for Endless {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from_static(
            &[b'x'; 64 * 1024],
        )))))
    }
}

/// A body that sends one chunk and panics on the next poll.
struct PanicsMidway {
    sent: bool,
}

impl http_body::Body for PanicsMidway {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        assert!(!self.sent, "the body's source failed midway");
        self.sent = true;
        Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from_static(
            b"first chunk",
        )))))
    }
}

async fn answered(conn: &mut RawConnection, path: &str) -> u16 {
    conn.write(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await;
    conn.read_response().await.expect("an answer").status
}

#[tokio::test]
async fn open_connections_are_capped_and_an_upgraded_socket_counts() {
    let config = ServerConfig::default().max_connections(2);
    let server = TestServer::start_with(app(), config).await;
    let mut first = server.raw().await;
    assert_eq!(answered(&mut first, "/ok").await, 200);
    // An upgraded socket is no longer HTTP, but it is still an open connection.
    let mut upgraded = server.raw().await;
    upgraded
        .write(b"GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: hold\r\n\r\n")
        .await;
    let switched = upgraded.read_response().await.expect("an answer");
    assert_eq!(switched.status, 101);

    // The third waits in the listen queue while two are open...
    let mut third = server.raw().await;
    third.write(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let early = tokio::time::timeout(Duration::from_millis(500), third.read_response()).await;
    assert!(
        early.is_err(),
        "a third connection is not served while two are open: {early:?}"
    );
    // ...and is served once one closes.
    drop(upgraded);
    let late = third.read_response_within(Duration::from_secs(5)).await;
    assert_eq!(late.map(|r| r.status), Some(200));
    assert_eq!(answered(&mut first, "/ok").await, 200, "the first lives on");
}

#[test]
fn the_default_connection_cap_leaves_file_descriptors_for_files() {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .expect("a finite open-file limit");
    let cap = ServerConfig::default().connection_cap();
    assert!(cap > 0, "connections are served");
    assert!(
        (cap as u64) < limit,
        "a cap of {cap} leaves room below the open-file limit of {limit}"
    );
}

/// A raw HTTP/2 client connection, and the task driving it (it ends when the server closes
/// the connection).
async fn h2_connect(
    server: &TestServer,
) -> (
    h2::client::SendRequest<Bytes>,
    tokio::task::JoinHandle<Result<(), h2::Error>>,
) {
    let tcp = TcpStream::connect(server.addr()).await.expect("connect");
    let (client, connection) = h2::client::handshake(tcp).await.expect("h2 handshake");
    (client, tokio::spawn(connection))
}

async fn h2_get(
    client: &mut h2::client::SendRequest<Bytes>,
    path: &str,
) -> Result<(StatusCode, Vec<u8>), h2::Error> {
    let request = http::Request::get(format!("http://x{path}"))
        .body(())
        .expect("a request");
    let (response, _) = client.clone().ready().await?.send_request(request, true)?;
    let response = response.await?;
    let status = response.status();
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
        bytes.extend_from_slice(&chunk);
    }
    Ok((status, bytes))
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed_and_a_busy_one_is_not() {
    let config = ServerConfig::default().idle_timeout(Duration::from_millis(300));
    let server = TestServer::start_with(app(), config).await;
    let (mut client, connection) = h2_connect(&server).await;
    // A request longer than the idle timeout: the connection is busy, not idle.
    let (status, body) = h2_get(&mut client, "/slow").await.expect("answered");
    assert_eq!((status, body.as_slice()), (StatusCode::OK, &b"slow"[..]));
    // Then nothing: the client answers the server's pings, but sends no request.
    let closed = tokio::time::timeout(Duration::from_secs(5), connection).await;
    assert!(
        closed.is_ok(),
        "an HTTP/2 connection without requests is closed after the idle timeout"
    );
    drop(client);
    let (mut fresh, _connection) = h2_connect(&server).await;
    assert_eq!(h2_get(&mut fresh, "/ok").await.expect("served").0, 200);
}

#[tokio::test]
async fn a_cancelled_http2_request_leaves_its_connection_idle() {
    let config = ServerConfig::default().idle_timeout(Duration::from_millis(300));
    let server = TestServer::start_with(app(), config).await;
    let (client, connection) = h2_connect(&server).await;
    // A request given up before its answer (as a gRPC client past its deadline does).
    let request = http::Request::get("http://x/slow")
        .body(())
        .expect("a request");
    let (response, _) = client
        .clone()
        .ready()
        .await
        .expect("ready")
        .send_request(request, true)
        .expect("sent");
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(response);
    let closed = tokio::time::timeout(Duration::from_secs(5), connection).await;
    assert!(
        closed.is_ok(),
        "a connection whose only request was cancelled is idle"
    );
    drop(client);
}

#[tokio::test]
async fn a_stalled_request_body_is_answered_408() {
    let config = ServerConfig::default().body_read_timeout(Duration::from_millis(300));
    let server = TestServer::start_with(app(), config).await;
    let mut stalled = server.raw().await;
    // Ten bytes of a hundred, then nothing (a one-byte-a-minute body is this, slower).
    stalled
        .write(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        .await;
    let answer = stalled.read_response_within(Duration::from_secs(5)).await;
    assert_eq!(answer.map(|r| r.status), Some(408));
    assert!(
        stalled.closed_within(Duration::from_secs(5)).await,
        "the connection, its body unread, is closed"
    );
    // A body that keeps coming, if slowly, is read.
    let mut steady = server.raw().await;
    steady
        .write(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab")
        .await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    steady.write(b"c").await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    steady.write(b"d").await;
    let read = steady.read_response().await.expect("an answer");
    assert_eq!((read.status, read.body.as_slice()), (200, &b"4"[..]));
}

#[tokio::test]
async fn a_client_that_never_reads_its_answer_is_disconnected() {
    let config = ServerConfig::default().write_timeout(Duration::from_millis(300));
    let server = TestServer::start_with(app(), config).await;
    let mut stream = TcpStream::connect(server.addr()).await.expect("connect");
    stream
        .write_all(b"GET /endless HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    // Not reading: the socket's buffers fill and the server's writes stop making progress.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut received = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while received < 512 << 20 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(n) => received += n,
            }
        }
        false
    })
    .await;
    assert_eq!(
        ended,
        Ok(true),
        "the server gave up writing to a client that did not read (read {received} bytes)"
    );
    assert_eq!(server.get("/ok").await.text(), "ok");
}

#[tokio::test]
async fn a_panic_in_a_streamed_answer_fails_only_its_stream() {
    let server = TestServer::start(app()).await;
    let (mut client, _connection) = h2_connect(&server).await;
    let failed = h2_get(&mut client, "/panics-midway")
        .await
        .expect_err("the stream is reset");
    assert_eq!(
        failed.reason(),
        Some(h2::Reason::INTERNAL_ERROR),
        "the stream is reset as a server failure (not as cancelled): {failed}"
    );
    assert_eq!(
        h2_get(&mut client, "/ok").await.expect("served").0,
        200,
        "the connection's other streams go on"
    );

    // HTTP/1.1 cannot reset one answer: the connection closes before the body's end.
    let mut raw = server.raw().await;
    raw.write(b"GET /panics-midway HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert!(raw.closed_within(Duration::from_secs(5)).await);
    assert_eq!(server.get("/ok").await.text(), "ok");
}

/// CPU time this process has used, user and system, from `/proc/self/stat` (in clock ticks
/// of 10 ms: the kernel reports them in USER_HZ, 100 a second).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The fields after the command name (which may hold spaces, so it is skipped by its
    // closing parenthesis): utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat[stat.rfind(')').expect("a command name") + 2..]
        .split(' ')
        .collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    Duration::from_millis(ticks * 10)
}

#[tokio::test]
async fn a_partial_http2_preface_is_waited_for_without_polling() {
    let server = TestServer::start(app()).await;
    let mut waiting = Vec::new();
    for _ in 0..1000 {
        let mut conn = server.raw().await;
        conn.write(b"PRI * HTTP/2.0\r\n").await;
        waiting.push(conn);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = cpu_time();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let spent = cpu_time() - before;
    // Waiting on 1000 sockets is a wake-up when bytes arrive, none in between; a poll of
    // each every 5 ms cost 220 ms a second on the developers' machine.
    assert!(
        spent < Duration::from_millis(60),
        "1000 connections waiting for the rest of a preface cost {spent:?} of CPU in a second"
    );
    // The server still serves while they wait.
    let (mut client, _connection) = h2_connect(&server).await;
    assert_eq!(h2_get(&mut client, "/ok").await.expect("served").0, 200);
    drop(waiting);
}

#[tokio::test]
async fn a_preface_sent_in_pieces_is_http2() {
    let server = TestServer::start(app()).await;
    let mut tcp = TcpStream::connect(server.addr()).await.expect("connect");
    for piece in [&b"PRI * HT"[..], b"TP/2.0\r\n\r\n", b"SM\r\n\r\n"] {
        tcp.write_all(piece).await.expect("write");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // An empty SETTINGS frame: the server answers with its own.
    tcp.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0])
        .await
        .expect("write");
    let settings = read_frame(&mut tcp).await;
    assert_eq!(settings.0, 4, "the server's first frame is its SETTINGS");
}

/// Reads one HTTP/2 frame: its type and payload.
async fn read_frame(tcp: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 9];
    tokio::time::timeout(Duration::from_secs(5), tcp.read_exact(&mut head))
        .await
        .expect("a frame in time")
        .expect("a frame head");
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let mut payload = vec![0u8; len];
    tcp.read_exact(&mut payload).await.expect("a frame payload");
    (head[3], payload)
}

#[tokio::test]
async fn an_http2_connection_holds_at_most_a_bounded_header_memory() {
    let server = TestServer::start(app()).await;
    let mut tcp = TcpStream::connect(server.addr()).await.expect("connect");
    tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .expect("write");
    let (kind, payload) = read_frame(&mut tcp).await;
    assert_eq!(kind, 4, "SETTINGS");
    let setting = |id: u16| {
        payload.chunks(6).find_map(|entry| {
            (u16::from_be_bytes([entry[0], entry[1]]) == id)
                .then(|| u32::from_be_bytes([entry[2], entry[3], entry[4], entry[5]]))
        })
    };
    let streams = setting(0x3).expect("SETTINGS_MAX_CONCURRENT_STREAMS is set");
    let header_list = setting(0x6).expect("SETTINGS_MAX_HEADER_LIST_SIZE is set");
    // Each open stream may hold a header list: their product bounds a connection's headers.
    let most = u64::from(streams) * u64::from(header_list);
    assert!(
        most <= 2 << 20,
        "{streams} streams of {header_list} header bytes each: {most} bytes per connection"
    );

    // A request over the header list limit is refused, and the connection goes on.
    let (client, _connection) = h2_connect(&server).await;
    let request = http::Request::get("http://x/ok")
        .header("x-large", "a".repeat(20 * 1024))
        .body(())
        .expect("a request");
    let refused = async {
        let (response, _) = client.clone().ready().await?.send_request(request, true)?;
        response.await
    }
    .await;
    assert_eq!(
        refused.as_ref().map(http::Response::status).ok(),
        Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
        "{refused:?}"
    );
    let mut client = client;
    assert_eq!(h2_get(&mut client, "/ok").await.expect("served").0, 200);
}
