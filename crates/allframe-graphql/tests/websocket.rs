//! Subscriptions over a real WebSocket (tokio-tungstenite's client) on the server's listener.

mod common;

use allframe_test::{PATIENCE, TestServer};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn connect(server: &TestServer, protocol: &str) -> Socket {
    let mut req = format!("ws://{}/graphql", server.addr())
        .into_client_request()
        .expect("request");
    req.headers_mut()
        .insert("sec-websocket-protocol", protocol.parse().expect("header"));
    let (socket, res) = connect_async(req).await.expect("WebSocket handshake");
    assert_eq!(res.status(), 101);
    assert_eq!(
        res.headers()
            .get("sec-websocket-protocol")
            .map(|v| v.to_str().unwrap()),
        Some(protocol)
    );
    socket
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::text(message.to_string()))
        .await
        .expect("send");
}

async fn receive(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("a message in time")
            .expect("the socket stays open")
            .expect("a good frame");
        match message {
            Message::Text(text) => return serde_json::from_str(&text).expect("JSON message"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected message {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_subscription_streams_three_events_over_graphql_transport_ws() {
    let server = TestServer::start(common::app()).await;
    let mut socket = connect(&server, "graphql-transport-ws").await;

    send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(receive(&mut socket).await["type"], "connection_ack");

    let subscribe = json!({
        "id": "1",
        "type": "subscribe",
        "payload": { "query": "subscription { ticks(count: 3) }" },
    });
    send(&mut socket, subscribe).await;
    for i in 0..3 {
        assert_eq!(
            receive(&mut socket).await,
            json!({
                "id": "1",
                "type": "next",
                "payload": { "data": { "ticks": format!("hello {i}") } },
            })
        );
    }
    assert_eq!(
        receive(&mut socket).await,
        json!({ "id": "1", "type": "complete" })
    );

    // The connection stays usable: queries run over it too.
    let query = json!({ "id": "2", "type": "subscribe", "payload": { "query": "{ greeting }" } });
    send(&mut socket, query).await;
    let next = receive(&mut socket).await;
    assert_eq!(next["payload"]["data"]["greeting"], "hello");
    socket.close(None).await.expect("close");

    // And the server still answers plain HTTP on new connections.
    assert_eq!(server.get("/counter").await.text(), "0");
}

#[tokio::test]
async fn the_legacy_graphql_ws_protocol_works_too() {
    let server = TestServer::start(common::app()).await;
    let mut socket = connect(&server, "graphql-ws").await;
    send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(receive(&mut socket).await["type"], "connection_ack");
    let start = json!({
        "id": "a",
        "type": "start",
        "payload": { "query": "subscription { ticks(count: 2) }" },
    });
    send(&mut socket, start).await;
    for i in 0..2 {
        let data = receive(&mut socket).await;
        assert_eq!(data["type"], "data");
        assert_eq!(data["payload"]["data"]["ticks"], format!("hello {i}"));
    }
    assert_eq!(receive(&mut socket).await["type"], "complete");
}

#[tokio::test]
async fn limits_apply_to_operations_over_websocket() {
    let server = TestServer::start(common::app()).await;
    let mut socket = connect(&server, "graphql-transport-ws").await;
    send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(receive(&mut socket).await["type"], "connection_ack");
    let deep = format!(
        "{{ node {{ {}value{} }} }}",
        "child { ".repeat(30),
        " }".repeat(30)
    );
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": deep } });
    send(&mut socket, subscribe).await;
    // async-graphql answers a refused operation with a `next` carrying only errors.
    let next = receive(&mut socket).await;
    assert_eq!(next["type"], "next", "{next}");
    assert_eq!(
        next["payload"]["errors"][0]["message"],
        "Query is nested too deep."
    );
    assert!(next["payload"]["data"].is_null());
    assert_eq!(receive(&mut socket).await["type"], "complete");
}

#[tokio::test]
async fn an_upgrade_without_a_graphql_protocol_is_refused() {
    let server = TestServer::start(common::app()).await;
    let req = format!("ws://{}/graphql", server.addr())
        .into_client_request()
        .expect("request");
    match connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status(), 400);
            let body = String::from_utf8(res.body().clone().unwrap_or_default()).unwrap();
            assert!(body.contains("graphql-transport-ws"), "{body}");
        }
        other => panic!("expected a refused handshake, got {other:?}"),
    }
    assert_eq!(server.get("/counter").await.status, 200);
}

/// A graphql-transport-ws handshake with `extra` headers: the socket, or the refusal's status.
async fn handshake(server: &TestServer, extra: &[(&'static str, &str)]) -> Result<Socket, u16> {
    let mut req = format!("ws://{}/graphql", server.addr())
        .into_client_request()
        .expect("request");
    let headers = req.headers_mut();
    headers.insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    for (name, value) in extra {
        headers.insert(*name, value.parse().expect("header"));
    }
    match connect_async(req).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => Err(res.status().as_u16()),
        Err(other) => panic!("handshake failed: {other}"),
    }
}

async fn handshake_from(server: &TestServer, origin: Option<&str>) -> u16 {
    let origin: Vec<_> = origin.map(|o| ("origin", o)).into_iter().collect();
    handshake(server, &origin)
        .await
        .map_or_else(|status| status, |_| 101)
}

/// A page of another site must not open the socket with the user's cookies (cross-site
/// WebSocket hijacking): same-origin pages, allow-listed origins and clients that send no
/// `Origin` (not browsers) may (issue 18, finding 16).
#[tokio::test]
async fn a_websocket_from_another_origin_is_refused() {
    let server = TestServer::start(common::app()).await;
    let own = format!("http://{}", server.addr());
    assert_eq!(handshake_from(&server, None).await, 101);
    assert_eq!(handshake_from(&server, Some(&own)).await, 101);
    assert_eq!(
        handshake_from(&server, Some("https://evil.example")).await,
        403
    );
    assert_eq!(handshake_from(&server, Some("null")).await, 403);
    let allowed = TestServer::start(common::app_allowing("https://app.example")).await;
    assert_eq!(
        handshake_from(&allowed, Some("https://app.example")).await,
        101
    );
    assert_eq!(
        handshake_from(&allowed, Some("https://evil.example")).await,
        403
    );
}

async fn connect_with(server: &TestServer, authorization: Option<&str>) -> Result<Socket, u16> {
    let authorization: Vec<_> = authorization
        .map(|a| ("authorization", a))
        .into_iter()
        .collect();
    handshake(server, &authorization).await
}

/// The close frame that ends `socket`, skipping pings and messages before it.
async fn closed(socket: &mut Socket) -> (u16, String) {
    loop {
        let message = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("the socket closes in time");
        match message {
            Some(Ok(Message::Close(Some(frame)))) => {
                return (frame.code.into(), frame.reason.to_string());
            }
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// The close frame that ends `socket`, read from its TCP stream underneath: tungstenite
/// would answer the pings queued before it, and a pong written after the server closed
/// fails the read (broken pipe) before the close frame is reached.
async fn close_frame_read_raw(socket: &mut Socket) -> (u16, String) {
    use tokio::io::AsyncReadExt;
    let tcp = socket.get_mut();
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let read = tokio::time::timeout(PATIENCE, tcp.read(&mut buffer))
            .await
            .expect("the socket closes in time");
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => bytes.extend_from_slice(&buffer[..n]),
        }
    }
    // Server frames are unmasked; the pings and the close here are short (one length byte).
    let mut at = 0;
    while at + 2 <= bytes.len() {
        let (opcode, len) = (bytes[at] & 0x0f, usize::from(bytes[at + 1] & 0x7f));
        let payload = &bytes[at + 2..(at + 2 + len).min(bytes.len())];
        if opcode == 0x8 && payload.len() >= 2 {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            return (code, String::from_utf8_lossy(&payload[2..]).into_owned());
        }
        at += 2 + len;
    }
    panic!(
        "no close frame in the {} bytes the server sent",
        bytes.len()
    )
}

async fn subscribe_my_name(socket: &mut Socket, id: &str) -> Value {
    send(
        socket,
        json!({"id": id, "type": "subscribe", "payload": {"query": "subscription { myName }"}}),
    )
    .await;
    receive(socket).await
}

/// The caller of a socket comes from `connection_init` (what browsers can send) or the
/// handshake's header; a subscription that needs one refuses a socket without, with a
/// GraphQL error, and the socket stays open for the next operation.
#[tokio::test]
async fn a_socket_is_signed_in_by_connection_init_or_by_its_handshake() {
    let online = std::sync::Arc::default();
    let server = TestServer::start(common::app_authenticating(online, None)).await;

    let mut anonymous = connect_with(&server, None).await.expect("a socket");
    send(&mut anonymous, json!({"type": "connection_init"})).await;
    assert_eq!(receive(&mut anonymous).await["type"], "connection_ack");
    let refused = subscribe_my_name(&mut anonymous, "1").await;
    assert!(
        refused["payload"]["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("sign in first")),
        "{refused}"
    );
    send(
        &mut anonymous,
        json!({"id": "2", "type": "subscribe", "payload": {"query": "{ me }"}}),
    )
    .await;
    let still_open = loop {
        let message = receive(&mut anonymous).await;
        if message["id"] == "2" {
            break message;
        }
    };
    assert_eq!(
        still_open["payload"]["data"]["me"],
        Value::Null,
        "{still_open}"
    );

    let mut by_init = connect_with(&server, None).await.expect("a socket");
    send(
        &mut by_init,
        json!({"type": "connection_init", "payload": {"authorization": "Bearer ann"}}),
    )
    .await;
    assert_eq!(receive(&mut by_init).await["type"], "connection_ack");
    let named = subscribe_my_name(&mut by_init, "1").await;
    assert_eq!(named["payload"]["data"]["myName"], "ann", "{named}");

    let mut by_header = connect_with(&server, Some("Bearer bob"))
        .await
        .expect("a socket");
    send(&mut by_header, json!({"type": "connection_init"})).await;
    assert_eq!(receive(&mut by_header).await["type"], "connection_ack");
    let named = subscribe_my_name(&mut by_header, "1").await;
    assert_eq!(named["payload"]["data"]["myName"], "bob", "{named}");
}

/// A forged credential: the handshake's is answered 401, `connection_init`'s closes the
/// socket with 4403 and the reason, as graphql-transport-ws says.
#[tokio::test]
async fn a_forged_credential_is_refused_with_the_reason() {
    let online = std::sync::Arc::default();
    let server = TestServer::start(common::app_authenticating(online, None)).await;
    assert_eq!(
        connect_with(&server, Some("Bearer forged")).await.err(),
        Some(401)
    );
    let mut socket = connect_with(&server, None).await.expect("a socket");
    send(
        &mut socket,
        json!({"type": "connection_init", "payload": {"authorization": "Bearer forged"}}),
    )
    .await;
    let (code, reason) = closed(&mut socket).await;
    assert_eq!(code, 4403, "{reason}");
    assert!(reason.contains("not a valid token"), "{reason}");
}

/// The server pings: a peer that answers stays; one that answers nothing is closed after two
/// intervals, and what it signed in with (here, its count as online) is dropped with it.
#[tokio::test]
async fn a_socket_that_stops_answering_pings_is_closed_and_its_caller_dropped() {
    use std::sync::atomic::Ordering;
    let online = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    let every = std::time::Duration::from_millis(100);
    let server = TestServer::start(common::app_authenticating(
        std::sync::Arc::clone(&online),
        Some(every),
    ))
    .await;
    let mut answering = connect_with(&server, Some("Bearer ann"))
        .await
        .expect("a socket");
    let mut silent = connect_with(&server, Some("Bearer bob"))
        .await
        .expect("a socket");
    for socket in [&mut answering, &mut silent] {
        send(socket, json!({"type": "connection_init"})).await;
        assert_eq!(receive(socket).await["type"], "connection_ack");
    }
    assert_eq!(online.load(Ordering::SeqCst), 2);
    // Reading answers the server's pings (tungstenite pongs as it reads); `silent` is not
    // read from for a while, so it sends nothing.
    let mut pings = 0;
    let quiet_until = tokio::time::Instant::now() + every * 6;
    while tokio::time::Instant::now() < quiet_until {
        if let Ok(Some(Ok(Message::Ping(_)))) = tokio::time::timeout(every, answering.next()).await
        {
            pings += 1;
        }
    }
    assert!(pings >= 2, "the server pinged {pings} times");
    let (code, reason) = close_frame_read_raw(&mut silent).await;
    assert_eq!(code, 1001, "{reason}");
    assert!(reason.contains("no answer to pings"), "{reason}");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while online.load(Ordering::SeqCst) != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "bob is still online"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    send(
        &mut answering,
        json!({"id": "1", "type": "subscribe", "payload": {"query": "{ me }"}}),
    )
    .await;
    assert_eq!(
        receive(&mut answering).await["payload"]["data"]["me"],
        "ann"
    );
}

/// A graceful shutdown tells open sockets (`1001 Going Away`) and waits for them to close.
#[tokio::test]
async fn a_graceful_shutdown_closes_open_sockets_with_going_away() {
    let server = TestServer::start(common::app()).await;
    let mut socket = connect(&server, "graphql-transport-ws").await;
    send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(receive(&mut socket).await["type"], "connection_ack");
    let stopping = tokio::spawn(server.stop());
    let (code, reason) = closed(&mut socket).await;
    assert_eq!(code, 1001, "{reason}");
    assert!(reason.contains("shutting down"), "{reason}");
    drop(socket);
    stopping.await.expect("no panic").expect("the server stops");
}

/// A socket that never sends `connection_init` is closed with 4408, as graphql-transport-ws
/// says, instead of holding a connection forever.
#[tokio::test]
async fn a_socket_without_connection_init_is_closed_with_4408() {
    let wait = std::time::Duration::from_millis(200);
    let server = TestServer::start(common::app_configured(|graphql| {
        graphql.connection_init_timeout(wait)
    }))
    .await;
    let mut initiated = connect(&server, "graphql-transport-ws").await;
    send(&mut initiated, json!({ "type": "connection_init" })).await;
    assert_eq!(receive(&mut initiated).await["type"], "connection_ack");
    let mut silent = connect(&server, "graphql-transport-ws").await;
    let (code, reason) = closed(&mut silent).await;
    assert_eq!(code, 4408, "{reason}");
    // The socket that did initiate outlives the deadline and still answers.
    tokio::time::sleep(wait * 2).await;
    send(
        &mut initiated,
        json!({"id": "1", "type": "subscribe", "payload": {"query": "{ greeting }"}}),
    )
    .await;
    assert_eq!(
        receive(&mut initiated).await["payload"]["data"]["greeting"],
        "hello"
    );
}

/// An operation past the socket's limit gets a GraphQL error with its own id; the socket
/// and its running subscriptions go on, and a completed one frees a place.
#[tokio::test]
async fn an_operation_past_the_sockets_limit_is_refused_and_the_socket_kept() {
    let server =
        TestServer::start(common::app_configured(|graphql| graphql.max_operations(2))).await;
    let mut socket = connect(&server, "graphql-transport-ws").await;
    send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(receive(&mut socket).await["type"], "connection_ack");
    let idle = |id: &str| json!({"id": id, "type": "subscribe", "payload": {"query": "subscription { idle }"}});
    send(&mut socket, idle("1")).await;
    send(&mut socket, idle("2")).await;
    send(&mut socket, idle("3")).await;
    let refused = receive(&mut socket).await;
    assert_eq!(refused["id"], "3", "{refused}");
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"], "TOO_MANY_OPERATIONS",
        "{refused}"
    );
    send(&mut socket, json!({"id": "1", "type": "complete"})).await;
    // async-graphql confirms a completion.
    let completed = receive(&mut socket).await;
    assert_eq!(
        (&completed["id"], &completed["type"]),
        (&json!("1"), &json!("complete"))
    );
    send(
        &mut socket,
        json!({"id": "4", "type": "subscribe", "payload": {"query": "subscription { ticks(count: 1) }"}}),
    )
    .await;
    let tick = receive(&mut socket).await;
    assert_eq!(tick["id"], "4", "{tick}");
    assert_eq!(tick["payload"]["data"]["ticks"], "hello 0", "{tick}");
    // `ticks` completed, so its place is free: one more fits beside `2`, the next does not.
    assert_eq!(receive(&mut socket).await["type"], "complete");
    send(&mut socket, idle("5")).await;
    send(&mut socket, idle("6")).await;
    let refused = receive(&mut socket).await;
    assert_eq!(refused["id"], "6", "{refused}");
}
