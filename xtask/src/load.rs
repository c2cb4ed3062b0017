//! `cargo xtask load`: a demo's release binary under the open-model load generator
//! (`allframe-loadgen --rate/--steps`), in four profiles of `quality.toml [load]`:
//!
//! - sustained: one rate for a time; percentiles and errors against the SLO;
//! - spike: steady, ten times the rate, steady again; each phase's worst second and the time
//!   to get back under the SLO;
//! - stress: rising steps until p99 passes the SLO or errors pass their share, then the
//!   first rate again: the breaking point, how it broke and whether it recovered;
//! - soak: a long steady run with the server's RSS read every second; its slope over the
//!   second half against the leak budget.
//!
//! The server runs on core 0 and the generator on core 1 (as `techempower` does), a fresh
//! data directory each profile. Absolute SLOs warn; a run whose generator fell behind is run
//! again (a stall of the shared machine), and one that fell behind on every attempt is
//! reported as invalid, never as the server's figure. `--smoke` (CI) runs each profile for a
//! few seconds and fails only on errors or an invalid generator.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use xshell::cmd;

use crate::config::{self, Load};
use crate::level::Level;
use crate::summary::Table;
use crate::techempower::servers::{Pinning, pinned};
use crate::{demos, history, shell};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Profile {
    Sustained,
    Spike,
    Stress,
    Soak,
}

impl Profile {
    const ALL: [Profile; 4] = [
        Profile::Sustained,
        Profile::Spike,
        Profile::Stress,
        Profile::Soak,
    ];

    fn name(self) -> &'static str {
        match self {
            Profile::Sustained => "sustained",
            Profile::Spike => "spike",
            Profile::Stress => "stress",
            Profile::Soak => "soak",
        }
    }
}

#[derive(Debug, Default, clap::Args)]
pub(crate) struct Args {
    /// The profiles to run [default: all four].
    #[arg(value_enum)]
    profiles: Vec<Profile>,
    /// The demo to load (a `[[demos.demo]]` name) [default: `quality.toml [load] target`].
    #[arg(long)]
    target: Option<String>,
    /// A few seconds of each profile, judged only on errors and the generator (CI).
    #[arg(long)]
    smoke: bool,
    #[arg(long)]
    json: bool,
}

impl Args {
    /// What CI runs: every profile, a few seconds each.
    pub(crate) fn smoke() -> Self {
        Self {
            smoke: true,
            ..Self::default()
        }
    }
}

/// The subset of the generator's JSON report read here.
#[derive(Debug, Deserialize)]
struct Run {
    scheduled: u64,
    dropped: u64,
    errors: BTreeMap<String, u64>,
    non_2xx: u64,
    achieved_rate: f64,
    corrected_us: Percentiles,
    uncorrected_us: Percentiles,
    generator: Generator,
    intervals: Vec<Interval>,
    server_rss_slope_mib_per_hour: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize)]
struct Percentiles {
    p50: u64,
    p95: u64,
    p99: u64,
    p999: u64,
}

#[derive(Debug, Deserialize)]
struct Generator {
    valid: bool,
    invalid_because: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Interval {
    at: f64,
    completed: u64,
    corrected_us: Percentiles,
    server: Option<Server>,
}

#[derive(Debug, Deserialize)]
struct Server {
    rss_bytes: u64,
}

/// One profile's figures: what the table, the JSON and the history carry.
#[derive(Debug, Serialize)]
struct Figures {
    profile: Profile,
    achieved_rate: f64,
    error_rate: f64,
    p50_us: u64,
    p95_us: u64,
    p99_us: u64,
    p999_us: u64,
    uncorrected_p99_us: u64,
    /// spike: the worst second's p99 before, during and after, and the seconds from the
    /// spike's end to the first second back under the SLO.
    #[serde(skip_serializing_if = "Option::is_none")]
    phases_p99_us: Option<[u64; 3]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recovery_s: Option<f64>,
    /// stress: the last rate within the SLO, and what broke first above it.
    #[serde(skip_serializing_if = "Option::is_none")]
    breaking_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    broke_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recovered: Option<bool>,
    /// soak: the server's RSS slope over the run's second half and at its end.
    #[serde(skip_serializing_if = "Option::is_none")]
    rss_slope_mib_per_hour: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_rss_bytes: Option<u64>,
    valid: bool,
    level: Level,
    notes: Vec<String>,
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let quality = config::load()?;
    let load = quality
        .load
        .as_ref()
        .context("quality.toml has no [load] section")?;
    let demos = quality
        .demos
        .as_ref()
        .context("quality.toml has no [demos] section (the load targets)")?;
    let target = args.target.as_deref().unwrap_or(&load.target);
    let demo = demos
        .demos
        .iter()
        .find(|d| d.name == target)
        .with_context(|| format!("`{target}` is not a demo of quality.toml [[demos.demo]]"))?;
    let binary = demos::build(demo)?;
    let sh = shell::at_root()?;
    let cargo = shell::cargo();
    cmd!(sh, "{cargo} build --release -p allframe-loadgen")
        .quiet()
        .run()
        .context("building the load generator; reproduce with `cargo build --release -p allframe-loadgen`")?;
    let loadgen = shell::target_dir().join("release").join("allframe-loadgen");
    let (pinning, pin_note) = Pinning::detect();
    eprintln!("load: {target}, {pin_note}");

