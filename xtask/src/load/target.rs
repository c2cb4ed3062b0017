//! What `cargo xtask load` loads, and the generator that loads it: a demo's release binary on
//! a fresh data directory, or AllFrame's TechEmpower server on its seeded database, each
//! started anew for every run on the server core; the open-model generator on the other.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use xshell::cmd;

use crate::config::{self, LoadTarget, Quality, TECHEMPOWER_TARGET};
use crate::techempower::servers::{self, Pinning, pinned};
use crate::{demos, shell};

/// A server under load.
pub(crate) trait Server {
    fn addr(&self) -> SocketAddr;
    fn pid(&self) -> u32;
    /// Stops it; a demo that does not exit cleanly on SIGTERM is an error.
    fn stop(self: Box<Self>) -> Result<()>;
}

/// A target built at one revision, ready to start fresh servers of.
pub(crate) struct App {
    target: LoadTarget,
    binary: PathBuf,
    kind: Kind,
}

enum Kind {
    Demo,
    /// The seeded `hello_world` database the server reads.
    Techempower(url::Url),
}

impl App {
    /// Builds `target` in the workspace at `root` into `target_dir`. The TechEmpower server
    /// needs `database`; a demo brings its own store.
    pub(crate) fn build(
        quality: &Quality,
        target: &LoadTarget,
        database: Option<&url::Url>,
        root: &Path,
        target_dir: &Path,
    ) -> Result<Self> {
        let (package, bin, kind) = if target.name == TECHEMPOWER_TARGET {
            let tfb = quality
                .techempower
                .as_ref()
                .context("quality.toml has no [techempower] section (its server is the target)")?;
            let database = database.context("the TechEmpower server needs its database")?;
            (
                tfb.package.as_str(),
                tfb.server.as_str(),
                Kind::Techempower(database.clone()),
            )
        } else {
            let demo = demo(quality, &target.name)?;
            (demo.package.as_str(), demo.package.as_str(), Kind::Demo)
        };
        let binary = match &kind {
            // Built as `cargo xtask demos` builds it, so the two steps share one build.
            Kind::Demo => {
                let demos = quality
                    .demos
                    .as_ref()
                    .context("quality.toml has no [demos]")?;
                demos::build_all(demos, root, target_dir)?
                    .remove(&target.name)
                    .with_context(|| {
                        format!("{package} is not in the workspace at {}", root.display())
                    })?
            }
            Kind::Techempower(_) => shell::build_release(root, target_dir, package, bin)?,
        };
        Ok(Self {
            target: target.clone(),
            binary,
            kind,
        })
    }

    /// A fresh server on the server core, given the target's setup requests; its output
    /// goes to `log`, its data (a demo's) to a new directory beside it.
    pub(crate) fn start(&self, pinning: Pinning, log: &Path) -> Result<Box<dyn Server>> {
        let server: Box<dyn Server> = match &self.kind {
            Kind::Demo => {
                let data = demos::fresh_dir(&log.with_extension("data"))?;
                let (running, addr, _) = demos::Running::start(&self.binary, &data, log)?;
                if let Some(core) = pinning.server {
                    // Every thread of the server, its runtime's workers included.
                    let (pid, core) = (running.pid().to_string(), core.to_string());
                    let sh = shell::at_root()?;
                    cmd!(sh, "taskset -a -pc {core} {pid}")
                        .quiet()
                        .ignore_stdout()
                        .run()?;
                }
                Box::new(Demo { running, addr })
            }
            Kind::Techempower(database) => Box::new(servers::Server::start(
                TECHEMPOWER_TARGET,
                &self.binary,
                Vec::new(),
                Some(database),
                pinning.server,
                log,
            )?),
        };
        for request in &self.target.setup {
            demos::send_request(server.addr(), request, 0, "")
                .context("a setup request of [[load.target_app]]")?;
        }
        Ok(server)
    }
}

/// The `[[demos.demo]]` called `name`.
fn demo<'q>(quality: &'q Quality, name: &str) -> Result<&'q config::Demo> {
    quality
        .demos
        .as_ref()
        .and_then(|d| d.demos.iter().find(|d| d.name == name))
        .with_context(|| format!("`{name}` is not a demo of quality.toml [[demos.demo]]"))
}

