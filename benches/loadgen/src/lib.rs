//! `allframe-loadgen`: the HTTP/1.1 load generator `cargo xtask techempower` runs, closed
//! (connections kept busy, wrk's model) or open (`--rate`: requests due on a schedule).
//!
//! It does what `wrk -s benches/wrk/pipeline.lua` does, leaner, so it is never the bottleneck
//! on one pinned core: one thread and one tokio task per connection; each connection writes
//! `--pipeline` copies of one pre-encoded request in a single write, reads until all their
//! responses are parsed, then writes the next batch. A response's latency is the time from
//! its batch's write to its arrival. All connections open before the measured window; an
//! optional `--warmup` runs uncounted load first; events after the window (responses still in
//! flight) are not counted. A connection that fails (reset, EOF, unparseable response, no
//! progress for `--timeout`) is counted and reconnected, so the load goes on.
//!
//! ```text
//! taskset -c 1 allframe-loadgen --addr 127.0.0.1:8080 --path /plaintext \
//!     --connections 256 --pipeline 16 --duration 5 [--warmup 1] [--timeout 5] \
//!     [--header 'Accept: application/json']...
//! ```
//!
//! Stdout gets exactly one JSON object (progress and diagnostics go to stderr):
//!
//! | field | meaning |
//! | --- | --- |
//! | `requests` | responses completed inside the measured window (any status) |
//! | `seconds` | length of the measured window (f64) |
//! | `requests_per_sec` | `requests / seconds` |
//! | `non_2xx` | of `requests`, those with a status outside 200..=299 |
//! | `errors` | `{ connect, read, write, timeout, parse }`: failures detected inside the window, plus connections that could not open at start |
//! | `latency_us` | `{ p50, p90, p99, max, mean }` in microseconds over the window's responses (integers except `mean`) |
//! | `bytes_read` | bytes received inside the window |
//! | `connections`, `pipeline` | the load shape, echoed |
//!
//! Exit status 0 with the report; 1 with a message on stderr when the address does not
//! resolve or no connection could be opened at start.
//!
//! With `--rate R` (optionally `--ramp-to R2`) or `--steps R:S,...` it runs the open model
//! instead (the `open` module): requests due on a schedule whatever the server answers,
//! latency corrected from each request's due time and uncorrected from its write,
//! percentiles per `--interval`, weighted request mixes from `--mix FILE`, and a
//! self-check that marks the run invalid when the generator fell behind, and with
//! `--watch PID` the server's RSS, CPU time and open descriptors beside each interval:
//!
//! ```text
//! taskset -c 1 allframe-loadgen --addr 127.0.0.1:8080 --rate 2000 --duration 60 \
//!     --connections 512 [--mix profile.json] [--interval 1]
//! ```

pub mod args;
mod connection;
pub mod mix;
pub mod open;
pub mod parse;
pub mod report;
pub mod schedule;
pub mod watch;

use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::time::Instant;

use anyhow::{Context, bail};
use tokio::net::TcpStream;

pub use args::Args;
pub use open::OpenReport;
pub use report::Report;

use connection::{Failure, Shared};
use report::{ErrorKind, Stats, Window};

/// Connections opened concurrently at start: enough to be quick, few enough not to overflow
/// the server's accept backlog.
const CONNECT_WAVE: usize = 256;

/// Runs the load described by `args` on a current-thread runtime and returns its report.
pub fn run(args: &Args) -> anyhow::Result<Report> {
    let addr = resolve(&args.addr)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    // Declared after the runtime so it is dropped first: its tasks (the connections) end with
    // the run.
    let tasks = tokio::task::LocalSet::new();
    tasks.block_on(&runtime, run_local(args, addr))
}

/// Runs the open-model load of `args` (`--rate`, `--steps`); see the `open` module.
pub fn run_open(args: &Args) -> anyhow::Result<OpenReport> {
    let schedule = args
        .schedule()
        .context("the open model needs --rate or --steps")?;
    let addr = resolve(&args.addr)?;
    let mix = match &args.mix {
        Some(path) => mix::Mix::load(path, &args.addr)?,
        None => mix::Mix::single(args.request_batch()),
    };
    open::run(open::OpenLoad {
        addr,
        schedule,
        mix,
        max_connections: args.connections,
        interval: args.interval,
        timeout: args.timeout,
        watch: args.watch,
    })
}

fn resolve(addr: &str) -> anyhow::Result<SocketAddr> {
    addr.to_socket_addrs()
        .with_context(|| format!("resolving --addr {addr}"))?
        .next()
        .with_context(|| format!("--addr {addr} resolves to no address"))
}

async fn run_local(args: &Args, addr: SocketAddr) -> anyhow::Result<Report> {
    let opened = open_all(args, addr).await?;
    let failed = opened.iter().filter(|open| open.is_err()).count();
    if let Some(Err(failure)) = opened.iter().find(|open| open.is_err()) {
        eprintln!(
            "loadgen: {failed} of {} connections to {addr} failed to open ({failure}); \
             they keep retrying",
            args.connections
        );
    }

    let window = Window::after(Instant::now(), args.warmup, args.duration);
    let mut stats = Stats::new(window);
    stats.count_errors(ErrorKind::Connect, failed as u64);
    let shared = Rc::new(Shared::new(
        addr,
        args.request_batch(),
        args.pipeline,
        args.timeout,
        stats,
    ));
    for open in opened {
        tokio::task::spawn_local(connection::run(Rc::clone(&shared), open.ok()));
    }
    eprintln!(
        "loadgen: {} connections to {addr} open; {:.1} s warmup, then measuring {:.1} s",
        args.connections,
        args.warmup.as_secs_f64(),
        args.duration.as_secs_f64()
    );

    tokio::time::sleep_until(window.end.into()).await;
    let stats = shared.stats.borrow();
    for (kind, message) in stats.first_errors() {
        eprintln!("loadgen: first {kind} error: {message}");
    }
    Ok(stats.report(args.connections, args.pipeline))
}

/// Opens every connection before the window, in waves; fails when the first wave opens none.
async fn open_all(
    args: &Args,
    addr: SocketAddr,
) -> anyhow::Result<Vec<Result<TcpStream, Failure>>> {
    let total = args.connections as usize;
    let mut opened = Vec::with_capacity(total);
    while opened.len() < total {
        let wave: Vec<_> = (opened.len()..total.min(opened.len() + CONNECT_WAVE))
            .map(|_| tokio::task::spawn_local(connection::connect(addr, args.timeout)))
            .collect();
        for task in wave {
            opened.push(
                task.await
                    .unwrap_or_else(|e| Err(Failure::new(ErrorKind::Connect, e))),
            );
        }
        if opened.iter().all(Result::is_err) {
            let failure = opened.iter().find_map(|open| open.as_ref().err());
            let reason = failure.map(ToString::to_string).unwrap_or_default();
            let hint = if reason.contains("Too many open files") {
                " (raise the limit with `ulimit -n`)"
            } else {
                ""
            };
            bail!("cannot connect to {} ({addr}): {reason}{hint}", args.addr);
        }
    }
    Ok(opened)
}
