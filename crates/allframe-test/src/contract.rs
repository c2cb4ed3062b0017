//! A demo's contract scenario: one scripted sequence of real requests, run by the demo's own
//! test either against its app in the test's process or, under `cargo xtask demos`, against
//! the demo's running binary, so both run the same script.

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode};
use tower_service::Service;

use allframe_core::{Request, Response};

use crate::{Client, TestResponse, TestServer};

/// Where `cargo xtask demos` says the binary under test listens.
pub const CONTRACT_ADDR: &str = "ALLFRAME_CONTRACT_ADDR";
/// The file `cargo xtask demos` reads the scenario's latencies from: microseconds, one per
/// line, for its requests; `NAME microseconds` for what it timed itself ([`Contract::probe`]).
pub const CONTRACT_TIMINGS: &str = "ALLFRAME_CONTRACT_TIMINGS";

/// A client for a contract scenario that asserts each answer's status and times it.
#[derive(Debug)]
pub struct Contract {
    client: Client,
    addr: SocketAddr,
    micros: Vec<u64>,
    /// What the scenario timed itself, by name.
    probes: Vec<(&'static str, u64)>,
    /// Sent with every request (`authorization` once the scenario has a token).
    headers: Vec<(String, String)>,
    /// The in-process server, when there is no binary to talk to.
    _server: Option<TestServer>,
}

impl Contract {
    /// Against the binary at `ALLFRAME_CONTRACT_ADDR` when it is set (then `app` is never
    /// polled), else against the service `app` builds, served on a free port here.
    pub async fn start<S, F>(app: F) -> Self
    where
        F: Future<Output = S>,
        S: Service<Request, Response = Response, Error = std::convert::Infallible>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        let (addr, server) = match std::env::var(CONTRACT_ADDR) {
            Ok(addr) => {
                let addr = addr.parse().unwrap_or_else(|err| {
                    panic!("{CONTRACT_ADDR}={addr} is not an address: {err}")
                });
                eprintln!("contract scenario against the binary at {addr}");
                (addr, None)
            }
            Err(_) => {
                let server = TestServer::start(app.await).await;
                (server.addr(), Some(server))
            }
        };
        Self {
            client: Client::http1(addr).await,
            addr,
            micros: Vec::new(),
            probes: Vec::new(),
            headers: Vec::new(),
            _server: server,
        }
    }

    /// The address the scenario talks to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends header `name` with every request from now on (`None`: stops sending it).
    pub fn set_header(&mut self, name: &str, value: Option<&str>) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        if let Some(value) = value {
            self.headers.push((name.to_owned(), value.to_owned()));
        }
    }

    /// Sends `method path` (with a JSON `body` if given) and asserts the status.
    #[track_caller]
    pub fn send<'a>(
        &'a mut self,
        method: Method,
        path: &'a str,
        body: Option<&'a serde_json::Value>,
        expected: u16,
    ) -> impl Future<Output = TestResponse> + 'a {
        let (headers, bytes): (&[(&str, &str)], Bytes) = match body {
            Some(json) => (
                &[("content-type", "application/json")],
                serde_json::to_vec(json).expect("serializable").into(),
            ),
            None => (&[], Bytes::new()),
        };
        self.send_raw(method, path, headers, bytes, expected)
    }

    /// Sends `method path` with `body` and `extra` headers (besides those set with
    /// [`Contract::set_header`]) and asserts the status: forms, files, ranges.
    #[track_caller]
    pub fn send_raw<'a>(
        &'a mut self,
        method: Method,
        path: &'a str,
        extra: &'a [(&'a str, &'a str)],
        body: impl Into<Bytes>,
        expected: u16,
    ) -> impl Future<Output = TestResponse> + 'a {
        let caller = std::panic::Location::caller();
        let body = body.into();
        async move {
            let mut headers: Vec<(&str, &str)> = self
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            headers.extend_from_slice(extra);
            let started = Instant::now();
            let res = self
                .client
                .request(method.clone(), path, &headers, body)
                .await;
            self.micros.push(micros(started.elapsed()));
            assert_eq!(
                res.status,
                StatusCode::from_u16(expected).expect("a status code"),
                "{method} {path} (scenario line {}): {}",
                caller.line(),
                String::from_utf8_lossy(&res.body)
            );
            res
        }
    }

    /// Records one sample of something the scenario timed itself (a message's fan-out, a
    /// call through a gateway): `cargo xtask demos` reports each name's percentiles.
    pub fn probe(&mut self, name: &'static str, elapsed: Duration) {
        assert!(
            !name.is_empty() && !name.contains(char::is_whitespace),
            "a probe's name is one word: `{name}`"
        );
        self.probes.push((name, micros(elapsed)));
    }

    /// How many requests were sent.
    pub fn requests(&self) -> usize {
        self.micros.len()
    }

    /// Ends the scenario: writes the latencies where `ALLFRAME_CONTRACT_TIMINGS` says.
    pub fn finish(self) {
        let Some(path) = std::env::var_os(CONTRACT_TIMINGS) else {
            return;
        };
        let mut file = std::fs::File::create(&path)
            .unwrap_or_else(|err| panic!("creating {}: {err}", path.to_string_lossy()));
        for us in &self.micros {
            writeln!(file, "{us}").expect("writing the timings");
        }
        for (name, us) in &self.probes {
            writeln!(file, "{name} {us}").expect("writing the timings");
        }
    }
}

fn micros(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
}
