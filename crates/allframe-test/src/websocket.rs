//! A GraphQL client on a real WebSocket (tokio-tungstenite), speaking graphql-transport-ws:
//! what a browser's Apollo or graphql-ws client sends, checked message by message.

use std::collections::VecDeque;
use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::PATIENCE;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One graphql-transport-ws connection. Messages for other operations than the one awaited
/// are kept for later; pings are answered as the socket is read.
#[derive(Debug)]
pub struct GraphQLSocket {
    socket: Socket,
    pending: VecDeque<Value>,
}

impl GraphQLSocket {
    /// Opens `ws://{addr}{path}` and sends `connection_init` with `payload` (`{}` if `None`);
    /// the server's answer to it is the first [`GraphQLSocket::next`].
    pub async fn open(addr: SocketAddr, path: &str, payload: Option<Value>) -> Self {
        let mut req = format!("ws://{addr}{path}")
            .into_client_request()
            .expect("a WebSocket request");
        req.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().expect("a header"),
        );
        let (socket, _) = tokio_tungstenite::connect_async(req)
            .await
            .expect("a WebSocket handshake");
        let mut this = Self {
            socket,
            pending: VecDeque::new(),
        };
        let init = json!({"type": "connection_init", "payload": payload.unwrap_or(json!({}))});
        this.send(init).await;
        this
    }

    /// [`GraphQLSocket::open`], then asserts the server acknowledged the connection.
    pub async fn connect(addr: SocketAddr, path: &str, payload: Option<Value>) -> Self {
        let mut this = Self::open(addr, path, payload).await;
        let ack = this.next().await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        this
    }

    /// Sends a message as JSON text.
    pub async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .expect("the socket takes a message");
    }

    /// Starts operation `id`: `query` with `variables`.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let payload = json!({"query": query, "variables": variables});
        self.send(json!({"id": id, "type": "subscribe", "payload": payload}))
            .await;
    }

    /// Stops operation `id`.
    pub async fn complete(&mut self, id: &str) {
        self.send(json!({"id": id, "type": "complete"})).await;
    }

    /// The next message, kept ones first.
    pub async fn next(&mut self) -> Value {
        match self.pending.pop_front() {
            Some(kept) => kept,
            None => self.receive().await,
        }
    }

    /// The next message of operation `id` (`next`, `error` or `complete`); others are kept.
    pub async fn next_of(&mut self, id: &str) -> Value {
        if let Some(at) = self.pending.iter().position(|m| m["id"] == id) {
            return self.pending.remove(at).expect("found above");
        }
        loop {
            let message = self.receive().await;
            if message["id"] == id {
                return message;
            }
            self.pending.push_back(message);
        }
    }

    /// The close frame that ends the socket, skipping what comes before it.
    pub async fn closed(&mut self) -> (u16, String) {
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.socket.next())
                .await
                .expect("the socket closes in time");
            match frame {
                Some(Ok(Message::Close(Some(frame)))) => {
                    return (frame.code.into(), frame.reason.to_string());
                }
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    }

    /// Closes the socket as a client leaving would.
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }

    async fn receive(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.socket.next())
                .await
                .expect("a message in time")
                .expect("the socket stays open")
                .expect("a good frame");
            match frame {
                Message::Text(text) => return serde_json::from_str(&text).expect("JSON"),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }
}
