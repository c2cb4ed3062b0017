//! Paired A/B comparison, shared by `bench --against` and `load --against`: base and head
//! run as separate processes interleaved in blocks (ABBA, then BAAB, ...), each run reduced
//! to one figure per item. The paired log-ratios of each item are judged with a Wilcoxon
//! signed-rank test (Holm-corrected across the items) and the Hodges-Lehmann estimate with
//! its confidence interval.
//!
//! A significant rise whose whole interval is past the minor threshold is a regression (its
//! severity follows the estimate; it fails when the interval's lower bound passes the fail
//! level). A significant one whose interval straddles a threshold is not yet decided: more
//! blocks are run, up to a cap (sequential testing), and one still straddling at the cap is
//! reported as undecided, with its estimate, never as "no regression".

pub(crate) mod stats;

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::Serialize;

use self::stats::{Severity, Thresholds};
use crate::summary::Table;

/// The two sides of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Base,
    Head,
}

impl Side {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Side::Base => "base",
            Side::Head => "head",
        }
    }
}

/// How the pairs are judged: figures where larger is worse (times, latencies).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Judging {
    pub(crate) alpha: f64,
    pub(crate) thresholds: Thresholds,
    /// A regression whose lower bound reaches this fails the gate (a relative change).
    pub(crate) fail_at: f64,
}

impl Judging {
    /// From percentages as quality.toml gives them, checked.
    pub(crate) fn from_percent(
        alpha: f64,
        [minor, major, critical]: [f64; 3],
        fail: f64,
    ) -> Result<Self> {
        Ok(Self {
            alpha,
            thresholds: Thresholds::new(minor / 100.0, major / 100.0, critical / 100.0)
                .map_err(anyhow::Error::msg)?,
            fail_at: fail / 100.0,
        })
    }
}

/// How many interleaved blocks are run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Blocks {
    pub(crate) first: usize,
    /// Blocks may be added one at a time up to this while a verdict is undecided.
    pub(crate) max: usize,
}

/// One item's comparison.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Comparison {
    pub(crate) id: String,
    pub(crate) pairs: usize,
    /// Medians over the runs, in the item's unit.
    pub(crate) base: f64,
    pub(crate) head: f64,
    /// Hodges-Lehmann estimate of head/base - 1, and its confidence interval.
    pub(crate) change: f64,
    pub(crate) change_lower: f64,
    pub(crate) change_upper: f64,
    /// One-sided (head larger) Wilcoxon p-value, Holm-adjusted across the items.
    pub(crate) p_adjusted: f64,
    pub(crate) verdict: Verdict,
    /// The severity the estimate reaches (shown for regressions and undecided ones).
    pub(crate) severity: Option<Severity>,
    pub(crate) fails: bool,
}

/// What a comparison concludes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Verdict {
    /// Not significant, or significant with the interval below the minor threshold.
    NoRegression,
    /// Significant, with the whole interval at or past the minor threshold.
    Regression,
    /// Significant, with the interval straddling the minor threshold: more data would tell.
    Undecided,
}

impl Comparison {
    /// Whether another block could change the outcome: the verdict is undecided, or a
    /// regression's interval straddles the fail level.
    fn needs_more(&self, fail_at: f64) -> bool {
        match self.verdict {
            Verdict::Undecided => true,
            Verdict::Regression => self.change_lower < fail_at && self.change_upper >= fail_at,
            Verdict::NoRegression => false,
        }
    }
}

