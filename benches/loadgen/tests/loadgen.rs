//! The load generator against real sockets: a std `TcpListener` fixture with a thread per
//! connection that answers every request it reads with a fixed response (or misbehaves).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use allframe_loadgen::{Args, Report, run};
use clap::Parser as _;

const PLAIN: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!";
const CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
    7\r\nHello, \r\n6\r\nWorld!\r\n0\r\nX-Checksum: 1\r\n\r\n";
const NOT_FOUND: &[u8] = b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found";
const NO_LENGTH: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n";

#[derive(Clone, Copy)]
enum Behaviour {
    /// Answer every request with this response.
    Answer(&'static [u8]),
    /// Answer the first request, then close the connection.
    CloseAfterFirst(&'static [u8]),
    /// Read requests and never answer.
    Silent,
}

/// What the fixture saw, shared with its connection threads.
#[derive(Default)]
struct Seen {
    accepted: AtomicU64,
    answered: AtomicU64,
    /// Complete requests found in each read that completed any.
    per_read: Mutex<Vec<usize>>,
}

struct Fixture {
    addr: SocketAddr,
    seen: Arc<Seen>,
}

impl Fixture {
    fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Seen::default());
        let shared = Arc::clone(&seen);
        // The accept thread lives as long as the test process.
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                shared.accepted.fetch_add(1, Ordering::Relaxed);
                let seen = Arc::clone(&shared);
                thread::spawn(move || serve(stream, behaviour, &seen));
            }
        });
        Self { addr, seen }
    }

    fn answered(&self) -> u64 {
        // Let the server finish answering the batches in flight when the run ended.
        thread::sleep(Duration::from_millis(100));
        self.seen.answered.load(Ordering::Relaxed)
    }

    fn run(&self, flags: &[&str]) -> Report {
        let addr = self.addr.to_string();
        let args = Args::try_parse_from(
            ["allframe-loadgen", "--addr", addr.as_str()]
                .iter()
                .chain(flags),
        )
        .unwrap();
        run(&args).unwrap()
    }
}

