//! The deterministic gate: instructions per operation of the hot paths, counted by
//! valgrind's callgrind, against `baselines/instructions.json` when it was counted on a like
//! machine, else against the base revision counted in the same run ([`crate::reference`]).
//! Noise on a shared machine does not move these counts, so small soft and hard limits are
//! safe.
//!
//! Each operation runs N and 2N times in the `instructions` binary; the count per operation
//! is the difference of the two inclusive costs of its `measured_blocking` function over N,
//! so set-up and one-off costs cancel out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use xshell::cmd;

use crate::baseline::{self, Fingerprint};
use crate::config::{self, Bench, InstructionBenchmark};
use crate::level::Level;
use crate::reference::{self, Match, Stamped};
use crate::summary::Table;
use crate::{history, shell};

pub(crate) const BASELINE_FILE: &str = "instructions.json";

/// `baselines/instructions.json`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct InstructionBaseline {
    pub(crate) fingerprint: Fingerprint,
    /// Instructions per operation, by benchmark id.
    pub(crate) benchmarks: BTreeMap<String, f64>,
}

impl Stamped for InstructionBaseline {
    fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }
}

#[derive(Debug, Serialize)]
struct Row {
    id: String,
    instructions_per_op: f64,
    baseline: Option<f64>,
    change_percent: Option<f64>,
    level: Level,
}

/// Judges `count` against `baseline` under the benchmark's limits.
pub(crate) fn judge(
    benchmark: &InstructionBenchmark,
    count: f64,
    baseline: Option<f64>,
) -> (Option<f64>, Level) {
    let Some(base) = baseline else {
        return (None, Level::Ok);
    };
    let change = (count - base) / base * 100.0;
    let level = if change > benchmark.hard_percent {
        Level::Failure
    } else if change > benchmark.soft_percent {
        Level::Warning
    } else {
        Level::Ok
    };
    (Some(change), level)
}

/// Builds the operations binary of the workspace at `root` into `target`.
fn build(
    root: &Path,
    target: &Path,
    package: &str,
    binary: &str,
    release: bool,
) -> Result<PathBuf> {
    let sh = shell::at_root()?;
    sh.change_dir(root);
    sh.set_var("CARGO_TARGET_DIR", target);
    let cargo = shell::cargo();
    let profile: &[&str] = if release { &["--release"] } else { &[] };
    cmd!(sh, "{cargo} build {profile...} --package {package} --bin {binary}")
        .quiet()
        .run()
        .with_context(|| {
            format!(
                "building {binary} in {} failed; reproduce with `cargo build --release -p {package} --bin {binary}` there",
                root.display()
            )
        })?;
    let dir = if release { "release" } else { "debug" };
    Ok(target.join(dir).join(binary))
}

/// The operations binary of the working tree, in release.
fn build_here(bench: &Bench) -> Result<PathBuf> {
    let binary = &bench.instructions.binary;
    build(
        &shell::root(),
        &shell::target_dir(),
        &bench.package,
        binary,
        true,
    )
}

/// Counts every benchmark of `config` with `binary`.
fn count_all(binary: &Path, config: &config::Instructions) -> Result<BTreeMap<String, f64>> {
    let mut counts = BTreeMap::new();
    for (i, benchmark) in config.benchmarks.iter().enumerate() {
        eprintln!(
            "counting {} ({}/{}) under callgrind",
            benchmark.id,
            i + 1,
            config.benchmarks.len()
        );
        counts.insert(
            benchmark.id.clone(),
            count(binary, &benchmark.id, config.iterations, &[])?,
        );
    }
    Ok(counts)
}

fn check_valgrind() -> Result<()> {
    let sh = shell::at_root()?;
    cmd!(sh, "valgrind --version")
        .quiet()
        .ignore_stdout()
        .run()
        .context("valgrind is needed to count instructions: `apt-get install valgrind`")
}

