//! The wall-clock gate: base and head built side by side, run as separate processes
//! interleaved in blocks (ABBA, then BAAB, ...) pinned to one core, each process reduced to
//! one figure per benchmark from criterion's JSON. The paired log-ratios of each benchmark
//! are judged with a Wilcoxon signed-rank test (Holm-corrected across the suite) and the
//! Hodges-Lehmann estimate with its confidence interval.
//!
//! A significant slowdown whose whole interval is past the minor threshold is a regression
//! (its severity follows the estimate; it fails when the interval's lower bound passes the
//! fail level). A significant one whose interval straddles a threshold is not yet decided:
//! more blocks are run, up to a cap (sequential testing), and one still straddling at the
//! cap is reported as undecided, with its estimate, never as "no regression".

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cargo_metadata::Message;
use serde::Serialize;
use xshell::cmd;

use super::criterion;
use super::stats::{self, Severity, Thresholds};
use crate::config::Bench;
use crate::shell;
use crate::summary::Table;

/// What head is compared with.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Base<'a> {
    /// A commit, branch or tag, built in a git worktree.
    Rev(&'a str),
    /// The working tree itself: an A/A run (every alert is a false alarm), or with
    /// `slowdown` the fixture benchmark made that many percent slower on head (every miss is
    /// a missed regression).
    Itself { slowdown: Option<u32> },
}

/// One side of the comparison: its bench executables and the environment they run with.
#[derive(Debug, Clone)]
pub(crate) struct Side {
    pub(crate) name: &'static str,
    pub(crate) executables: Vec<PathBuf>,
    pub(crate) env: Vec<(String, String)>,
}

/// How the interleaved runs are made.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) blocks: usize,
    /// Blocks may be added one at a time up to this while a verdict is undecided.
    pub(crate) max_blocks: usize,
    pub(crate) filter: Option<String>,
    /// Passed to every criterion process (shorter warm-up and measurement than a full run).
    pub(crate) criterion_args: Vec<String>,
    pub(crate) alpha: f64,
    pub(crate) thresholds: Thresholds,
    /// A regression whose lower bound reaches this fails the gate (a relative change).
    pub(crate) fail_at: f64,
}

/// One benchmark's comparison.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Comparison {
    pub(crate) id: String,
    pub(crate) pairs: usize,
    /// Medians over the runs, nanoseconds per iteration.
    pub(crate) base_ns: f64,
    pub(crate) head_ns: f64,
    /// Hodges-Lehmann estimate of head/base - 1, and its confidence interval.
    pub(crate) change: f64,
    pub(crate) change_lower: f64,
    pub(crate) change_upper: f64,
    /// One-sided (head slower) Wilcoxon p-value, Holm-adjusted across the suite.
    pub(crate) p_adjusted: f64,
    pub(crate) verdict: Verdict,
    /// The severity the estimate reaches (shown for regressions and undecided ones).
    pub(crate) severity: Option<Severity>,
    pub(crate) fails: bool,
}

/// What a comparison concludes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Verdict {
    /// Not significant, or significant with the interval below the minor threshold.
    NoRegression,
    /// Significant, with the whole interval at or past the minor threshold.
    Regression,
    /// Significant, with the interval straddling the minor threshold: more data would tell.
    Undecided,
}

impl Comparison {
    /// Whether another block could change the outcome: the verdict is undecided, or a
    /// regression's interval straddles the fail level.
    fn needs_more(&self, fail_at: f64) -> bool {
        match self.verdict {
            Verdict::Undecided => true,
            Verdict::Regression => self.change_lower < fail_at && self.change_upper >= fail_at,
            Verdict::NoRegression => false,
        }
    }
}