/// The interleaved runs and their judgement: `blocks.first` blocks, then one more at a time
/// while a verdict is undecided, up to `blocks.max`. `run(side, block, i)` makes the `i`-th
/// run of a block (0 to 3) and returns its figure per item.
pub(crate) fn interleave(
    blocks: Blocks,
    judging: &Judging,
    mut run: impl FnMut(Side, usize, usize) -> Result<BTreeMap<String, f64>>,
) -> Result<Vec<Comparison>> {
    let mut runs: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let mut block = 0;
    loop {
        // ABBA on even blocks, BAAB on odd ones, so drift within a block hits both alike.
        let order = if block % 2 == 0 {
            [Side::Base, Side::Head, Side::Head, Side::Base]
        } else {
            [Side::Head, Side::Base, Side::Base, Side::Head]
        };
        let mut figures: Vec<(Side, BTreeMap<String, f64>)> = Vec::new();
        for (i, side) in order.into_iter().enumerate() {
            eprintln!(
                "block {}/{}: run {} of 4 ({})",
                block + 1,
                blocks.first.max(block + 1),
                i + 1,
                side.name()
            );
            figures.push((side, run(side, block, i)?));
        }
        let (bases, heads): (Vec<_>, Vec<_>) =
            figures.into_iter().partition(|(s, _)| *s == Side::Base);
        // Pairs in run order: the first base with the first head, the second with the second.
        for ((_, b), (_, h)) in bases.iter().zip(&heads) {
            for (id, &base) in b {
                if let Some(&head) = h.get(id) {
                    runs.entry(id.clone()).or_default().push((base, head));
                }
            }
        }
        block += 1;
        if block < blocks.first {
            continue;
        }
        let judged = judge(&runs, judging)?;
        let open: Vec<&str> = judged
            .iter()
            .filter(|c| c.needs_more(judging.fail_at))
            .map(|c| c.id.as_str())
            .collect();
        if open.is_empty() || block >= blocks.max {
            return Ok(judged);
        }
        eprintln!(
            "undecided after {block} blocks: {}; one more block (at most {})",
            open.join(", "),
            blocks.max
        );
    }
}

