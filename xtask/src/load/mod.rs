//! `cargo xtask load`: a target's release binary (a demo, or AllFrame's TechEmpower server)
//! under the open-model load generator (`allframe-loadgen --rate/--steps`), in four profiles
//! of `quality.toml [load]`:
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
//! server and data directory each profile. Absolute SLOs warn; a run whose generator fell
//! behind is run again (a stall of the shared machine), and one that fell behind on every
//! attempt is reported as invalid, never as the server's figure (but in a stress, where a
//! step the generator cannot keep to ends the steps: this machine offers no more).
//! `--smoke` (CI) runs each profile for a few seconds and fails only on errors or an invalid
//! generator; `--duration S` scales the profiles (not recorded in the history).
//! `--against REV` is the paired regression gate ([`against`]).

mod against;
pub(crate) mod profile;
mod target;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use self::profile::{Figures, Timing};
use self::target::{App, Generator};
use crate::config::{self, Load, LoadTarget, Quality, TECHEMPOWER_TARGET};
use crate::level::Level;
use crate::summary::Table;
use crate::techempower::servers::Pinning;
use crate::{history, shell};

/// The open-model load generator's package (and binary).
pub(crate) const LOADGEN: &str = "allframe-loadgen";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Profile {
    Sustained,
    Spike,
    Stress,
    Soak,
}

impl Profile {
    pub(crate) const ALL: [Profile; 4] = [
        Profile::Sustained,
        Profile::Spike,
        Profile::Stress,
        Profile::Soak,
    ];

    pub(crate) fn name(self) -> &'static str {
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
    /// The profiles to run [default: all four; with `--against`, sustained].
    #[arg(value_enum)]
    profiles: Vec<Profile>,
    /// What to load: a `[[load.target_app]]` name, a demo or `techempower` [default:
    /// `quality.toml [load] target`].
    #[arg(long)]
    target: Option<String>,
    /// A few seconds of each profile, judged only on errors and the generator (CI).
    #[arg(long, conflicts_with_all = ["duration", "against"])]
    smoke: bool,
    /// Seconds each profile lasts, its phases scaled to it [default: quality.toml's].
    #[arg(long, value_name = "S", value_parser = positive_seconds)]
    duration: Option<f64>,
    /// The paired regression gate: build REV beside the working tree, run both on the
    /// profile interleaved (ABBA, BAAB, ...) and judge p95 and p99 as `bench --against`.
    #[arg(long, value_name = "REV")]
    against: Option<String>,
    /// With `--against`: interleaved blocks [default: quality.toml `[load.against] blocks`].
    #[arg(long, requires = "against")]
    blocks: Option<usize>,
    #[arg(long)]
    json: bool,
}

fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 => Ok(s),
        _ => Err(format!("`{text}` is not a positive number of seconds")),
    }
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

/// What every run against one target needs: the target built at the working tree, its
/// database (the TechEmpower server's, kept for the whole run), the generator and a folder
/// for the servers' logs and data.
pub(crate) struct Setup {
    pub(crate) target: LoadTarget,
    pub(crate) head: App,
    pub(crate) database: Option<crate::techempower::database::Prepared>,
    pub(crate) generator: Generator,
    pub(crate) pinning: Pinning,
    pub(crate) work: PathBuf,
}

