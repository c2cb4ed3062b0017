//! `baselines/history/<kind>.jsonl`: one line per run (time, commit, environment, figures),
//! so a trend can be drawn later from what really ran.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde::Serialize;
use xshell::cmd;

use crate::baseline::Fingerprint;
use crate::shell;

#[derive(Serialize)]
struct Line<'a, T> {
    unix_time: u64,
    commit: String,
    fingerprint: &'a Fingerprint,
    figures: &'a T,
}

/// Appends one line for this run of `kind`.
pub(crate) fn append<T: Serialize>(
    kind: &str,
    fingerprint: &Fingerprint,
    figures: &T,
) -> Result<()> {
    let sh = shell::at_root()?;
    let commit = cmd!(sh, "git rev-parse HEAD")
        .quiet()
        .ignore_stderr()
        .read()
        .unwrap_or_else(|_| "unknown".to_owned());
    let line = Line {
        unix_time: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        commit,
        fingerprint,
        figures,
    };
    let dir = shell::root().join("baselines").join("history");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{kind}.jsonl"));
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    writeln!(file, "{}", serde_json::to_string(&line)?)
        .with_context(|| format!("appending to {}", path.display()))
}
