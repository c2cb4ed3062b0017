//! `cargo xtask features`: every feature of the `allframe` facade compiles alone, none of
//! them, and all together; and a crate that turns `openapi` on breaks no other crate of the
//! same build (the fixtures of `tests/additivity`). Cargo's rule is that features are
//! additive: this is where the repository proves it, as axum's CI does with cargo-hack's
//! `--each-feature`.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use xshell::cmd;

use crate::shell;
use crate::summary::Table;

#[derive(Debug, Default, clap::Args)]
pub(crate) struct Args {
    /// Check only these features of the facade (every one when none is named).
    features: Vec<String>,
}

/// The facade whose features are checked.
const FACADE: &str = "allframe";
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

/// The facade's features, from its manifest (`default` is a set, not a feature).
fn facade_features() -> Result<Vec<String>> {
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
        .keys()
        .filter(|f| *f != "default")
        .cloned()
        .collect())
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
    let checks = checks(&facade_features()?, &args.features)?;
    let sh = shell::at_root()?;
    let cargo = shell::cargo();
    let mut table = Table::new("cargo xtask features", &["features", "status", "seconds"]);
    let mut failed = Vec::new();
    for (i, check) in checks.iter().enumerate() {
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
    fn the_facade_and_the_additivity_fixtures_are_in_the_workspace() {
        let features = facade_features().unwrap();
        assert!(features.iter().any(|f| f == "openapi"), "{features:?}");
        for fixture in ADDITIVITY {
            let manifest = shell::root()
                .join("tests/additivity")
                .join(fixture.trim_start_matches("additivity-"))
                .join("Cargo.toml");
            assert!(manifest.exists(), "{} is missing", manifest.display());
        }
    }
}
