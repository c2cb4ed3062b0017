//! `cargo xtask bench`: the criterion suites of `benches/suites`, figures read from
//! criterion's JSON files, ops/s against the targets of quality.toml; `--test` runs each
//! benchmark once (so suites cannot rot); `--against REV` is the paired wall-clock gate
//! ([`against`]); `--instructions` the deterministic one ([`instructions`]).

mod against;
mod criterion;
mod instructions;

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use xshell::cmd;

use crate::config::{self, Bench, BenchTarget};
use crate::summary::Table;
use crate::{history, shell};

pub(crate) use self::against::build as build_suites;
pub(crate) use self::instructions::write_baseline as write_instructions_baseline;

#[derive(Debug, Default, clap::Args)]
pub(crate) struct Args {
    /// Only benchmarks whose id matches this (criterion's filter, a regular expression).
    pub(crate) filter: Option<String>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,
    /// Run each benchmark once, as a test, and report nothing (what CI runs).
    #[arg(long, conflicts_with_all = ["instructions", "against", "aa"])]
    pub(crate) test: bool,
    /// The instruction-count gate: hot microbenchmarks under callgrind against
    /// baselines/instructions.json.
    #[arg(long, conflicts_with_all = ["against", "aa"])]
    pub(crate) instructions: bool,
    /// The wall-clock gate: build REV (a commit, branch or tag) beside the working tree and
    /// compare them in one interleaved run.
    #[arg(long, value_name = "REV")]
    pub(crate) against: Option<String>,
    /// Compare the working tree with itself: how many alerts a gate raises on no change.
    #[arg(long, conflicts_with = "against")]
    pub(crate) aa: bool,
    /// With `--aa`: head runs with the `fixture` benchmark doing this many percent more work
    /// (`ALLFRAME_BENCH_FIXTURE_SLOWDOWN`), to measure how often the gate catches a known
    /// slowdown: `cargo xtask bench --aa fixture --slowdown 25`.
    #[arg(long, value_name = "PERCENT", requires = "aa")]
    pub(crate) slowdown: Option<u32>,
    /// Blocks of the interleaved comparison (each runs base and head twice, ABBA).
    #[arg(long)]
    pub(crate) blocks: Option<usize>,
    /// With `--instructions`: count this revision in the same run and compare with it,
    /// instead of the committed baseline (which is used only when counted on a like machine;
    /// otherwise the merge base with main, else HEAD~1, is counted).
    #[arg(long, value_name = "REV", requires = "instructions")]
    pub(crate) base: Option<String>,
}

/// One benchmark's figure and its verdict against the targets.
#[derive(Debug, Serialize)]
struct Row {
    #[serde(flatten)]
    measurement: criterion::Measurement,
    ops_per_sec: Option<f64>,
    floor_ops: Option<f64>,
    goal_ops: Option<f64>,
    status: &'static str,
}

/// A history figure: ops/s and criterion's 95% interval of it.
#[derive(Serialize)]
struct Throughput {
    value: f64,
    low: f64,
    high: f64,
}

impl Throughput {
    fn of(row: &Row) -> Option<Self> {
        let (low, high) = row.measurement.ops_per_sec_interval()?;
        Some(Self {
            value: row.ops_per_sec?,
            low,
            high,
        })
    }
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let quality = config::load()?;
    let bench = quality
        .bench
        .as_ref()
        .context("quality.toml has no [bench] section")?;
    if args.test {
        return test_mode(bench);
    }
    if args.instructions {
        return instructions::run(bench, args.json, args.base.as_deref());
    }
    if let Some(rev) = &args.against {
        return against::run(
            bench,
            against::Base::Rev(rev),
            args.filter.as_deref(),
            args.blocks,
            args.json,
        );
    }
    if args.aa {
        return against::run(
            bench,
            against::Base::Itself {
                slowdown: args.slowdown,
            },
            args.filter.as_deref(),
            args.blocks,
            args.json,
        );
    }
    let dir = shell::target_dir()
        .join("xtask")
        .join("bench")
        .join("criterion");
    run_suites(
        &shell::root(),
        &bench.package,
        &dir,
        args.filter.as_deref(),
        &[],
    )?;
    let measurements = criterion::read_dir(&dir)?;
    let rows: Vec<Row> = measurements
        .into_iter()
        .map(|m| judge(m, &bench.targets))
        .collect();
    table(&rows).publish()?;
    let fingerprint = crate::baseline::Fingerprint::current()?;
    let figures: std::collections::BTreeMap<&str, Option<Throughput>> = rows
        .iter()
        .map(|r| (r.measurement.id.as_str(), Throughput::of(r)))
        .collect();
    history::append(
        "bench",
        &fingerprint,
        &[
            ("value", "operations per second"),
            ("low", "operations per second"),
            ("high", "operations per second"),
        ],
        &figures,
        &rows
            .iter()
            .map(|r| (r.measurement.id.clone(), r.status.to_owned()))
            .collect(),
    )?;
    if args.json {
        crate::summary::print_json(&rows)?;
    }
    let unknown: Vec<&str> = bench
        .targets
        .iter()
        .filter(|t| !rows.iter().any(|r| r.measurement.id == t.id))
        .map(|t| t.id.as_str())
        .collect();
    if args.filter.is_none() && !unknown.is_empty() {
        bail!(
            "quality.toml [[bench.target]] names benchmarks that did not run: {} \
             (renamed? ids must stay stable)",
            unknown.join(", ")
        );
    }
    Ok(())
}

