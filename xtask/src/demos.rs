//! `cargo xtask demos`: every demo of `quality.toml [demos]` built, tested, started as its
//! release binary on a free port with a fresh data directory, exercised by its own contract
//! scenario over real TCP, and stopped with SIGTERM; its start-up time, memory, scenario
//! latencies and lines of code go to a table and to history.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use xshell::cmd;

use crate::baseline::Fingerprint;
use crate::config::{self, Demo, Demos, SeedRequest};
use crate::level::Level;
use crate::summary::Table;
use crate::{history, shell};

/// How long a demo may take to answer `GET /health` after it is started.
const STARTUP_PATIENCE: Duration = Duration::from_secs(30);
/// How long a demo may take to exit after SIGTERM.
const SHUTDOWN_PATIENCE: Duration = Duration::from_secs(10);

#[derive(Debug, Default, clap::Args)]
pub(crate) struct Args {
    /// The demos to run (all of `quality.toml [demos]` when none is named).
    pub(crate) demos: Vec<String>,
    /// Skip each demo's own test suite (`cargo xtask ci` runs it in its `test` step).
    #[arg(long)]
    pub(crate) no_tests: bool,
    /// Events to add through each demo's `seed` request before timing its restart
    /// (`quality.toml [demos] reopen_events` by default).
    #[arg(long, value_name = "N")]
    pub(crate) reopen_events: Option<usize>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

/// What one demo measured.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Figures {
    pub(crate) demo: String,
    /// Code lines of `src/` (tokei: neither blank nor comment).
    pub(crate) code_lines: usize,
    /// From spawning the binary to its first `200` on `GET /health`, empty store.
    pub(crate) startup_ms: f64,
    /// The same, started again on the data the scenario (and the seed) left.
    pub(crate) reopen_ms: f64,
    /// Events the seed added before the restart.
    pub(crate) seeded_events: usize,
    /// Resident memory once healthy after the restart (the projections rebuilt in memory).
    pub(crate) reopened_rss_bytes: u64,
    /// Resident memory once healthy, before any other request.
    pub(crate) idle_rss_bytes: u64,
    /// The process's peak resident memory, read after the scenario.
    pub(crate) peak_rss_bytes: u64,
    /// Requests the contract scenario sent.
    pub(crate) requests: usize,
    pub(crate) p50_us: u64,
    pub(crate) p99_us: u64,
    pub(crate) max_us: u64,
    /// What the scenario timed itself (`Contract::probe` of allframe-test), by name.
    pub(crate) probes: BTreeMap<String, Probe>,
}

/// One probe's samples.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Probe {
    pub(crate) samples: usize,
    pub(crate) p50_us: u64,
    pub(crate) p99_us: u64,
}

