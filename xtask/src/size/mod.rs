//! `cargo xtask size`: the stripped size of every feature configuration, where its `.text`
//! comes from, what each feature costs, and how it compares with axum, the targets and the
//! baseline.

mod attribution;
mod build;
mod smoke;
mod verdict;

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use self::verdict::{Growth, Level, MIB, Verdict};
use crate::baseline::{self, Fingerprint};
use crate::config::{self, SizeConfig};
use crate::reference::{self, Match, Stamped};
use crate::shell;
use crate::summary::Table;

#[derive(Debug, Default, clap::Args)]
pub(crate) struct Args {
    /// Measure only this configuration (repeatable); all of quality.toml's by default.
    #[arg(long = "config", value_name = "NAME")]
    configs: Vec<String>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Show cargo's output while building.
    #[arg(long)]
    verbose: bool,
    /// Measure this revision in the same run and compare with it, instead of the committed
    /// baseline (used only when measured with this toolchain and target; otherwise the
    /// merge base with main, else HEAD~1, is measured).
    #[arg(long, value_name = "REV")]
    base: Option<String>,
}

/// The figures of one binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Measured {
    pub(crate) stripped_bytes: u64,
    pub(crate) text_bytes: u64,
    /// `.text` bytes by crate (an estimate, see `attribution`).
    pub(crate) crates: BTreeMap<String, u64>,
}

/// `baselines/size.json`.
#[derive(Debug, Serialize, Deserialize)]
struct SizeBaseline {
    fingerprint: Fingerprint,
    reference: Measured,
    configs: BTreeMap<String, Measured>,
}

impl Stamped for SizeBaseline {
    fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }
}

#[derive(Debug, Serialize)]
struct ConfigReport {
    name: String,
    features: Vec<String>,
    target_mib: f64,
    limit_mib: f64,
    measured: Measured,
    verdict: Verdict,
}

#[derive(Debug, Serialize)]
struct Report {
    fingerprint: Fingerprint,
    reference: Measured,
    /// What growth is measured against: the baseline file, or a base revision.
    growth_against: String,
    /// Why the baseline was not compared, when it was not.
    baseline_note: Option<String>,
    configs: Vec<ConfigReport>,
}

const BASELINE_FILE: &str = "size.json";

pub(crate) fn run(args: &Args) -> Result<()> {
    let quality = config::load()?;
    let size = &quality.size;
    let selected = config::select(
        &size.configs,
        &args.configs,
        |c| &c.name,
        "size configuration",
    )?;
    let fingerprint = Fingerprint::current()?;
    let (reference, measured) = measure(&shell::root(), None, size, &selected, args.verbose)?;
    let against = reference::resolve(
        BASELINE_FILE,
        &fingerprint,
        Match::Toolchain,
        args.base.as_deref(),
        |tree, target| {
            let (reference, measured) = measure(tree, Some(target), size, &selected, args.verbose)?;
            Ok(SizeBaseline {
                fingerprint: fingerprint.clone(),
                reference,
                configs: selected
                    .iter()
                    .map(|c| c.name.clone())
                    .zip(measured)
                    .collect(),
            })
        },
    )?;
    let baseline = against.figures;
    let baseline_note = against.note;
    let growth = Growth {
        warn: size.growth_warn_percent,
        fail: size.growth_fail_percent,
    };
    let configs: Vec<ConfigReport> = selected
        .iter()
        .zip(measured)
        .map(|(config, measured)| {
            let base = baseline
                .as_ref()
                .and_then(|b| b.configs.get(&config.name))
                .map(|m| m.stripped_bytes);
            let verdict = verdict::judge(
                config,
                growth,
                measured.stripped_bytes,
                Some(reference.stripped_bytes),
                base,
            );
            ConfigReport {
                name: config.name.clone(),
                features: config.features.clone(),
                target_mib: config.target_mib,
                limit_mib: config.limit_mib,
                measured,
                verdict,
            }
        })
        .collect();
    let report = Report {
        fingerprint,
        reference,
        growth_against: against.source,
        baseline_note,
        configs,
    };

    for table in tables(&report, size.top_crates) {
        table.publish()?;
    }
    if let Some(note) = &report.baseline_note {
        eprintln!("note: {note}");
    }
    let figures: BTreeMap<&str, &Measured> = report
        .configs
        .iter()
        .map(|c| (c.name.as_str(), &c.measured))
        .chain([("reference", &report.reference)])
        .collect();
    crate::history::append(
        "size",
        &report.fingerprint,
        &[
            ("stripped_bytes", "bytes"),
            ("text_bytes", "bytes"),
            ("crates", "bytes of .text"),
        ],
        &figures,
        &report
            .configs
            .iter()
            .map(|c| (c.name.clone(), c.verdict.level.label().to_owned()))
            .collect(),
    )?;
    if args.json {
        crate::summary::print_json(&report)?;
    }
    let failed: Vec<String> = report
        .configs
        .iter()
        .filter(|c| c.verdict.level == Level::Failure)
        .map(|c| format!("{}: {}", c.name, c.verdict.reasons.join("; ")))
        .collect();
    if !failed.is_empty() {
        bail!(
            "size gate failed: {}. Reproduce with `cargo xtask size`; if the growth is intended, \
             accept it with `cargo xtask baseline size` and commit baselines/size.json",
            failed.join(" | ")
        );
    }
    Ok(())
}

