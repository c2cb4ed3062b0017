//! `cargo xtask features`: every feature of the `allframe` facade compiles alone, none of
//! them, and all together; and a crate that turns `openapi` on breaks no other crate of the
//! same build (the fixtures of `tests/additivity`). Cargo's rule is that features are
//! additive: this is where the repository proves it, as axum's CI does with cargo-hack's
//! `--each-feature`.
//!
//! A set of features that a `quality.toml [[size.config]]` already builds (in release, in a
//! binary that uses it) is not checked again: the table says which configuration covers it.
//! Each check has its own dependency feature set, so a cold check can take minutes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use xshell::cmd;

use crate::summary::Table;
use crate::{config, shell};

#[derive(Debug, Default, clap::Args)]
pub(crate) struct Args {
    /// Check only these features of the facade (every one when none is named).
    features: Vec<String>,
}

/// The facade whose features are checked.
pub(crate) const FACADE: &str = "allframe";
/// The two crates of `tests/additivity`: one turns `openapi` on, one uses `Json<T>` whose
/// `T` has no `JsonSchema`. Checked in one build, so cargo unifies their features.
const ADDITIVITY: [&str; 2] = ["additivity-openapi-on", "additivity-plain-json"];

/// One `cargo check` of the facade (or of the fixtures).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Check {
    NoFeatures,
    Alone(String),
    All,
    Additivity,
}

impl Check {
    fn name(&self) -> String {
        match self {
            Check::NoFeatures => "(none)".to_owned(),
            Check::Alone(feature) => feature.clone(),
            Check::All => "(all)".to_owned(),
            Check::Additivity => "openapi beside a crate without schemas".to_owned(),
        }
    }

    /// The facade features this check turns on (`None` for the fixtures).
    fn features(&self, known: &[String]) -> Option<Vec<String>> {
        match self {
            Check::NoFeatures => Some(vec![]),
            Check::Alone(feature) => Some(vec![feature.clone()]),
            Check::All => Some(known.to_vec()),
            Check::Additivity => None,
        }
    }

    fn args(&self) -> Vec<String> {
        let facade = |extra: &[&str]| {
            let mut args = vec!["-p".to_owned(), FACADE.to_owned()];
            args.extend(extra.iter().map(|a| (*a).to_owned()));
            args
        };
        match self {
            Check::NoFeatures => facade(&["--no-default-features"]),
            Check::Alone(feature) => facade(&["--no-default-features", "--features", feature]),
            Check::All => facade(&["--all-features"]),
            Check::Additivity => ADDITIVITY
                .iter()
                .flat_map(|p| ["-p".to_owned(), (*p).to_owned()])
                .collect(),
        }
    }

    /// The command that reproduces this check.
    fn command(&self) -> String {
        format!("cargo check {}", self.args().join(" "))
    }
}

/// The facade's features and what each turns on, from its manifest (`default` is a set, not
/// a feature).
fn facade_features() -> Result<BTreeMap<String, Vec<String>>> {
    let metadata = cargo_metadata::MetadataCommand::new()
        .manifest_path(shell::root().join("Cargo.toml"))
        .no_deps()
        .exec()
        .context("reading the workspace's metadata (`cargo metadata --no-deps`)")?;
    let facade = metadata
        .packages
        .iter()
        .find(|p| p.name.as_str() == FACADE)
        .with_context(|| format!("no package `{FACADE}` in the workspace"))?;
    Ok(facade
        .features
        .iter()
        .filter(|(f, _)| *f != "default")
        .map(|(f, implied)| (f.clone(), implied.clone()))
        .collect())
}

/// `set` with every facade feature it implies.
fn expand(set: &[String], graph: &BTreeMap<String, Vec<String>>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut todo: Vec<&String> = set.iter().collect();
    while let Some(feature) = todo.pop() {
        if out.insert(feature.clone()) {
            todo.extend(
                graph
                    .get(feature)
                    .into_iter()
                    .flatten()
                    .filter(|f| graph.contains_key(*f)),
            );
        }
    }
    out
}

/// What `set` really compiles: its expansion without the aliases (a feature that only turns
/// on other facade features, as `router-full` does, adds nothing of its own).
fn effective(set: &[String], graph: &BTreeMap<String, Vec<String>>) -> BTreeSet<String> {
    let expanded = expand(set, graph);
    let alias = |f: &String| {
        graph.get(f).is_some_and(|implied| {
            !implied.is_empty() && implied.iter().all(|i| expanded.contains(i))
        })
    };
    expanded.iter().filter(|f| !alias(f)).cloned().collect()
}