struct Demo {
    running: demos::Running,
    addr: SocketAddr,
}

impl Server for Demo {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn pid(&self) -> u32 {
        self.running.pid()
    }

    fn stop(mut self: Box<Self>) -> Result<()> {
        self.running.terminate()
    }
}

impl Server for servers::Server {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn pid(&self) -> u32 {
        servers::Server::pid(self)
    }

    fn stop(self: Box<Self>) -> Result<()> {
        // Killed on drop: the TechEmpower servers keep nothing to shut down cleanly.
        Ok(())
    }
}

/// The open-model load generator (`allframe-loadgen --rate/--steps`) on its core.
pub(crate) struct Generator {
    pub(crate) program: PathBuf,
    pub(crate) core: Option<usize>,
    pub(crate) connections: u32,
    pub(crate) mix: PathBuf,
}

/// The subset of the generator's JSON report read here.
#[derive(Debug, Deserialize)]
pub(crate) struct Run {
    pub(crate) scheduled: u64,
    pub(crate) dropped: u64,
    pub(crate) errors: std::collections::BTreeMap<String, u64>,
    pub(crate) non_2xx: u64,
    pub(crate) achieved_rate: f64,
    pub(crate) corrected_us: Percentiles,
    pub(crate) uncorrected_us: Percentiles,
    pub(crate) generator: Validity,
    pub(crate) intervals: Vec<Interval>,
    pub(crate) server_rss_slope_mib_per_hour: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, serde::Serialize)]
pub(crate) struct Percentiles {
    pub(crate) p50: u64,
    pub(crate) p95: u64,
    pub(crate) p99: u64,
    pub(crate) p999: u64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Validity {
    pub(crate) valid: bool,
    pub(crate) invalid_because: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Interval {
    pub(crate) at: f64,
    pub(crate) completed: u64,
    pub(crate) corrected_us: Percentiles,
    pub(crate) server: Option<ServerReading>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ServerReading {
    pub(crate) rss_bytes: u64,
}

impl Run {
    /// Errors, non-2xx answers and requests dropped from a full backlog.
    pub(crate) fn failed(&self) -> u64 {
        self.errors.values().sum::<u64>() + self.non_2xx + self.dropped
    }
}

/// Runs of one schedule before a generator that keeps falling behind fails its profile.
const GENERATOR_ATTEMPTS: u32 = 3;

impl Generator {
    /// One run against `server`, watching it.
    fn run_once(&self, server: &dyn Server, schedule: &[String]) -> Result<Run> {
        let output = pinned(&self.program, self.core)
            .arg("--addr")
            .arg(server.addr().to_string())
            .arg("--mix")
            .arg(&self.mix)
            .arg("--connections")
            .arg(self.connections.to_string())
            .arg("--watch")
            .arg(server.pid().to_string())
            .args(schedule)
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("running {}", self.program.display()))?;
        if !output.status.success() {
            bail!("allframe-loadgen {} failed", schedule.join(" "));
        }
        serde_json::from_slice(&output.stdout).context("reading allframe-loadgen's JSON report")
    }

    /// A run, made again while the generator fell behind its schedule, up to
    /// `GENERATOR_ATTEMPTS` times: a stall of the shared machine is not the server's figure,
    /// and a generator that cannot keep to its schedule on any attempt still fails.
    pub(crate) fn run(&self, server: &dyn Server, schedule: &[String]) -> Result<Run> {
        let mut attempt = 1;
        loop {
            let run = self.run_once(server, schedule)?;
            if run.generator.valid || attempt == GENERATOR_ATTEMPTS {
                return Ok(run);
            }
            attempt += 1;
            eprintln!(
                "load: the generator fell behind ({}); running it again, attempt {attempt} of {GENERATOR_ATTEMPTS}",
                run.generator
                    .invalid_because
                    .as_deref()
                    .unwrap_or("no reason given")
            );
        }
    }
}
