//! `cargo xtask memory`: heap scenarios under dhat, one process each; peak and retained
//! heap, bytes per event, allocations and peak RSS; limits and goals from quality.toml;
//! growth against `baselines/memory.json` when it was measured with this toolchain, else
//! against the base revision measured in the same run ([`crate::reference`]). A failing
//! scenario is run once more with dhat
//! writing its profile, and the file is named for DHAT's viewer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use xshell::cmd;

use crate::baseline::{self, Fingerprint};
use crate::config::{self, Memory, MemoryScenario};
use crate::level::Level;
use crate::reference::{self, Match, Stamped};
use crate::summary::Table;
use crate::{history, shell};

const MIB: f64 = 1024.0 * 1024.0;
pub(crate) const BASELINE_FILE: &str = "memory.json";

#[derive(Debug, Default, clap::Args)]
pub(crate) struct Args {
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Only these scenarios (all when none are named).
    scenarios: Vec<String>,
    /// Measure this revision in the same run and compare with it, instead of the committed
    /// baseline (used only when measured with this toolchain; otherwise the merge base with
    /// main, else HEAD~1, is measured).
    #[arg(long, value_name = "REV")]
    base: Option<String>,
}

/// What the scenario binary prints, one JSON line per run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Figures {
    pub(crate) scenario: String,
    pub(crate) events: u64,
    pub(crate) start_bytes: u64,
    pub(crate) end_bytes: u64,
    pub(crate) peak_bytes: u64,
    pub(crate) total_bytes: u64,
    pub(crate) total_blocks: u64,
    pub(crate) bytes_per_event: f64,
    pub(crate) overhead_per_event: f64,
    pub(crate) peak_rss_bytes: u64,
}

impl Figures {
    /// Heap still held at the end that was not there at the start.
    pub(crate) fn retained_bytes(&self) -> u64 {
        self.end_bytes.saturating_sub(self.start_bytes)
    }
}

/// `baselines/memory.json`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct MemoryBaseline {
    pub(crate) fingerprint: Fingerprint,
    pub(crate) scenarios: BTreeMap<String, Figures>,
}

impl Stamped for MemoryBaseline {
    fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }
}

/// One scenario's figures and what they mean.
#[derive(Debug, Serialize)]
pub(crate) struct Verdict {
    pub(crate) level: Level,
    pub(crate) reasons: Vec<String>,
}

/// Judges `figures` against the scenario's limits and goals, and against `baseline`.
pub(crate) fn judge(
    scenario: &MemoryScenario,
    memory: &Memory,
    figures: &Figures,
    baseline: Option<&Figures>,
) -> Verdict {
    let mut findings: Vec<(Level, String)> = Vec::new();
    let peak = figures.peak_bytes as f64 / MIB;
    let retained = figures.retained_bytes() as f64 / MIB;
    if let Some(limit) = scenario.limit_mib
        && peak > limit
    {
        findings.push((
            Level::Failure,
            format!("peak heap {peak:.1} MiB is over the limit of {limit} MiB"),
        ));
    }
    if let Some(limit) = scenario.retained_limit_mib
        && retained > limit
    {
        findings.push((
            Level::Failure,
            format!("{retained:.2} MiB retained after the run, over the limit of {limit} MiB"),
        ));
    }
    if let Some(goal) = scenario.goal_mib
        && peak > goal
    {
        findings.push((
            Level::AboveGoal,
            format!("peak heap {peak:.1} MiB is above our goal of {goal} MiB"),
        ));
    }
    if let Some(goal) = scenario.overhead_goal_bytes
        && figures.overhead_per_event > goal
    {
        findings.push((
            Level::AboveGoal,
            format!(
                "{:.1} bytes of overhead per event, above our goal of {goal}",
                figures.overhead_per_event
            ),
        ));
    }
    if let Some(base) = baseline {
        for (what, now, then) in [
            ("peak heap", figures.peak_bytes, base.peak_bytes),
            (
                "retained heap",
                figures.retained_bytes(),
                base.retained_bytes(),
            ),
        ] {
            // Growth is judged on figures of some size: a few bytes more of nothing is noise.
            let floor = 64 * 1024;
            let growth = (now as f64 - then as f64) / then.max(floor) as f64 * 100.0;
            let level = if growth > memory.growth_fail_percent {
                Level::Failure
            } else if growth > memory.growth_warn_percent {
                Level::Warning
            } else {
                continue;
            };
            findings.push((
                level,
                format!("{what} grew {growth:+.1}% against the baseline ({then} -> {now} bytes)"),
            ));
        }
    }
    Verdict {
        level: findings.iter().map(|(l, _)| *l).max().unwrap_or(Level::Ok),
        reasons: findings.into_iter().map(|(_, r)| r).collect(),
    }
}