/// Judges each item's pairs of (base, head) figures.
pub(crate) fn judge(
    runs: &BTreeMap<String, Vec<(f64, f64)>>,
    judging: &Judging,
) -> Result<Vec<Comparison>> {
    let mut partial = Vec::new();
    let mut p_values = Vec::new();
    for (id, pairs) in runs {
        let d: Vec<f64> = pairs.iter().map(|(b, h)| (h / b).ln()).collect();
        let wilcoxon = stats::wilcoxon_signed_rank(&d);
        let hl = stats::hodges_lehmann(&d, 1.0 - judging.alpha)
            .with_context(|| format!("{id}: too few usable pairs ({})", pairs.len()))?;
        p_values.push(wilcoxon.map_or(1.0, |w| w.p_greater));
        partial.push((id, pairs, hl));
    }
    let adjusted = stats::holm(&p_values);
    Ok(partial
        .into_iter()
        .zip(adjusted)
        .map(|((id, pairs, hl), p_adjusted)| {
            let change = stats::relative_change(hl.estimate);
            let lower = stats::relative_change(hl.lower);
            let upper = stats::relative_change(hl.upper);
            let significant = p_adjusted < judging.alpha;
            let minor = judging.thresholds.minor;
            let verdict = if !significant || upper < minor {
                Verdict::NoRegression
            } else if lower >= minor {
                Verdict::Regression
            } else {
                Verdict::Undecided
            };
            let severity = match verdict {
                Verdict::NoRegression => None,
                Verdict::Regression | Verdict::Undecided => judging.thresholds.classify(change),
            };
            Comparison {
                id: id.clone(),
                pairs: pairs.len(),
                base: median(pairs.iter().map(|p| p.0)),
                head: median(pairs.iter().map(|p| p.1)),
                change,
                change_lower: lower,
                change_upper: upper,
                p_adjusted,
                fails: verdict == Verdict::Regression && lower >= judging.fail_at,
                verdict,
                severity,
            }
        })
        .collect())
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The comparisons as a table, each figure shown by `unit`.
pub(crate) fn table(
    title: &str,
    item: &str,
    comparisons: &[Comparison],
    unit: impl Fn(f64) -> String,
) -> Table {
    let mut table = Table::new(
        title,
        &[
            item, "pairs", "base", "head", "change", "interval", "p (Holm)", "verdict",
        ],
    );
    for c in comparisons {
        let severity = c
            .severity
            .map_or("below minor".to_owned(), |s| format!("{s:?}"));
        let verdict = match c.verdict {
            Verdict::NoRegression => "no regression".to_owned(),
            Verdict::Regression if c.fails => format!("FAILED: {severity} regression"),
            Verdict::Regression => format!("WARNING: {severity} regression"),
            Verdict::Undecided => format!("UNDECIDED ({severity} by its estimate)"),
        };
        table.row(vec![
            c.id.clone(),
            c.pairs.to_string(),
            unit(c.base),
            unit(c.head),
            format!("{:+.1}%", c.change * 100.0),
            format!(
                "{:+.1}% .. {:+.1}%",
                c.change_lower * 100.0,
                c.change_upper * 100.0
            ),
            format!("{:.4}", c.p_adjusted),
            verdict,
        ]);
    }
    table
}

/// Warnings for undecided items, and the failures' summary (`None` when nothing failed).
pub(crate) fn conclude(comparisons: &[Comparison], minor_percent: f64) -> Option<String> {
    for c in comparisons
        .iter()
        .filter(|c| c.verdict == Verdict::Undecided)
    {
        eprintln!(
            "warning: {} is undecided after {} pairs: {:+.1}% (interval {:+.1}% .. {:+.1}%) \
             straddles the {minor_percent}% threshold; rerun with more `--blocks`",
            c.id,
            c.pairs,
            c.change * 100.0,
            c.change_lower * 100.0,
            c.change_upper * 100.0,
        );
    }
    let failed: Vec<String> = comparisons
        .iter()
        .filter(|c| c.fails)
        .map(|c| format!("{} {:+.1}%", c.id, c.change * 100.0))
        .collect();
    (!failed.is_empty()).then(|| failed.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judging() -> Judging {
        Judging {
            alpha: 0.05,
            thresholds: Thresholds::new(0.10, 0.20, 0.50).unwrap(),
            fail_at: 0.20,
        }
    }

    #[test]
    fn a_clear_slowdown_is_judged_and_noise_is_not() {
        // 12 pairs, head 30% slower with +-3% noise; and 12 pairs of noise alone.
        let noise = [
            1.0, 1.02, 0.98, 1.01, 0.99, 1.03, 0.97, 1.0, 1.02, 0.99, 1.01, 0.98,
        ];
        let mut runs = BTreeMap::new();
        runs.insert(
            "slow".to_owned(),
            noise.iter().map(|n| (100.0, 130.0 * n)).collect::<Vec<_>>(),
        );
        runs.insert(
            "same".to_owned(),
            noise.iter().map(|n| (100.0, 100.0 * n)).collect::<Vec<_>>(),
        );
        let judged = judge(&runs, &judging()).unwrap();
        let same = judged.iter().find(|c| c.id == "same").unwrap();
        let slow = judged.iter().find(|c| c.id == "slow").unwrap();
        assert_eq!(same.verdict, Verdict::NoRegression, "{same:?}");
        assert_eq!(same.severity, None, "{same:?}");
        assert!(!same.fails);
        assert_eq!(slow.verdict, Verdict::Regression, "{slow:?}");
        assert_eq!(slow.severity, Some(Severity::Major), "{slow:?}");
        assert!(slow.fails, "{slow:?}");
        assert!((0.25..0.35).contains(&slow.change), "{slow:?}");
    }

    /// The case that passed in silence before: about +19 %, significant, interval from
    /// about +9 % to +31 % across the 10 % threshold. Undecided (severity from the estimate),
    /// more blocks asked for; once more pairs narrow the interval past 10 %, a regression.
    #[test]
    fn a_significant_change_straddling_the_threshold_is_undecided_until_more_pairs_decide() {
        let wide = [
            0.99, 1.40, 1.05, 1.32, 1.19, 1.02, 1.45, 1.15, 1.24, 1.04, 1.36, 1.19,
        ];
        let mut runs = BTreeMap::new();
        runs.insert(
            "straddles".to_owned(),
            wide.iter().map(|r| (100.0, 100.0 * r)).collect::<Vec<_>>(),
        );
        let judged = &judge(&runs, &judging()).unwrap()[0];
        assert!(judged.p_adjusted < 0.05, "significant: {judged:?}");
        assert!(
            judged.change_lower < 0.10 && judged.change_upper > 0.10,
            "{judged:?}"
        );
        assert_eq!(judged.verdict, Verdict::Undecided, "{judged:?}");
        assert_eq!(judged.severity, Some(Severity::Minor), "{judged:?}");
        assert!(!judged.fails);
        assert!(judged.needs_more(0.20));

        let steady = [
            1.18, 1.20, 1.19, 1.21, 1.17, 1.20, 1.19, 1.18, 1.20, 1.21, 1.19, 1.20,
        ];
        runs.get_mut("straddles")
            .unwrap()
            .extend(steady.iter().chain(&steady).map(|r| (100.0, 100.0 * r)));
        let judged = &judge(&runs, &judging()).unwrap()[0];
        assert_eq!(judged.verdict, Verdict::Regression, "{judged:?}");
        assert!(judged.change_lower >= 0.10, "{judged:?}");
        assert_eq!(judged.severity, Some(Severity::Minor), "{judged:?}");
    }
}
