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

async fn handshake_from(server: &TestServer, origin: Option<&str>) -> u16 {
    let mut req = format!("ws://{}/graphql", server.addr())
        .into_client_request()
        .expect("request");
    let headers = req.headers_mut();
    headers.insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    if let Some(origin) = origin {
        headers.insert("origin", origin.parse().unwrap());
    }
    match connect_async(req).await {
        Ok((_, res)) => res.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => res.status().as_u16(),
        Err(other) => panic!("handshake failed: {other}"),
    }
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
