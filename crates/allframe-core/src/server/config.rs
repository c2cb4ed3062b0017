//! The server's limits and protocol settings, with their defaults.

use std::time::Duration;

use http::HeaderValue;

/// Limits and protocol settings of a server. The defaults suit a public API server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub(super) body_limit: usize,
    pub(super) header_read_timeout: Duration,
    pub(super) max_headers: usize,
    pub(super) max_header_bytes: usize,
    pub(super) shutdown_timeout: Duration,
    pub(super) server_header: Option<HeaderValue>,
    /// `None`: derived from the open-file limit.
    pub(super) max_connections: Option<usize>,
    pub(super) idle_timeout: Duration,
    pub(super) body_read_timeout: Duration,
    pub(super) write_timeout: Duration,
    pub(super) http2_max_concurrent_streams: u32,
    pub(super) http2_max_header_list_bytes: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            body_limit: 2 * 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
            max_headers: 100,
            max_header_bytes: 64 * 1024,
            shutdown_timeout: Duration::from_secs(30),
            server_header: Some(HeaderValue::from_static("AllFrame")),
            max_connections: None,
            idle_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            http2_max_concurrent_streams: 100,
            http2_max_header_list_bytes: 16 * 1024,
        }
    }
}

impl ServerConfig {
    /// Largest request body the body extractors read (default 2 MiB); a larger one is
    /// answered `413 Payload Too Large`.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Time a client has to send a request head, measured from the connection's first wait
    /// for data, and after each answer from the first wait for the next request (default
    /// 10 s): a slower client (slowloris) and an idle HTTP/1.1 keep-alive connection are
    /// disconnected. The time a handler takes, or an answer takes to write, does not count.
    /// (An HTTP/2 connection is timed by [`ServerConfig::idle_timeout`].)
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Most header fields in one request (default 100); more are answered `431`.
    pub fn max_headers(mut self, count: usize) -> Self {
        self.max_headers = count;
        self
    }

    /// Largest request head in bytes (default 64 KiB, at least 8 KiB); a larger one is
    /// answered `431 Request Header Fields Too Large`.
    pub fn max_header_bytes(mut self, bytes: usize) -> Self {
        self.max_header_bytes = bytes.max(8 * 1024);
        self
    }

    /// How long a graceful shutdown waits for open requests (default 30 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Most connections open at once, upgraded ones (WebSockets) included (default: three
    /// quarters of the process's open-file limit, leaving the rest for files). At the cap
    /// the server accepts no more until one closes: new clients wait in the listen queue.
    pub fn max_connections(mut self, count: usize) -> Self {
        self.max_connections = Some(count.max(1));
        self
    }

    /// The cap on open connections this configuration gives (see
    /// [`ServerConfig::max_connections`]).
    pub fn connection_cap(&self) -> usize {
        self.max_connections.unwrap_or_else(default_connection_cap)
    }

    /// How long an HTTP/2 connection may go without an open request before it is closed
    /// with `GOAWAY` (default 60 s; checked once per timeout, so an idle connection lives
    /// up to twice that). A client answering pings does not keep it open.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// How long a request body may go without a byte arriving while its handler reads it
    /// (default 30 s): past it the read fails and the request is answered
    /// `408 Request Timeout` (a body that trickles in, if steadily, is read).
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.body_read_timeout = timeout;
        self
    }

    /// How long an answer may wait for the client to read any of it, HTTP or WebSocket
    /// (default 30 s): a client that stops reading is disconnected.
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// Most requests open at once on one HTTP/2 connection (default 100).
    pub fn http2_max_concurrent_streams(mut self, count: u32) -> Self {
        self.http2_max_concurrent_streams = count;
        self
    }

    /// Largest header list of one HTTP/2 request, decoded (default 16 KiB): with the
    /// concurrent streams, it bounds the header memory of a connection (1.6 MiB by default).
    pub fn http2_max_header_list_bytes(mut self, bytes: u32) -> Self {
        self.http2_max_header_list_bytes = bytes;
        self
    }

    /// The `Server` header of every response (default `AllFrame`); `None` sends none.
    pub fn server_header(mut self, value: Option<HeaderValue>) -> Self {
        self.server_header = value;
        self
    }
}

/// Three quarters of the open-file limit: the rest is left for the files an application
/// opens (a WAL's next segment must not fail because clients took every descriptor).
fn default_connection_cap() -> usize {
    #[cfg(unix)]
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    #[cfg(not(unix))]
    let limit: Option<u64> = None;
    let limit = limit.unwrap_or(1 << 20).min(1 << 20);
    usize::try_from(limit / 4 * 3).unwrap_or(usize::MAX).max(1)
}
