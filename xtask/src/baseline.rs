//! The baseline store: `baselines/<file>.json`, read, written atomically, and stamped with
//! the environment that measured it. A leaf module: no gate's logic lives here
//! (`cargo xtask baseline` walks [`crate::gates`]).
//!
//! Baselines hold deterministic figures only (bytes, instruction counts), each file stamped
//! with the toolchain and target it was measured with: a figure from another compiler is not
//! comparable, so the gates measure the base revision instead ([`crate::reference`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use xshell::cmd;

use crate::shell;

/// The toolchain, target and machine a figure was measured with. Figures are compared only
/// under the same toolchain and target; the machine is recorded to explain differences.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Fingerprint {
    /// `rustc -V`, e.g. `rustc 1.95.0 (59807616e 2026-04-14)`.
    pub(crate) rustc: String,
    /// The host target triple the binaries are built for.
    pub(crate) target: String,
    /// The CPU model, from /proc/cpuinfo.
    #[serde(default)]
    pub(crate) cpu: String,
    /// Cores available to this process.
    #[serde(default)]
    pub(crate) cores: usize,
    /// The kernel release.
    #[serde(default)]
    pub(crate) kernel: String,
}

impl Fingerprint {
    pub(crate) fn current() -> Result<Self> {
        let sh = shell::at_root()?;
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
        let verbose = cmd!(sh, "{rustc} -vV")
            .quiet()
            .read()
            .context("running `rustc -vV`")?;
        let field = |name: &str| {
            verbose
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_owned())
                .with_context(|| format!("`rustc -vV` printed no `{name}` line"))
        };
        let release = field("release:")?;
        let rustc_line = verbose.lines().next().unwrap_or(&release).trim().to_owned();
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown".to_owned(), |(_, m)| m.trim().to_owned());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or_else(|_| "unknown".to_owned(), |k| k.trim().to_owned());
        Ok(Self {
            rustc: rustc_line,
            target: field("host:")?,
            cpu,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            kernel,
        })
    }

    /// Why figures measured under `other` cannot be compared with ours, if they cannot.
    pub(crate) fn mismatch(&self, other: &Fingerprint) -> Option<String> {
        if self.rustc != other.rustc {
            Some(format!(
                "the baseline was measured with `{}`, this run with `{}`",
                other.rustc, self.rustc
            ))
        } else if self.target != other.target {
            Some(format!(
                "the baseline was measured on {}, this run on {}",
                other.target, self.target
            ))
        } else {
            None
        }
    }
}

/// `baselines/<name>`.
pub(crate) fn path(name: &str) -> PathBuf {
    shell::root().join("baselines").join(name)
}

/// Reads a baseline; `Ok(None)` when there is none yet.
pub(crate) fn load<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    };
    serde_json::from_str(&text).map(Some).with_context(|| {
        format!(
            "{} is corrupted; restore it with `git checkout {}` or rewrite it with `cargo xtask baseline`",
            path.display(),
            path.display()
        )
    })
}

/// Writes `value` to `path` atomically: a temporary file beside it, then a rename, so a
/// reader never sees half a file.
pub(crate) fn write_atomic<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    let dir = path.parent().context("a baseline path has a directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Figures {
        bytes: u64,
    }

    #[test]
    fn baselines_round_trip_and_a_missing_one_is_none() {
        let dir = std::env::temp_dir().join(format!("xtask-baseline-{}", std::process::id()));
        let file = dir.join("figures.json");
        assert_eq!(load::<Figures>(&file).unwrap(), None);
        write_atomic(&file, &Figures { bytes: 42 }).unwrap();
        assert_eq!(load::<Figures>(&file).unwrap(), Some(Figures { bytes: 42 }));
        assert!(
            !file.with_extension("json.tmp").exists(),
            "no temporary file is left"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_corrupted_baseline_is_an_error_saying_how_to_recover() {
        let dir = std::env::temp_dir().join(format!("xtask-corrupt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("figures.json");
        std::fs::write(&file, "{\"bytes\": 4").unwrap();
        let err = format!("{:#}", load::<Figures>(&file).unwrap_err());
        assert!(
            err.contains("corrupted") && err.contains("cargo xtask baseline"),
            "{err}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn another_toolchain_or_target_is_not_comparable() {
        let ours = Fingerprint {
            rustc: "rustc 1.95.0".into(),
            target: "x86_64-unknown-linux-gnu".into(),
            ..Fingerprint::default()
        };
        assert_eq!(ours.mismatch(&ours.clone()), None);
        let older = Fingerprint {
            rustc: "rustc 1.90.0".into(),
            ..ours.clone()
        };
        assert!(ours.mismatch(&older).unwrap().contains("rustc 1.90.0"));
        let arm = Fingerprint {
            target: "aarch64-unknown-linux-gnu".into(),
            ..ours.clone()
        };
        assert!(ours.mismatch(&arm).unwrap().contains("aarch64"));
    }

    #[test]
    fn the_current_toolchain_is_fingerprinted() {
        let current = Fingerprint::current().unwrap();
        assert!(current.rustc.starts_with("rustc "), "{current:?}");
        assert!(!current.target.is_empty());
    }
}
