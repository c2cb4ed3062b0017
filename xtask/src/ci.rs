//! `cargo xtask ci`: the steps of `quality.toml [ci]`, in order, then one table of results.
//! `--list --json` gives the steps as a job matrix (each job `cargo xtask ci --step NAME`),
//! so CI can fan out and take as long as its slowest step rather than the sum.

use std::time::Instant;

use anyhow::{Result, bail};
use xshell::cmd;

use crate::changed::{self, Reach};
use crate::config::{self, Step};
use crate::summary::Table;
use crate::{bench, features, shell, test, worktree};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Run every step even after one fails.
    #[arg(long)]
    keep_going: bool,
    /// Run only these steps of `quality.toml [ci]` (by name; repeatable).
    #[arg(long = "step", value_name = "NAME")]
    steps: Vec<String>,
    /// List the steps and the command that runs each, instead of running them.
    #[arg(long)]
    list: bool,
    /// The contributor's loop before a push: fmt, clippy, features and the tests without the
    /// gates' self-tests; the gates (release builds) are listed as skipped, and run in full
    /// on main.
    #[arg(long)]
    quick: bool,
    /// Run only the steps whose packages the changes since `--base` reach (a changed package
    /// and every package depending on it, from cargo metadata), the tests of those packages
    /// only; the rest are listed as skipped. fmt and clippy always run; a change to xtask or
    /// to a file outside the packages (quality.toml, Cargo.lock, baselines) reaches all.
    #[arg(long)]
    changed: bool,
    /// With `--changed`: the revision to diff against (default: the merge base with main,
    /// else HEAD~1).
    #[arg(long, requires = "changed", value_name = "REV")]
    base: Option<String>,
    /// With `--list`: print the list as JSON (a CI job matrix).
    #[arg(long, requires = "list")]
    json: bool,
}

/// One step as `--list` shows it.
#[derive(Debug, serde::Serialize)]
struct Listed {
    step: &'static str,
    command: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Passed,
    Failed,
    /// Not run because an earlier step failed.
    Skipped,
    /// Not run by `--quick`.
    Quick,
    /// Not run by `--changed`: the diff reaches none of its packages.
    Unreached,
}

/// How to fix or reproduce a failed step, printed under its error.
pub(crate) fn remedy(step: Step) -> &'static str {
    if let Some(gate) = step.gate() {
        return gate.remedy();
    }
    match step {
        Step::Fmt => "fix with `cargo fmt --all`",
        Step::Clippy => {
            "reproduce with `cargo clippy --workspace --all-targets --all-features -- -D warnings`"
        }
        Step::Features => {
            "reproduce with `cargo xtask features` (each failed check prints its `cargo check` line)"
        }
        Step::Test => "reproduce with `cargo xtask test` (or `cargo xtask test NAME` for one test)",
        Step::BenchTest => "reproduce with `cargo xtask bench --test`",
        gate => unreachable!("{} is a gate: gates name their own remedy", gate.name()),
    }
}

/// Whether `--quick` runs `step`: the steps without release builds.
fn in_quick(step: Step) -> bool {
    matches!(step, Step::Fmt | Step::Clippy | Step::Features | Step::Test)
}

