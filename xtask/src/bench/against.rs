//! The wall-clock gate: base and head built side by side, run as separate processes
//! interleaved in blocks pinned to one core, each process reduced to one figure per
//! benchmark from criterion's JSON, and judged by [`crate::paired`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cargo_metadata::Message;
use xshell::cmd;

use super::criterion;
use crate::config::Bench;
use crate::paired::{self, Blocks, Comparison, Judging, Side as Which, Verdict};
use crate::shell;

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
    pub(crate) blocks: Blocks,
    pub(crate) filter: Option<String>,
    /// Passed to every criterion process (shorter warm-up and measurement than a full run).
    pub(crate) criterion_args: Vec<String>,
    pub(crate) judging: Judging,
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
        executables: build(&shell::root(), &bench.package, None, &shell::target_dir())?,
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
                executables: build(&tree, &bench.package, None, &target)?,
                env: vec![],
            }
        }
    };
    let blocks = blocks.unwrap_or(bench.blocks).max(2);
    let plan = Plan {
        blocks: Blocks {
            first: blocks,
            max: bench.max_blocks.max(blocks),
        },
        filter: filter.map(str::to_owned),
        criterion_args: ["--warm-up-time", "1", "--measurement-time", "2"]
            .map(str::to_owned)
            .to_vec(),
        judging: Judging::from_percent(
            bench.alpha,
            [
                bench.minor_percent,
                bench.major_percent,
                bench.critical_percent,
            ],
            bench.fail_percent,
        )?,
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
        Base::Rev(rev) => format!("head against {rev} ({} blocks, ABBA)", plan.blocks.first),
        Base::Itself { slowdown: None } => {
            format!(
                "A/A: head against itself ({} blocks, ABBA)",
                plan.blocks.first
            )
        }
        Base::Itself {
            slowdown: Some(percent),
        } => format!(
            "head against itself with `fixture` {percent}% slower ({} blocks, ABBA)",
            plan.blocks.first
        ),
    };
    paired::table(&title, "benchmark", &comparisons, |ns| {
        format!("{ns:.1} ns")
    })
    .publish()?;
    if json {
        crate::summary::print_json(&comparisons)?;
    }
    let alerts = comparisons
        .iter()
        .filter(|c| c.verdict == Verdict::Regression)
        .count();
    if let Base::Itself { slowdown: None } = base {
        eprintln!(
            "A/A: {alerts} alert(s) over {} benchmarks: each one is a false alarm",
            comparisons.len()
        );
    }
    if let Some(failed) = paired::conclude(&comparisons, bench.minor_percent) {
        bail!(
            "significant slowdowns past {}%: {failed}. Reproduce with `cargo xtask bench --against REV`",
            bench.fail_percent,
        );
    }
    Ok(())
}

/// Builds the bench executables of `package` (only the suite `bench` if given) in the
/// workspace at `root`.
pub(crate) fn build(
    root: &Path,
    package: &str,
    bench: Option<&str>,
    target_dir: &Path,
) -> Result<Vec<PathBuf>> {
    let sh = shell::at_root()?;
    sh.change_dir(root);
    sh.set_var("CARGO_TARGET_DIR", target_dir);
    let cargo = shell::cargo();
    eprintln!(
        "building the suites of {} (cargo bench --no-run -p {package})",
        root.display()
    );
    let which: Vec<String> = match bench {
        Some(name) => vec!["--bench".into(), name.into()],
        None => vec!["--benches".into()],
    };
    let stdout = cmd!(
        sh,
        "{cargo} bench --no-run --package {package} {which...} --message-format=json-render-diagnostics"
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

/// The interleaved runs of `base` and `head` and their judgement.
pub(crate) fn compare(base: &Side, head: &Side, plan: &Plan) -> Result<Vec<Comparison>> {
    let out = shell::target_dir().join("xtask").join("against");
    paired::interleave(plan.blocks, &plan.judging, |which, _, i| {
        let side = match which {
            Which::Base => base,
            Which::Head => head,
        };
        run_side(side, plan, &out.join(format!("{}-{i}", side.name)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            blocks: Blocks { first: 6, max: 12 },
            filter: Some("fixture".into()),
            criterion_args: ["--warm-up-time", "0.2", "--measurement-time", "0.4"]
                .map(str::to_owned)
                .to_vec(),
            judging: Judging::from_percent(0.05, [10.0, 20.0, 50.0], 20.0).unwrap(),
        }
    }

    /// The real fixture benchmark, base and head the same binary, head run with the knob
    /// that adds 25% work: caught. Then base against base: no alert.
    #[test]
    fn a_twenty_five_percent_slowdown_is_caught_and_a_against_a_raises_nothing() {
        let fixture = build(
            &shell::root(),
            "allframe-benches",
            Some("fixture"),
            &shell::target_dir(),
        )
        .unwrap();
        assert_eq!(fixture.len(), 1, "{fixture:?}");
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