#[derive(Debug, Serialize)]
struct ScenarioReport {
    figures: Figures,
    verdict: Verdict,
    /// The dhat profile written for a failing scenario.
    profile: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct Report {
    fingerprint: Fingerprint,
    /// What the growth is measured against.
    reference: String,
    baseline_note: Option<String>,
    scenarios: Vec<ScenarioReport>,
}

fn memory_config(quality: &config::Quality) -> Result<&Memory> {
    quality
        .memory
        .as_ref()
        .context("quality.toml has no [memory] section: add one with its [[memory.scenario]]s")
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let quality = config::load()?;
    let memory = memory_config(&quality)?;
    let selected = config::select(
        &memory.scenarios,
        &args.scenarios,
        |s| &s.name,
        "memory scenario",
    )?;
    let fingerprint = Fingerprint::current()?;
    let binary = build(&shell::root(), &shell::target_dir(), &memory.package)?;
    let reference = reference::resolve(
        BASELINE_FILE,
        &fingerprint,
        Match::Toolchain,
        args.base.as_deref(),
        |tree, target| {
            let binary = build(tree, target, &memory.package)?;
            let mut scenarios = BTreeMap::new();
            for scenario in &selected {
                eprintln!("memory scenario {} of the base revision", scenario.name);
                let figures = run_scenario(&binary, scenario, None, &[])?;
                scenarios.insert(scenario.name.clone(), figures);
            }
            Ok(MemoryBaseline {
                fingerprint: fingerprint.clone(),
                scenarios,
            })
        },
    )?;
    let baseline = reference.figures;
    let baseline_note = reference.note;

    let mut scenarios = Vec::new();
    for (i, scenario) in selected.iter().enumerate() {
        eprintln!(
            "memory scenario {} ({}/{}): {} events",
            scenario.name,
            i + 1,
            selected.len(),
            scenario.events
        );
        let figures = run_scenario(&binary, scenario, None, &[])?;
        let base = baseline
            .as_ref()
            .and_then(|b| b.scenarios.get(&scenario.name));
        let verdict = judge(scenario, memory, &figures, base);
        let profile = if verdict.level == Level::Failure {
            let file = shell::target_dir()
                .join("xtask")
                .join("memory")
                .join(format!("{}.dhat-heap.json", scenario.name));
            run_scenario(&binary, scenario, Some(&file), &[])?;
            eprintln!(
                "{} failed; its heap profile is {} (open it in DHAT's viewer: \
                 https://nnethercote.github.io/dh_view/dh_view.html)",
                scenario.name,
                file.display()
            );
            Some(file)
        } else {
            None
        };
        scenarios.push(ScenarioReport {
            figures,
            verdict,
            profile,
        });
    }
    let report = Report {
        fingerprint: fingerprint.clone(),
        reference: reference.source,
        baseline_note,
        scenarios,
    };
    table(&report).publish()?;
    if let Some(note) = &report.baseline_note {
        eprintln!("note: {note}");
    }
    history::append(
        "memory",
        &fingerprint,
        &[
            ("events", "events"),
            ("start_bytes", "bytes"),
            ("end_bytes", "bytes"),
            ("peak_bytes", "bytes"),
            ("total_bytes", "bytes"),
            ("total_blocks", "allocations"),
            ("bytes_per_event", "bytes"),
            ("overhead_per_event", "bytes"),
            ("peak_rss_bytes", "bytes"),
        ],
        &report
            .scenarios
            .iter()
            .map(|s| (s.figures.scenario.clone(), &s.figures))
            .collect::<BTreeMap<_, _>>(),
        &report
            .scenarios
            .iter()
            .map(|s| {
                (
                    s.figures.scenario.clone(),
                    s.verdict.level.label().to_owned(),
                )
            })
            .collect(),
    )?;
    if args.json {
        crate::summary::print_json(&report)?;
    }
    let failed: Vec<String> = report
        .scenarios
        .iter()
        .filter(|s| s.verdict.level == Level::Failure)
        .map(|s| format!("{}: {}", s.figures.scenario, s.verdict.reasons.join("; ")))
        .collect();
    if !failed.is_empty() {
        bail!(
            "memory gate failed: {}. Reproduce with `cargo xtask memory`; if the growth is \
             intended, accept it with `cargo xtask baseline memory` and commit baselines/memory.json",
            failed.join(" | ")
        );
    }
    Ok(())
}

/// Runs every scenario and writes `baselines/memory.json`.
pub(crate) fn write_baseline() -> Result<()> {
    let quality = config::load()?;
    let memory = memory_config(&quality)?;
    let binary = build(&shell::root(), &shell::target_dir(), &memory.package)?;
    let mut scenarios = BTreeMap::new();
    for scenario in &memory.scenarios {
        eprintln!(
            "memory scenario {}: {} events",
            scenario.name, scenario.events
        );
        scenarios.insert(
            scenario.name.clone(),
            run_scenario(&binary, scenario, None, &[])?,
        );
    }
    let path = baseline::path(BASELINE_FILE);
    baseline::write_atomic(
        &path,
        &MemoryBaseline {
            fingerprint: Fingerprint::current()?,
            scenarios,
        },
    )?;
    eprintln!(
        "wrote {}: commit it to accept these figures",
        path.display()
    );
    Ok(())
}

/// Builds the scenario binary in release and returns its path.
pub(crate) fn build(root: &Path, target: &Path, package: &str) -> Result<PathBuf> {
    let sh = shell::at_root()?;
    sh.change_dir(root);
    sh.set_var("CARGO_TARGET_DIR", target);
    let cargo = shell::cargo();
    eprintln!(
        "building {package} in {}: cargo build --release --package {package}",
        root.display()
    );
    cmd!(sh, "{cargo} build --release --package {package}")
        .quiet()
        .run()
        .with_context(|| {
            format!(
                "building {package} failed; reproduce with `cargo build --release -p {package}`"
            )
        })?;
    Ok(target.join("release").join(package))
}

/// Runs one scenario in its own process (with `env` set); with `profile`, dhat writes its
/// heap profile there.
pub(crate) fn run_scenario(
    binary: &Path,
    scenario: &MemoryScenario,
    profile: Option<&Path>,
    env: &[(&str, &str)],
) -> Result<Figures> {
    let sh = shell::at_root()?;
    for (key, value) in env {
        sh.set_var(key, value);
    }
    let name = &scenario.name;
    let events = scenario.events.to_string();
    let profile_args: Vec<String> = match profile {
        Some(file) => {
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir)?;
            }
            vec!["--dhat-file".into(), file.display().to_string()]
        }
        None => vec![],
    };
    let reproduce = format!("{} {name} --events {events}", binary.display());
    let stdout = cmd!(sh, "{binary} {name} --events {events} {profile_args...}")
        .quiet()
        .read()
        .with_context(|| format!("scenario {name} failed; reproduce with `{reproduce}`"))?;
    let line = stdout.lines().last().with_context(|| {
        format!("scenario {name} printed nothing; reproduce with `{reproduce}`")
    })?;
    serde_json::from_str(line)
        .with_context(|| format!("scenario {name} printed `{line}`, not its figures"))
}

