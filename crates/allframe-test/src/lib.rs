//! Test support for AllFrame's own tests: a server on a free port of 127.0.0.1 and real
//! clients for it (hyper's HTTP/1.1 and HTTP/2 clients, and a raw TCP connection for the
//! requests a well-behaved client would never send).

mod contract;
#[cfg(feature = "postgres")]
mod storage;
#[cfg(feature = "websocket")]
mod websocket;

pub use crate::contract::{CONTRACT_ADDR, CONTRACT_TIMINGS, Contract};
#[cfg(feature = "postgres")]
pub use crate::storage::{DEFAULT_DATABASE_URL, TestPostgres};
#[cfg(feature = "websocket")]
pub use crate::websocket::GraphQLSocket;

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use allframe_core::{Request, Response, ServerConfig, serve};
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long a test waits for anything before it fails instead of hanging.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A program's binary (an example's `env!("CARGO_BIN_EXE_...")`) serving on a port of
/// 127.0.0.1 it binds itself (`ALLFRAME_ADDR=127.0.0.1:0`) and announces on stderr
/// (`... listening on http://ADDR`); killed when dropped, whatever the test did.
#[derive(Debug)]
pub struct RunningBinary {
    child: std::process::Child,
    addr: SocketAddr,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl RunningBinary {
    /// Starts `program` and waits until it announces its address (panics after
    /// [`PATIENCE`], or if it exits first, with its output).
    pub async fn start(program: &str) -> Self {
        Self::start_with_env(program, &[]).await
    }

    /// Starts `program` with these environment variables besides `ALLFRAME_ADDR`.
    ///
    /// The program binds the port itself: a port found free here and handed over could be
    /// taken by another test's server in between, and this test would talk to that one.
    pub async fn start_with_env(program: &str, env: &[(&str, &str)]) -> Self {
        let mut child = std::process::Command::new(program)
            .env("ALLFRAME_ADDR", "127.0.0.1:0")
            .envs(env.iter().copied())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("starting {program}: {err}"));
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (announced, address) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().expect("a piped stderr");
        let lines = log.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(addr) = announced_addr(&line) {
                    let _ = announced.send(addr);
                }
                lines.lock().expect("the log").push(line);
            }
        });
        let deadline = std::time::Instant::now() + PATIENCE;
        let addr = loop {
            match address.recv_timeout(Duration::from_millis(20)) {
                Ok(addr) => break addr,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait().expect("waiting for the program");
                    panic!(
                        "{program} exited ({status}) without announcing its address; its output:\n{}",
                        log.lock().expect("the log").join("\n")
                    );
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{program} did not announce `listening on http://ADDR` within {PATIENCE:?}; its output:\n{}",
                log.lock().expect("the log").join("\n")
            );
        };
        Self { child, addr, log }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What it has written to stderr so far, line by line.
    pub fn output(&self) -> Vec<String> {
        self.log.lock().expect("the log").clone()
    }

    /// Sends SIGTERM and waits (up to [`PATIENCE`]) for the program to exit: its exit
    /// status, which a graceful shutdown makes a success.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("running kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for the program") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the program did not exit within {PATIENCE:?} of SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The address in a line such as `chat-app listening on http://127.0.0.1:4242, events in ...`.
