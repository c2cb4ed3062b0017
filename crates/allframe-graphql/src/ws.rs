//! Subscriptions over WebSocket: the HTTP/1.1 upgrade handshake, then async-graphql's
//! protocol engine (`graphql-transport-ws`, and the legacy `graphql-ws`) on tungstenite.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use allframe_core::server::Shutdown;
use allframe_core::{IntoResponse, Request, Response};
use async_graphql::Executor;
use async_graphql::http::{WebSocketProtocols, WsMessage};
use futures_util::{SinkExt, StreamExt, future};
use http::header::{
    AUTHORIZATION, CONNECTION, HOST, ORIGIN, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{HeaderMap, HeaderValue, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};

use crate::GraphQLRejection;
use crate::caller::{self, Authenticator};
use crate::operations::{Incoming, Operations};

/// What a socket is served with besides the schema.
pub(crate) struct Options {
    pub(crate) caller: Option<Authenticator>,
    pub(crate) keepalive: Option<Duration>,
    pub(crate) init_timeout: Duration,
    pub(crate) max_operations: usize,
}

/// The close code graphql-transport-ws gives a refused `connection_init`.
const FORBIDDEN: u16 = 4403;

/// The close code graphql-transport-ws gives a socket that sent no `connection_init` in time.
const INIT_TIMEOUT: u16 = 4408;

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
pub(crate) fn upgrade<E, T>(executor: E, mut req: Request, data: T, options: Options) -> Response
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
    let mut connection_data = async_graphql::Data::default();
    connection_data.insert(data);
    // A client that can set headers may authenticate the handshake itself.
    if let (Some(caller), Some(credential)) = (&options.caller, headers.get(AUTHORIZATION)) {
        let authenticated = credential
            .to_str()
            .map_err(|_| "the `Authorization` header is not text".to_owned())
            .and_then(|credential| caller.connection(credential, &mut connection_data));
        if let Err(why) = authenticated {
            return GraphQLRejection::unauthorized(&why).into_response();
        }
    }
    let shutdown = req.extensions().get::<Shutdown>().cloned();
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
        let connection = Connection {
            protocol,
            data: connection_data,
            options,
            shutdown,
        };
        serve(socket, executor, connection).await;
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

/// One socket's protocol, data (the router's state, and its caller once known), options and
/// the server's shutdown.
struct Connection {
    protocol: WebSocketProtocols,
    data: async_graphql::Data,
    options: Options,
    shutdown: Option<Shutdown>,
}

/// Feeds the client's messages to async-graphql's protocol engine and sends what it answers,
/// pinging the client and closing a socket that stops answering, until either side closes
/// or the server shuts down (the client is told: `1001 Going Away`).
async fn serve<S, E>(socket: WebSocketStream<S>, executor: E, connection: Connection)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    E: Executor,
{
    let Connection {
        protocol,
        data,
        options,
        mut shutdown,
    } = connection;
    let (mut sink, stream) = socket.split();
    // Any frame counts as an answer, a pong or a message.
    let heard = Arc::new(std::sync::Mutex::new(tokio::time::Instant::now()));
    let heard_in = Arc::clone(&heard);
    let initiated = Arc::new(AtomicBool::new(false));
    let initiated_in = Arc::clone(&initiated);
    let operations = Arc::new(std::sync::Mutex::new(Operations::new(
        options.max_operations,
    )));
    let operations_in = Arc::clone(&operations);
    // Refusals wait here for the loop below to send them; a client that floods refused
    // operations without reading is read no further until it does.
    let (refuse, mut refusals) = tokio::sync::mpsc::channel::<String>(16);
    let input = stream
        .take_while(|msg| future::ready(msg.is_ok()))
        .filter_map(move |msg| {
            *heard_in.lock().unwrap_or_else(|p| p.into_inner()) = tokio::time::Instant::now();
            let data = match msg {
                Ok(msg @ (Message::Text(_) | Message::Binary(_))) => Some(msg.into_data()),
                // tungstenite answers pings itself; a close frame ends the stream.
                _ => None,
            };
            let verdict = data.as_ref().map(|data| {
                operations_in
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .client(data)
            });
            let initiated = Arc::clone(&initiated_in);
            let refuse = refuse.clone();
            async move {
                match verdict? {
                    Incoming::Init => {
                        initiated.store(true, Ordering::Relaxed);
                        data
                    }
                    Incoming::Pass => data,
                    Incoming::Refuse(refusal) => {
                        let _ = refuse.send(refusal).await;
                        None
                    }
                }
            }
        });
    // async-graphql polls its input in place, so it must not move.
    let input = Box::pin(input);
    let refused = Arc::new(AtomicBool::new(false));
    let refused_init = Arc::clone(&refused);
    let caller = options.caller;
    let output = async_graphql::http::WebSocket::new(executor, input, protocol)
        .connection_data(data)
        .on_connection_init(move |payload| async move {
            let mut data = async_graphql::Data::default();
            if let (Some(caller), Some(credential)) = (caller, caller::from_payload(&payload))
                && let Err(why) = caller.connection(credential, &mut data)
            {
                refused_init.store(true, Ordering::Relaxed);
                return Err(async_graphql::Error::new(why));
            }
            Ok(data)
        })
        .map(move |msg| match msg {
            WsMessage::Text(text) => {
                operations
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .server(&text);
                Message::text(text)
            }
            WsMessage::Close(code, reason) => {
                // async-graphql closes a refused `connection_init` with 1002; the
                // protocol says 4403 Forbidden, which clients act on.
                let code = if refused.load(Ordering::Relaxed) {
                    FORBIDDEN
                } else {
                    code
                };
                close(CloseCode::from(code), reason)
            }
        });
    futures_util::pin_mut!(output);
    // Without keepalive the timer is never polled; an hour keeps `Instant` from overflowing.
    let every = options.keepalive.unwrap_or(Duration::from_secs(3600));
    let mut pings = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let stopping = async {
        match &mut shutdown {
            Some(shutdown) => shutdown.requested().await,
            None => future::pending().await,
        }
    };
    futures_util::pin_mut!(stopping);
    let init_deadline = tokio::time::sleep(options.init_timeout);
    futures_util::pin_mut!(init_deadline);
    loop {
        let msg = tokio::select! {
            msg = output.next() => match msg {
                Some(msg) => msg,
                None => break,
            },
            Some(refusal) = refusals.recv() => Message::text(refusal),
            () = &mut init_deadline, if !initiated.load(Ordering::Relaxed) => {
                let reason = "Connection initialisation timeout".to_owned();
                let _ = sink.send(close(CloseCode::from(INIT_TIMEOUT), reason)).await;
                return;
            }
            _ = pings.tick(), if options.keepalive.is_some() => {
                let quiet = heard.lock().unwrap_or_else(|p| p.into_inner()).elapsed();
                if quiet > every * 2 {
                    let reason = format!("no answer to pings for {} s", quiet.as_secs());
                    let _ = sink.send(close(CloseCode::Away, reason)).await;
                    return;
                }
                Message::Ping(Default::default())
            }
            () = &mut stopping => {
                let _ = sink.send(close(CloseCode::Away, "the server is shutting down".into())).await;
                let _ = sink.close().await;
                return;
            }
        };
        if sink.send(msg).await.is_err() {
            return;
        }
    }
    let _ = sink.close().await;
}

fn close(code: CloseCode, reason: String) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}