/// Measures every configuration and writes `baselines/size.json`.
pub(crate) fn write_baseline() -> Result<()> {
    let quality = config::load()?;
    let selected = config::select(
        &quality.size.configs,
        &[],
        |c| &c.name,
        "size configuration",
    )?;
    let fingerprint = Fingerprint::current()?;
    let (reference, measured) = measure(&shell::root(), None, &quality.size, &selected, false)?;
    let configs = selected
        .iter()
        .map(|c| c.name.clone())
        .zip(measured)
        .collect();
    let path = baseline::path(BASELINE_FILE);
    baseline::write_atomic(
        &path,
        &SizeBaseline {
            fingerprint,
            reference,
            configs,
        },
    )?;
    eprintln!("wrote {}: commit it to accept these sizes", path.display());
    Ok(())
}

/// Builds the reference and each configuration of the workspace at `root` (into `target`,
/// else its own target directory), in that order, and reads their figures.
fn measure(
    root: &Path,
    target: Option<&Path>,
    size: &config::Size,
    configs: &[&SizeConfig],
    verbose: bool,
) -> Result<(Measured, Vec<Measured>)> {
    let metadata = cargo_metadata::MetadataCommand::new()
        .cargo_path(shell::cargo())
        .current_dir(root)
        .no_deps()
        .exec()
        .context("running `cargo metadata`")?;
    check_default_features(&metadata, configs)?;
    let target = target.unwrap_or(metadata.target_directory.as_std_path());
    let builder = build::Builder::new(root, target, verbose)?;
    let total = configs.len() + 1;
    let reference =
        figures(&builder.build(&size.reference, &[], "reference", &format!("1/{total}"))?)?;
    let mut measured = Vec::with_capacity(configs.len());
    for (i, config) in configs.iter().enumerate() {
        let progress = format!("{}/{total}", i + 2);
        let built = builder.build(&size.probe, &config.features, &config.name, &progress)?;
        smoke::check(&built.stripped, &config.name)?;
        measured.push(figures(&built)?);
    }
    Ok((reference, measured))
}

fn figures(built: &build::Built) -> Result<Measured> {
    let text = attribution::of_binary(&built.unstripped)?;
    let stripped_bytes = std::fs::metadata(&built.stripped)
        .with_context(|| format!("reading {}", built.stripped.display()))?
        .len();
    Ok(Measured {
        stripped_bytes,
        text_bytes: text.text_bytes,
        crates: text.crates,
    })
}

