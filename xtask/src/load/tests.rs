//! The profiles and the paired comparison against fixture servers over real sockets, loaded
//! by the real generator: one that answers every request after a fixed delay (a slower one
//! stands for a regression), and one that serves at most a few requests at once (a stress
//! must find the knee at its capacity).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use anyhow::Result;
use xshell::cmd;

use super::Profile;
use super::against::{self, Options};
use super::profile::{self, Timing};
use super::target::{Generator, Server};
use crate::config::Load;
use crate::paired::{Side, Verdict};
use crate::shell;

/// A server in this process: each request waits for one of `cap` places, holds it for
/// `delay`, then gets a 200.
struct Fixture {
    addr: SocketAddr,
    stopped: Arc<AtomicBool>,
}

impl Fixture {
    fn start(delay: Duration, cap: usize) -> Box<dyn Server> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stopped = Arc::new(AtomicBool::new(false));
        let places = Arc::new((Mutex::new(cap), Condvar::new()));
        let stop = stopped.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let places = places.clone();
                thread::spawn(move || serve(stream, delay, &places));
            }
        });
        Box::new(Fixture { addr, stopped })
    }
}

impl Server for Fixture {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn pid(&self) -> u32 {
        std::process::id()
    }

    fn stop(self: Box<Self>) -> Result<()> {
        self.stopped.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        Ok(())
    }
}

fn serve(mut stream: TcpStream, delay: Duration, places: &(Mutex<usize>, Condvar)) {
    stream.set_nodelay(true).unwrap();
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // The mix sends GETs without bodies: a request is its head.
        let end = loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        buffer.drain(..end);
        let (free, freed) = places;
        let mut left = freed
            .wait_while(free.lock().unwrap(), |left| *left == 0)
            .unwrap();
        *left -= 1;
        drop(left);
        thread::sleep(delay);
        *free.lock().unwrap() += 1;
        freed.notify_one();
        if stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .is_err()
        {
            return;
        }
    }
}

/// `[load]` for the fixtures: 50 ms SLO, stress steps of x1.25 from 100 req/s.
pub(super) fn load() -> Load {
    toml::from_str(
        r#"
        target = "fixture"
        connections = 128
        slo_p99_ms = 50.0
        max_error_rate = 0.001
        [sustained]
        rate = 50.0
        seconds = 2.0
        [spike]
        rate = 50.0
        factor = 10.0
        before_seconds = 1.0
        spike_seconds = 1.0
        after_seconds = 1.0
        [stress]
        start_rate = 100.0
        factor = 1.25
        step_seconds = 1.5
        steps = 10
        [soak]
        rate = 50.0
        seconds = 2.0
        leak_budget_mib_per_hour = 50.0
        [against]
        seconds = 1.5
        blocks = 4
        max_blocks = 6
        alpha = 0.05
        minor_percent = 15.0
        major_percent = 25.0
        critical_percent = 50.0
        fail_percent = 25.0
        [[target_app]]
        name = "fixture"
        mix = "mix.json"
        "#,
    )
    .unwrap()
}

/// The real generator (a debug build: these rates are far below what it can send), GETs
/// of `/`.
fn generator(dir: &tempfile::TempDir) -> Generator {
    let sh = shell::at_root().unwrap();
    let cargo = shell::cargo();
    cmd!(
        sh,
        "{cargo} build --package allframe-loadgen --bin allframe-loadgen"
    )
    .quiet()
    .run()
    .unwrap();
    let mix = dir.path().join("mix.json");
    std::fs::write(
        &mix,
        r#"{"requests": [{"weight": 1, "method": "GET", "path": "/"}]}"#,
    )
    .unwrap();
    Generator {
        program: shell::target_dir().join("debug").join("allframe-loadgen"),
        core: None,
        connections: load().connections,
        mix,
    }
}

#[test]
fn a_stress_against_a_server_of_four_places_breaks_at_its_capacity() {
    let dir = tempfile::tempdir().unwrap();
    // Four places of 10 ms: 400 requests a second at most.
    let capacity = 400.0;
    let server = Fixture::start(Duration::from_millis(10), 4);
    let figures = profile::run(
        &load(),
        Profile::Stress,
        Timing::Full,
        server,
        &generator(&dir),
    )
    .unwrap();
    // The schedule's arrivals are even, so nothing queues below capacity: the last step
    // within the SLO is the one just under it (381 req/s), the next (477) piles up.
    let breaking = figures.breaking_rate.expect("a step within the SLO");
    assert!(
        (0.6 * capacity..=capacity).contains(&breaking),
        "the knee of a {capacity} req/s server found at {breaking} req/s: {figures:?}"
    );
    assert!(
        matches!(figures.broke_by.as_deref(), Some("latency" | "errors")),
        "{figures:?}"
    );
}

/// A comparison of a 20 ms base with `head_delay`.
fn compare(head_delay: Duration) -> Vec<crate::paired::Comparison> {
    let dir = tempfile::tempdir().unwrap();
    let load = load();
    let options = Options::from_config(&load, None, None).unwrap();
    against::compare(
        &load,
        &[Profile::Sustained],
        &options,
        &generator(&dir),
        |side, _| {
            Ok(match side {
                Side::Base => Fixture::start(Duration::from_millis(20), 1000),
                Side::Head => Fixture::start(head_delay, 1000),
            })
        },
    )
    .unwrap()
}

#[test]
fn the_paired_comparison_catches_a_thirty_percent_latency_rise() {
    let judged = compare(Duration::from_millis(26));
    assert_eq!(judged.len(), 2, "p95 and p99: {judged:?}");
    for c in &judged {
        assert_eq!(c.verdict, Verdict::Regression, "30% slower: {c:?}");
        assert!((0.15..0.45).contains(&c.change), "{c:?}");
    }
}

#[test]
fn the_paired_comparison_of_a_server_with_itself_raises_nothing() {
    let judged = compare(Duration::from_millis(20));
    assert_eq!(judged.len(), 2, "p95 and p99: {judged:?}");
    for c in &judged {
        assert_eq!(c.verdict, Verdict::NoRegression, "A against A: {c:?}");
        assert!(!c.fails, "{c:?}");
    }
}

/// Why the comparison refuses `profiles` with `blocks`, before any run.
fn refusal(profiles: &[Profile], blocks: Option<usize>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let load = load();
    let options = Options::from_config(&load, None, blocks).unwrap();
    let refused = against::compare(&load, profiles, &options, &generator(&dir), |_, _| {
        Ok(Fixture::start(Duration::from_millis(1), 1))
    })
    .unwrap_err();
    format!("{refused:#}")
}

#[test]
fn blocks_too_few_for_any_figure_to_be_significant_are_refused() {
    // 2 blocks are 4 pairs: the smallest p-value, 1/16, is above alpha 0.05 before Holm.
    let refused = refusal(&[Profile::Sustained], Some(2));
    assert!(refused.contains("give more `--blocks`"), "{refused}");
}

#[test]
fn a_stress_profile_is_refused_by_the_comparison() {
    let refused = refusal(&[Profile::Stress], None);
    assert!(refused.contains("breaking point"), "{refused}");
}