pub(crate) fn run(
    bench: &Bench,
    base: Base<'_>,
    filter: Option<&str>,
    blocks: Option<usize>,
    json: bool,
) -> Result<()> {
    let mut head = Side {
        name: "head",
        executables: build(&shell::root(), &bench.package, &shell::target_dir())?,
        env: vec![],
    };
    let base_side = match base {
        Base::Itself { .. } => Side {
            name: "base",
            ..head.clone()
        },
        Base::Rev(rev) => {
            let tree = crate::worktree::checkout(rev)?;
            let target = shell::target_dir().join("xtask").join("against-base");
            Side {
                name: "base",
                executables: build(&tree, &bench.package, &target)?,
                env: vec![],
            }
        }
    };
    let blocks = blocks.unwrap_or(bench.blocks).max(2);
    let plan = Plan {
        blocks,
        max_blocks: bench.max_blocks.max(blocks),
        filter: filter.map(str::to_owned),
        criterion_args: ["--warm-up-time", "1", "--measurement-time", "2"]
            .map(str::to_owned)
            .to_vec(),
        alpha: bench.alpha,
        thresholds: Thresholds::new(
            bench.minor_percent / 100.0,
            bench.major_percent / 100.0,
            bench.critical_percent / 100.0,
        )
        .map_err(anyhow::Error::msg)?,
        fail_at: bench.fail_percent / 100.0,
    };
    if let Base::Itself {
        slowdown: Some(percent),
    } = base
    {
        head.env.push((
            "ALLFRAME_BENCH_FIXTURE_SLOWDOWN".into(),
            percent.to_string(),
        ));
    }
    let comparisons = compare(&base_side, &head, &plan)?;
    let title = match base {
        Base::Rev(rev) => format!("head against {rev} ({} blocks, ABBA)", plan.blocks),
        Base::Itself { slowdown: None } => {
            format!("A/A: head against itself ({} blocks, ABBA)", plan.blocks)
        }
        Base::Itself {
            slowdown: Some(percent),
        } => format!(
            "head against itself with `fixture` {percent}% slower ({} blocks, ABBA)",
            plan.blocks
        ),
    };
    table(&title, &comparisons).publish()?;
    if json {
        crate::summary::print_json(&comparisons)?;
    }
    let alerts = comparisons
        .iter()
        .filter(|c| c.verdict == Verdict::Regression)
        .count();
    for c in comparisons
        .iter()
        .filter(|c| c.verdict == Verdict::Undecided)
    {
        eprintln!(
            "warning: {} is undecided after {} pairs: {:+.1}% (interval {:+.1}% .. {:+.1}%) \
             straddles the {}% threshold; rerun with more `--blocks`",
            c.id,
            c.pairs,
            c.change * 100.0,
            c.change_lower * 100.0,
            c.change_upper * 100.0,
            bench.minor_percent
        );
    }
    if let Base::Itself { slowdown: None } = base {
        eprintln!(
            "A/A: {alerts} alert(s) over {} benchmarks: each one is a false alarm",
            comparisons.len()
        );
    }
    let failed: Vec<String> = comparisons
        .iter()
        .filter(|c| c.fails)
        .map(|c| format!("{} {:+.1}%", c.id, c.change * 100.0))
        .collect();
    if !failed.is_empty() {
        bail!(
            "significant slowdowns past {}%: {}. Reproduce with `cargo xtask bench --against REV`",
            bench.fail_percent,
            failed.join(", ")
        );
    }
    Ok(())
}

/// Builds the bench executables of `package` in the workspace at `root`.
pub(crate) fn build(root: &Path, package: &str, target_dir: &Path) -> Result<Vec<PathBuf>> {
    let sh = shell::at_root()?;
    sh.change_dir(root);
    sh.set_var("CARGO_TARGET_DIR", target_dir);
    let cargo = shell::cargo();
    eprintln!(
        "building the suites of {} (cargo bench --no-run -p {package})",
        root.display()
    );
    let stdout = cmd!(
        sh,
        "{cargo} bench --no-run --package {package} --benches --message-format=json-render-diagnostics"
    )
    .quiet()
    .read()
    .with_context(|| {
        format!(
            "building the suites in {} failed; reproduce with `cargo bench --no-run -p {package}` there",
            root.display()
        )
    })?;
    let executables: Vec<PathBuf> = Message::parse_stream(stdout.as_bytes())
        .filter_map(Result::ok)
        .filter_map(|message| match message {
            Message::CompilerArtifact(a)
                if a.target.kind.iter().any(|k| k.to_string() == "bench") =>
            {
                a.executable.map(PathBuf::from)
            }
            _ => None,
        })
        .collect();
    if executables.is_empty() {
        bail!(
            "cargo built no bench executables for {package} in {}",
            root.display()
        );
    }
    Ok(executables)
}