/// The `default` configuration must be the facade's default features, or the table lies.
fn check_default_features(
    metadata: &cargo_metadata::Metadata,
    configs: &[&SizeConfig],
) -> Result<()> {
    let Some(config) = configs.iter().find(|c| c.name == "default") else {
        return Ok(());
    };
    let facade = metadata
        .packages
        .iter()
        .find(|p| p.name.as_str() == "allframe")
        .context("the workspace has no `allframe` package")?;
    let mut defaults = facade.features.get("default").cloned().unwrap_or_default();
    let mut listed = config.features.clone();
    defaults.sort();
    listed.sort();
    if defaults != listed {
        bail!(
            "quality.toml [[size.config]] `default` lists {listed:?}, but allframe's default \
             features are {defaults:?}: make them equal"
        );
    }
    Ok(())
}

fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / MIB)
}

fn kib(bytes: i64) -> String {
    format!("{:+.1} KiB", bytes as f64 / 1024.0)
}

fn tables(report: &Report, top: usize) -> Vec<Table> {
    let reference = &report.reference;
    let mut sizes = Table::new(
        &format!(
            "binary size (stripped, release profile), growth against {}",
            report.growth_against
        ),
        &[
            "config", "features", "stripped", "vs axum", ".text", "target", "limit", "growth",
            "status",
        ],
    );
    sizes.row(vec![
        "axum hello (reference)".into(),
        String::new(),
        mib(reference.stripped_bytes),
        "1.00x".into(),
        mib(reference.text_bytes),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    ]);
    for c in &report.configs {
        let m = &c.measured;
        let status = match c.verdict.reasons.is_empty() {
            true => c.verdict.level.label().to_owned(),
            false => format!(
                "{}: {}",
                c.verdict.level.label(),
                c.verdict.reasons.join("; ")
            ),
        };
        sizes.row(vec![
            c.name.clone(),
            if c.features.is_empty() {
                "(none)".into()
            } else {
                c.features.join(",")
            },
            mib(m.stripped_bytes),
            format!(
                "{:.2}x",
                m.stripped_bytes as f64 / reference.stripped_bytes as f64
            ),
            mib(m.text_bytes),
            format!("{:.2} MiB", c.target_mib),
            format!("{:.2} MiB", c.limit_mib),
            c.verdict
                .growth_percent
                .map_or("-".into(), |p| format!("{p:+.1}%")),
            status,
        ]);
    }
    let mut tables = vec![sizes];

    for c in &report.configs {
        let mut crates: Vec<(&String, &u64)> = c.measured.crates.iter().collect();
        crates.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let mut table = Table::new(
            &format!(
                "`{}`: top crates by .text (an estimate from the symbol table)",
                c.name
            ),
            &["crate", ".text", "share"],
        );
        for (name, bytes) in crates.iter().take(top) {
            let share = **bytes as f64 / c.measured.text_bytes as f64 * 100.0;
            table.row(vec![
                (*name).clone(),
                format!("{:.1} KiB", **bytes as f64 / 1024.0),
                format!("{share:.1}%"),
            ]);
        }
        tables.push(table);
    }

    if let Some(minimal) = report.configs.iter().find(|c| c.name == "minimal") {
        let mut cost = Table::new(
            "cost of each feature (against `minimal`)",
            &["config", "stripped", ".text", "largest changes by crate"],
        );
        for c in report.configs.iter().filter(|c| c.name != "minimal") {
            cost.row(vec![
                c.name.clone(),
                kib(c.measured.stripped_bytes as i64 - minimal.measured.stripped_bytes as i64),
                kib(c.measured.text_bytes as i64 - minimal.measured.text_bytes as i64),
                crate_changes(&minimal.measured, &c.measured, 4),
            ]);
        }
        if !cost.rows.is_empty() {
            tables.push(cost);
        }
    }
    tables
}

