//! The pull-request summary: the figures that moved against the base first, then every
//! figure with a sparkline of its recent history. The first line is a marker the workflow
//! looks for, so each push updates one comment instead of adding another.

use std::fmt::Write as _;

use anyhow::{Context, Result};
use xshell::cmd;

use super::Report;
use super::axis::Commit;
use super::series::{Better, Point, Series};
use crate::shell;

pub(crate) const MARKER: &str = "<!-- allframe-report -->";
const SPARK: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
const RECENT: usize = 20;

/// `--base REV` resolved to a hash; without it, the merge base with `origin/main`, else
/// HEAD's parent; `None` for a history of one commit.
pub(crate) fn resolve_base(base: Option<&str>) -> Result<Option<String>> {
    let sh = shell::at_root()?;
    if let Some(base) = base {
        let spec = format!("{base}^{{commit}}");
        return cmd!(sh, "git rev-parse --verify {spec}")
            .quiet()
            .ignore_stderr()
            .read()
            .map(Some)
            .with_context(|| format!("`--base {base}` names no commit (`git rev-parse {base}`)"));
    }
    let merge_base = cmd!(sh, "git merge-base HEAD origin/main")
        .quiet()
        .ignore_stderr()
        .read()
        .ok();
    let head = cmd!(sh, "git rev-parse HEAD").quiet().read()?;
    Ok(match merge_base {
        Some(m) if m != head => Some(m),
        _ => cmd!(sh, "git rev-parse --verify HEAD~1")
            .quiet()
            .ignore_stderr()
            .read()
            .ok(),
    })
}

/// The stop a figure is read at for `commit`: the last stop at or before it on the axis.
fn stop_for(report: &Report, commits: &[Commit], commit: &str) -> Option<usize> {
    let position = |hash: &str| commits.iter().position(|c| c.hash == hash);
    let target = position(commit)?;
    report
        .dataset
        .stops
        .iter()
        .rposition(|s| !s.dirty && position(&s.commit.hash).is_some_and(|p| p <= target))
}

/// A series' committed point at `stop` or the latest before it, in `environment`.
fn point_at(series: &Series, stop: usize, environment: usize) -> Option<&Point> {
    series
        .points
        .iter()
        .rfind(|p| p.stop <= stop && p.environment == environment && !p.dirty)
}

pub(crate) fn sparkline(values: &[f64]) -> String {
    let (min, max) = values
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    values
        .iter()
        .map(|v| {
            if max > min {
                SPARK[(((v - min) / (max - min)) * 7.0).round() as usize]
            } else {
                SPARK[3]
            }
        })
        .collect()
}

pub(crate) fn summary(report: &Report, commits: &[Commit], base: Option<&str>) -> String {
    let data = &report.dataset;
    let mut out = format!("{MARKER}\n");
    let Some(head) = data.stops.len().checked_sub(1) else {
        out.push_str("### AllFrame quality report\n\nNo gate has recorded a run yet.\n");
        return out;
    };
    let base_stop = base
        .and_then(|b| stop_for(report, commits, b))
        .filter(|s| *s < head);
    let _ = writeln!(
        out,
        "### AllFrame quality report: `{}` against `{}`\n",
        data.stops[head].label(),
        base_stop.map_or_else(|| "no measured base".to_owned(), |s| data.stops[s].label())
    );

    let mut moved = Vec::new();
    let mut unmeasured = 0;
    let mut unjudged = 0;
    let mut compared = 0;
    for (series, threshold) in data.series.iter().zip(&report.thresholds) {
        // This run's figure, and the base's from the same environment only.
        let Some(now) = series.points.iter().find(|p| p.stop == head) else {
            unmeasured += 1;
            continue;
        };
        let Some(then) = base_stop.and_then(|b| point_at(series, b, now.environment)) else {
            unmeasured += 1;
            continue;
        };
        let Some(threshold) = threshold else {
            unjudged += 1;
            continue;
        };
        compared += 1;
        let (now, then) = (now.value, then.value);
        if (now - then).abs() > *threshold {
            let better = (now < then) == (series.better == Better::Lower);
            moved.push((series, then, now, better));
        }
    }
    if base_stop.is_none() {
        out.push_str("No run of the base commit is in the history: nothing to compare.\n\n");
    } else if compared == 0 {
        out.push_str(
            "No figure was measured at both commits on one machine: nothing to compare.\n\n",
        );
    } else if moved.is_empty() {
        out.push_str("No figure moved beyond its noise.\n\n");
    } else {
        // Regressions first, then the gate order of the dataset.
        moved.sort_by_key(|m| m.3);
        let _ = writeln!(
            out,
            "**{} figures moved** beyond their noise:\n",
            moved.len()
        );
        out.push_str("| | figure | base | this | change |\n|---|---|---|---|---|\n");
        for (series, then, now, better) in &moved {
            let _ = writeln!(
                out,
                "| {} | {}: {} | {} | {} | {:+.2}% |",
                if *better { "🟢" } else { "🔴" },
                series.gate,
                cell(&series.title),
                series.unit.format(*then),
                series.unit.format(*now),
                if *then == 0.0 {
                    0.0
                } else {
                    (now - then) / then.abs() * 100.0
                }
            );
        }
        out.push('\n');
    }
    if unmeasured > 0 && base_stop.is_some() {
        let _ = writeln!(
            out,
            "{unmeasured} figures were not measured at both commits on this machine (gates \
             this run skipped, or the base was measured elsewhere).\n"
        );
    }
    if unjudged > 0 {
        let _ = writeln!(
            out,
            "{unjudged} wall-clock figures have too short a history to know their noise: not \
             judged.\n"
        );
    }

    out.push_str("<details><summary>Every figure, with the last measured commits</summary>\n\n");
    out.push_str("| figure | latest | trend | verdict |\n|---|---|---|---|\n");
    for series in &data.series {
        let Some(latest) = series.points.last() else {
            continue;
        };
        let recent: Vec<f64> = series
            .points
            .iter()
            .filter(|p| p.environment == latest.environment)
            .map(|p| p.value)
            .collect();
        let recent = &recent[recent.len().saturating_sub(RECENT)..];
        let _ = writeln!(
            out,
            "| {}: {} | {} | {} | {} |",
            series.gate,
            cell(&series.title),
            series.unit.format(latest.value),
            sparkline(recent),
            cell(latest.verdict.as_deref().unwrap_or("-"))
        );
    }
    out.push_str(
        "\n</details>\n\nFrom `cargo xtask report --markdown`; the dashboard is the `report` \
         artifact's `index.html`.\n",
    );
    out
}

/// A markdown table cell: a `|` or a line break would end it.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\r', '\n'], " ")
}
