//! The runs a report draws: every line of the history store, the lines archived under
//! `baselines/history/`, and every committed version of a baseline (the measurement a
//! maintainer accepted at that commit).
//!
//! A line that does not parse is left out with a warning naming its file and line: one bad
//! line never hides the rest of a history.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::Value;
use xshell::cmd;

use crate::baseline::Fingerprint;
use crate::shell;

/// One measurement of one gate at one commit.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub(crate) gate: String,
    pub(crate) unix_time: u64,
    pub(crate) commit: String,
    /// Measured on uncommitted changes to `commit`.
    pub(crate) dirty: bool,
    pub(crate) fingerprint: Fingerprint,
    pub(crate) figures: Value,
    /// The gate's verdict per judged item, keyed as in `figures`.
    pub(crate) verdicts: BTreeMap<String, String>,
}

/// A history line of any format: format 0 (the archive) has no gate, subject nor verdicts.
#[derive(Deserialize)]
struct Line {
    gate: Option<String>,
    unix_time: u64,
    commit: String,
    #[serde(default)]
    dirty: bool,
    fingerprint: Fingerprint,
    figures: Value,
    #[serde(default)]
    verdicts: BTreeMap<String, String>,
}

/// The runs in every `*.jsonl` of `dir` (none when it does not exist), and the warnings for
/// lines left out.
pub(crate) fn read_dir(dir: &Path) -> Result<(Vec<Run>, Vec<String>)> {
    let mut runs = Vec::new();
    let mut warnings = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok((runs, warnings));
    };
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let gate = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        for (number, text) in text.lines().enumerate() {
            if text.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Line>(text) {
                Ok(line) => runs.push(Run {
                    gate: line.gate.unwrap_or_else(|| gate.clone()),
                    unix_time: line.unix_time,
                    commit: line.commit,
                    dirty: line.dirty,
                    fingerprint: line.fingerprint,
                    figures: line.figures,
                    verdicts: line.verdicts,
                }),
                Err(err) => warnings.push(format!(
                    "{}:{}: {err}; the line is left out of the report",
                    path.display(),
                    number + 1
                )),
            }
        }
    }
    Ok((runs, warnings))
}

/// Each committed version of `baselines/{size,memory,instructions}.json`, as a run of its
/// gate at the commit that wrote it.
pub(crate) fn committed_baselines() -> Result<(Vec<Run>, Vec<String>)> {
    let sh = shell::at_root()?;
    let mut runs = Vec::new();
    let mut warnings = Vec::new();
    for (gate, figures_field) in [
        ("size", None),
        ("memory", Some("scenarios")),
        ("instructions", Some("benchmarks")),
    ] {
        let path = format!("baselines/{gate}.json");
        let log = cmd!(sh, "git log --format=%H%x1f%ct -- {path}")
            .quiet()
            .read()
            .with_context(|| format!("reading the history of {path} (`git log -- {path}`)"))?;
        for entry in log.lines() {
            let Some((commit, time)) = entry.split_once('\x1f') else {
                continue;
            };
            let spec = format!("{commit}:{path}");
            // A commit that deleted the file has no version of it to read.
            let Ok(text) = cmd!(sh, "git show {spec}").quiet().ignore_stderr().read() else {
                continue;
            };
            match baseline_run(gate, figures_field, commit, time, &text) {
                Ok(run) => runs.push(run),
                Err(err) => warnings.push(format!(
                    "{path} at {}: {err:#}; that version is left out of the report",
                    &commit[..commit.len().min(10)]
                )),
            }
        }
    }
    Ok((runs, warnings))
}

fn baseline_run(
    gate: &str,
    figures_field: Option<&str>,
    commit: &str,
    time: &str,
    text: &str,
) -> Result<Run> {
    let mut value: Value = serde_json::from_str(text).context("not JSON")?;
    let fingerprint: Fingerprint =
        serde_json::from_value(value.get("fingerprint").cloned().unwrap_or(Value::Null))
            .context("no fingerprint")?;
    let figures = match figures_field {
        Some(field) => value
            .get_mut(field)
            .map(Value::take)
            .with_context(|| format!("no `{field}`"))?,
        // size.json keeps the configurations apart from the axum reference; a history line
        // holds them side by side.
        None => {
            let mut configs = value
                .get_mut("configs")
                .map(Value::take)
                .context("no `configs`")?;
            if let (Some(configs), Some(reference)) =
                (configs.as_object_mut(), value.get_mut("reference"))
            {
                configs.insert("reference".to_owned(), reference.take());
            }
            configs
        }
    };
    let verdicts = figures
        .as_object()
        .map(|items| {
            items
                .keys()
                .map(|k| (k.clone(), "accepted baseline".to_owned()))
                .collect()
        })
        .unwrap_or_default();
    Ok(Run {
        gate: gate.to_owned(),
        unix_time: time.parse().unwrap_or(0),
        commit: commit.to_owned(),
        dirty: false,
        fingerprint,
        figures,
        verdicts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_corrupted_line_is_left_out_with_its_file_and_line_and_the_rest_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let good = r#"{"format":2,"gate":"size","unix_time":1,"commit":"abc","dirty":false,"fingerprint":{"rustc":"r","target":"t"},"figures":{"default":{"stripped_bytes":10}},"verdicts":{"default":"ok"}}"#;
        let archived = r#"{"unix_time":2,"commit":"def","fingerprint":{"rustc":"r","target":"t"},"figures":{"a/b":1.5}}"#;
        std::fs::write(
            dir.path().join("size.jsonl"),
            format!("{good}\n{{\"unix_time\": tru\n\n{good}\n"),
        )
        .unwrap();
        std::fs::write(dir.path().join("instructions.jsonl"), archived).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a history").unwrap();
        let (runs, warnings) = read_dir(dir.path()).unwrap();
        assert_eq!(runs.len(), 3);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("size.jsonl:2:"), "{}", warnings[0]);
        // An archived line takes its gate from its file's name.
        assert!(
            runs.iter()
                .any(|r| r.gate == "instructions" && r.commit == "def")
        );
        assert_eq!(runs[1].verdicts["default"], "ok");
    }

    #[test]
    fn a_missing_history_is_empty_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let (runs, warnings) = read_dir(&dir.path().join("never-written")).unwrap();
        assert!(runs.is_empty() && warnings.is_empty());
    }

    #[test]
    fn a_size_baseline_becomes_a_line_with_the_reference_beside_the_configurations() {
        let text = r#"{"fingerprint":{"rustc":"r","target":"t"},"reference":{"stripped_bytes":5},"configs":{"default":{"stripped_bytes":7}}}"#;
        let run = baseline_run("size", None, "abc", "42", text).unwrap();
        assert_eq!(run.figures["reference"]["stripped_bytes"], 5);
        assert_eq!(run.figures["default"]["stripped_bytes"], 7);
        assert_eq!(run.unix_time, 42);
        assert!(baseline_run("memory", Some("scenarios"), "abc", "1", text).is_err());
    }
}