/// Instructions per operation of `id`, with `env` set for the binary.
pub(crate) fn count(binary: &Path, id: &str, iterations: u64, env: &[(&str, &str)]) -> Result<f64> {
    let once = inclusive_cost(binary, id, iterations, env)?;
    let twice = inclusive_cost(binary, id, 2 * iterations, env)?;
    if twice <= once {
        bail!(
            "{id}: {twice} instructions for {} iterations is not more than {once} for {iterations}",
            2 * iterations
        );
    }
    Ok((twice - once) as f64 / iterations as f64)
}

/// The inclusive instruction count of `measured_blocking` in one run under callgrind.
fn inclusive_cost(binary: &Path, id: &str, iterations: u64, env: &[(&str, &str)]) -> Result<u64> {
    let sh = shell::at_root()?;
    for (key, value) in env {
        sh.set_var(key, value);
    }
    let out = shell::target_dir()
        .join("xtask")
        .join("instructions")
        .join(format!("{}.{iterations}.callgrind", id.replace('/', "_")));
    std::fs::create_dir_all(out.parent().expect("a directory"))?;
    let n = iterations.to_string();
    let reproduce = format!(
        "valgrind --tool=callgrind --callgrind-out-file={} {} {id} {n}",
        out.display(),
        binary.display()
    );
    cmd!(
        sh,
        "valgrind --tool=callgrind --callgrind-out-file={out} {binary} {id} {n}"
    )
    .quiet()
    .ignore_stderr()
    .run()
    .with_context(|| format!("counting {id} failed; reproduce with `{reproduce}`"))?;
    let annotated = cmd!(sh, "callgrind_annotate --inclusive=yes {out}")
        .quiet()
        .read()
        .with_context(|| format!("callgrind_annotate {} failed", out.display()))?;
    parse_inclusive(&annotated, "::measured_blocking ").with_context(|| {
        format!(
            "no `measured_blocking` line in `callgrind_annotate --inclusive=yes {}`",
            out.display()
        )
    })
}

/// The largest inclusive cost of a function whose name ends in `suffix` (with the space
/// that separates callgrind_annotate's name from the object file).
fn parse_inclusive(annotated: &str, suffix: &str) -> Option<u64> {
    annotated
        .lines()
        .filter(|line| line.contains(suffix))
        .filter_map(|line| line.split_whitespace().next())
        .filter_map(|count| count.replace(',', "").parse::<u64>().ok())
        .max()
}

/// Counts head, then compares with the reference: the baseline when it was counted on a
/// like machine, else `base` (or the default base revision) counted now.
pub(crate) fn run(bench: &Bench, json: bool, base: Option<&str>) -> Result<()> {
    check_valgrind()?;
    let config = &bench.instructions;
    let binary = build_here(bench)?;
    let fingerprint = Fingerprint::current()?;
    let counts = count_all(&binary, config)?;
    let reference = reference::resolve(
        BASELINE_FILE,
        &fingerprint,
        Match::ToolchainAndCpu,
        base,
        |tree, target| {
            let binary = build(tree, target, &bench.package, &config.binary, true)?;
            Ok(InstructionBaseline {
                fingerprint: fingerprint.clone(),
                benchmarks: count_all(&binary, config)?,
            })
        },
    )?;
    let mut rows = Vec::new();
    for benchmark in &config.benchmarks {
        let count = counts[&benchmark.id];
        let base = reference
            .figures
            .as_ref()
            .and_then(|b| b.benchmarks.get(&benchmark.id).copied());
        let (change, level) = judge(benchmark, count, base);
        rows.push(Row {
            id: benchmark.id.clone(),
            instructions_per_op: count,
            baseline: base,
            change_percent: change,
            level,
        });
    }
    let mut table = Table::new(
        &format!(
            "instructions per operation (callgrind), against {}",
            reference.source
        ),
        &[
            "benchmark",
            "instructions/op",
            "reference",
            "change",
            "soft",
            "hard",
            "status",
        ],
    );
    for (row, benchmark) in rows.iter().zip(&config.benchmarks) {
        table.row(vec![
            row.id.clone(),
            format!("{:.0}", row.instructions_per_op),
            row.baseline
                .map_or_else(|| "-".into(), |b| format!("{b:.0}")),
            row.change_percent
                .map_or_else(|| "-".into(), |c| format!("{c:+.2}%")),
            format!("{}%", benchmark.soft_percent),
            format!("{}%", benchmark.hard_percent),
            row.level.label().to_owned(),
        ]);
    }
    table.publish()?;
    if let Some(note) = &reference.note {
        eprintln!("note: {note}");
    }
    let figures: BTreeMap<&str, f64> = rows
        .iter()
        .map(|r| (r.id.as_str(), r.instructions_per_op))
        .collect();
    history::append(
        "instructions",
        &fingerprint,
        &[("value", "instructions per operation")],
        &figures,
        &rows
            .iter()
            .map(|r| (r.id.clone(), r.level.label().to_owned()))
            .collect(),
    )?;
    if json {
        crate::summary::print_json(&rows)?;
    }
    let failed: Vec<String> = rows
        .iter()
        .filter(|r| r.level == Level::Failure)
        .map(|r| format!("{} {:+.2}%", r.id, r.change_percent.unwrap_or(0.0)))
        .collect();
    if !failed.is_empty() {
        bail!(
            "instruction counts grew past their hard limits: {}. Reproduce with \
             `cargo xtask bench --instructions`; if intended, accept with \
             `cargo xtask baseline instructions` and commit baselines/instructions.json",
            failed.join(", ")
        );
    }
    Ok(())
}