/// Runs `step`; `tests_of` narrows the `test` step to those packages' tests (all when empty).
fn run_step(step: Step, quick: bool, tests_of: &[String]) -> Result<()> {
    if let Some(gate) = step.gate() {
        return gate.check();
    }
    let sh = shell::at_root()?;
    let cargo = shell::cargo();
    match step {
        Step::Fmt => cmd!(sh, "{cargo} fmt --all --check").run()?,
        Step::Clippy => {
            cmd!(
                sh,
                "{cargo} clippy --workspace --all-targets --all-features -- -D warnings"
            )
            .run()?;
        }
        Step::Features => features::run(&features::Args::default())?,
        Step::Test => test::run(&test::Args {
            quick,
            packages: tests_of.to_vec(),
            ..test::Args::default()
        })?,
        Step::BenchTest => bench::run(&bench::Args {
            test: true,
            ..bench::Args::default()
        })?,
        gate => unreachable!("{} is a gate: gates run through `Gate::check`", gate.name()),
    }
    Ok(())
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let quality = config::load()?;
    let steps: Vec<Step> = config::select(
        &quality.ci.steps,
        &args.steps,
        |step| step.name(),
        "ci step (of quality.toml [ci] steps)",
    )?
    .into_iter()
    .copied()
    .collect();
    if args.list {
        let listed: Vec<Listed> = steps
            .iter()
            .map(|step| Listed {
                step: step.name(),
                command: format!("cargo xtask ci --step {}", step.name()),
            })
            .collect();
        if args.json {
            return crate::summary::print_json(&listed);
        }
        let mut table = Table::new("cargo xtask ci --list", &["step", "command"]);
        for l in listed {
            table.row(vec![l.step.to_owned(), l.command]);
        }
        eprint!("{}", table.to_text());
        return Ok(());
    }
    let reach = if args.changed {
        let base = match &args.base {
            Some(base) => base.clone(),
            None => worktree::default_base()?,
        };
        let reach = changed::since(&base)?;
        match &reach {
            Reach::Everything(file) => eprintln!(
                "--changed since {base}: {} reaches every step",
                file.display()
            ),
            Reach::Packages(packages) => eprintln!(
                "--changed since {base}: reaches {}",
                if packages.is_empty() {
                    "no package".to_owned()
                } else {
                    packages.iter().cloned().collect::<Vec<_>>().join(", ")
                }
            ),
        }
        Some(reach)
    } else {
        None
    };
    let workspace = if args.changed {
        changed::names()?
    } else {
        Vec::new()
    };
    let tests_of: Vec<String> = match &reach {
        Some(Reach::Packages(packages)) => packages.iter().cloned().collect(),
        _ => Vec::new(),
    };
    let started = Instant::now();
    let mut outcomes: Vec<(Step, Status, f64)> = Vec::new();
    let mut failed = false;
    for (i, &step) in steps.iter().enumerate() {
        if args.quick && !in_quick(step) {
            outcomes.push((step, Status::Quick, 0.0));
            continue;
        }
        if let Some(reach) = &reach
            && !reach.reaches(changed::packages_of(step, &quality, &workspace).as_deref())
        {
            outcomes.push((step, Status::Unreached, 0.0));
            continue;
        }
        if failed && !args.keep_going {
            outcomes.push((step, Status::Skipped, 0.0));
            continue;
        }
        eprintln!("\n==> [{}/{}] {}", i + 1, steps.len(), step.name());
        let start = Instant::now();
        let status = match run_step(step, args.quick, &tests_of) {
            Ok(()) => Status::Passed,
            Err(err) => {
                eprintln!("\n✗ {} failed: {err:#}\n  {}", step.name(), remedy(step));
                failed = true;
                Status::Failed
            }
        };
        outcomes.push((step, status, start.elapsed().as_secs_f64()));
    }
    table(&outcomes, started.elapsed().as_secs_f64()).publish()?;
    let failures: Vec<String> = outcomes
        .iter()
        .filter(|(_, status, _)| *status == Status::Failed)
        .map(|(step, _, _)| format!("{} ({})", step.name(), remedy(*step)))
        .collect();
    if !failures.is_empty() {
        bail!("{} step(s) failed: {}", failures.len(), failures.join("; "));
    }
    Ok(())
}

fn table(outcomes: &[(Step, Status, f64)], total: f64) -> Table {
    let mut table = Table::new("cargo xtask ci", &["step", "status", "seconds"]);
    for (step, status, secs) in outcomes {
        let status = match status {
            Status::Passed => "ok",
            Status::Failed => "FAILED",
            Status::Skipped => "skipped",
            Status::Quick => "skipped (--quick: the full set runs on main)",
            Status::Unreached => "skipped (--changed: the diff reaches none of its packages)",
        };
        table.row(vec![
            step.name().to_owned(),
            status.to_owned(),
            format!("{secs:.1}"),
        ]);
    }
    table.row(vec![
        "total".to_owned(),
        String::new(),
        format!("{total:.1}"),
    ]);
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_shows_each_step_and_the_total() {
        let outcomes = [
            (Step::Fmt, Status::Passed, 0.42),
            (Step::Clippy, Status::Failed, 10.0),
            (Step::Test, Status::Skipped, 0.0),
            (Step::Size, Status::Quick, 0.0),
            (Step::Demos, Status::Unreached, 0.0),
        ];
        let md = table(&outcomes, 10.5).to_markdown();
        assert!(md.contains("| fmt | ok | 0.4 |"), "{md}");
        assert!(md.contains("| clippy | FAILED | 10.0 |"), "{md}");
        assert!(md.contains("| test | skipped | 0.0 |"), "{md}");
        assert!(
            md.contains("| size | skipped (--quick: the full set runs on main) | 0.0 |"),
            "{md}"
        );
        assert!(
            md.contains("| demos | skipped (--changed: the diff reaches none of its packages) |"),
            "{md}"
        );
        assert!(md.contains("| total |  | 10.5 |"), "{md}");
    }

    #[test]
    fn quick_runs_the_steps_without_release_builds() {
        let quick: Vec<&str> = <Step as strum::VariantArray>::VARIANTS
            .iter()
            .copied()
            .filter(|s| in_quick(*s))
            .map(|s| s.name())
            .collect();
        assert_eq!(quick, ["fmt", "clippy", "features", "test"]);
    }

    #[test]
    fn quality_toml_reads_each_step_by_the_name_ci_shows() {
        for &step in <Step as strum::VariantArray>::VARIANTS {
            let read: Step = serde_json::from_value(step.name().into())
                .unwrap_or_else(|err| panic!("{}: {err}", step.name()));
            assert_eq!(read, step);
        }
        assert_eq!(Step::BenchTest.name(), "bench-test");
    }

    #[test]
    fn every_step_names_its_remedy() {
        for step in [
            Step::Fmt,
            Step::Clippy,
            Step::Test,
            Step::Size,
            Step::Memory,
        ] {
            assert!(remedy(step).contains("cargo "), "{step:?}");
        }
    }
}