#[derive(Debug, Serialize)]
struct DemoReport {
    figures: Figures,
    level: Level,
    notes: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Report {
    fingerprint: Fingerprint,
    demos: Vec<DemoReport>,
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let quality = config::load()?;
    let demos = quality
        .demos
        .as_ref()
        .context("quality.toml has no [demos] section: add one with its [[demos.demo]]s")?;
    let selected = config::select(&demos.demos, &args.demos, |d| &d.name, "demo")?;
    let fingerprint = Fingerprint::current()?;
    let nextest = shell::nextest_available()?;
    let binaries = build_all(demos, &shell::root(), &shell::target_dir())?;
    let mut reports = Vec::new();
    for demo in selected {
        if args.no_tests {
            eprintln!("demo {}: its tests ran in the `test` step", demo.name);
        } else {
            run_tests(demo, nextest)?;
        }
        eprintln!("demo {}", demo.name);
        let binary = &binaries[&demo.name];
        let seed = args.reopen_events.unwrap_or(demos.reopen_events);
        let figures = exercise(demo, binary, nextest, seed)?;
        let (level, notes) = judge(demos, demo, &figures);
        reports.push(DemoReport {
            figures,
            level,
            notes,
        });
    }
    let report = Report {
        fingerprint: fingerprint.clone(),
        demos: reports,
    };
    table(demos, &report).publish()?;
    history::append(
        "demos",
        &fingerprint,
        &[
            ("code_lines", "lines"),
            ("startup_ms", "ms"),
            ("reopen_ms", "ms"),
            ("seeded_events", "events"),
            ("reopened_rss_bytes", "bytes"),
            ("idle_rss_bytes", "bytes"),
            ("peak_rss_bytes", "bytes"),
            ("requests", "requests"),
            ("p50_us", "us"),
            ("p99_us", "us"),
            ("max_us", "us"),
        ],
        &report
            .demos
            .iter()
            .map(|d| (d.figures.demo.clone(), &d.figures))
            .collect::<std::collections::BTreeMap<_, _>>(),
        &report
            .demos
            .iter()
            .map(|d| (d.figures.demo.clone(), d.level.label().to_owned()))
            .collect(),
    )?;
    if args.json {
        crate::summary::print_json(&report)?;
    }
    let failed: Vec<&DemoReport> = report
        .demos
        .iter()
        .filter(|d| d.level == Level::Failure)
        .collect();
    if !failed.is_empty() {
        let why: Vec<String> = failed
            .iter()
            .map(|d| format!("{}: {}", d.figures.demo, d.notes.join("; ")))
            .collect();
        let names: Vec<&str> = failed.iter().map(|d| d.figures.demo.as_str()).collect();
        bail!(
            "demos gate failed: {}. Reproduce with `cargo xtask demos {}`",
            why.join(" | "),
            names.join(" ")
        );
    }
    Ok(())
}

/// The test command for `demo`, as `cargo xtask test` builds the workspace (same features,
/// so nothing is rebuilt), narrowed to the demo's package or one of its test binaries.
fn test_command(demo: &Demo, nextest: bool, binary: Option<&str>) -> Vec<String> {
    let package = &demo.package;
    let mut args: Vec<String> = if nextest {
        let mut filter = format!("package({package})");
        if let Some(binary) = binary {
            filter.push_str(&format!(" & binary({binary})"));
        }
        [
            "nextest",
            "run",
            "--workspace",
            "--all-features",
            "--no-tests=fail",
            "-E",
        ]
        .map(str::to_owned)
        .into_iter()
        .chain([filter])
        .collect()
    } else {
        ["test", "--package", package, "--all-features"]
            .map(str::to_owned)
            .to_vec()
    };
    if let (false, Some(binary)) = (nextest, binary) {
        args.extend(["--test".to_owned(), binary.to_owned()]);
    }
    args
}

fn run_tests(demo: &Demo, nextest: bool) -> Result<()> {
    let sh = shell::at_root()?;
    let cargo = shell::cargo();
    let args = test_command(demo, nextest, None);
    eprintln!("demo {}: its tests", demo.name);
    let line = args.join(" ");
    cmd!(sh, "{cargo} {args...}").run().with_context(|| {
        format!(
            "the tests of demo {} failed; reproduce with `cargo {}`",
            demo.name, line
        )
    })
}

/// Builds every demo of `demos` in release, as deployed, in one cargo call in the workspace
/// at `root`: the framework they share builds once, with the features they use between them,
/// rather than once per demo (each build alone took over two minutes of a cold run), and a
/// demo's binary is the same whichever demos a run selects. A demo whose directory `root`
/// lacks (an older revision's worktree) is left out. Each binary, by demo name.
pub(crate) fn build_all(
    demos: &Demos,
    root: &Path,
    target_dir: &Path,
) -> Result<BTreeMap<String, PathBuf>> {
    let present: Vec<&Demo> = demos
        .demos
        .iter()
        .filter(|d| root.join(&d.path).join("Cargo.toml").is_file())
        .collect();
    let packages: Vec<&str> = present.iter().map(|d| d.package.as_str()).collect();
    let binaries = shell::build_release_together(root, target_dir, &packages)?;
    Ok(present
        .iter()
        .map(|d| d.name.clone())
        .zip(binaries)
        .collect())
}

/// Starts the binary, times its start-up, runs the contract scenario against it, stops it.
fn exercise(demo: &Demo, binary: &Path, nextest: bool, seed: usize) -> Result<Figures> {
    let work = shell::target_dir()
        .join("xtask")
        .join("demos")
        .join(&demo.name);
    let data = fresh_dir(&work.join("data"))?;
    let log = work.join("server.log");
    let timings = work.join("timings.txt");
    let _ = std::fs::remove_file(&timings);

    // A demo that keeps no events (no `seed` request) is only restarted.
    let seed = if demo.seed.is_some() { seed } else { 0 };
    let (mut server, addr, startup) = Running::start(binary, &data, &log)?;
    let idle_rss_bytes = status_bytes(server.pid(), "VmRSS")?;

    let sh = shell::at_root()?;
    let cargo = shell::cargo();
    let args = test_command(demo, nextest, Some(&demo.contract_test));
    eprintln!("demo {}: contract scenario against {addr}", demo.name);
    cmd!(sh, "{cargo} {args...}")
        .env(allframe_contract::ADDR, addr.to_string())
        .env(allframe_contract::TIMINGS, &timings)
        .run()
        .with_context(|| {
            format!(
                "the contract scenario of demo {} failed against its binary (log: {}); reproduce \
                 with `cargo xtask demos {}`",
                demo.name,
                log.display(),
                demo.name
            )
        })?;
    let peak_rss_bytes = status_bytes(server.pid(), "VmHWM")?;
    if seed > 0 {
        seed_store(demo, addr, seed)?;
    }
    server.terminate()?;
    // Started again on the scenario's events: start-up with recovery and projections.
    let (mut reopened, _, reopen) = Running::start(binary, &data, &work.join("reopen.log"))?;
    let reopened_rss_bytes = status_bytes(reopened.pid(), "VmRSS")?;
    reopened.terminate()?;

    let (mut micros, probes) = read_timings(&timings)?;
    micros.sort_unstable();
    let probes = probes
        .into_iter()
        .map(|(name, mut samples)| {
            samples.sort_unstable();
            let probe = Probe {
                samples: samples.len(),
                p50_us: percentile(&samples, 50.0),
                p99_us: percentile(&samples, 99.0),
            };
            (name, probe)
        })
        .collect();
    Ok(Figures {
        demo: demo.name.clone(),
        code_lines: code_lines(&shell::root().join(&demo.path).join("src")),
        startup_ms: startup.as_secs_f64() * 1e3,
        reopen_ms: reopen.as_secs_f64() * 1e3,
        seeded_events: seed,
        reopened_rss_bytes,
        idle_rss_bytes,
        peak_rss_bytes,
        requests: micros.len(),
        p50_us: percentile(&micros, 50.0),
        p99_us: percentile(&micros, 99.0),
        max_us: micros.last().copied().unwrap_or(0),
        probes,
    })
}

/// An empty directory at `path` (whatever a previous run left there is removed).
pub(crate) fn fresh_dir(path: &Path) -> Result<PathBuf> {
    if path.exists() {
        std::fs::remove_dir_all(path).with_context(|| format!("removing {}", path.display()))?;
    }
    std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    Ok(path.to_owned())
}

/// Sends `r` (`{worker}` in its path and body replaced by `worker`); an answer outside
/// 2xx is an error naming it.
/// Sends `r` as connection `worker`, with `{worker}` and `{captured}` (what an earlier
/// request of this connection captured) filled in; what `r` captures, if it does.
pub(crate) fn send_request(
    addr: SocketAddr,
    r: &SeedRequest,
    worker: usize,
    captured: &str,
) -> Result<Option<String>> {
    let fill = |text: &str| {
        text.replace("{worker}", &worker.to_string())
            .replace("{captured}", captured)
    };
    let (path, body) = (fill(&r.path), r.body.as_deref().map(fill));
    let headers: Vec<(&str, String)> = r
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), fill(v)))
        .collect();
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let res = crate::http::send_with_headers(addr, &r.method, &path, &headers, body.as_deref())
        .with_context(|| format!("{} {path}", r.method))?;
    if !(200..300).contains(&res.status) {
        bail!(
            "{} {path} answered {}: {}",
            r.method,
            res.status,
            String::from_utf8_lossy(&res.body)
        );
    }
    let Some(pointer) = &r.capture else {
        return Ok(None);
    };
    let json: serde_json::Value = serde_json::from_slice(&res.body).with_context(|| {
        format!(
            "{} {path} did not answer JSON to capture {pointer} from",
            r.method
        )
    })?;
    let value = json
        .pointer(pointer)
        .and_then(|v| v.as_str())
        .with_context(|| {
            format!(
                "{} {path} answered no string at {pointer}: {json}",
                r.method
            )
        })?;
    Ok(Some(value.to_owned()))
}

