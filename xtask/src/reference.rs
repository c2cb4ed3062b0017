//! What a deterministic gate compares a run with, on any machine: the committed baseline
//! when it was measured on a like environment (toolchain, target, and for instruction counts
//! the CPU model), else the base revision measured in this same run, so a verdict never
//! silently compares nothing. Every verdict says which reference it used.

use std::path::Path;

use anyhow::Result;
use serde::de::DeserializeOwned;

use crate::baseline::{self, Fingerprint};
use crate::worktree;

/// A committed baseline: figures stamped with where they were measured.
pub(crate) trait Stamped {
    fn fingerprint(&self) -> &Fingerprint;
}

/// Which parts of the environment must match for a baseline to be compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Match {
    /// Toolchain and target (bytes of a binary, heap bytes).
    Toolchain,
    /// Toolchain, target and CPU model (libraries pick code paths by CPU features).
    ToolchainAndCpu,
}

/// The reference figures a run is compared with, and where they come from.
#[derive(Debug)]
pub(crate) struct Reference<B> {
    pub(crate) figures: Option<B>,
    /// Shown beside the verdicts: `baselines/size.json`, or `abc1234 (measured in this run)`.
    pub(crate) source: String,
    /// Why the committed baseline was not used, when it was not.
    pub(crate) note: Option<String>,
}

/// What to do, before anything is built.
#[derive(Debug, PartialEq, Eq)]
enum Choice {
    Baseline,
    /// Measure this revision; the note says why the baseline was not used.
    Base {
        rev: String,
        note: Option<String>,
    },
}

/// Why `baseline` (measured under `theirs`) cannot be compared with a run under `ours`.
fn mismatch(ours: &Fingerprint, theirs: &Fingerprint, needs: Match) -> Option<String> {
    ours.mismatch(theirs).or_else(|| {
        (needs == Match::ToolchainAndCpu && ours.cpu != theirs.cpu).then(|| {
            format!(
                "the baseline was measured on `{}`, this run on `{}`",
                theirs.cpu, ours.cpu
            )
        })
    })
}

fn choose(
    baseline: Option<&Fingerprint>,
    file: &str,
    ours: &Fingerprint,
    needs: Match,
    forced_base: Option<&str>,
    default_base: impl FnOnce() -> Result<String>,
) -> Result<Choice> {
    if let Some(rev) = forced_base {
        return Ok(Choice::Base {
            rev: rev.to_owned(),
            note: None,
        });
    }
    let why = match baseline {
        None => format!("there is no baselines/{file} yet"),
        Some(theirs) => match mismatch(ours, theirs, needs) {
            None => return Ok(Choice::Baseline),
            Some(why) => why,
        },
    };
    let rev = default_base()?;
    Ok(Choice::Base {
        note: Some(format!(
            "{why}: compared with {} measured in this run instead (`cargo xtask baseline` on \
             this machine makes the baseline comparable)",
            short(&rev)
        )),
        rev,
    })
}

fn short(rev: &str) -> &str {
    rev.get(..10).unwrap_or(rev)
}

/// The reference for a run under `ours`: `baselines/<file>` when comparable, else (or when
/// `forced_base` names one) a base revision checked out and measured by `measure_at`
/// (called with the worktree and the target directory to build in).
pub(crate) fn resolve<B: DeserializeOwned + Stamped>(
    file: &str,
    ours: &Fingerprint,
    needs: Match,
    forced_base: Option<&str>,
    measure_at: impl FnOnce(&Path, &Path) -> Result<B>,
) -> Result<Reference<B>> {
    let path = baseline::path(file);
    let committed = baseline::load::<B>(&path)?;
    let choice = choose(
        committed.as_ref().map(Stamped::fingerprint),
        file,
        ours,
        needs,
        forced_base,
        worktree::default_base,
    )?;
    match choice {
        Choice::Baseline => Ok(Reference {
            figures: committed,
            source: format!("baselines/{file}"),
            note: None,
        }),
        Choice::Base { rev, note } => {
            let commit = worktree::commit(&rev)?;
            let tree = worktree::checkout(&commit)?;
            eprintln!(
                "measuring the base revision {} in {} for the comparison",
                short(&commit),
                tree.display()
            );
            let figures = measure_at(&tree, &worktree::target_dir())?;
            Ok(Reference {
                figures: Some(figures),
                source: format!("{} (measured in this run)", short(&commit)),
                note,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn here() -> Fingerprint {
        Fingerprint {
            rustc: "rustc 1.95.0".into(),
            target: "x86_64-unknown-linux-gnu".into(),
            cpu: "AMD EPYC".into(),
            ..Fingerprint::default()
        }
    }

    fn base() -> Result<String> {
        Ok("0123456789abcdef".into())
    }

    #[test]
    fn a_like_baseline_is_used_and_nothing_is_built() {
        let choice = choose(
            Some(&here()),
            "x.json",
            &here(),
            Match::ToolchainAndCpu,
            None,
            || panic!("no base revision is looked for"),
        );
        assert_eq!(choice.unwrap(), Choice::Baseline);
    }

    #[test]
    fn another_cpu_measures_the_base_revision_instead_of_comparing_nothing() {
        let intel = Fingerprint {
            cpu: "Intel Xeon".into(),
            ..here()
        };
        let choice = choose(
            Some(&intel),
            "x.json",
            &here(),
            Match::ToolchainAndCpu,
            None,
            base,
        );
        let Choice::Base { rev, note } = choice.unwrap() else {
            panic!("the base revision is measured");
        };
        assert_eq!(rev, "0123456789abcdef");
        let note = note.unwrap();
        assert!(
            note.contains("Intel Xeon") && note.contains("0123456789"),
            "{note}"
        );
        // Bytes do not depend on the CPU model.
        let choice = choose(
            Some(&intel),
            "x.json",
            &here(),
            Match::Toolchain,
            None,
            base,
        );
        assert_eq!(choice.unwrap(), Choice::Baseline);
    }

    #[test]
    fn a_missing_baseline_or_another_toolchain_measures_the_base_revision() {
        let choice = choose(None, "x.json", &here(), Match::Toolchain, None, base).unwrap();
        assert!(
            matches!(&choice, Choice::Base { note: Some(n), .. } if n.contains("no baselines/x.json")),
            "{choice:?}"
        );
        let older = Fingerprint {
            rustc: "rustc 1.90.0".into(),
            ..here()
        };
        let choice = choose(
            Some(&older),
            "x.json",
            &here(),
            Match::Toolchain,
            None,
            base,
        );
        assert!(matches!(choice.unwrap(), Choice::Base { .. }));
    }

    #[test]
    fn a_named_base_is_measured_even_beside_a_like_baseline() {
        let choice = choose(
            Some(&here()),
            "x.json",
            &here(),
            Match::Toolchain,
            Some("v1"),
            base,
        );
        assert_eq!(
            choice.unwrap(),
            Choice::Base {
                rev: "v1".into(),
                note: None
            }
        );
    }

    #[test]
    fn without_a_base_revision_the_error_names_the_fix() {
        let choice = choose(None, "x.json", &here(), Match::Toolchain, None, || {
            anyhow::bail!("no base revision to measure against: name one with `--base REV`")
        });
        assert!(format!("{:#}", choice.unwrap_err()).contains("--base REV"));
    }
}
