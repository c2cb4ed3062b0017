//! The open model against real sockets: fixture servers (a std `TcpListener`, a thread per
//! connection) that answer, stall together, or record what they were sent.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use allframe_loadgen::{Args, OpenReport, run_open};
use clap::Parser as _;

const PLAIN: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// A server whose every answer first takes `gate`, and which records each request head.
struct Fixture {
    addr: SocketAddr,
    gate: Arc<Mutex<()>>,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Fixture {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let gate = Arc::new(Mutex::new(()));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let (g, h) = (gate.clone(), heads.clone());
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (g, h) = (g.clone(), h.clone());
                thread::spawn(move || serve(stream, &g, &h));
            }
        });
        Self { addr, gate, heads }
    }

    /// Holds the gate for `stall` once every second, from now on: every answer waits.
    fn stall_every_second(&self, stall: Duration) {
        let gate = self.gate.clone();
        thread::spawn(move || {
            loop {
                thread::sleep(Duration::from_secs(1) - stall);
                let _held = gate.lock().unwrap();
                thread::sleep(stall);
            }
        });
    }
}

fn serve(mut stream: TcpStream, gate: &Mutex<()>, heads: &Mutex<Vec<String>>) {
    stream.set_nodelay(true).unwrap();
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // One request: its head, then Content-Length bytes of body.
        let (head_end, length) = loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buffer[..end]).to_string();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .map_or(0, |n| n.trim().parse().unwrap());
                break (end + 4, length);
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        while buffer.len() < head_end + length {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        let request: Vec<u8> = buffer.drain(..head_end + length).collect();
        heads
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(&request).to_string());
        drop(gate.lock().unwrap());
        if stream.write_all(PLAIN).is_err() {
            return;
        }
    }
}

fn open(addr: SocketAddr, extra: &[&str]) -> OpenReport {
    let addr = addr.to_string();
    let base = [
        "allframe-loadgen",
        "--addr",
        addr.as_str(),
        "--path",
        "/",
        "--timeout",
        "3",
    ];
    let args = Args::try_parse_from(base.iter().chain(extra)).unwrap();
    run_open(&args).unwrap()
}

#[test]
fn a_stall_shows_in_the_corrected_latency_and_hides_from_the_uncorrected() {
    let fixture = Fixture::start();
    fixture.stall_every_second(Duration::from_millis(500));
    let report = open(
        fixture.addr,
        &["--rate", "400", "--duration", "3", "--connections", "2"],
    );
    eprintln!("{}", report.summary());
    assert_eq!(report.errors.total(), 0, "{report:?}");
    assert!(report.completed >= 1150, "{report:?}");
    // About a third of the requests are due during a stall and wait for it to end.
    assert!(
        report.corrected_us.p99 >= 300_000,
        "{:?}",
        report.corrected_us
    );
    // Only the two in flight when a stall starts see it from their own write.
    assert!(
        report.uncorrected_us.p99 < 100_000,
        "{:?}",
        report.uncorrected_us
    );
    assert!(
        report.uncorrected_us.max >= 300_000,
        "{:?}",
        report.uncorrected_us
    );
    assert_eq!(report.connections_peak, 2);
    // One row per second, and the rows add up to the run.
    assert!(
        (3..=4).contains(&report.intervals.len()),
        "{:?}",
        report.intervals
    );
    let rows: u64 = report.intervals.iter().map(|r| r.completed).sum();
    assert_eq!(rows, report.completed);
}

#[test]
fn a_rate_the_generator_cannot_reach_marks_the_run_invalid() {
    let fixture = Fixture::start();
    let report = open(
        fixture.addr,
        &[
            "--rate",
            "5000000",
            "--duration",
            "1",
            "--connections",
            "512",
        ],
    );
    eprintln!("{}", report.summary());
    assert!(!report.generator.valid, "{:?}", report.generator);
    assert!(report.generator.invalid_because.is_some());
    assert!(report.unanswered > 0, "{report:?}");
}

#[test]
fn a_mix_sends_its_requests_in_their_weights_with_their_bodies() {
    let fixture = Fixture::start();
    let dir = tempfile::tempdir().unwrap();
    let mix = dir.path().join("mix.json");
    std::fs::write(
        &mix,
        r#"{"requests": [
            {"weight": 3, "path": "/products"},
            {"weight": 1, "method": "POST", "path": "/orders",
             "headers": ["Content-Type: application/json"], "body": "{\"sku\":\"A1\"}"}
        ]}"#,
    )
    .unwrap();
    let report = open(
        fixture.addr,
        &[
            "--rate",
            "200",
            "--duration",
            "1",
            "--mix",
            mix.to_str().unwrap(),
        ],
    );
    assert_eq!(report.completed, 200, "{report:?}");
    let heads = fixture.heads.lock().unwrap();
    let reads = heads
        .iter()
        .filter(|h| h.starts_with("GET /products "))
        .count();
    let posts: Vec<&String> = heads
        .iter()
        .filter(|h| h.starts_with("POST /orders "))
        .collect();
    assert_eq!((reads, posts.len()), (150, 50));
    assert!(
        posts
            .iter()
            .all(|p| p.ends_with("\r\n\r\n{\"sku\":\"A1\"}")),
        "{}",
        posts[0]
    );
}

#[test]
fn steps_and_ramps_send_what_their_schedule_says() {
    let fixture = Fixture::start();
    let stepped = open(fixture.addr, &["--steps", "100:1,300:1", "--interval", "1"]);
    assert_eq!(stepped.scheduled, 400, "{stepped:?}");
    assert_eq!(stepped.completed, 400);
    assert_eq!(stepped.intervals[0].target_rate, 100.0);
    assert_eq!(stepped.intervals[1].target_rate, 300.0);
    let ramp = open(
        fixture.addr,
        &["--rate", "100", "--ramp-to", "300", "--duration", "2"],
    );
    assert!((399..=400).contains(&ramp.scheduled), "{ramp:?}");
    assert_eq!(ramp.completed, ramp.scheduled);
}

#[test]
fn a_server_that_leaks_a_mebibyte_a_second_has_the_slope_and_a_steady_one_none() {
    // This test's process is the server: `--watch` reads it from /proc.
    let fixture = Fixture::start();
    let pid = std::process::id().to_string();
    let watched = [
        "--rate",
        "100",
        "--duration",
        "4",
        "--interval",
        "0.5",
        "--watch",
        pid.as_str(),
    ];
    let steady = open(fixture.addr, &watched);
    let slope = steady.server_rss_slope_mib_per_hour.unwrap();
    eprintln!("steady: {slope:.0} MiB/h");
    assert!(slope.abs() < 500.0, "a steady server: {slope} MiB/h");
    assert!(
        steady
            .intervals
            .iter()
            .all(|r| r.server.is_some_and(|s| s.open_fds >= 3))
    );

    let leak = thread::spawn(|| {
        let mut kept: Vec<Vec<u8>> = Vec::new();
        for _ in 0..18 {
            // Half a mebibyte each half second, written so that its pages are resident.
            kept.push(vec![1u8; 1 << 19]);
            thread::sleep(Duration::from_millis(500));
        }
        kept.len()
    });
    let leaking = open(fixture.addr, &watched);
    leak.join().unwrap();
    let slope = leaking.server_rss_slope_mib_per_hour.unwrap();
    assert!(
        (2000.0..6000.0).contains(&slope),
        "a mebibyte a second is 3600 MiB/h: {slope}"
    );
}
