//! One load run: `allframe-loadgen` against one server on one path, with the CPU time both
//! processes spent, from `/proc`.

use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::servers::{ProcTimes, Server, pinned};

/// The shape of one run.
#[derive(Debug, Clone)]
pub(crate) struct Shape<'a> {
    pub(crate) path: &'a str,
    pub(crate) connections: usize,
    pub(crate) pipeline: usize,
    pub(crate) seconds: f64,
}

/// What the load generator prints (one JSON object; see benches/loadgen).
#[derive(Debug, Clone, Deserialize)]
struct Report {
    requests: u64,
    seconds: f64,
    non_2xx: u64,
    errors: Errors,
    latency_us: Latency,
}

#[derive(Debug, Clone, Deserialize)]
struct Errors {
    connect: u64,
    read: u64,
    write: u64,
    timeout: u64,
    parse: u64,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
pub(crate) struct Latency {
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    pub(crate) max: f64,
}

/// One measured run of one server.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Sample {
    pub(crate) requests: u64,
    pub(crate) requests_per_sec: f64,
    pub(crate) latency_us: Latency,
    pub(crate) errors: u64,
    pub(crate) non_2xx: u64,
    /// The server's CPU time (user + system, all threads) over the run per request.
    pub(crate) server_cpu_us_per_request: f64,
    /// The load generator's CPU time over its wall time: near 1.0 means it used its whole
    /// core, and the req/s are its limit rather than the server's.
    pub(crate) loadgen_busy: f64,
}

/// Runs the load generator on `core` against `server` and measures both.
pub(crate) fn run(
    loadgen: &Path,
    server: &Server,
    shape: &Shape<'_>,
    core: Option<usize>,
    ticks_per_second: f64,
) -> Result<Sample> {
    let mut command = pinned(loadgen, core);
    command
        .arg("--addr")
        .arg(server.addr.to_string())
        .arg("--path")
        .arg(shape.path)
        .arg("--connections")
        .arg(shape.connections.to_string())
        .arg("--pipeline")
        .arg(shape.pipeline.to_string())
        .arg("--duration")
        .arg(shape.seconds.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let reproduce = format!(
        "{} --addr {} --path '{}' --connections {} --pipeline {} --duration {}",
        loadgen.display(),
        server.addr,
        shape.path,
        shape.connections,
        shape.pipeline,
        shape.seconds
    );

    let ours_before = ProcTimes::of_self()?;
    let server_before = server.cpu_ticks()?;
    let started = Instant::now();
    let output = command
        .output()
        .with_context(|| format!("running `{reproduce}`"))?;
    let wall = started.elapsed().as_secs_f64();
    let server_after = server.cpu_ticks()?;
    let ours_after = ProcTimes::of_self()?;

    if !output.status.success() {
        bail!(
            "the load generator failed ({}): {}\nreproduce with `{reproduce}`",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let report: Report = serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "the load generator's output is not its JSON report: {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })?;
    if report.requests == 0 {
        bail!(
            "{} answered no request on {}; reproduce with `{reproduce}`",
            server.name,
            shape.path
        );
    }
    let loadgen_ticks =
        (ours_after.cutime + ours_after.cstime) - (ours_before.cutime + ours_before.cstime);
    let server_ticks = server_after - server_before;
    let e = &report.errors;
    Ok(Sample {
        requests: report.requests,
        requests_per_sec: report.requests as f64 / report.seconds,
        latency_us: report.latency_us,
        errors: e.connect + e.read + e.write + e.timeout + e.parse,
        non_2xx: report.non_2xx,
        server_cpu_us_per_request: server_ticks as f64 / ticks_per_second * 1e6
            / report.requests as f64,
        loadgen_busy: loadgen_ticks as f64 / ticks_per_second / wall,
    })
}
