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
    /// 10 s): a slower client (slowloris) and an idle keep-alive connection are
    /// disconnected. The time a handler takes, or an answer takes to write, does not count.
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

    /// The `Server` header of every response (default `AllFrame`); `None` sends none.
    pub fn server_header(mut self, value: Option<HeaderValue>) -> Self {
        self.server_header = value;
        self
    }
}
