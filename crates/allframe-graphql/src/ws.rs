//! Subscriptions over WebSocket: the HTTP/1.1 upgrade handshake, then async-graphql's
//! protocol engine (`graphql-transport-ws`, and the legacy `graphql-ws`) on tungstenite.

use std::str::FromStr;

use allframe_core::{IntoResponse, Request, Response};
use async_graphql::Executor;
use async_graphql::http::{WebSocketProtocols, WsMessage};
use futures_util::{SinkExt, StreamExt, future};
use http::header::{
    CONNECTION, HOST, ORIGIN, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{HeaderMap, HeaderValue, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};

use crate::GraphQLRejection;

/// Largest WebSocket message when the request carries no body limit (it always does when
/// it comes from the server).
const DEFAULT_MAX_MESSAGE: usize = 2 * 1024 * 1024;

/// Whether the request asks to switch to WebSocket.
pub(crate) fn is_upgrade(headers: &HeaderMap) -> bool {
    let has_token = |name, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    has_token(CONNECTION, "upgrade") && has_token(UPGRADE, "websocket")
}

/// Refuses a browser page of another origin (cross-site WebSocket hijacking: the page would
/// act with the user's cookies). Same-origin means the `Origin`'s host and port are the
/// request's `Host` (the scheme is left out: a TLS proxy in front changes it). No `Origin`
/// at all is a client that is not a browser, and is let in.
pub(crate) fn check_origin(
    headers: &HeaderMap,
    allowed: &[String],
) -> Result<(), GraphQLRejection> {
    let Some(origin) = headers.get(ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or_default();
    let authority = origin.split_once("://").map(|(_, rest)| rest);
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    let same = matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h));
    if same || allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
        return Ok(());
    }
    Err(GraphQLRejection::forbidden(&format!(
        "a WebSocket from the origin `{origin}` is refused: only pages of this endpoint's \
         own origin may open it (allow others with `GraphQL::allow_origins`)"
    )))
}

/// The first protocol the client offers that async-graphql speaks.
fn protocol(headers: &HeaderMap) -> Option<(WebSocketProtocols, HeaderValue)> {
    headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find_map(|p| {
            let protocol = WebSocketProtocols::from_str(p).ok()?;
            Some((protocol, HeaderValue::from_str(p).ok()?))
        })
}

/// Answers the handshake with `101 Switching Protocols` and serves the connection on a task
/// of its own once hyper hands it over.
pub(crate) fn upgrade<E, T>(executor: E, mut req: Request, data: T) -> Response
where
    E: Executor,
    T: Send + Sync + 'static,
{
    let headers = req.headers();
    let bad = |message: &str| GraphQLRejection::bad_request(message).into_response();
    if headers
        .get(SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        return bad("a WebSocket upgrade needs `Sec-WebSocket-Version: 13`");
    }
    let Some(key) = headers.get(SEC_WEBSOCKET_KEY) else {
        return bad("a WebSocket upgrade needs `Sec-WebSocket-Key`");
    };
    let accept = derive_accept_key(key.as_bytes());
    let Some((protocol, protocol_header)) = protocol(headers) else {
        return bad(
            "no GraphQL WebSocket protocol offered: send `Sec-WebSocket-Protocol: graphql-transport-ws`",
        );
    };
    // A message may be as large as a request body.
    let max = req.body().limit().unwrap_or(DEFAULT_MAX_MESSAGE);
    let config = WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max));
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(err) => {
                tracing::debug!(error = %err, "WebSocket upgrade failed");
                return;
            }
        };
        let socket =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await;
        serve(socket, executor, protocol, data).await;
    });

    let mut res = Response::new(allframe_core::Body::empty());
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = res.headers_mut();
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(
        SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&accept).expect("base64 is header text"),
    );
    headers.insert(SEC_WEBSOCKET_PROTOCOL, protocol_header);
    res
}

/// Feeds the client's messages to async-graphql's protocol engine and sends what it answers,
/// until either side closes.
async fn serve<S, E, T>(
    socket: WebSocketStream<S>,
    executor: E,
    protocol: WebSocketProtocols,
    data: T,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    E: Executor,
    T: Send + Sync + 'static,
{
    let (mut sink, stream) = socket.split();
    let input = stream
        .take_while(|msg| future::ready(msg.is_ok()))
        .filter_map(|msg| {
            future::ready(match msg {
                Ok(msg @ (Message::Text(_) | Message::Binary(_))) => Some(msg.into_data()),
                // tungstenite answers pings itself; a close frame ends the stream.
                _ => None,
            })
        });
    let mut connection_data = async_graphql::Data::default();
    connection_data.insert(data);
    let output = async_graphql::http::WebSocket::new(executor, input, protocol)
        .connection_data(connection_data)
        .map(|msg| match msg {
            WsMessage::Text(text) => Message::text(text),
            WsMessage::Close(code, reason) => Message::Close(Some(CloseFrame {
                code: CloseCode::from(code),
                reason: reason.into(),
            })),
        });
    futures_util::pin_mut!(output);
    while let Some(msg) = output.next().await {
        if sink.send(msg).await.is_err() {
            return;
        }
    }
    let _ = sink.close().await;
}