/// How many connections seed at once (each on a stream of its own: `{worker}` in a seed
/// request is its number), so group commit does what it does under production load.
const SEED_WORKERS: usize = 8;

/// Adds `events` events through the demo's `seed` request, each worker after its own
/// `seed_setup`.
fn seed_store(demo: &Demo, addr: SocketAddr, events: usize) -> Result<()> {
    let seed = demo.seed.as_ref().with_context(|| {
        format!(
            "demo {} has no `seed` request in quality.toml to add events with",
            demo.name
        )
    })?;
    let send =
        |r: &SeedRequest, worker: usize, captured: &str| send_request(addr, r, worker, captured);
    eprintln!(
        "demo {}: seeding {events} events ({} {})",
        demo.name, seed.method, seed.path
    );
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..SEED_WORKERS)
            .map(|worker| {
                let (next, send) = (&next, &send);
                scope.spawn(move || -> Result<()> {
                    let mut captured = String::new();
                    for setup in &demo.seed_setup {
                        if let Some(value) = send(setup, worker, &captured)? {
                            captured = value;
                        }
                    }
                    while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < events {
                        send(seed, worker, &captured)?;
                    }
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().expect("a seeding thread panicked"))
    })
    .with_context(|| format!("seeding demo {}", demo.name))
}

