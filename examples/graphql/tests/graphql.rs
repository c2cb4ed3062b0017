use allframe_test::{Client, PATIENCE, RunningBinary, TestServer};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

async fn graphql(c: &mut Client, query: &str) -> Value {
    let res = c.post_json("/graphql", &json!({ "query": query })).await;
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()
}

#[tokio::test]
async fn graphql_and_rest_share_the_board() {
    let server = TestServer::start(graphql_example::app()).await;
    let mut c = server.http1().await;
    assert_eq!(
        graphql(&mut c, r#"mutation { addNote(text: "first") }"#).await,
        json!({ "data": { "addNote": 1 } })
    );
    assert_eq!(
        graphql(&mut c, r#"mutation { addNote(text: "second") }"#).await,
        json!({ "data": { "addNote": 2 } })
    );
    assert_eq!(
        graphql(&mut c, "{ notes noteCount }").await,
        json!({ "data": { "notes": ["first", "second"], "noteCount": 2 } })
    );
    let res = server.get("/graphql?query=%7B%20noteCount%20%7D").await;
    assert_eq!(res.json(), json!({ "data": { "noteCount": 2 } }));
    assert_eq!(
        server.get("/notes").await.json(),
        json!(["first", "second"])
    );
}

#[tokio::test]
async fn a_subscriber_sees_the_board_and_each_new_note() {
    let server = TestServer::start(graphql_example::app()).await;
    let mut c = server.http1().await;
    graphql(&mut c, r#"mutation { addNote(text: "one") }"#).await;

    let mut req = format!("ws://{}/graphql", server.addr())
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("WebSocket handshake");
    let init = json!({ "type": "connection_init" });
    let subscribe = json!({
        "id": "s",
        "type": "subscribe",
        "payload": { "query": "subscription { noteAdded }" },
    });

    socket.send(Message::text(init.to_string())).await.unwrap();
    let ack = next_text(&mut socket).await;
    assert_eq!(ack["type"], "connection_ack");
    socket
        .send(Message::text(subscribe.to_string()))
        .await
        .unwrap();
    // The note already on the board arrives first: the subscription is live from here on.
    assert_eq!(
        next_text(&mut socket).await,
        json!({ "id": "s", "type": "next", "payload": { "data": { "noteAdded": "one" } } })
    );
    for text in ["two", "three"] {
        graphql(
            &mut c,
            &format!(r#"mutation {{ addNote(text: "{text}") }}"#),
        )
        .await;
        let next = next_text(&mut socket).await;
        assert_eq!(next["type"], "next");
        assert_eq!(next["payload"]["data"]["noteAdded"], text);
    }
    socket
        .send(Message::text(
            json!({ "id": "s", "type": "complete" }).to_string(),
        ))
        .await
        .unwrap();
    socket.close(None).await.unwrap();
    assert_eq!(
        server.get("/notes").await.json(),
        json!(["one", "two", "three"])
    );
}

async fn next_text(
    socket: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Value {
    loop {
        let message = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("a message in time")
            .expect("the socket stays open")
            .expect("a good frame");
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

#[tokio::test]
async fn a_browser_gets_graphiql() {
    let server = TestServer::start(graphql_example::app()).await;
    let res = server
        .http1()
        .await
        .request(
            http::Method::GET,
            "/graphql",
            &[("accept", "text/html")],
            "",
        )
        .await;
    assert_eq!(res.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(res.text().contains("GraphiQL"));
}

#[tokio::test]
async fn the_binary_listens_on_allframe_addr() {
    let running = RunningBinary::start(env!("CARGO_BIN_EXE_graphql-example")).await;
    let addr = running.addr();
    let mut c = Client::http1(addr).await;
    assert_eq!(
        graphql(&mut c, "{ noteCount }").await,
        json!({ "data": { "noteCount": 0 } })
    );
}