    let profiles = if args.profiles.is_empty() {
        Profile::ALL.to_vec()
    } else {
        args.profiles.clone()
    };
    let mut results = Vec::new();
    for profile in profiles {
        let mut target = Target::start(load, demo, &binary, pinning, profile)?;
        let mut runs = Vec::new();
        let planned = schedule(load, profile, args.smoke);
        let last = planned.len() - 1;
        let mut broke = false;
        for (i, (flags, rate)) in planned.iter().enumerate() {
            // Past a stress's breaking point, straight to its recovery run.
            if broke && i < last {
                continue;
            }
            eprintln!("load {}: {}", profile.name(), flags.join(" "));
            let run = target.generate_on_time(load, &loadgen, pinning, flags)?;
            broke |= profile == Profile::Stress && i < last && broken(load, &run).is_some();
            runs.push((*rate, run));
        }
        target.stop()?;
        results.push(judge(load, profile, &runs, args.smoke));
    }
    table(load, &results).publish()?;
    let fingerprint = crate::baseline::Fingerprint::current()?;
    history::append(
        "load",
        &fingerprint,
        &[
            ("achieved_rate", "requests per second"),
            ("error_rate", "share of requests"),
            ("p50_us", "microseconds"),
            ("p95_us", "microseconds"),
            ("p99_us", "microseconds"),
            ("p999_us", "microseconds"),
            ("uncorrected_p99_us", "microseconds"),
            ("recovery_s", "seconds"),
            ("breaking_rate", "requests per second"),
            ("rss_slope_mib_per_hour", "MiB per hour"),
        ],
        &results
            .iter()
            .map(|r| {
                (
                    format!(
                        "{}{}",
                        r.profile.name(),
                        if args.smoke { "/smoke" } else { "" }
                    ),
                    r,
                )
            })
            .collect::<BTreeMap<_, _>>(),
        &results
            .iter()
            .map(|r| (r.profile.name().to_owned(), r.level.label().to_owned()))
            .collect(),
    )?;
    if args.json {
        crate::summary::print_json(&results)?;
    }
    let failed: Vec<String> = results
        .iter()
        .filter(|r| r.level == Level::Failure)
        .map(|r| format!("{}: {}", r.profile.name(), r.notes.join("; ")))
        .collect();
    if !failed.is_empty() {
        bail!(
            "load failed: {}. Reproduce with `cargo xtask load{}`",
            failed.join(" | "),
            if args.smoke { " --smoke" } else { "" }
        );
    }
    Ok(())
}

/// The generator runs of `profile`, each as its schedule flags and target rate. A stress
/// is one run per step (the runner stops at the first step that breaks) and a last one back
/// at the first rate: a fresh generator, as users who gave up come back.
fn schedule(load: &Load, profile: Profile, smoke: bool) -> Vec<(Vec<String>, f64)> {
    // A smoke keeps each profile's shape in a few seconds.
    let time = |seconds: f64, smoke_seconds: f64| if smoke { smoke_seconds } else { seconds };
    let constant = |rate: f64, seconds: f64| {
        vec![
            "--rate".to_owned(),
            format!("{rate:.1}"),
            "--duration".to_owned(),
            seconds.to_string(),
        ]
    };
    match profile {
        Profile::Sustained => vec![(
            constant(load.sustained.rate, time(load.sustained.seconds, 3.0)),
            load.sustained.rate,
        )],
        Profile::Spike => {
            let s = &load.spike;
            let steps = [
                (s.rate, time(s.before_seconds, 2.0)),
                (s.rate * s.factor, time(s.spike_seconds, 2.0)),
                (s.rate, time(s.after_seconds, 3.0)),
            ];
            vec![(
                vec!["--steps".into(), steps_flag(&steps)],
                s.rate * s.factor,
            )]
        }
        Profile::Stress => {
            let s = &load.stress;
            let step = time(s.step_seconds, 1.0);
            let count = if smoke { s.steps.min(3) } else { s.steps };
            let mut runs: Vec<(Vec<String>, f64)> = (0..count)
                .map(|k| {
                    let rate = s.start_rate * s.factor.powi(k as i32);
                    (constant(rate, step), rate)
                })
                .collect();
            runs.push((constant(s.start_rate, step * 2.0), s.start_rate));
            runs
        }
        Profile::Soak => {
            let mut flags = constant(load.soak.rate, time(load.soak.seconds, 6.0));
            if smoke {
                // Enough readings in six seconds for a slope.
                flags.extend(["--interval".into(), "0.5".into()]);
            }
            vec![(flags, load.soak.rate)]
        }
    }
}

fn steps_flag(steps: &[(f64, f64)]) -> String {
    steps
        .iter()
        .map(|(rate, seconds)| format!("{rate:.1}:{seconds}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A fresh demo on its own core, given its setup requests.
struct Target {
    server: demos::Running,
    addr: std::net::SocketAddr,
    log: std::path::PathBuf,
}

impl Target {
    fn start(
        load: &Load,
        demo: &config::Demo,
        binary: &Path,
        pinning: Pinning,
        profile: Profile,
    ) -> Result<Self> {
        let work = shell::target_dir()
            .join("xtask")
            .join("load")
            .join(&demo.name);
        let data = demos::fresh_dir(&work.join("data"))?;
        let log = work.join(format!("{}.log", profile.name()));
        let (server, addr, _) = demos::Running::start(binary, &data, &log)?;
        if let Some(core) = pinning.server {
            // Every thread of the server, its runtime's workers included.
            let (pid, core) = (server.pid().to_string(), core.to_string());
            let sh = shell::at_root()?;
            cmd!(sh, "taskset -a -pc {core} {pid}")
                .quiet()
                .ignore_stdout()
                .run()?;
        }
        for request in &load.setup {
            demos::send_request(addr, request, 0, "").context("a setup request of [load]")?;
        }
        Ok(Self { server, addr, log })
    }

    /// One generator run on the other core, watching the server.
    fn generate(
        &mut self,
        load: &Load,
        loadgen: &Path,
        pinning: Pinning,
        schedule: &[String],
    ) -> Result<Run> {
        let output = pinned(loadgen, pinning.load)
            .arg("--addr")
            .arg(self.addr.to_string())
            .arg("--mix")
            .arg(shell::root().join(&load.mix))
            .arg("--connections")
            .arg(load.connections.to_string())
            .arg("--watch")
            .arg(self.server.pid().to_string())
            .args(schedule)
            .stderr(Stdio::inherit())
            .output()
            .context("running allframe-loadgen")?;
        if !output.status.success() {
            bail!(
                "allframe-loadgen {} failed (server log: {})",
                schedule.join(" "),
                self.log.display()
            );
        }
        serde_json::from_slice(&output.stdout).context("reading allframe-loadgen's JSON report")
    }

    /// `generate`, run again while the generator fell behind its schedule, up to
    /// `GENERATOR_ATTEMPTS` times: a stall of the shared machine is not the server's figure,
    /// and a generator that cannot keep to its schedule on any attempt still fails the profile.
    fn generate_on_time(
        &mut self,
        load: &Load,
        loadgen: &Path,
        pinning: Pinning,
        schedule: &[String],
    ) -> Result<Run> {
        let mut attempt = 1;
        loop {
            let run = self.generate(load, loadgen, pinning, schedule)?;
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

    fn stop(mut self) -> Result<()> {
        self.server.terminate()
    }
}

/// Runs of one schedule before a generator that keeps falling behind fails its profile.
const GENERATOR_ATTEMPTS: u32 = 3;

/// Why a run is past the service level, if it is: errors (dropped requests among them)
/// over their share, else corrected p99 over the SLO.
fn broken(load: &Load, run: &Run) -> Option<&'static str> {
    let errors = run.errors.values().sum::<u64>() + run.non_2xx + run.dropped;
    if errors as f64 > load.max_error_rate * run.scheduled.max(1) as f64 {
        Some("errors")
    } else if run.corrected_us.p99 as f64 > load.slo_p99_ms * 1000.0 {
        Some("latency")
    } else {
        None
    }
}

fn judge(load: &Load, profile: Profile, runs: &[(f64, Run)], smoke: bool) -> Figures {
    let slo_us = (load.slo_p99_ms * 1000.0) as u64;
    // A stress's figures are those of its last step before the recovery run.
    let (_, run) = if profile == Profile::Stress && runs.len() > 1 {
        &runs[runs.len() - 2]
    } else {
        &runs[0]
    };
    let errors: u64 = run.errors.values().sum::<u64>() + run.non_2xx + run.dropped;
    let error_rate = errors as f64 / run.scheduled.max(1) as f64;
    let mut figures = Figures {
        profile,
        achieved_rate: run.achieved_rate,
        error_rate,
        p50_us: run.corrected_us.p50,
        p95_us: run.corrected_us.p95,
        p99_us: run.corrected_us.p99,
        p999_us: run.corrected_us.p999,
        uncorrected_p99_us: run.uncorrected_us.p99,
        phases_p99_us: None,
        recovery_s: None,
        breaking_rate: None,
        broke_by: None,
        recovered: None,
        rss_slope_mib_per_hour: None,
        end_rss_bytes: None,
        valid: runs.iter().all(|(_, r)| r.generator.valid),
        level: Level::Ok,
        notes: Vec::new(),
    };
    let warn = |figures: &mut Figures, note: String| {
        figures.level = figures.level.max(Level::Warning);
        figures.notes.push(note);
    };
    match profile {
        Profile::Sustained | Profile::Soak => {}
        Profile::Spike => {
            let s = &load.spike;
            let (before, during) = if smoke {
                (2.0, 2.0)
            } else {
                (s.before_seconds, s.spike_seconds)
            };
            let phase = |from: f64, to: f64| {
                run.intervals
                    .iter()
                    .filter(|i| i.at >= from && i.at < to)
                    .map(|i| i.corrected_us.p99)
                    .max()
                    .unwrap_or(0)
            };
            let end = before + during;
            figures.phases_p99_us =
                Some([phase(0.0, before), phase(before, end), phase(end, f64::MAX)]);
            let worst_during = figures.phases_p99_us.map_or(0, |p| p[1]);
            figures.recovery_s = if worst_during <= slo_us {
                // It never left the SLO: nothing to recover from.
                Some(0.0)
            } else {
                run.intervals
                    .iter()
                    .filter(|i| i.at >= end && i.completed > 0)
                    .find(|i| i.corrected_us.p99 <= slo_us)
                    .map(|i| i.at + 1.0 - end)
            };
            if figures.recovery_s.is_none() {
                warn(
                    &mut figures,
                    "never back under the SLO after the spike".into(),
                );
            }
        }
        Profile::Stress => {
            let (steps, recovery) = runs.split_at(runs.len() - 1);
            let first_broken = steps.iter().position(|(_, r)| broken(load, r).is_some());
            figures.breaking_rate = match first_broken {
                Some(0) => None,
                Some(k) => Some(steps[k - 1].0),
                None => steps.last().map(|(rate, _)| *rate),
            };
            figures.broke_by = Some(
                first_broken
                    .and_then(|k| broken(load, &steps[k].1))
                    .unwrap_or("nothing")
                    .to_owned(),
            );
            figures.recovered = recovery.first().map(|(_, r)| broken(load, r).is_none());
            if figures.recovered == Some(false) {
                warn(
                    &mut figures,
                    "did not recover when the rate dropped back".into(),
                );
            }
        }
    }
    if profile == Profile::Soak {
        figures.rss_slope_mib_per_hour = run.server_rss_slope_mib_per_hour;
        figures.end_rss_bytes = run
            .intervals
            .iter()
            .rev()
            .find_map(|i| Some(i.server.as_ref()?.rss_bytes));
        if let Some(slope) = run.server_rss_slope_mib_per_hour
            && slope > load.soak.leak_budget_mib_per_hour
            && !smoke
        {
            warn(
                &mut figures,
                format!(
                    "RSS grows {slope:.1} MiB/h, over the leak budget of {} MiB/h",
                    load.soak.leak_budget_mib_per_hour
                ),
            );
        }
    }
    if matches!(profile, Profile::Sustained | Profile::Soak) && figures.p99_us > slo_us {
        let note = format!("p99 {} µs over the SLO of {} µs", figures.p99_us, slo_us);
        warn(&mut figures, note);
    }
    if !run.generator.valid {
        figures.level = Level::Failure;
        figures.notes.push(format!(
            "INVALID run: {}",
            run.generator
                .invalid_because
                .as_deref()
                .unwrap_or("the generator fell behind")
        ));
    }
    // Errors fail where they are not the point: every profile but stress, whose job is to
    // find where they start.
    if profile != Profile::Stress && error_rate > load.max_error_rate {
        figures.level = Level::Failure;
        figures.notes.push(format!(
            "{errors} errors of {} requests ({:.2}%, more than {:.2}%)",
            run.scheduled,
            error_rate * 100.0,
            load.max_error_rate * 100.0
        ));
    }
    if smoke && figures.level == Level::Warning {
        // A smoke is seconds long on a shared machine: absolute figures are not judged.
        figures.level = Level::Ok;
    }
    figures
}

fn table(load: &Load, results: &[Figures]) -> Table {
    let mut table = Table::new(
        &format!(
            "load (open model; latency from each request's due time; SLO p99 {} ms, errors {:.2}%)",
            load.slo_p99_ms,
            load.max_error_rate * 100.0
        ),
        &[
            "profile",
            "req/s",
            "errors",
            "p50",
            "p99",
            "p99.9",
            "uncorrected p99",
            "figure",
            "verdict",
        ],
    );
    let ms = |us: u64| format!("{:.2} ms", us as f64 / 1000.0);
    for r in results {
        let figure = match r.profile {
            Profile::Spike => match (r.phases_p99_us, r.recovery_s) {
                (Some([b, d, a]), recovery) => format!(
                    "worst p99 {} / {} / {}; recovered in {}",
                    ms(b),
                    ms(d),
                    ms(a),
                    recovery.map_or_else(|| "never".to_owned(), |s| format!("{s:.0} s"))
                ),
                _ => String::new(),
            },
            Profile::Stress => {
                let rate = r
                    .breaking_rate
                    .map_or_else(|| "no step".to_owned(), |b| format!("{b:.0} req/s"));
                let recovered = r.recovered.map_or("-", |b| if b { "yes" } else { "no" });
                match r.broke_by.as_deref() {
                    Some(by @ ("latency" | "errors")) => format!(
                        "within the SLO up to {rate}, then broke by {by}; recovered: {recovered}"
                    ),
                    _ => format!("within the SLO at every step, up to {rate}"),
                }
            }
            Profile::Soak => format!(
                "RSS {} MiB/h, {:.1} MiB at the end",
                r.rss_slope_mib_per_hour
                    .map_or_else(|| "-".to_owned(), |s| format!("{s:+.1}")),
                r.end_rss_bytes.unwrap_or(0) as f64 / 1048576.0
            ),
            Profile::Sustained => String::new(),
        };
        let verdict = if r.notes.is_empty() {
            r.level.label().to_owned()
        } else {
            format!("{}: {}", r.level.label(), r.notes.join("; "))
        };
        table.row(vec![
            r.profile.name().to_owned(),
            format!("{:.0}", r.achieved_rate),
            format!("{:.2}%", r.error_rate * 100.0),
            ms(r.p50_us),
            ms(r.p99_us),
            ms(r.p999_us),
            ms(r.uncorrected_p99_us),
            figure,
            verdict,
        ]);
    }
    table
}