/// The names `allframe-test`'s `Contract` reads (kept equal by a test).
mod allframe_contract {
    pub(super) const ADDR: &str = "ALLFRAME_CONTRACT_ADDR";
    pub(super) const TIMINGS: &str = "ALLFRAME_CONTRACT_TIMINGS";
}

/// The demo's process; killed if it is dropped still running.
pub(crate) struct Running {
    child: Child,
    log: PathBuf,
}

impl Running {
    /// Starts `binary` on a free port over `data`, its output to `log`, and waits until it
    /// is healthy: the process, its address and how long that took.
    pub(crate) fn start(
        binary: &Path,
        data: &Path,
        log: &Path,
    ) -> Result<(Self, SocketAddr, Duration)> {
        let addr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let log_file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let started = Instant::now();
        let child = Command::new(binary)
            .env("ALLFRAME_ADDR", addr.to_string())
            .env("ALLFRAME_DATA", data)
            .env_remove("DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut running = Running {
            child,
            log: log.to_owned(),
        };
        running.wait_healthy(addr, started)?;
        Ok((running, addr, started.elapsed()))
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Polls `GET /health` until it answers 200.
    fn wait_healthy(&mut self, addr: SocketAddr, started: Instant) -> Result<()> {
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "the demo exited with {status} before it was healthy:\n{}",
                    self.log_tail()
                );
            }
            if let Ok(res) = crate::http::get(addr, "/health")
                && res.status == 200
            {
                return Ok(());
            }
            if started.elapsed() > STARTUP_PATIENCE {
                bail!(
                    "GET /health did not answer 200 within {STARTUP_PATIENCE:?}; log:\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// SIGTERM, then a clean exit within [`SHUTDOWN_PATIENCE`].
    pub(crate) fn terminate(&mut self) -> Result<()> {
        let pid = self.pid().to_string();
        let sh = shell::at_root()?;
        cmd!(sh, "kill -TERM {pid}").quiet().run()?;
        let deadline = Instant::now() + SHUTDOWN_PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!(
                        "the demo exited with {status} after SIGTERM:\n{}",
                        self.log_tail()
                    );
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the demo did not exit within {SHUTDOWN_PATIENCE:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A `kB` field of `/proc/<pid>/status`, in bytes.
fn status_bytes(pid: u32, field: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_status_kb(&status, field)
        .map(|kb| kb * 1024)
        .with_context(|| format!("{path} has no {field}"))
}

fn parse_status_kb(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kb| kb.trim().parse().ok())
}

/// The scenario's request latencies, and its probes' samples by name (microseconds).
type Timings = (Vec<u64>, BTreeMap<String, Vec<u64>>);

fn read_timings(path: &Path) -> Result<Timings> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "the contract scenario wrote no timings to {} (does its test call `Contract::finish`?)",
            path.display()
        )
    })?;
    parse_timings(&text).with_context(|| format!("reading {}", path.display()))
}