/// Each benchmark once, as a test: a panic or a build error fails; nothing is measured.
fn test_mode(bench: &Bench) -> Result<()> {
    let sh = shell::at_root()?;
    let cargo = shell::cargo();
    let package = &bench.package;
    cmd!(sh, "{cargo} test --package {package} --benches")
        .run()
        .with_context(|| {
            format!("a benchmark failed; reproduce with `cargo test -p {package} --benches`")
        })
}

/// Runs the suites of `package` in the workspace at `root`, writing criterion's files
/// under `out` (emptied first, so only this run's results are read).
fn run_suites(
    root: &Path,
    package: &str,
    out: &Path,
    filter: Option<&str>,
    extra_env: &[(&str, &str)],
) -> Result<()> {
    if out.exists() {
        std::fs::remove_dir_all(out).with_context(|| format!("emptying {}", out.display()))?;
    }
    let sh = shell::at_root()?;
    sh.change_dir(root);
    sh.set_var("CRITERION_HOME", out);
    for (key, value) in extra_env {
        sh.set_var(key, value);
    }
    let cargo = shell::cargo();
    let reproduce = format!("cargo bench -p {package} -- {}", filter.unwrap_or_default());
    let filter: Vec<&str> = filter.into_iter().collect();
    cmd!(
        sh,
        "{cargo} bench --package {package} --benches -- --noplot {filter...}"
    )
    .run()
    .with_context(|| format!("the suites failed; reproduce with `{reproduce}`"))
}

fn judge(measurement: criterion::Measurement, targets: &[BenchTarget]) -> Row {
    let target = targets.iter().find(|t| t.id == measurement.id);
    let ops = measurement.ops_per_sec();
    let floor = target.and_then(|t| t.floor_ops);
    let goal = target.and_then(|t| t.goal_ops);
    // Absolute speed on a shared machine is reported, not failed: the regression gates
    // (instruction counts, the paired comparison) are what fail a change.
    let status = match (ops, floor, goal) {
        (Some(ops), Some(floor), _) if ops < floor => "WARNING: below floor",
        (Some(ops), _, Some(goal)) if ops < goal => "below goal",
        (Some(_), _, _) if target.is_some() => "ok",
        _ => "no target",
    };
    Row {
        ops_per_sec: ops,
        floor_ops: floor,
        goal_ops: goal,
        status,
        measurement,
    }
}

/// `1234567.0` as `1.23 M`.
pub(crate) fn si(ops: f64) -> String {
    match ops {
        o if o >= 1e6 => format!("{:.2} M", o / 1e6),
        o if o >= 1e3 => format!("{:.1} k", o / 1e3),
        o => format!("{o:.0}"),
    }
}

fn table(rows: &[Row]) -> Table {
    let mut table = Table::new(
        "benchmarks (criterion; ops/s from its estimate of time per iteration)",
        &[
            "benchmark",
            "ops/s",
            "95% interval",
            "floor",
            "goal",
            "status",
        ],
    );
    for row in rows {
        let m = &row.measurement;
        let interval = match m.elements {
            Some(n) => format!(
                "{} .. {}",
                si(n as f64 * 1e9 / m.ns_upper),
                si(n as f64 * 1e9 / m.ns_lower)
            ),
            None => format!("{:.0} .. {:.0} ns", m.ns_lower, m.ns_upper),
        };
        table.row(vec![
            m.id.clone(),
            row.ops_per_sec
                .map_or_else(|| format!("{:.0} ns", m.ns_per_iter), si),
            interval,
            row.floor_ops.map_or_else(String::new, si),
            row.goal_ops.map_or_else(String::new, si),
            row.status.to_owned(),
        ]);
    }
    table
}
