//! The HTTP server: HTTP/1.1 and HTTP/2 (h2c) on one listener, limits against abusive
//! clients (a cap on open connections, timeouts for every wait on a client), handler panics
//! answered with 500, and graceful shutdown.

mod config;
mod conn;
mod io;
mod service;
mod shutdown;

use std::convert::Infallible;
use std::future::{Future, IntoFuture, Pending, pending};
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Duration;

use http::HeaderValue;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower_service::Service;

pub use self::config::ServerConfig;
use self::conn::Protocol;
use self::service::ConnectionService;
pub use self::shutdown::Shutdown;
use crate::Request;
use crate::response::Response;

/// The address examples, demos and bench servers listen on: `ALLFRAME_ADDR`, else
/// `127.0.0.1:3000`.
pub fn env_addr() -> String {
    std::env::var("ALLFRAME_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned())
}

/// Resolves when the process receives Ctrl-C or (on Unix) SIGTERM: pass it to
/// [`Serve::with_graceful_shutdown`].
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// Serves `service` (usually a [`RouterService`](crate::RouterService), possibly wrapped in
/// tower layers) on `listener`. Await the result to run the server.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use allframe_core::{Router, routing::get, serve, server::{env_addr, shutdown_signal}};
///
/// let app = Router::new().route("/", get(|| async { "Hello, World!" })).into_service();
/// let listener = tokio::net::TcpListener::bind(env_addr()).await?;
/// serve(listener, app).with_graceful_shutdown(shutdown_signal()).await
/// # }
/// ```
pub fn serve<S>(listener: TcpListener, service: S) -> Serve<S, Pending<()>> {
    Serve {
        listener,
        service,
        config: ServerConfig::default(),
        signal: pending(),
    }
}

/// A server ready to run; see [`serve`].
#[derive(Debug)]
#[must_use = "a server does nothing until it is awaited"]
pub struct Serve<S, G> {
    listener: TcpListener,
    service: S,
    config: ServerConfig,
    signal: G,
}

impl<S, G> Serve<S, G> {
    /// Uses these limits instead of the defaults.
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// Stops accepting connections when `signal` resolves, lets open requests finish (up
    /// to the shutdown timeout), then returns.
    pub fn with_graceful_shutdown<G2>(self, signal: G2) -> Serve<S, G2>
    where
        G2: Future<Output = ()> + Send + 'static,
    {
        Serve {
            listener: self.listener,
            service: self.service,
            config: self.config,
            signal,
        }
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

impl<S, G> IntoFuture for Serve<S, G>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    G: Future<Output = ()> + Send + 'static,
{
    type Output = std::io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(run(self))
    }
}

async fn run<S, G>(serve: Serve<S, G>) -> std::io::Result<()>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    G: Future<Output = ()> + Send + 'static,
{
    let Serve {
        listener,
        service,
        config,
        signal,
    } = serve;
    let protocols = Arc::new(conn::Protocols::new(&config));
    // Every connection task holds a receiver: the sender's `closed` is "all connections ended".
    let (stop, stopped) = watch::channel(Stop::Running);
    // Upgraded connections (WebSockets) are told apart: hyper no longer drives them.
    let (begin_upgraded_shutdown, upgraded_shutdown) = Shutdown::channel();
    // A connection holds a permit until its socket closes, upgraded or not.
    let open = Arc::new(Semaphore::new(config.connection_cap()));
    let mut signal = pin!(signal);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&open).acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut signal => break,
        };
        let mut stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of file descriptors or a connection reset before accept: keep
                    // serving the connections we have and try again shortly.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let _ = stream.set_nodelay(true);
        let shared = Arc::new(Shared {
            body_limit: config.body_limit,
            body_read_timeout: config.body_read_timeout,
            server_header: config.server_header.clone(),
            upgraded: AtomicBool::new(false),
            started: AtomicU64::new(0),
            answered: AtomicU64::new(0),
            shutdown: upgraded_shutdown.clone(),
        });
        let service = ConnectionService {
            service: service.clone(),
            shared,
        };
        let protocols = Arc::clone(&protocols);
        let mut stopped = stopped.clone();
        let timeouts = io::Timeouts {
            header: config.header_read_timeout,
            write: config.write_timeout,
        };
        tokio::spawn(async move {
            // hyper's header timeout starts once the protocol is known: a client that sends
            // nothing, or a few bytes of the HTTP/2 preface, is timed out here.
            let mut first = io::First::default();
            let known = tokio::time::timeout(timeouts.header, read_first(&mut stream, &mut first));
            let protocol = tokio::select! {
                known = known => match known {
                    Ok(Ok(Some(protocol))) => protocol,
                    _ => return,
                },
                _ = stopped.wait_for(|stop| *stop != Stop::Running) => return,
            };
            let io = io::ConnectionIo::new(
                stream,
                first,
                Arc::clone(&service.shared),
                protocol,
                timeouts,
                permit,
            );
            let shared = Arc::clone(&service.shared);
            if let Err(err) = protocols
                .serve(protocol, io, service, shared, stopped)
                .await
            {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    stop.send_replace(Stop::Graceful);
    begin_upgraded_shutdown.send_replace(true);
    drop((stopped, upgraded_shutdown));
    tokio::select! {
        ((), ()) = async { tokio::join!(stop.closed(), begin_upgraded_shutdown.closed()) } => {}
        () = tokio::time::sleep(config.shutdown_timeout) => {
            tracing::warn!("graceful shutdown timed out; closing the connections still open");
            stop.send_replace(Stop::Abort);
            stop.closed().await;
        }
    }
    Ok(())
}

/// Where a server is in its life; connections watch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    Running,
    /// Finish open requests, start no new ones.
    Graceful,
    /// The shutdown timeout passed: close now.
    Abort,
}

/// Reads the first bytes, as many as tell HTTP/1.1 from HTTP/2, into `first` (which the
/// connection's socket hands to hyper before anything else): the protocol, or `None` at end
/// of input. Reading rather than peeking lets a partial HTTP/2 preface wait for the socket
/// to become readable again, instead of polling a socket whose unread bytes keep it ready.
async fn read_first(
    stream: &mut TcpStream,
    first: &mut io::First,
) -> std::io::Result<Option<Protocol>> {
    loop {
        let read = stream.read(first.unfilled()).await?;
        if read == 0 {
            return Ok(None);
        }
        first.filled(read);
        let bytes = first.bytes();
        if bytes != &io::H2_PREFACE[..bytes.len()] {
            return Ok(Some(Protocol::Http1));
        }
        if bytes.len() == io::H2_PREFACE.len() {
            return Ok(Some(Protocol::Http2));
        }
    }
}

/// What the requests of one connection, and its socket, share.
#[derive(Debug)]
pub(super) struct Shared {
    body_limit: usize,
    body_read_timeout: Duration,
    server_header: Option<HeaderValue>,
    /// The connection was upgraded (`101`): its socket stops holding responses back.
    pub(super) upgraded: AtomicBool,
    /// Requests whose head was read, and requests answered: equal when the connection waits
    /// for the next request head (the socket then times that wait).
    pub(super) started: AtomicU64,
    pub(super) answered: AtomicU64,
    /// Handed to requests that ask for an upgrade.
    pub(super) shutdown: Shutdown,
}