fn parse_timings(text: &str) -> Result<Timings> {
    let (mut requests, mut probes) = (Vec::new(), BTreeMap::<String, Vec<u64>>::new());
    for line in text.lines() {
        let (name, us) = match line.trim().split_once(' ') {
            Some((name, us)) => (Some(name), us),
            None => (None, line.trim()),
        };
        let us = us
            .parse::<u64>()
            .with_context(|| format!("`{line}` is neither `MICROS` nor `PROBE MICROS`"))?;
        match name {
            Some(name) => probes.entry(name.to_owned()).or_default().push(us),
            None => requests.push(us),
        }
    }
    Ok((requests, probes))
}

/// The nearest-rank percentile of sorted values (0 for none).
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Rust code lines under `src`, as tokei counts them.
fn code_lines(src: &Path) -> usize {
    let mut languages = tokei::Languages::new();
    languages.get_statistics(&[src], &[], &tokei::Config::default());
    languages
        .get(&tokei::LanguageType::Rust)
        .map_or(0, |rust| rust.code)
}

fn judge(demos: &Demos, demo: &Demo, f: &Figures) -> (Level, Vec<String>) {
    let mut level = Level::Ok;
    let mut notes = Vec::new();
    let mut note = |l: Level, text: String| {
        level = level.max(l);
        notes.push(text);
    };
    let limit = demo.code_lines_limit.unwrap_or(demos.code_lines_limit);
    if f.code_lines > limit {
        note(
            Level::Failure,
            format!("{} code lines, over the limit of {limit}", f.code_lines),
        );
    } else if f.code_lines > demos.code_lines_target {
        note(
            Level::Warning,
            format!(
                "{} code lines, over the target of {}: what could the framework do?",
                f.code_lines, demos.code_lines_target
            ),
        );
    }
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    if f.startup_ms > demos.startup_goal_ms {
        note(
            Level::AboveGoal,
            format!(
                "start-up {:.0} ms, goal {} ms",
                f.startup_ms, demos.startup_goal_ms
            ),
        );
    }
    if f.reopen_ms > demos.reopen_goal_ms {
        note(
            Level::AboveGoal,
            format!(
                "restart on {} seeded events {:.0} ms, goal {} ms",
                f.seeded_events, f.reopen_ms, demos.reopen_goal_ms
            ),
        );
    }
    if mib(f.idle_rss_bytes) > demos.idle_rss_goal_mib {
        note(
            Level::AboveGoal,
            format!(
                "idle RSS {:.1} MiB, goal {} MiB",
                mib(f.idle_rss_bytes),
                demos.idle_rss_goal_mib
            ),
        );
    }
    for (name, budget_ms) in &demo.probe_p99_budgets_ms {
        match f.probes.get(name) {
            None => note(
                Level::Failure,
                format!("the scenario timed no `{name}` (Contract::probe), which has a budget"),
            ),
            Some(probe) if probe.p99_us as f64 / 1e3 > *budget_ms => note(
                Level::Warning,
                format!(
                    "{name} p99 {:.1} ms, over its budget of {budget_ms} ms",
                    probe.p99_us as f64 / 1e3
                ),
            ),
            Some(_) => {}
        }
    }
    if let Some(limit_ms) = demo.p99_limit_ms
        && f.p99_us as f64 / 1e3 > limit_ms
    {
        note(
            Level::Failure,
            format!(
                "scenario p99 {:.1} ms, over the limit of {limit_ms} ms",
                f.p99_us as f64 / 1e3
            ),
        );
    }
    (level, notes)
}