fn table(report: &Report) -> Table {
    let mut table = Table::new(
        &format!(
            "heap per scenario (dhat), growth against {}",
            report.reference
        ),
        &[
            "scenario",
            "events",
            "peak heap (process)",
            "retained",
            "bytes/event",
            "overhead/event",
            "allocations",
            "peak RSS",
            "status",
        ],
    );
    for s in &report.scenarios {
        let f = &s.figures;
        let status = if s.verdict.reasons.is_empty() {
            s.verdict.level.label().to_owned()
        } else {
            format!(
                "{}: {}",
                s.verdict.level.label(),
                s.verdict.reasons.join("; ")
            )
        };
        table.row(vec![
            f.scenario.clone(),
            f.events.to_string(),
            format!("{:.1} MiB", f.peak_bytes as f64 / MIB),
            format!("{:.2} MiB", f.retained_bytes() as f64 / MIB),
            format!("{:.1}", f.bytes_per_event),
            format!("{:.1}", f.overhead_per_event),
            f.total_blocks.to_string(),
            format!("{:.1} MiB", f.peak_rss_bytes as f64 / MIB),
            status,
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> Memory {
        Memory {
            package: "allframe-memory".into(),
            growth_warn_percent: 20.0,
            growth_fail_percent: 50.0,
            scenarios: vec![],
        }
    }

    fn scenario() -> MemoryScenario {
        MemoryScenario {
            name: "memory_store".into(),
            events: 20_000,
            limit_mib: Some(100.0),
            goal_mib: Some(64.0),
            retained_limit_mib: None,
            overhead_goal_bytes: Some(48.0),
        }
    }

    /// The real scenario binary (a debug build, fewer events), with and without the leak
    /// knob: the leak is caught against the clean run as baseline, and A against A is clean.
    #[test]
    fn an_injected_allocation_is_caught_and_a_against_a_is_not() {
        let sh = shell::at_root().unwrap();
        let cargo = shell::cargo();
        cmd!(sh, "{cargo} build --package allframe-memory")
            .quiet()
            .run()
            .unwrap();
        let binary = shell::target_dir().join("debug").join("allframe-memory");
        let scenario = scenario();
        let clean = run_scenario(&binary, &scenario, None, &[]).unwrap();
        let again = run_scenario(&binary, &scenario, None, &[]).unwrap();
        assert_eq!(
            clean.peak_bytes, again.peak_bytes,
            "dhat's counts are deterministic"
        );
        let verdict = judge(&scenario, &memory(), &again, Some(&clean));
        assert!(verdict.level < Level::Warning, "A/A: {:?}", verdict.reasons);

        let knob = [("ALLFRAME_MEMORY_INJECT_BYTES", "64")];
        let leaky = run_scenario(&binary, &scenario, None, &knob).unwrap();
        let verdict = judge(&scenario, &memory(), &leaky, Some(&clean));
        assert_eq!(verdict.level, Level::Failure, "{:?}", verdict.reasons);
        assert!(
            verdict
                .reasons
                .iter()
                .any(|r| r.contains("retained heap grew")),
            "{:?}",
            verdict.reasons
        );

        let profile = shell::target_dir().join("xtask-test-memory").join("p.json");
        run_scenario(&binary, &scenario, Some(&profile), &[]).unwrap();
        let written = std::fs::read_to_string(&profile).unwrap();
        assert!(written.contains("\"dhatFileVersion\""), "a dhat profile");
    }

    #[test]
    fn limits_fail_and_goals_are_reported() {
        let figures = Figures {
            scenario: "memory_store".into(),
            events: 1_000_000,
            start_bytes: 0,
            end_bytes: 80 << 20,
            peak_bytes: 110 << 20,
            total_bytes: 0,
            total_blocks: 0,
            bytes_per_event: 83.0,
            overhead_per_event: 50.0,
            peak_rss_bytes: 0,
        };
        let verdict = judge(&scenario(), &memory(), &figures, None);
        assert_eq!(verdict.level, Level::Failure);
        assert_eq!(verdict.reasons.len(), 3, "{:?}", verdict.reasons);
        let under = Figures {
            peak_bytes: 70 << 20,
            ..figures
        };
        assert_eq!(
            judge(&scenario(), &memory(), &under, None).level,
            Level::AboveGoal
        );
    }

    #[test]
    fn an_unknown_scenario_names_the_known_ones() {
        let all = [scenario()];
        let err = config::select(
            &all,
            &["memory_stor".into()],
            |s| &s.name,
            "memory scenario",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("known: memory_store"), "{err}");
    }
}