/// The `count` largest per-crate `.text` changes from `base` to `head`.
fn crate_changes(base: &Measured, head: &Measured, count: usize) -> String {
    let mut changes: Vec<(&str, i64)> = base
        .crates
        .keys()
        .chain(head.crates.keys())
        .map(|name| {
            let before = base.crates.get(name).copied().unwrap_or(0) as i64;
            let after = head.crates.get(name).copied().unwrap_or(0) as i64;
            (name.as_str(), after - before)
        })
        .filter(|(_, delta)| *delta != 0)
        .collect();
    changes.sort_by(|a, b| b.1.abs().cmp(&a.1.abs()).then(a.0.cmp(b.0)));
    changes.dedup();
    let shown: Vec<String> = changes
        .iter()
        .take(count)
        .map(|(n, d)| format!("{n} {}", kib(*d)))
        .collect();
    if shown.is_empty() {
        "none".into()
    } else {
        shown.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(crates: &[(&str, u64)]) -> Measured {
        let crates: BTreeMap<String, u64> =
            crates.iter().map(|(n, b)| ((*n).to_owned(), *b)).collect();
        let text = crates.values().sum();
        Measured {
            stripped_bytes: text * 2,
            text_bytes: text,
            crates,
        }
    }

    #[test]
    fn feature_cost_lists_the_largest_crate_changes() {
        let base = measured(&[("std", 1000), ("hyper", 500)]);
        let head = measured(&[("std", 1000), ("hyper", 600), ("serde_json", 2048)]);
        assert_eq!(
            crate_changes(&base, &head, 4),
            "serde_json +2.0 KiB, hyper +0.1 KiB"
        );
        assert_eq!(crate_changes(&base, &base, 4), "none");
    }

    #[test]
    fn selecting_an_unknown_configuration_names_the_known_ones() {
        let quality = config::load().unwrap();
        let err = config::select(
            &quality.size.configs,
            &["minmal".into()],
            |c| &c.name,
            "size configuration",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`minmal`") && err.contains("minimal"), "{err}");
    }

    /// A/B on real binaries: the probe with a 320 KiB table linked in is caught against the
    /// plain probe as its baseline, and the plain probe against itself is not.
    #[test]
    fn a_real_size_regression_is_caught_and_a_against_a_is_not() {
        let quality = config::load().unwrap();
        let size = &quality.size;
        let minimal = size.configs.iter().find(|c| c.name == "minimal").unwrap();
        let metadata = cargo_metadata::MetadataCommand::new()
            .current_dir(shell::root())
            .no_deps()
            .exec()
            .unwrap();
        let builder = build::Builder::new(
            &shell::root(),
            metadata.target_directory.as_std_path(),
            false,
        )
        .unwrap();
        let plain = figures(
            &builder
                .build(&size.probe, &[], "minimal", "test 1/2")
                .unwrap(),
        )
        .unwrap();
        let fixture = ["regression-fixture".to_owned()];
        let grown = figures(
            &builder
                .build(&size.probe, &fixture, "regression-fixture", "test 2/2")
                .unwrap(),
        )
        .unwrap();
        let growth = Growth {
            warn: size.growth_warn_percent,
            fail: size.growth_fail_percent,
        };

        let a_a = verdict::judge(
            minimal,
            growth,
            plain.stripped_bytes,
            None,
            Some(plain.stripped_bytes),
        );
        assert_eq!(a_a.level, Level::Ok, "{a_a:?}");

        let caught = verdict::judge(
            minimal,
            growth,
            grown.stripped_bytes,
            None,
            Some(plain.stripped_bytes),
        );
        assert_eq!(caught.level, Level::Failure, "{caught:?}");
        assert!(
            caught
                .reasons
                .iter()
                .any(|r| r.contains("since the baseline")),
            "{caught:?}"
        );
        assert!(grown.stripped_bytes >= plain.stripped_bytes + 300 * 1024);
    }

    #[test]
    fn the_default_configuration_matches_the_facade() {
        let metadata = cargo_metadata::MetadataCommand::new()
            .current_dir(shell::root())
            .no_deps()
            .exec()
            .unwrap();
        let quality = config::load().unwrap();
        let configs: Vec<&SizeConfig> = quality.size.configs.iter().collect();
        check_default_features(&metadata, &configs).unwrap();
        let mut wrong = quality
            .size
            .configs
            .iter()
            .find(|c| c.name == "default")
            .unwrap()
            .clone();
        wrong.features.push("nope".into());
        let err = check_default_features(&metadata, &[&wrong])
            .unwrap_err()
            .to_string();
        assert!(err.contains("make them equal"), "{err}");
    }
}
