//! The history store: one self-describing line per gate run (gate, time, commit and its
//! subject, whether the tree had uncommitted changes, environment, figures, the unit of each
//! figure's field and the gate's verdict on each measured item) in
//! `<target dir>/allframe-history/<gate>.jsonl`.
//!
//! It lives outside the tracked files so that a contributor's `cargo xtask ci` leaves
//! `git status` clean; `ALLFRAME_HISTORY_DIR` moves it (CI points it at the folder it keeps
//! between runs or publishes). Only `cargo xtask baseline` writes tracked files.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde::Serialize;
use xshell::cmd;

use crate::baseline::Fingerprint;
use crate::shell;

/// The layout of a line; bumped when a field changes meaning.
const FORMAT: u32 = 2;

#[derive(Serialize)]
struct Line<'a, T> {
    format: u32,
    gate: &'a str,
    unix_time: u64,
    commit: String,
    subject: String,
    /// The working tree differed from `commit` (the figures are of uncommitted code).
    dirty: bool,
    fingerprint: &'a Fingerprint,
    /// The unit of each field name found in `figures` (`stripped_bytes`: `bytes`).
    units: BTreeMap<&'a str, &'a str>,
    figures: &'a T,
    /// The gate's verdict on each item it judged (a configuration, scenario or benchmark id,
    /// as keyed in `figures`): `ok`, `above goal`, `WARNING`, `FAILED`, ... (format 2).
    verdicts: &'a Verdicts,
}

/// The verdict label of each judged item, keyed as in the line's figures.
pub(crate) type Verdicts = BTreeMap<String, String>;

/// Where the lines go: `ALLFRAME_HISTORY_DIR`, else `allframe-history` in the target dir.
pub(crate) fn dir() -> PathBuf {
    std::env::var_os("ALLFRAME_HISTORY_DIR").map_or_else(
        || shell::target_dir().join("allframe-history"),
        PathBuf::from,
    )
}

/// Appends one line for this run of `gate`; `units` names the unit of each field of
/// `figures` (a figure keyed by benchmark id uses the field name `value`).
pub(crate) fn append<T: Serialize>(
    gate: &str,
    fingerprint: &Fingerprint,
    units: &[(&str, &str)],
    figures: &T,
    verdicts: &Verdicts,
) -> Result<()> {
    let sh = shell::at_root()?;
    let git = |args: &[&str]| {
        cmd!(sh, "git {args...}")
            .quiet()
            .ignore_stderr()
            .read()
            .unwrap_or_default()
    };
    let commit = git(&["rev-parse", "HEAD"]);
    let line = Line {
        format: FORMAT,
        gate,
        unix_time: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        subject: git(&["log", "-1", "--format=%s"]),
        dirty: !git(&["status", "--porcelain", "--untracked-files=no"]).is_empty(),
        commit: if commit.is_empty() {
            "unknown".to_owned()
        } else {
            commit
        },
        fingerprint,
        units: units.iter().copied().collect(),
        figures,
        verdicts,
    };
    let dir = dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{gate}.jsonl"));
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    writeln!(file, "{}", serde_json::to_string(&line)?)
        .with_context(|| format!("appending to {}", path.display()))
}