/// Counts every benchmark and writes `baselines/instructions.json`.
pub(crate) fn write_baseline() -> Result<()> {
    check_valgrind()?;
    let quality = config::load()?;
    let bench = quality
        .bench
        .as_ref()
        .context("quality.toml has no [bench] section")?;
    let config = &bench.instructions;
    let binary = build_here(bench)?;
    let benchmarks = count_all(&binary, config)?;
    let path = baseline::path(BASELINE_FILE);
    baseline::write_atomic(
        &path,
        &InstructionBaseline {
            fingerprint: Fingerprint::current()?,
            benchmarks,
        },
    )?;
    eprintln!("wrote {}: commit it to accept these counts", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> InstructionBenchmark {
        InstructionBenchmark {
            id: "fixture/spin".into(),
            soft_percent: 2.0,
            hard_percent: 5.0,
        }
    }

    #[test]
    fn callgrind_annotate_lines_are_parsed() {
        let text = "\
2,274,925 (100.0%)  PROGRAM TOTALS
1,892,161 (83.17%)  ???:instructions::measured_blocking [/t/instructions]
1,890,161 (83.09%)  ???:instructions::measured_blocking::{{closure}} [/t/instructions]
";
        assert_eq!(
            parse_inclusive(text, "::measured_blocking "),
            Some(1_892_161)
        );
        assert_eq!(parse_inclusive("nothing", "::measured_blocking "), None);
    }

    /// The real binary under callgrind (a debug build: the counts differ from release,
    /// the comparison does not): the knob's 30% more work is caught, A against A is not.
    #[test]
    fn an_instruction_regression_is_caught_and_a_against_a_is_not() {
        if check_valgrind().is_err() {
            eprintln!("SKIPPED: valgrind is not installed (`apt-get install valgrind`)");
            return;
        }
        let binary = build(
            &shell::root(),
            &shell::target_dir(),
            "allframe-benches",
            "instructions",
            false,
        )
        .unwrap();
        let base = count(&binary, "fixture/spin", 50, &[]).unwrap();
        let again = count(&binary, "fixture/spin", 50, &[]).unwrap();
        assert_eq!(base, again, "instruction counts are deterministic");
        assert_eq!(judge(&limits(), again, Some(base)).1, Level::Ok);
        let knob = [("ALLFRAME_BENCH_FIXTURE_SLOWDOWN", "30")];
        let slower = count(&binary, "fixture/spin", 50, &knob).unwrap();
        let (change, level) = judge(&limits(), slower, Some(base));
        assert_eq!(level, Level::Failure, "{change:?}");
        assert!((25.0..35.0).contains(&change.unwrap()), "{change:?}");
    }
}