fn table(demos: &Demos, report: &Report) -> Table {
    let mut table = Table::new(
        &format!(
            "Demos (release binaries, fresh data directories; code lines target {}, start-up goal {} ms, idle RSS goal {} MiB)",
            demos.code_lines_target, demos.startup_goal_ms, demos.idle_rss_goal_mib
        ),
        &[
            "demo",
            "code lines",
            "start-up",
            "reopened",
            "idle RSS",
            "peak RSS",
            "reopened RSS",
            "requests",
            "p50",
            "p99",
            "max",
            "probes (p50 / p99)",
            "verdict",
        ],
    );
    let mib = |bytes: u64| format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0));
    let ms = |us: u64| format!("{:.2} ms", us as f64 / 1e3);
    for d in &report.demos {
        let f = &d.figures;
        let verdict = if d.notes.is_empty() {
            d.level.label().to_owned()
        } else {
            format!("{}: {}", d.level.label(), d.notes.join("; "))
        };
        table.row(vec![
            f.demo.clone(),
            f.code_lines.to_string(),
            format!("{:.0} ms", f.startup_ms),
            format!("{:.0} ms ({} seeded)", f.reopen_ms, f.seeded_events),
            mib(f.idle_rss_bytes),
            mib(f.peak_rss_bytes),
            mib(f.reopened_rss_bytes),
            f.requests.to_string(),
            ms(f.p50_us),
            ms(f.p99_us),
            ms(f.max_us),
            f.probes
                .iter()
                .map(|(name, p)| format!("{name} {} / {}", ms(p.p50_us), ms(p.p99_us)))
                .collect::<Vec<_>>()
                .join("; "),
            verdict,
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_status_fields_are_read_in_bytes() {
        let status = "Name:\tshop\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(parse_status_kb(status, "VmRSS"), Some(10240));
        assert_eq!(parse_status_kb(status, "VmHWM"), Some(20480));
        assert_eq!(parse_status_kb(status, "VmSwap"), None);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&values, 50.0), 50);
        assert_eq!(percentile(&values, 99.0), 99);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }

    #[test]
    fn timings_that_are_not_numbers_are_an_error_naming_the_file() {
        let dir = std::env::temp_dir().join(format!("xtask-demos-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("timings.txt");
        std::fs::write(&file, "12\nlots\n").unwrap();
        let err = format!("{:#}", read_timings(&file).unwrap_err());
        assert!(
            err.contains("timings.txt") && err.contains("`lots`"),
            "{err}"
        );
        std::fs::write(&file, "12\nfanout 7\n30\nfanout 5\n").unwrap();
        let (requests, probes) = read_timings(&file).unwrap();
        assert_eq!(requests, [12, 30]);
        assert_eq!(probes["fanout"], [7, 5]);
        std::fs::write(&file, "fanout soon\n").unwrap();
        let err = format!("{:#}", read_timings(&file).unwrap_err());
        assert!(err.contains("`fanout soon`"), "{err}");
        let missing = read_timings(&dir.join("none.txt")).unwrap_err().to_string();
        assert!(missing.contains("Contract::finish"), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_contract_variables_are_the_ones_allframe_test_reads() {
        let source =
            std::fs::read_to_string(shell::root().join("crates/allframe-test/src/contract.rs"))
                .unwrap();
        for name in [allframe_contract::ADDR, allframe_contract::TIMINGS] {
            assert!(
                source.contains(&format!("= \"{name}\"")),
                "allframe-test does not read {name}"
            );
        }
    }

    #[test]
    fn code_lines_leave_out_comments_and_blank_lines() {
        let dir = std::env::temp_dir().join(format!("xtask-loc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("lib.rs"),
            "//! docs\n\nfn a() {}\n// note\nfn b() {}\n",
        )
        .unwrap();
        assert_eq!(code_lines(&dir), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn demos() -> Demos {
        Demos {
            code_lines_target: 500,
            code_lines_limit: 900,
            startup_goal_ms: 200.0,
            idle_rss_goal_mib: 20.0,
            reopen_events: 0,
            reopen_goal_ms: 1000.0,
            demos: vec![],
        }
    }

    fn figures(code_lines: usize, startup_ms: f64) -> Figures {
        Figures {
            demo: "shop".into(),
            code_lines,
            startup_ms,
            reopen_ms: startup_ms,
            seeded_events: 0,
            reopened_rss_bytes: 6 << 20,
            idle_rss_bytes: 5 << 20,
            peak_rss_bytes: 8 << 20,
            requests: 10,
            p50_us: 100,
            p99_us: 900,
            max_us: 1000,
            probes: BTreeMap::new(),
        }
    }

    #[test]
    fn code_lines_over_target_warn_over_limit_fail_and_goals_only_report() {
        let demo = Demo {
            name: "shop".into(),
            package: "shop".into(),
            path: "examples/shop".into(),
            contract_test: "contract".into(),
            code_lines_limit: None,
            p99_limit_ms: Some(0.5),
            probe_p99_budgets_ms: BTreeMap::new(),
            seed_setup: vec![],
            seed: None,
        };
        let (level, _) = judge(
            &demos(),
            &Demo {
                p99_limit_ms: None,
                ..demo.clone()
            },
            &figures(400, 50.0),
        );
        assert_eq!(level, Level::Ok);
        let (level, notes) = judge(
            &demos(),
            &Demo {
                p99_limit_ms: None,
                ..demo.clone()
            },
            &figures(600, 50.0),
        );
        assert_eq!(level, Level::Warning, "{notes:?}");
        let (level, _) = judge(
            &demos(),
            &Demo {
                p99_limit_ms: None,
                ..demo.clone()
            },
            &figures(400, 500.0),
        );
        assert_eq!(level, Level::AboveGoal);
        let (level, notes) = judge(&demos(), &demo, &figures(1000, 50.0));
        assert_eq!(level, Level::Failure);
        assert_eq!(notes.len(), 2, "code lines and p99: {notes:?}");
        let budgeted = Demo {
            p99_limit_ms: None,
            probe_p99_budgets_ms: BTreeMap::from([("fanout".to_owned(), 1.0)]),
            ..demo
        };
        let (level, notes) = judge(&demos(), &budgeted, &figures(400, 50.0));
        assert_eq!(
            level,
            Level::Failure,
            "a budgeted probe not timed: {notes:?}"
        );
        let mut timed = figures(400, 50.0);
        let probe = |p99_us| Probe {
            samples: 10,
            p50_us: 500,
            p99_us,
        };
        timed.probes.insert("fanout".to_owned(), probe(900));
        assert_eq!(judge(&demos(), &budgeted, &timed).0, Level::Ok);
        timed.probes.insert("fanout".to_owned(), probe(1100));
        let (level, notes) = judge(&demos(), &budgeted, &timed);
        assert_eq!(level, Level::Warning, "{notes:?}");
        assert!(notes[0].contains("fanout p99 1.1 ms"), "{notes:?}");
    }
}
