//! `load --against REV`: base and head of one target run the same profile interleaved
//! (ABBA, BAAB, ...), each run on a fresh server, and each run's corrected p95 and p99 are
//! paired and judged by [`crate::paired`], as `bench --against` judges its benchmarks: a
//! significant rise warns from `minor_percent` and fails from `fail_percent`. Absolute SLOs
//! are not judged here; the paired comparison is what fails a change.

use std::collections::BTreeMap;

use anyhow::{Result, bail};

use super::Profile;
use super::profile::{self, Timing};
use super::target::{Generator, Server};
use crate::config::Load;
use crate::level::Level;
use crate::paired::{self, Blocks, Comparison, Judging, Side};

/// How a comparison runs and is judged.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) title: String,
    /// The command that runs this comparison again.
    pub(crate) reproduce: String,
    /// Seconds of each run.
    pub(crate) seconds: f64,
    pub(crate) blocks: Blocks,
    pub(crate) judging: Judging,
    pub(crate) minor_percent: f64,
}

impl Options {
    pub(crate) fn from_config(
        load: &Load,
        seconds: Option<f64>,
        blocks: Option<usize>,
    ) -> Result<Self> {
        let a = &load.against;
        let first = blocks.unwrap_or(a.blocks).max(2);
        Ok(Self {
            title: String::new(),
            reproduce: String::new(),
            seconds: seconds.unwrap_or(a.seconds),
            blocks: Blocks {
                first,
                max: a.max_blocks.max(first),
            },
            judging: Judging::from_percent(
                a.alpha,
                [a.minor_percent, a.major_percent, a.critical_percent],
                a.fail_percent,
            )?,
            minor_percent: a.minor_percent,
        })
    }
}

/// Compares base and head on each profile, prints the table (and `--json`), and fails on
/// a significant rise past the fail level.
pub(crate) fn run(
    load: &Load,
    profiles: &[Profile],
    options: &Options,
    generator: &Generator,
    json: bool,
    start: impl FnMut(Side, &str) -> Result<Box<dyn Server>>,
) -> Result<()> {
    let comparisons = compare(load, profiles, options, generator, start)?;
    let title = format!(
        "{} ({} s runs, {} blocks, ABBA; corrected latency)",
        options.title, options.seconds, options.blocks.first
    );
    paired::table(&title, "figure", &comparisons, |us| {
        format!("{:.2} ms", us / 1000.0)
    })
    .publish()?;
    if json {
        crate::summary::print_json(&comparisons)?;
    }
    if let Some(failed) = paired::conclude(&comparisons, options.minor_percent) {
        bail!(
            "significant latency rises past {}%: {failed}. Reproduce with `{}`",
            options.judging.fail_at * 100.0,
            options.reproduce
        );
    }
    Ok(())
}

/// The interleaved runs: `start(side, log)` gives a fresh server of that side, on which each
/// profile runs for `options.seconds`; its corrected p95 and p99 are the run's figures.
pub(crate) fn compare(
    load: &Load,
    profiles: &[Profile],
    options: &Options,
    generator: &Generator,
    mut start: impl FnMut(Side, &str) -> Result<Box<dyn Server>>,
) -> Result<Vec<Comparison>> {
    if let Some(stress) = profiles.iter().find(|p| **p == Profile::Stress) {
        bail!(
            "`{}` has no one latency to compare (its figure is a breaking point; `cargo xtask \
             report` draws it over time): compare sustained, spike or soak",
            stress.name()
        );
    }
    // Each figure has two pairs a block, and the smallest one-sided p-value of n pairs is
    // 2^-n, which Holm multiplies by the figures: too few blocks could never be significant.
    let figures = 2 * profiles.len();
    let pairs = 2 * options.blocks.first;
    if figures as f64 * 0.5f64.powi(pairs as i32) >= options.judging.alpha {
        bail!(
            "{} blocks give {pairs} pairs a figure, too few for any of {figures} figures to \
             be significant at alpha {}: give more `--blocks`",
            options.blocks.first,
            options.judging.alpha
        );
    }
    paired::interleave(options.blocks, &options.judging, |side, block, i| {
        let mut figures = BTreeMap::new();
        for &profile in profiles {
            let log = format!("{}-{}-{block}-{i}.log", side.name(), profile.name());
            let server = start(side, &log)?;
            let timing = Timing::lasting(load, profile, options.seconds);
            let run = profile::run(load, profile, timing, server, generator)?;
            if run.level == Level::Failure {
                bail!(
                    "a {} run of {} failed, so its latency is not comparable: {}",
                    side.name(),
                    profile.name(),
                    run.notes.join("; ")
                );
            }
            figures.insert(format!("{}/p95", profile.name()), run.p95_us as f64);
            figures.insert(format!("{}/p99", profile.name()), run.p99_us as f64);
        }
        Ok(figures)
    })
}