fn serve(mut stream: TcpStream, behaviour: Behaviour, seen: &Seen) {
    let mut buf = vec![0; 64 * 1024];
    let mut held = 0;
    loop {
        match stream.read(&mut buf[held..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => held += n,
        }
        // Requests are bodiless GETs: each ends at its blank line.
        let (mut requests, mut consumed) = (0, 0);
        while let Some(end) = buf[consumed..held]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
        {
            consumed += end + 4;
            requests += 1;
        }
        buf.copy_within(consumed..held, 0);
        held -= consumed;
        if requests == 0 {
            continue;
        }
        seen.per_read.lock().unwrap().push(requests);
        match behaviour {
            Behaviour::Answer(response) => {
                if stream.write_all(&response.repeat(requests)).is_err() {
                    return;
                }
                seen.answered.fetch_add(requests as u64, Ordering::Relaxed);
            }
            Behaviour::CloseAfterFirst(response) => {
                if stream.write_all(response).is_ok() {
                    seen.answered.fetch_add(1, Ordering::Relaxed);
                }
                return;
            }
            Behaviour::Silent => {}
        }
    }
}

#[test]
fn counts_match_what_the_server_answered() {
    let fixture = Fixture::start(Behaviour::Answer(PLAIN));
    let report = fixture.run(&[
        "--connections",
        "4",
        "--pipeline",
        "16",
        "--duration",
        "0.4",
    ]);
    let answered = fixture.answered();
    assert!(report.requests > 0, "{report:?}");
    assert_eq!(report.errors.total(), 0, "{report:?}");
    assert_eq!(report.non_2xx, 0);
    // Every counted response was answered; at most one batch per connection was cut off.
    assert!(
        report.requests <= answered,
        "{} > {answered}",
        report.requests
    );
    assert!(
        answered <= report.requests + 4 * 16,
        "{answered} vs {}",
        report.requests
    );
    let len = PLAIN.len() as u64;
    assert!(report.bytes_read >= report.requests * len);
    assert!(report.bytes_read <= (report.requests + 4 * 16) * len);
    assert_eq!(report.seconds, 0.4);
    assert_eq!((report.connections, report.pipeline), (4, 16));
    let latency = report.latency_us;
    assert!(latency.p50 <= latency.p90 && latency.p90 <= latency.p99 && latency.p99 <= latency.max);
    assert!(latency.mean > 0.0 && latency.max < 400_000, "{latency:?}");
}

#[test]
fn warmup_load_is_not_counted() {
    let fixture = Fixture::start(Behaviour::Answer(PLAIN));
    let flags = [
        "--connections",
        "2",
        "--pipeline",
        "4",
        "--warmup",
        "0.3",
        "--duration",
        "0.3",
    ];
    let report = fixture.run(&flags);
    let answered = fixture.answered();
    assert!(report.requests > 0, "{report:?}");
    assert_eq!(report.seconds, 0.3);
    // The server answered the warmup too: far more than the window's count plus a cut batch.
    assert!(
        answered > report.requests + 2 * 4 + 100,
        "{answered} vs {}",
        report.requests
    );
}

#[test]
fn pipelining_writes_whole_batches() {
    let fixture = Fixture::start(Behaviour::Answer(PLAIN));
    let report = fixture.run(&[
        "--connections",
        "2",
        "--pipeline",
        "16",
        "--duration",
        "0.3",
    ]);
    assert!(report.requests > 0, "{report:?}");
    let per_read = fixture.seen.per_read.lock().unwrap();
    // A batch is never sent before the previous one is answered, so no read holds more than
    // 16; and one write of 16 arrives (nearly always) as one read of 16.
    assert_eq!(per_read.iter().max(), Some(&16), "{per_read:?}");
    let whole = per_read.iter().filter(|&&n| n == 16).count();
    assert!(
        whole * 10 >= per_read.len() * 9,
        "{whole} of {} reads held 16",
        per_read.len()
    );
}

#[test]
fn chunked_responses_are_parsed() {
    let fixture = Fixture::start(Behaviour::Answer(CHUNKED));
    let report = fixture.run(&["--connections", "2", "--pipeline", "4", "--duration", "0.3"]);
    let answered = fixture.answered();
    assert!(report.requests > 0, "{report:?}");
    assert_eq!(report.errors.total(), 0, "{report:?}");
    assert!(report.requests <= answered && answered <= report.requests + 2 * 4);
}

#[test]
fn non_2xx_responses_are_counted() {
    let fixture = Fixture::start(Behaviour::Answer(NOT_FOUND));
    let report = fixture.run(&["--connections", "2", "--pipeline", "2", "--duration", "0.3"]);
    assert!(report.requests > 0, "{report:?}");
    assert_eq!(report.non_2xx, report.requests);
    assert_eq!(report.errors.total(), 0, "{report:?}");
}

#[test]
fn closed_connections_are_counted_and_reopened() {
    let fixture = Fixture::start(Behaviour::CloseAfterFirst(PLAIN));
    let report = fixture.run(&["--connections", "2", "--pipeline", "1", "--duration", "0.3"]);
    let errors = report.errors.read + report.errors.write;
    assert!(errors >= 5, "{report:?}");
    // Each reconnect got its one response: the load went on.
    assert!(report.requests >= 5, "{report:?}");
    assert!(fixture.seen.accepted.load(Ordering::Relaxed) > 2 + 5);
}

#[test]
fn unframeable_responses_are_parse_errors() {
    let fixture = Fixture::start(Behaviour::Answer(NO_LENGTH));
    let report = fixture.run(&["--connections", "2", "--pipeline", "1", "--duration", "0.3"]);
    assert_eq!(report.requests, 0, "{report:?}");
    assert!(report.errors.parse >= 2, "{report:?}");
    assert!(fixture.seen.accepted.load(Ordering::Relaxed) > 2);
}

#[test]
fn a_silent_server_produces_timeouts_not_a_hang() {
    let fixture = Fixture::start(Behaviour::Silent);
    let started = Instant::now();
    let flags = [
        "--connections",
        "2",
        "--duration",
        "0.5",
        "--timeout",
        "0.1",
    ];
    let report = fixture.run(&flags);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(report.requests, 0);
    assert!(report.errors.timeout >= 4, "{report:?}");
    assert_eq!(report.latency_us.max, 0);
}

/// A port nothing listens on (bound, then released).
fn closed_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[test]
fn an_unreachable_address_is_a_clear_error() {
    let addr = closed_port().to_string();
    let args =
        Args::try_parse_from(["allframe-loadgen", "--addr", &addr, "--duration", "0.2"]).unwrap();
    let error = run(&args).unwrap_err().to_string();
    assert!(error.contains(&addr), "{error}");
    assert!(error.contains("cannot connect"), "{error}");
}

#[test]
fn binary_prints_one_json_object_and_a_summary() {
    let fixture = Fixture::start(Behaviour::Answer(PLAIN));
    let output = Command::new(env!("CARGO_BIN_EXE_allframe-loadgen"))
        .args([
            "--addr",
            &fixture.addr.to_string(),
            "--connections",
            "2",
            "--pipeline",
            "16",
        ])
        .args(["--duration", "0.3", "--header", "Accept: text/plain"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    for field in [
        "requests",
        "seconds",
        "requests_per_sec",
        "non_2xx",
        "bytes_read",
    ] {
        assert!(json[field].is_number(), "{field} in {json}");
    }
    for field in ["connect", "read", "write", "timeout", "parse"] {
        assert_eq!(json["errors"][field], 0, "{json}");
    }
    for field in ["p50", "p90", "p99", "max", "mean"] {
        assert!(json["latency_us"][field].is_number(), "{field} in {json}");
    }
    assert_eq!(
        (json["connections"].as_u64(), json["pipeline"].as_u64()),
        (Some(2), Some(16))
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("req/s over 0.3 s, 2 connections x 16 pipelined"),
        "{stderr}"
    );

    let unreachable = closed_port().to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_allframe-loadgen"))
        .args(["--addr", &unreachable, "--duration", "0.2"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains(&unreachable), "{stderr}");
}