fn announced_addr(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("listening on http://")? + "listening on http://".len()..];
    let end = rest
        .find(|c: char| c.is_whitespace() || matches!(c, '/' | ',' | ')'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

impl Drop for RunningBinary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server running `service` on a free port, shut down gracefully on [`TestServer::stop`].
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<io::Result<()>>,
}

impl TestServer {
    /// Serves `service` with the default [`ServerConfig`].
    pub async fn start<S>(service: S) -> Self
    where
        S: tower_service::Service<Request, Response = Response, Error = Infallible>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        Self::start_with(service, ServerConfig::default()).await
    }

    /// Serves `service` with `config`.
    pub async fn start_with<S>(service: S, config: ServerConfig) -> Self
    where
        S: tower_service::Service<Request, Response = Response, Error = Infallible>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let (stop, stopped) = oneshot::channel::<()>();
        let server = serve(listener, service)
            .config(config)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            });
        let task = tokio::spawn(server.into_future());
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Asks for a graceful shutdown and waits for the server to return.
    pub async fn stop(mut self) -> io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(PATIENCE, &mut self.task)
            .await
            .expect("server stops in time")
            .expect("server task does not panic")
    }

    /// A new HTTP/1.1 connection.
    pub async fn http1(&self) -> Client {
        Client::http1(self.addr).await
    }

    /// A new HTTP/2 connection (prior knowledge, no TLS).
    pub async fn http2(&self) -> Client {
        Client::http2(self.addr).await
    }

    /// A new raw TCP connection.
    pub async fn raw(&self) -> RawConnection {
        RawConnection::connect(self.addr).await
    }

    /// `GET path` on a fresh HTTP/1.1 connection.
    pub async fn get(&self, path: &str) -> TestResponse {
        self.http1().await.get(path).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

enum Sender {
    Http1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    Http2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

/// One client connection (HTTP/1.1 or HTTP/2) using hyper's client.
pub struct Client {
    sender: Sender,
    addr: SocketAddr,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("addr", &self.addr).finish()
    }
}

impl Client {
    /// Connects with HTTP/1.1.
    pub async fn http1(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("HTTP/1.1 handshake");
        tokio::spawn(conn);
        Self {
            sender: Sender::Http1(sender),
            addr,
        }
    }

    /// Connects with HTTP/2 (prior knowledge).
    pub async fn http2(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .expect("HTTP/2 handshake");
        tokio::spawn(conn);
        Self {
            sender: Sender::Http2(sender),
            addr,
        }
    }

    /// Sends a request (its URI is a path; the authority is added) and reads the response.
    pub async fn send(&mut self, mut req: http::Request<Full<Bytes>>) -> TestResponse {
        let authority = self.addr.to_string();
        match self.sender {
            Sender::Http1(_) => {
                req.headers_mut()
                    .insert(http::header::HOST, authority.parse().expect("host"));
            }
            Sender::Http2(_) => {
                let path = req
                    .uri()
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_owned();
                *req.uri_mut() = format!("http://{authority}{path}").parse().expect("uri");
            }
        }
        let sent = async {
            // The connection takes the next request only once it has finished the last
            // response: without waiting for that, a quick second request races it.
            let res = match &mut self.sender {
                Sender::Http1(s) => match s.ready().await {
                    Ok(()) => s.send_request(req).await,
                    Err(err) => Err(err),
                },
                Sender::Http2(s) => match s.ready().await {
                    Ok(()) => s.send_request(req).await,
                    Err(err) => Err(err),
                },
            }
            .expect("request answered");
            let (parts, body) = res.into_parts();
            let body = body.collect().await.expect("response body").to_bytes();
            TestResponse {
                status: parts.status,
                headers: parts.headers,
                version: parts.version,
                body,
            }
        };
        tokio::time::timeout(PATIENCE, sent)
            .await
            .expect("response in time")
    }

    /// Sends `method path` with `body` and the given headers.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> TestResponse {
        let mut req = http::Request::builder().method(method).uri(path);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        self.send(req.body(Full::new(body.into())).expect("valid request"))
            .await
    }

    /// `GET path`.
    pub async fn get(&mut self, path: &str) -> TestResponse {
        self.request(Method::GET, path, &[], Bytes::new()).await
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(&mut self, path: &str, body: &serde_json::Value) -> TestResponse {
        let body = serde_json::to_vec(body).expect("serializable");
        self.request(
            Method::POST,
            path,
            &[("content-type", "application/json")],
            body,
        )
        .await
    }
}

/// A response read completely.
#[derive(Debug, Clone)]
pub struct TestResponse {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The protocol version.
    pub version: http::Version,
    /// The body.
    pub body: Bytes,
}

impl TestResponse {
    /// The body as UTF-8 text.
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("UTF-8 body")
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|err| panic!("body is not JSON ({err}): {:?}", self.text()))
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("text header"))
    }
}

/// A response parsed off a raw connection.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// Header names (lowercased) and values.
    pub headers: Vec<(String, String)>,
    /// The body (by `Content-Length`).
    pub body: Vec<u8>,
}

impl RawResponse {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A raw TCP connection, for pipelining and malformed requests.
#[derive(Debug)]
pub struct RawConnection {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawConnection {
    /// Connects.
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    /// Writes `bytes` as they are, in one write.
    pub async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Reads one response (status line, headers, `Content-Length` body). Returns `None` if
    /// the server closed the connection first.
    pub async fn read_response(&mut self) -> Option<RawResponse> {
        self.read_response_within(PATIENCE).await
    }

    /// Like [`RawConnection::read_response`], failing the test after `within`.
    pub async fn read_response_within(&mut self, within: Duration) -> Option<RawResponse> {
        tokio::time::timeout(within, self.read_response_inner())
            .await
            .unwrap_or_else(|_| panic!("no response within {within:?}"))
    }

    async fn read_response_inner(&mut self) -> Option<RawResponse> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut parsed = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(head_len) = parsed
                .parse(&self.buf)
                .expect("a well-formed response head")
            {
                let headers: Vec<(String, String)> = parsed
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                let status = parsed.code.expect("status code");
                let body_len = headers
                    .iter()
                    .find(|(n, _)| n == "content-length")
                    .map_or(0, |(_, v)| {
                        v.parse::<usize>().expect("numeric content-length")
                    });
                while self.buf.len() < head_len + body_len {
                    if !self.fill().await {
                        return None;
                    }
                }
                let body = self.buf[head_len..head_len + body_len].to_vec();
                self.buf.drain(..head_len + body_len);
                return Some(RawResponse {
                    status,
                    headers,
                    body,
                });
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    /// Reads more bytes; false when the peer closed the connection (or reset it).
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 8192];
        match self.stream.read(&mut chunk).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// Waits until the server closes the connection; true if it did within `within`.
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        tokio::time::timeout(within, async { while self.fill().await {} })
            .await
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::announced_addr;

    #[test]
    fn the_announced_address_is_read_from_each_demos_line() {
        for line in [
            "chat-app listening on http://127.0.0.1:4242, events in ./data",
            "graphql-example listening on http://127.0.0.1:4242/graphql",
            "multi-protocol listening on http://127.0.0.1:4242 (REST /books)",
            "hello listening on http://127.0.0.1:4242",
        ] {
            assert_eq!(
                announced_addr(line),
                Some("127.0.0.1:4242".parse().unwrap()),
                "{line}"
            );
        }
        assert_eq!(announced_addr("starting up"), None);
        assert_eq!(announced_addr("x listening on http://nowhere"), None);
    }
}
