//! One connection's protocol: HTTP/1.1 always, and with the `http2` feature HTTP/2 over
//! cleartext (h2c prior knowledge) on the same listener, told apart by the first bytes.

use std::future::{Future, pending};
use std::pin::{Pin, pin};
use std::sync::Arc;
#[cfg(feature = "http2")]
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::sync::watch;

use super::io::ConnectionIo;
use super::{ServerConfig, Shared, Stop};
use crate::body::BoxError;
use crate::response::Response;

/// What a connection's first bytes said it speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Protocol {
    Http1,
    /// The HTTP/2 client preface (h2c with prior knowledge).
    Http2,
}

/// The protocol builders of a server, configured once and shared by its connections.
///
/// The server has already read the first bytes of each connection (see
/// `protocol_known`), so it picks hyper's HTTP/1.1 or HTTP/2 connection directly rather
/// than through hyper-util's auto-detecting one, which would sniff again and wrap every read.
#[derive(Debug)]
pub(super) struct Protocols {
    http1: hyper::server::conn::http1::Builder,
    #[cfg(feature = "http2")]
    http2: hyper::server::conn::http2::Builder<hyper_util::rt::TokioExecutor>,
    #[cfg(feature = "http2")]
    idle_timeout: Duration,
}

impl Protocols {
    pub(super) fn new(config: &ServerConfig) -> Self {
        let mut http1 = hyper::server::conn::http1::Builder::new();
        // No hyper timer: its header timeout allocates and arms a timer for every request;
        // `ConnectionIo` times the wait for a request head instead.
        http1
            .max_headers(config.max_headers)
            .max_buf_size(config.max_header_bytes)
            // Not hyper's `pipeline_flush`: `ConnectionIo` batches pipelined responses.
            .keep_alive(true);
        #[cfg(feature = "http2")]
        let http2 = {
            let mut http2 =
                hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new());
            http2
                .timer(hyper_util::rt::TokioTimer::new())
                // Each open stream may hold a header list: together they bound a
                // connection's header memory.
                .max_concurrent_streams(config.http2_max_concurrent_streams)
                .max_header_list_size(config.http2_max_header_list_bytes)
                // Ping connections so a vanished peer does not hold one open with a request
                // in flight (an idle one is closed by the idle timeout).
                .keep_alive_interval(Some(Duration::from_secs(60)))
                .keep_alive_timeout(Duration::from_secs(20));
            http2
        };
        Self {
            http1,
            #[cfg(feature = "http2")]
            http2,
            #[cfg(feature = "http2")]
            idle_timeout: config.idle_timeout,
        }
    }

    /// Serves one connection until it ends, shutting it down gracefully (open requests
    /// finish, no new ones start) once `stop` turns true.
    pub(super) async fn serve<S>(
        &self,
        protocol: Protocol,
        io: ConnectionIo,
        service: S,
        shared: Arc<Shared>,
        stop: watch::Receiver<Stop>,
    ) -> Result<(), BoxError>
    where
        S: hyper::service::Service<http::Request<Incoming>, Response = Response> + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
    {
        #[cfg(feature = "http2")]
        if protocol == Protocol::Http2 {
            let conn = self.http2.serve_connection(TokioIo::new(io), service);
            let idle = shared.idle_for(self.idle_timeout);
            return drive(conn, |conn| conn.graceful_shutdown(), stop, idle)
                .await
                .map_err(Into::into);
        }
        // Without the `http2` feature a preface reaches HTTP/1.1, which rejects it.
        #[cfg(not(feature = "http2"))]
        let _ = protocol;
        // An idle HTTP/1.1 connection is timed by its socket (the wait for a request head).
        drop(shared);
        let conn = self
            .http1
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        drive(conn, |conn| conn.graceful_shutdown(), stop, pending())
            .await
            .map_err(Into::into)
    }
}

impl Shared {
    /// Resolves once the connection has had no open request for a whole `period`, checked
    /// once a period.
    #[cfg(feature = "http2")]
    async fn idle_for(self: Arc<Self>, period: Duration) {
        use std::sync::atomic::Ordering;
        let counts = || {
            (
                self.started.load(Ordering::Relaxed),
                self.answered.load(Ordering::Relaxed),
            )
        };
        let mut seen = counts();
        loop {
            tokio::time::sleep(period).await;
            let now = counts();
            // Nothing began or ended during the period, and nothing is open now.
            if now == seen && now.0 == now.1 {
                return;
            }
            seen = now;
        }
    }
}

/// Runs `conn` to its end; shuts it down gracefully on [`Stop::Graceful`] or once `idle`
/// resolves, and drops it on [`Stop::Abort`].
async fn drive<C, E>(
    conn: C,
    graceful_shutdown: impl FnOnce(Pin<&mut C>),
    mut stop: watch::Receiver<Stop>,
    idle: impl Future<Output = ()>,
) -> Result<(), E>
where
    C: Future<Output = Result<(), E>>,
{
    let mut conn = pin!(conn);
    // `biased`: the connection first, and no random draw on every wake-up.
    tokio::select! {
        biased;
        result = conn.as_mut() => return result,
        _ = stop.wait_for(|stop| *stop != Stop::Running) => {}
        () = idle => {}
    }
    graceful_shutdown(conn.as_mut());
    tokio::select! {
        biased;
        result = conn => result,
        _ = stop.wait_for(|stop| *stop == Stop::Abort) => Ok(()),
    }
}