/// Runs `side` once: every executable, one process each, pinned; one figure per benchmark.
fn run_side(side: &Side, plan: &Plan, out: &Path) -> Result<BTreeMap<String, f64>> {
    let sh = shell::at_root()?;
    // The core the processes are pinned to; checked with the same core, so a machine
    // without it runs unpinned rather than failing.
    let pin: Vec<&str> = if cmd!(sh, "taskset -c 1 true").quiet().run().is_ok() {
        vec!["taskset", "-c", "1"]
    } else {
        vec![]
    };
    let mut figures = BTreeMap::new();
    for (i, executable) in side.executables.iter().enumerate() {
        let dir = out.join(i.to_string());
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        let sh = shell::at_root()?;
        sh.set_var("CRITERION_HOME", &dir);
        for (key, value) in &side.env {
            sh.set_var(key, value);
        }
        let filter: Vec<&str> = plan.filter.iter().map(String::as_str).collect();
        let args = &plan.criterion_args;
        let (program, pinned) = match pin.split_first() {
            Some((program, rest)) => (
                program.to_string(),
                [rest, &[executable.to_str().unwrap_or_default()]].concat(),
            ),
            None => (executable.display().to_string(), vec![]),
        };
        cmd!(
            sh,
            "{program} {pinned...} --bench --noplot {args...} {filter...}"
        )
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .with_context(|| format!("running {} ({})", executable.display(), side.name))?;
        if !dir.exists() {
            continue; // the filter matched nothing in this suite
        }
        for measurement in criterion::read_dir(&dir)? {
            figures.insert(measurement.id, measurement.ns_per_iter);
        }
    }
    Ok(figures)
}

/// The interleaved runs and their judgement: `plan.blocks` blocks, then one more at a time
/// while a verdict is undecided, up to `plan.max_blocks`.
pub(crate) fn compare(base: &Side, head: &Side, plan: &Plan) -> Result<Vec<Comparison>> {
    let out = shell::target_dir().join("xtask").join("against");
    let mut runs: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let mut block = 0;
    loop {
        run_block(base, head, plan, block, &out, &mut runs)?;
        block += 1;
        if block < plan.blocks {
            continue;
        }
        let judged = judge(&runs, plan)?;
        let open: Vec<&str> = judged
            .iter()
            .filter(|c| c.needs_more(plan.fail_at))
            .map(|c| c.id.as_str())
            .collect();
        if open.is_empty() || block >= plan.max_blocks {
            return Ok(judged);
        }
        eprintln!(
            "undecided after {block} blocks: {}; one more block (at most {})",
            open.join(", "),
            plan.max_blocks
        );
    }
}

/// One block: ABBA on even blocks, BAAB on odd ones, so drift within a block hits both
/// sides alike; its pairs join `runs`.
fn run_block(
    base: &Side,
    head: &Side,
    plan: &Plan,
    block: usize,
    out: &Path,
    runs: &mut BTreeMap<String, Vec<(f64, f64)>>,
) -> Result<()> {
    let order = if block.is_multiple_of(2) {
        [base, head, head, base]
    } else {
        [head, base, base, head]
    };
    let mut figures: Vec<(&str, BTreeMap<String, f64>)> = Vec::new();
    for (i, side) in order.iter().enumerate() {
        eprintln!(
            "block {}/{}: run {} of 4 ({})",
            block + 1,
            plan.blocks.max(block + 1),
            i + 1,
            side.name
        );
        let dir = out.join(format!("{}-{i}", side.name));
        figures.push((side.name, run_side(side, plan, &dir)?));
    }
    let (bases, heads): (Vec<_>, Vec<_>) = figures.into_iter().partition(|(n, _)| *n == "base");
    // Pairs in run order: the first base with the first head, the second with the second.
    for ((_, b), (_, h)) in bases.iter().zip(&heads) {
        for (id, &base_ns) in b {
            if let Some(&head_ns) = h.get(id) {
                runs.entry(id.clone()).or_default().push((base_ns, head_ns));
            }
        }
    }
    Ok(())
}

