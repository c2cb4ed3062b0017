//! One connection's protocol: HTTP/1.1 always, and with the `http2` feature HTTP/2 over
//! cleartext (h2c prior knowledge) on the same listener, told apart by the first bytes.

use std::future::Future;
use std::pin::{Pin, pin};

use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::watch;

use super::io::ConnectionIo;
use super::{ServerConfig, Stop};
use crate::body::BoxError;
use crate::response::Response;

/// hyper's HTTP/1.1 settings, shared by both builders (their types differ, their methods do not).
macro_rules! http1_settings {
    ($builder:expr, $config:expr) => {
        $builder
            .timer(TokioTimer::new())
            .header_read_timeout($config.header_read_timeout)
            .max_headers($config.max_headers)
            .max_buf_size($config.max_header_bytes)
            // Not hyper's `pipeline_flush`: `ConnectionIo` batches pipelined responses.
            .keep_alive(true)
    };
}

/// The protocol builders of a server, configured once and shared by its connections.
#[derive(Debug)]
pub(super) struct Protocols {
    #[cfg(feature = "http2")]
    builder: hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    #[cfg(not(feature = "http2"))]
    builder: hyper::server::conn::http1::Builder,
}

impl Protocols {
    #[cfg(feature = "http2")]
    pub(super) fn new(config: &ServerConfig) -> Self {
        let mut builder =
            hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
        http1_settings!(builder.http1(), config);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX))
            // Ping idle connections so a vanished peer does not hold one forever.
            .keep_alive_interval(Some(std::time::Duration::from_secs(60)))
            .keep_alive_timeout(std::time::Duration::from_secs(20));
        Self { builder }
    }

    #[cfg(not(feature = "http2"))]
    pub(super) fn new(config: &ServerConfig) -> Self {
        let mut builder = hyper::server::conn::http1::Builder::new();
        http1_settings!(builder, config);
        Self { builder }
    }

    /// Serves one connection until it ends, shutting it down gracefully (open requests
    /// finish, no new ones start) once `stop` turns true.
    pub(super) async fn serve<S>(
        &self,
        io: ConnectionIo,
        service: S,
        stop: watch::Receiver<Stop>,
    ) -> Result<(), BoxError>
    where
        S: hyper::service::Service<http::Request<Incoming>, Response = Response> + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
    {
        #[cfg(feature = "http2")]
        {
            let conn = self
                .builder
                .serve_connection_with_upgrades(TokioIo::new(io), service);
            drive(conn, |conn| conn.graceful_shutdown(), stop).await
        }
        #[cfg(not(feature = "http2"))]
        {
            let conn = self
                .builder
                .serve_connection(TokioIo::new(io), service)
                .with_upgrades();
            drive(conn, |conn| conn.graceful_shutdown(), stop)
                .await
                .map_err(Into::into)
        }
    }
}

/// Runs `conn` to its end; shuts it down gracefully on [`Stop::Graceful`] and drops it on
/// [`Stop::Abort`].
async fn drive<C, E>(
    conn: C,
    graceful_shutdown: impl FnOnce(Pin<&mut C>),
    mut stop: watch::Receiver<Stop>,
) -> Result<(), E>
where
    C: Future<Output = Result<(), E>>,
{
    let mut conn = pin!(conn);
    tokio::select! {
        result = conn.as_mut() => return result,
        _ = stop.wait_for(|stop| *stop != Stop::Running) => {}
    }
    graceful_shutdown(conn.as_mut());
    tokio::select! {
        result = conn => result,
        _ = stop.wait_for(|stop| *stop == Stop::Abort) => Ok(()),
    }
}