/// The size configuration that builds exactly the features of `check`, if one does.
fn covered_by<'a>(
    check: &Check,
    graph: &BTreeMap<String, Vec<String>>,
    sizes: &'a [config::SizeConfig],
) -> Option<&'a str> {
    let known: Vec<String> = graph.keys().cloned().collect();
    let wanted = effective(&check.features(&known)?, graph);
    sizes
        .iter()
        .find(|c| effective(&c.features, graph) == wanted)
        .map(|c| c.name.as_str())
}

/// Every check to run, for the features named (all when none is).
fn checks(known: &[String], named: &[String]) -> Result<Vec<Check>> {
    if let Some(unknown) = named.iter().find(|f| !known.contains(f)) {
        bail!(
            "`{unknown}` is not a feature of `{FACADE}`; its features are: {}",
            known.join(", ")
        );
    }
    if !named.is_empty() {
        return Ok(named.iter().cloned().map(Check::Alone).collect());
    }
    let mut checks = vec![Check::NoFeatures];
    checks.extend(known.iter().cloned().map(Check::Alone));
    checks.extend([Check::All, Check::Additivity]);
    Ok(checks)
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let quality = config::load()?;
    let graph = facade_features()?;
    let known: Vec<String> = graph.keys().cloned().collect();
    let checks = checks(&known, &args.features)?;
    let sh = shell::at_root()?;
    let cargo = shell::cargo();
    let mut table = Table::new("cargo xtask features", &["features", "status", "seconds"]);
    let mut failed = Vec::new();
    for (i, check) in checks.iter().enumerate() {
        if let Some(config) = covered_by(check, &graph, &quality.size.configs) {
            table.row(vec![
                check.name(),
                format!("covered: `cargo xtask size` builds it (config `{config}`)"),
                "-".to_owned(),
            ]);
            continue;
        }
        eprintln!("==> [{}/{}] {}", i + 1, checks.len(), check.command());
        let started = Instant::now();
        let args = check.args();
        let ok = cmd!(sh, "{cargo} check --quiet {args...}").run().is_ok();
        if !ok {
            failed.push(check.command());
        }
        table.row(vec![
            check.name(),
            if ok { "ok" } else { "FAILED" }.to_owned(),
            format!("{:.1}", started.elapsed().as_secs_f64()),
        ]);
    }
    table.publish()?;
    if !failed.is_empty() {
        bail!(
            "{} feature check(s) failed; reproduce with: {}",
            failed.len(),
            failed.join(" ; ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_feature_is_checked_alone_then_all_together_and_beside_the_fixtures() {
        let known = vec!["di".to_owned(), "openapi".to_owned()];
        let all = checks(&known, &[]).unwrap();
        assert_eq!(
            all,
            [
                Check::NoFeatures,
                Check::Alone("di".into()),
                Check::Alone("openapi".into()),
                Check::All,
                Check::Additivity,
            ]
        );
        assert_eq!(
            Check::Alone("openapi".into()).command(),
            "cargo check -p allframe --no-default-features --features openapi"
        );
        assert_eq!(
            Check::Additivity.command(),
            "cargo check -p additivity-openapi-on -p additivity-plain-json"
        );
    }

    #[test]
    fn a_feature_the_facade_lacks_is_an_error_naming_the_known_ones() {
        let known = vec!["di".to_owned()];
        let err = checks(&known, &["dj".to_owned()]).unwrap_err().to_string();
        assert!(err.contains("`dj` is not a feature of `allframe`"), "{err}");
        assert!(err.contains("di"), "{err}");
    }

    #[test]
    fn a_set_the_size_gate_builds_is_covered_by_it_and_others_are_checked() {
        let graph = facade_features().unwrap();
        let sizes = config::load().unwrap().size.configs;
        let full = covered_by(&Check::All, &graph, &sizes);
        assert!(full.is_some(), "the size gate builds every feature at once");
        let none = covered_by(&Check::NoFeatures, &graph, &sizes);
        assert_eq!(none, Some("minimal"));
        // `router-full` implies `router-graphql` and `router-grpc` (and `http2`).
        assert_eq!(
            expand(&["router-full".to_owned()], &graph),
            ["http2", "router-full", "router-graphql", "router-grpc"]
                .map(str::to_owned)
                .into()
        );
        assert_eq!(covered_by(&Check::Alone("di".into()), &graph, &sizes), None);
        assert_eq!(covered_by(&Check::Additivity, &graph, &sizes), None);
    }

    #[test]
    fn the_facade_and_the_additivity_fixtures_are_in_the_workspace() {
        let features = facade_features().unwrap();
        assert!(features.contains_key("openapi"), "{features:?}");
        for fixture in ADDITIVITY {
            let manifest = shell::root()
                .join("tests/additivity")
                .join(fixture.trim_start_matches("additivity-"))
                .join("Cargo.toml");
            assert!(manifest.exists(), "{} is missing", manifest.display());
        }
    }
}