/// Judges each benchmark's pairs of (base, head) nanoseconds per iteration.
pub(crate) fn judge(
    runs: &BTreeMap<String, Vec<(f64, f64)>>,
    plan: &Plan,
) -> Result<Vec<Comparison>> {
    let mut partial = Vec::new();
    let mut p_values = Vec::new();
    for (id, pairs) in runs {
        let d: Vec<f64> = pairs.iter().map(|(b, h)| (h / b).ln()).collect();
        let wilcoxon = stats::wilcoxon_signed_rank(&d);
        let hl = stats::hodges_lehmann(&d, 1.0 - plan.alpha)
            .with_context(|| format!("{id}: too few usable pairs ({})", pairs.len()))?;
        p_values.push(wilcoxon.map_or(1.0, |w| w.p_greater));
        partial.push((id, pairs, hl));
    }
    let adjusted = stats::holm(&p_values);
    Ok(partial
        .into_iter()
        .zip(adjusted)
        .map(|((id, pairs, hl), p_adjusted)| {
            let change = stats::relative_change(hl.estimate);
            let lower = stats::relative_change(hl.lower);
            let upper = stats::relative_change(hl.upper);
            let significant = p_adjusted < plan.alpha;
            let minor = plan.thresholds.minor;
            let verdict = if !significant || upper < minor {
                Verdict::NoRegression
            } else if lower >= minor {
                Verdict::Regression
            } else {
                Verdict::Undecided
            };
            let severity = match verdict {
                Verdict::NoRegression => None,
                Verdict::Regression | Verdict::Undecided => plan.thresholds.classify(change),
            };
            Comparison {
                id: id.clone(),
                pairs: pairs.len(),
                base_ns: median(pairs.iter().map(|p| p.0)),
                head_ns: median(pairs.iter().map(|p| p.1)),
                change,
                change_lower: lower,
                change_upper: upper,
                p_adjusted,
                fails: verdict == Verdict::Regression && lower >= plan.fail_at,
                verdict,
                severity,
            }
        })
        .collect())
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn table(title: &str, comparisons: &[Comparison]) -> Table {
    let mut table = Table::new(
        title,
        &[
            "benchmark",
            "pairs",
            "base",
            "head",
            "change",
            "interval",
            "p (Holm)",
            "verdict",
        ],
    );
    for c in comparisons {
        let severity = c
            .severity
            .map_or("below minor".to_owned(), |s| format!("{s:?}"));
        let verdict = match c.verdict {
            Verdict::NoRegression => "no regression".to_owned(),
            Verdict::Regression if c.fails => format!("FAILED: {severity} regression"),
            Verdict::Regression => format!("WARNING: {severity} regression"),
            Verdict::Undecided => format!("UNDECIDED ({severity} by its estimate)"),
        };
        table.row(vec![
            c.id.clone(),
            c.pairs.to_string(),
            format!("{:.1} ns", c.base_ns),
            format!("{:.1} ns", c.head_ns),
            format!("{:+.1}%", c.change * 100.0),
            format!(
                "{:+.1}% .. {:+.1}%",
                c.change_lower * 100.0,
                c.change_upper * 100.0
            ),
            format!("{:.4}", c.p_adjusted),
            verdict,
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            blocks: 6,
            max_blocks: 12,
            filter: Some("fixture".into()),
            criterion_args: ["--warm-up-time", "0.2", "--measurement-time", "0.4"]
                .map(str::to_owned)
                .to_vec(),
            alpha: 0.05,
            thresholds: Thresholds::new(0.10, 0.20, 0.50).unwrap(),
            fail_at: 0.20,
        }
    }

    #[test]
    fn a_clear_slowdown_is_judged_and_noise_is_not() {
        // 12 pairs, head 30% slower with +-3% noise; and 12 pairs of noise alone.
        let noise = [
            1.0, 1.02, 0.98, 1.01, 0.99, 1.03, 0.97, 1.0, 1.02, 0.99, 1.01, 0.98,
        ];
        let mut runs = BTreeMap::new();
        runs.insert(
            "slow".to_owned(),
            noise.iter().map(|n| (100.0, 130.0 * n)).collect::<Vec<_>>(),
        );
        runs.insert(
            "same".to_owned(),
            noise.iter().map(|n| (100.0, 100.0 * n)).collect::<Vec<_>>(),
        );
        let judged = judge(&runs, &plan()).unwrap();
        let same = judged.iter().find(|c| c.id == "same").unwrap();
        let slow = judged.iter().find(|c| c.id == "slow").unwrap();
        assert_eq!(same.verdict, Verdict::NoRegression, "{same:?}");
        assert_eq!(same.severity, None, "{same:?}");
        assert!(!same.fails);
        assert_eq!(slow.verdict, Verdict::Regression, "{slow:?}");
        assert_eq!(slow.severity, Some(Severity::Major), "{slow:?}");
        assert!(slow.fails, "{slow:?}");
        assert!((0.25..0.35).contains(&slow.change), "{slow:?}");
    }

    /// The case that passed in silence before: about +19 %, significant, interval from
    /// about +9 % to +31 % across the 10 % threshold. Undecided (severity from the estimate),
    /// more blocks asked for; once more pairs narrow the interval past 10 %, a regression.
    #[test]
    fn a_significant_change_straddling_the_threshold_is_undecided_until_more_pairs_decide() {
        let wide = [
            0.99, 1.40, 1.05, 1.32, 1.19, 1.02, 1.45, 1.15, 1.24, 1.04, 1.36, 1.19,
        ];
        let mut runs = BTreeMap::new();
        runs.insert(
            "straddles".to_owned(),
            wide.iter().map(|r| (100.0, 100.0 * r)).collect::<Vec<_>>(),
        );
        let judged = &judge(&runs, &plan()).unwrap()[0];
        assert!(judged.p_adjusted < 0.05, "significant: {judged:?}");
        assert!(
            judged.change_lower < 0.10 && judged.change_upper > 0.10,
            "{judged:?}"
        );
        assert_eq!(judged.verdict, Verdict::Undecided, "{judged:?}");
        assert_eq!(judged.severity, Some(Severity::Minor), "{judged:?}");
        assert!(!judged.fails);
        assert!(judged.needs_more(0.20));

        let steady = [
            1.18, 1.20, 1.19, 1.21, 1.17, 1.20, 1.19, 1.18, 1.20, 1.21, 1.19, 1.20,
        ];
        runs.get_mut("straddles")
            .unwrap()
            .extend(steady.iter().chain(&steady).map(|r| (100.0, 100.0 * r)));
        let judged = &judge(&runs, &plan()).unwrap()[0];
        assert_eq!(judged.verdict, Verdict::Regression, "{judged:?}");
        assert!(judged.change_lower >= 0.10, "{judged:?}");
        assert_eq!(judged.severity, Some(Severity::Minor), "{judged:?}");
    }

    /// The real fixture benchmark, base and head the same binary, head run with the knob
    /// that adds 25% work: caught. Then base against base: no alert.
    #[test]
    fn a_twenty_five_percent_slowdown_is_caught_and_a_against_a_raises_nothing() {
        let root = shell::root();
        let sh = shell::at_root().unwrap();
        let cargo = shell::cargo();
        let stdout = cmd!(
            sh,
            "{cargo} bench --no-run --package allframe-benches --bench fixture --message-format=json-render-diagnostics"
        )
        .quiet()
        .read()
        .unwrap();
        let fixture: Vec<PathBuf> = Message::parse_stream(stdout.as_bytes())
            .filter_map(Result::ok)
            .filter_map(|m| match m {
                Message::CompilerArtifact(a) if a.target.name == "fixture" => {
                    a.executable.map(PathBuf::from)
                }
                _ => None,
            })
            .collect();
        assert_eq!(fixture.len(), 1, "{}", root.display());
        let base = Side {
            name: "base",
            executables: fixture.clone(),
            env: vec![],
        };
        let slower = Side {
            name: "head",
            executables: fixture,
            env: vec![("ALLFRAME_BENCH_FIXTURE_SLOWDOWN".into(), "25".into())],
        };
        let judged = compare(&base, &slower, &plan()).unwrap();
        assert_eq!(judged.len(), 1);
        let caught = &judged[0];
        // Caught: a significant regression whose whole interval is past the minor threshold,
        // of about the injected size. (Whether it also reaches the 20% fail level depends on
        // how tight the interval is on a given day; the pure `judge` tests check that level.)
        assert_eq!(
            caught.verdict,
            Verdict::Regression,
            "25% slower must be flagged: {caught:?}"
        );
        assert!((0.15..0.35).contains(&caught.change), "{caught:?}");

        let same = Side {
            name: "head",
            ..base.clone()
        };
        let judged = compare(&base, &same, &plan()).unwrap();
        assert_eq!(
            judged[0].verdict,
            Verdict::NoRegression,
            "A/A must raise nothing: {:?}",
            judged[0]
        );
    }
}