/// Builds the `[[load.target_app]]` called `name` (the default one for `None`) and the
/// generator.
pub(crate) fn prepare(quality: &Quality, load: &Load, name: Option<&str>) -> Result<Setup> {
    let name = name.unwrap_or(&load.target);
    let target = load
        .targets
        .iter()
        .find(|t| t.name == name)
        .with_context(|| {
            format!(
                "`{name}` is not a [[load.target_app]] of quality.toml (known: {})",
                load.targets
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
    let database = if target.name == TECHEMPOWER_TARGET {
        let tfb = quality
            .techempower
            .as_ref()
            .context("quality.toml has no [techempower] section")?;
        let prepared = crate::techempower::database::prepare(
            &crate::techempower::database::Choice::Auto,
            quality,
            &tfb.database,
        )?
        .map_err(|why| anyhow::anyhow!("the TechEmpower target needs PostgreSQL: {why}"))?;
        Some(prepared)
    } else {
        None
    };
    let url = database.as_ref().map(|db| &db.url);
    let head = App::build(quality, target, url, &shell::root(), &shell::target_dir())?;
    let program = shell::build_release(&shell::root(), &shell::target_dir(), LOADGEN, LOADGEN)?;
    let (pinning, pin_note) = Pinning::detect();
    eprintln!("load: {name}, {pin_note}");
    let generator = Generator {
        program,
        core: pinning.load,
        connections: load.connections,
        mix: shell::root().join(&target.mix),
    };
    let work = shell::target_dir()
        .join("xtask")
        .join("load")
        .join(&target.name);
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    Ok(Setup {
        target: target.clone(),
        head,
        database,
        generator,
        pinning,
        work,
    })
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let quality = config::load()?;
    let load = quality
        .load
        .as_ref()
        .context("quality.toml has no [load] section")?;
    let setup = prepare(&quality, load, args.target.as_deref())?;
    let Setup {
        target,
        head,
        database,
        generator,
        pinning,
        work,
    } = &setup;
    let name = &target.name;
    let url = database.as_ref().map(|db| &db.url);

    if let Some(rev) = &args.against {
        let tree = crate::worktree::checkout(rev)?;
        let base = App::build(&quality, target, url, &tree, &crate::worktree::target_dir())?;
        let profiles = if args.profiles.is_empty() {
            vec![Profile::Sustained]
        } else {
            args.profiles.clone()
        };
        let mut options = against::Options::from_config(load, args.duration, args.blocks)?;
        options.title = format!("{name}: head against {rev}");
        options.reproduce = format!(
            "cargo xtask load {} --target {name} --against {rev} --blocks {}{}",
            profiles
                .iter()
                .map(|p| p.name())
                .collect::<Vec<_>>()
                .join(" "),
            options.blocks.first,
            args.duration
                .map_or_else(String::new, |s| format!(" --duration {s}"))
        );
        return against::run(
            load,
            &profiles,
            &options,
            generator,
            args.json,
            |side, log| {
                let app = match side {
                    crate::paired::Side::Base => &base,
                    crate::paired::Side::Head => head,
                };
                app.start(*pinning, &work.join(log))
            },
        );
    }

    let profiles = if args.profiles.is_empty() {
        Profile::ALL.to_vec()
    } else {
        args.profiles.clone()
    };
    let mut results = Vec::new();
    for profile in profiles {
        let timing = match (args.smoke, args.duration) {
            (true, _) => Timing::Smoke,
            (false, Some(seconds)) => Timing::lasting(load, profile, seconds),
            (false, None) => Timing::Full,
        };
        let server = head.start(*pinning, &work.join(format!("{}.log", profile.name())))?;
        results.push(profile::run(load, profile, timing, server, generator)?);
    }
    table(load, &format!("{name}: "), &results).publish()?;
    if args.json {
        crate::summary::print_json(&results)?;
    }
    let reproduce = format!(
        "cargo xtask load {} --target {name}{}{}",
        args.profiles
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(" "),
        if args.smoke { " --smoke" } else { "" },
        args.duration
            .map_or_else(String::new, |s| format!(" --duration {s}"))
    );
    let failed: Vec<String> = results
        .iter()
        .filter(|r| r.level == Level::Failure)
        .map(|r| format!("{}: {}", r.profile.name(), r.notes.join("; ")))
        .collect();
    if args.duration.is_some() {
        // Scaled runs are not the profile's figures: their history would mix with them.
        eprintln!("load: a --duration run is not recorded in the history");
    } else {
        record(load, target, args.smoke, &results)?;
    }
    if !failed.is_empty() {
        bail!(
            "load failed: {}. Reproduce with `{}`",
            failed.join(" | "),
            reproduce.replace("  ", " ")
        );
    }
    Ok(())
}

/// One history line: each profile's figures, keyed by profile (`/smoke` for CI's), and a
/// target other than the default prefixed by its name.
fn record(load: &Load, target: &LoadTarget, smoke: bool, results: &[Figures]) -> Result<()> {
    let fingerprint = crate::baseline::Fingerprint::current()?;
    // The default target's history keeps its bare keys; another's are prefixed by its name.
    let prefix = if target.name == load.target {
        String::new()
    } else {
        format!("{}/", target.name)
    };
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
                        "{prefix}{}{}",
                        r.profile.name(),
                        if smoke { "/smoke" } else { "" }
                    ),
                    r,
                )
            })
            .collect::<BTreeMap<_, _>>(),
        &results
            .iter()
            .map(|r| {
                (
                    format!("{prefix}{}", r.profile.name()),
                    r.level.label().to_owned(),
                )
            })
            .collect(),
    )
}

fn table(load: &Load, title: &str, results: &[Figures]) -> Table {
    let mut table = Table::new(
        &format!(
            "{title}load (open model; latency from each request's due time; SLO p99 {} ms, errors {:.2}%)",
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
                    Some("generator") => format!(
                        "within the SLO up to {rate}, where the generator's core ran out; \
                         recovered: {recovered}"
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
