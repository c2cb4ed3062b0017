//! `cargo xtask report`: every gate's history on one commit axis, as a self-contained HTML
//! dashboard with change points, SVG badges, and the pull-request summary in markdown.
//!
//! It reads the history store (`history::dir()`), the lines archived in `baselines/history/`
//! and each committed version of the baselines; it measures nothing and writes only under
//! `--out`.

mod axis;
mod badges;
mod changes;
mod markdown;
mod page;
mod runs;
mod series;

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::summary::Table;
use crate::{history, shell};
use changes::Change;
use series::Dataset;

#[derive(Debug, Default, clap::Args)]
pub(crate) struct Args {
    /// Where `index.html` and `badges/` go [default: <target dir>/xtask/report].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Draw only commits from REV (included) to HEAD.
    #[arg(long, value_name = "REV")]
    since: Option<String>,
    /// Print every series and change point as JSON.
    #[arg(long, conflicts_with = "markdown")]
    json: bool,
    /// Print the pull-request summary (and append it to `$GITHUB_STEP_SUMMARY` when set).
    #[arg(long)]
    markdown: bool,
    /// The commit the summary compares with [default: the merge base with origin/main, else
    /// HEAD's parent].
    #[arg(long, value_name = "REV", requires = "markdown")]
    base: Option<String>,
}

/// What every output is made from.
#[derive(Serialize)]
pub(crate) struct Report {
    pub(crate) dataset: Dataset,
    /// Per series, in the dataset's order.
    pub(crate) changes: Vec<Vec<Change>>,
    /// The smallest move that counts, per series (of its latest environment's points).
    pub(crate) thresholds: Vec<Option<f64>>,
    /// A stop and the sentence `baselines/annotations.toml` gives it.
    pub(crate) annotations: Vec<(usize, String)>,
    pub(crate) generated: String,
    pub(crate) runs: usize,
    /// Flamegraphs of `cargo xtask profile` copied beside the page, by file name.
    pub(crate) flamegraphs: Vec<String>,
}

/// The flamegraph SVGs of `from` (`cargo xtask profile`'s), copied into `to` so the page
/// links them wherever it is published; their names, sorted.
fn copy_flamegraphs(from: &std::path::Path, to: &std::path::Path) -> Result<Vec<String>> {
    let Ok(entries) = std::fs::read_dir(from) else {
        return Ok(Vec::new());
    };
    let mut names = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "svg")
            && let Some(name) = path.file_name().and_then(|n| n.to_str())
        {
            std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
            std::fs::copy(&path, to.join(name))
                .with_context(|| format!("copying {}", path.display()))?;
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// `baselines/annotations.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Annotations {
    #[serde(default)]
    annotation: Vec<Annotation>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Annotation {
    /// A commit hash or a prefix of one (at least 7 characters).
    commit: String,
    text: String,
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let commits = axis::history(args.since.as_deref())?;
    let (mut all, mut warnings) = runs::read_dir(&history::dir())?;
    let (archived, more) = runs::read_dir(&shell::root().join("baselines").join("history"))?;
    all.extend(archived);
    warnings.extend(more);
    let (baselines, more) = runs::committed_baselines()?;
    all.extend(baselines);
    warnings.extend(more);
    let annotations = load_annotations(&shell::root().join("baselines/annotations.toml"))?;
    let mut report = Report::build(&commits, all, &annotations, &mut warnings, now());
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    if report.dataset.stops.is_empty() {
        eprintln!(
            "note: no gate has recorded a run of a commit in HEAD's history under {} yet; \
             run `cargo xtask ci` (or one gate, say `cargo xtask size`) first",
            history::dir().display()
        );
    }

    let out = args
        .out
        .clone()
        .unwrap_or_else(|| shell::target_dir().join("xtask").join("report"));
    std::fs::create_dir_all(out.join("badges"))
        .with_context(|| format!("creating {}", out.display()))?;
    report.flamegraphs = copy_flamegraphs(&crate::profile::dir(), &out.join("flamegraphs"))?;
    let index = out.join("index.html");
    std::fs::write(&index, page::render(&report)?)
        .with_context(|| format!("writing {}", index.display()))?;
    for (name, svg) in badges::all(&report) {
        let path = out.join("badges").join(format!("{name}.svg"));
        std::fs::write(&path, svg).with_context(|| format!("writing {}", path.display()))?;
    }
    eprintln!(
        "wrote {} (open it in a browser; it loads nothing else)",
        index.display()
    );

    if args.markdown {
        let base = markdown::resolve_base(args.base.as_deref())?;
        let text = markdown::summary(&report, &commits, base.as_deref());
        crate::summary::print_text(&text)?;
        if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
            use std::io::Write;
            std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&path)
                .and_then(|mut f| f.write_all(text.as_bytes()))
                .with_context(|| format!("appending to $GITHUB_STEP_SUMMARY ({path:?})"))?;
        }
    } else if args.json {
        crate::summary::print_json(&report)?;
    } else {
        moves_table(&report).publish()?;
    }
    Ok(())
}

impl Report {
    fn build(
        commits: &[axis::Commit],
        runs: Vec<runs::Run>,
        annotations: &Annotations,
        warnings: &mut Vec<String>,
        generated: String,
    ) -> Self {
        let run_count = runs.len();
        let dataset = Dataset::build(commits, runs);
        let changes = dataset.series.iter().map(changes::detect).collect();
        let thresholds = dataset
            .series
            .iter()
            .map(|s| changes::judged(s, s.points.last()?.environment).2)
            .collect();
        let mut placed = Vec::new();
        for note in &annotations.annotation {
            let found = (note.commit.len() >= 7)
                .then(|| {
                    dataset
                        .stops
                        .iter()
                        .position(|s| !s.dirty && s.commit.hash.starts_with(&note.commit))
                })
                .flatten();
            match found {
                Some(stop) => placed.push((stop, note.text.clone())),
                None => warnings.push(format!(
                    "baselines/annotations.toml: commit `{}` is not a measured commit of this \
                     range (give at least 7 characters of a hash in HEAD's history); its note \
                     is not shown",
                    note.commit
                )),
            }
        }
        Self {
            dataset,
            changes,
            thresholds,
            annotations: placed,
            generated,
            runs: run_count,
            flamegraphs: Vec::new(),
        }
    }
}

fn load_annotations(path: &std::path::Path) -> Result<Annotations> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).with_context(|| {
            format!(
                "{} is not a list of `[[annotation]]` tables with `commit` and `text`; fix it \
                 or remove it",
                path.display()
            )
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Annotations::default()),
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

fn moves_table(report: &Report) -> Table {
    let mut table = Table::new(
        "where figures moved (change points beyond each series' noise)",
        &["figure", "commits", "before", "after", "change"],
    );
    for (series, changes) in report.dataset.series.iter().zip(&report.changes) {
        for change in changes {
            table.row(vec![
                format!("{}: {}", series.gate, series.title),
                format!(
                    "{}..{}",
                    report.dataset.stops[change.before_stop].label(),
                    report.dataset.stops[change.after_stop].label()
                ),
                series.unit.format(change.before),
                series.unit.format(change.after),
                format!("{:+.2}%", change.percent()),
            ]);
        }
    }
    table
}

fn now() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    date(seconds)
}

/// `Wed, 02 Dec 2026 04:30:56 GMT`.
pub(crate) fn date(unix: u64) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix))
}

#[cfg(test)]
mod tests;
