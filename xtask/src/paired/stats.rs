//! Paired, distribution-free statistics for the wall-clock regression gate.
//!
//! The gate runs the base and the head build of the same benchmarks in interleaved blocks and
//! reduces each benchmark to paired log-ratios `d_i = ln(head_i / base_i)`. Noise on a shared
//! machine is neither normal nor free of outliers, so everything here works on ranks:
//!
//! - [`wilcoxon_signed_rank`] says whether the head moved at all;
//! - [`hodges_lehmann`] says by how much, with a confidence interval from the same ranks;
//! - [`holm`] keeps the family-wise error rate when many benchmarks are tested at once;
//! - [`Thresholds`] turns a relative change into a [`Severity`].
//!
//! Nothing here panics on bad input: non-finite data, empty data and out-of-range parameters
//! give `None` (or an `Err` with a message where a configuration is checked).

use statrs::distribution::{ContinuousCDF, Normal};

/// Largest number of observations for which the exact null distribution is used.
///
/// Up to here all 2^n sign patterns are counted exactly (at most 2^25 patterns, over 326
/// possible rank sums); beyond it the normal approximation is within about 0.001 of the
/// exact p-value, and errs on the large (cautious) side far in the tail.
const EXACT_MAX_N: usize = 25;

/// Most observations [`hodges_lehmann`] accepts: it sorts all n(n + 1)/2 Walsh averages, which
/// is 12.5 million values (100 MB) at this bound. A gate has tens of pairs, not thousands.
const WALSH_MAX_N: usize = 5_000;

/// How a p-value or an interval's coverage was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    /// From the exact null distribution of the signed-rank statistic.
    Exact,
    /// From the normal approximation with continuity correction (and, for the test, the tie
    /// correction of the variance).
    NormalApproximation,
}

/// The outcome of a Wilcoxon signed-rank test of "the differences are symmetric about 0".
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Wilcoxon {
    /// Non-zero differences used: zeros carry no sign and are dropped (Wilcoxon's method).
    pub(crate) n: usize,
    /// Differences that were exactly zero and were dropped.
    pub(crate) zeros_dropped: usize,
    /// Sum of the ranks of |d_i| over the positive differences (head slower, for times).
    pub(crate) w_plus: f64,
    /// Sum of the ranks over the negative differences; `w_plus + w_minus = n(n + 1)/2`.
    pub(crate) w_minus: f64,
    /// The reported statistic: W+, as R's `V` and Hollander & Wolfe's T+ (not min(W+, W-)).
    pub(crate) statistic: f64,
    /// Against "the median is not 0".
    pub(crate) p_two_sided: f64,
    /// Against "the median is above 0": the head is slower when the figures are times.
    pub(crate) p_greater: f64,
    /// Against "the median is below 0": the head is faster when the figures are times.
    pub(crate) p_less: f64,
    pub(crate) method: Method,
}

/// Wilcoxon signed-rank test of the paired differences `d` against a median of 0.
///
/// Zero differences are dropped and tied |d_i| share the average of their ranks. The p-values
/// are exact when at most [`EXACT_MAX_N`] differences remain and none are tied; otherwise
/// they come from the normal approximation with tie and continuity corrections, as R's
/// `wilcox.test(..., correct = TRUE)` computes them.
///
/// `None` when `d` holds a non-finite value or no non-zero difference.
pub(crate) fn wilcoxon_signed_rank(d: &[f64]) -> Option<Wilcoxon> {
    if !all_finite(d) {
        return None;
    }
    let nonzero: Vec<f64> = d.iter().copied().filter(|&x| x != 0.0).collect();
    let n = nonzero.len();
    if n == 0 {
        return None;
    }
    let AbsoluteRanks { ranks, tie_sizes } = rank_absolute_values(&nonzero);
    let w_plus: f64 = nonzero
        .iter()
        .zip(&ranks)
        .filter(|(x, _)| **x > 0.0)
        .map(|(_, rank)| rank)
        .sum();
    let w_minus = rank_total(n) - w_plus;

    let exact_null = if tie_sizes.is_empty() {
        SignedRankNull::up_to_exact_limit(n)
    } else {
        None
    };
    let (tails, method) = match exact_null {
        Some(null) => (exact_tails(&null, w_plus), Method::Exact),
        None => (
            normal_tails(n, w_plus, &tie_sizes)?,
            Method::NormalApproximation,
        ),
    };
    Some(Wilcoxon {
        n,
        zeros_dropped: d.len() - n,
        w_plus,
        w_minus,
        statistic: w_plus,
        p_two_sided: tails.two_sided,
        p_greater: tails.greater,
        p_less: tails.less,
        method,
    })
}

/// The Hodges-Lehmann estimate of a location shift and its distribution-free interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct HodgesLehmann {
    /// Median of the Walsh averages (d_i + d_j)/2, i <= j: R's "(pseudo)median".
    pub(crate) estimate: f64,
    /// k-th smallest Walsh average.
    pub(crate) lower: f64,
    /// k-th largest Walsh average.
    pub(crate) upper: f64,
    /// Coverage of [lower, upper] for continuous data: exact under [`Method::Exact`], from the
    /// normal approximation otherwise. May fall short of the requested confidence when n is
    /// too small to reach it (then the interval is the whole range of Walsh averages).
    pub(crate) achieved_confidence: f64,
    pub(crate) method: Method,
}

/// Hodges-Lehmann estimator of the centre of `d` with a two-sided `confidence` interval
/// (e.g. 0.95) inverted from the Wilcoxon signed-rank test.
///
/// The number of Walsh averages above a shift θ is the signed-rank statistic of d - θ, so the
/// interval between the k-th smallest and k-th largest Walsh averages covers the true centre
/// with probability P(k <= W+ <= M - k), M = n(n + 1)/2. k is the largest value keeping that
/// probability at or above `confidence`: counted exactly for n <= [`EXACT_MAX_N`], from the
/// normal approximation beyond (Hollander & Wolfe's large-sample rank). Every observation is
/// used, zeros included: at a shift θ off the data there are no zeros to drop. Ties in `d`
/// only merge Walsh averages, and the closed interval then covers at least as often.
///
/// `None` when `d` is empty, holds a non-finite value or more than [`WALSH_MAX_N`] values, or
/// `confidence` is not strictly between 0 and 1.
pub(crate) fn hodges_lehmann(d: &[f64], confidence: f64) -> Option<HodgesLehmann> {
    let confidence_valid = confidence > 0.0 && confidence < 1.0;
    if d.is_empty() || d.len() > WALSH_MAX_N || !all_finite(d) || !confidence_valid {
        return None;
    }
    let walsh = sorted_walsh_averages(d);
    let bound = interval_rank(d.len(), confidence);
    Some(HodgesLehmann {
        estimate: median_of_sorted(&walsh)?,
        lower: *walsh.get(bound.k - 1)?,
        upper: *walsh.get(walsh.len() - bound.k)?,
        achieved_confidence: bound.achieved_confidence,
        method: bound.method,
    })
}

/// Holm-Bonferroni adjusted p-values, in the order given.
///
/// The i-th smallest p-value is multiplied by (m - i + 1) and the results are made monotone
/// (each at least the one before it in sorted order) and capped at 1, so comparing an
/// adjusted value with α gives Holm's step-down decision while holding the family-wise error
/// rate at α. A NaN counts as 1 (no evidence) and values outside [0, 1] are clamped into it.
pub(crate) fn holm(p_values: &[f64]) -> Vec<f64> {
    let count = p_values.len();
    let sanitized: Vec<f64> = p_values
        .iter()
        .map(|&p| if p.is_nan() { 1.0 } else { p.clamp(0.0, 1.0) })
        .collect();
    let mut ascending: Vec<usize> = (0..count).collect();
    ascending.sort_by(|&a, &b| sanitized[a].total_cmp(&sanitized[b]));

    let mut adjusted = vec![1.0; count];
    let mut running_max = 0.0_f64;
    for (position, &index) in ascending.iter().enumerate() {
        let multiplier = (count - position) as f64;
        running_max = running_max.max((multiplier * sanitized[index]).min(1.0));
        adjusted[index] = running_max;
    }
    adjusted
}

/// Relative change `head / base - 1` from a log-ratio `ln(head / base)`, such as a bound of
/// [`hodges_lehmann`]. `exp_m1` keeps small changes precise.
pub(crate) fn relative_change(log_ratio: f64) -> f64 {
    log_ratio.exp_m1()
}

/// How bad a regression is, from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub(crate) enum Severity {
    Minor,
    Major,
    Critical,
}

/// Smallest relative changes (0.10 = 10 %) that reach each severity.
///
/// A change at a threshold reaches it: with the defaults 10 % is minor, 20 % major and 50 %
/// critical. Kept as data so a configuration file can supply them later.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Thresholds {
    pub(crate) minor: f64,
    pub(crate) major: f64,
    pub(crate) critical: f64,
}

impl Thresholds {
    pub(crate) const DEFAULT: Thresholds = Thresholds {
        minor: 0.10,
        major: 0.20,
        critical: 0.50,
    };

    /// Checked constructor for thresholds read from a configuration: finite, positive and in
    /// order, or an error that says which rule is broken.
    pub(crate) fn new(minor: f64, major: f64, critical: f64) -> Result<Self, String> {
        let all = [("minor", minor), ("major", major), ("critical", critical)];
        if let Some((name, value)) = all.iter().find(|(_, value)| !value.is_finite()) {
            return Err(format!(
                "the {name} threshold must be a finite number, not {value}"
            ));
        }
        if minor <= 0.0 {
            return Err(format!("the minor threshold must be above 0, not {minor}"));
        }
        if !(minor <= major && major <= critical) {
            return Err(format!(
                "thresholds must satisfy minor <= major <= critical, got {minor}, {major}, {critical}"
            ));
        }
        Ok(Thresholds {
            minor,
            major,
            critical,
        })
    }

    /// The severity a relative change reaches, or `None` below `minor` (an improvement, noise
    /// or NaN alike: a NaN fails every comparison and is never reported as a regression).
    pub(crate) fn classify(&self, change: f64) -> Option<Severity> {
        if change >= self.critical {
            Some(Severity::Critical)
        } else if change >= self.major {
            Some(Severity::Major)
        } else if change >= self.minor {
            Some(Severity::Minor)
        } else {
            None
        }
    }
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds::DEFAULT
    }
}

fn all_finite(values: &[f64]) -> bool {
    values.iter().all(|value| value.is_finite())
}

/// Sum of the ranks 1..=n: the largest value of W+.
fn rank_total(n: usize) -> f64 {
    (n * (n + 1)) as f64 / 2.0
}

/// Ranks of |values| (1-based), tied magnitudes sharing the average of the ranks they span.
struct AbsoluteRanks {
    ranks: Vec<f64>,
    /// Size of every group of two or more tied magnitudes, for the variance correction.
    tie_sizes: Vec<usize>,
}

fn rank_absolute_values(values: &[f64]) -> AbsoluteRanks {
    let magnitude = |index: usize| values[index].abs();
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| magnitude(a).total_cmp(&magnitude(b)));

    let mut ranks = vec![0.0; values.len()];
    let mut tie_sizes = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let group_magnitude = magnitude(order[start]);
        let group_size = order[start..]
            .iter()
            .take_while(|&&index| magnitude(index) == group_magnitude)
            .count();
        let end = start + group_size;
        // Sorted positions start..end hold the ranks start + 1 ..= end.
        let average_rank = (start + 1 + end) as f64 / 2.0;
        for &index in &order[start..end] {
            ranks[index] = average_rank;
        }
        if group_size > 1 {
            tie_sizes.push(group_size);
        }
        start = end;
    }
    AbsoluteRanks { ranks, tie_sizes }
}

/// Null distribution of W+ for n untied, non-zero differences.
///
/// Under the null each rank 1..=n carries a plus sign with probability 1/2, independently, so
/// W+ is the sum of a uniformly chosen subset of {1, ..., n}: `counts[s]` is the number of
/// subsets summing to s, out of 2^n.
struct SignedRankNull {
    counts: Vec<u64>,
    patterns: f64,
}

impl SignedRankNull {
    /// The exact distribution when n is small enough for the exact method.
    fn up_to_exact_limit(n: usize) -> Option<Self> {
        (n <= EXACT_MAX_N).then(|| Self::count(n))
    }

    /// Counts subsets by sum with the classic knapsack recurrence: adding rank r either leaves
    /// a subset's sum alone or raises it by r. Exact in u64 for n < 64; callers stay far below.
    fn count(n: usize) -> Self {
        let largest_sum = n * (n + 1) / 2;
        let mut counts = vec![0_u64; largest_sum + 1];
        counts[0] = 1;
        for rank in 1..=n {
            for sum in (rank..=largest_sum).rev() {
                counts[sum] += counts[sum - rank];
            }
        }
        SignedRankNull {
            counts,
            patterns: 2_f64.powi(n as i32),
        }
    }

    fn largest_sum(&self) -> usize {
        self.counts.len() - 1
    }

    /// P(W+ <= w).
    fn at_most(&self, w: usize) -> f64 {
        let last = w.min(self.largest_sum());
        self.counts[..=last].iter().sum::<u64>() as f64 / self.patterns
    }

    /// P(W+ >= w).
    fn at_least(&self, w: usize) -> f64 {
        match self.counts.get(w..) {
            Some(upper) => upper.iter().sum::<u64>() as f64 / self.patterns,
            None => 0.0,
        }
    }
}

struct Tails {
    greater: f64,
    less: f64,
    two_sided: f64,
}

fn exact_tails(null: &SignedRankNull, w_plus: f64) -> Tails {
    // Without ties every rank is a whole number, so W+ is too.
    let w = w_plus.round() as usize;
    let greater = null.at_least(w);
    let less = null.at_most(w);
    // The null distribution is symmetric, so doubling the smaller tail is R's two-sided value.
    Tails {
        greater,
        less,
        two_sided: (2.0 * greater.min(less)).min(1.0),
    }
}

/// Normal approximation of W+: mean n(n + 1)/4, variance n(n + 1)(2n + 1)/24 less
/// Σ(t³ - t)/48 over tie groups of size t, and half a unit of continuity correction towards
/// the mean (R's `correct = TRUE`).
fn normal_tails(n: usize, w_plus: f64, tie_sizes: &[usize]) -> Option<Tails> {
    let n = n as f64;
    let mean = n * (n + 1.0) / 4.0;
    let tie_correction: f64 = tie_sizes
        .iter()
        .map(|&size| {
            let t = size as f64;
            t * t * t - t
        })
        .sum::<f64>()
        / 48.0;
    let variance = n * (n + 1.0) * (2.0 * n + 1.0) / 24.0 - tie_correction;
    // Positive for every n >= 1 even when all magnitudes tie; checked rather than trusted.
    if variance.is_nan() || variance <= 0.0 {
        return None;
    }
    let sd = variance.sqrt();
    let shift = w_plus - mean;
    let normal = Normal::standard();
    let greater = normal.sf((shift - 0.5) / sd);
    let less = normal.cdf((shift + 0.5) / sd);
    let toward_mean = if shift == 0.0 {
        0.0
    } else {
        0.5 * shift.signum()
    };
    let z = (shift - toward_mean) / sd;
    let two_sided = (2.0 * normal.cdf(z).min(normal.sf(z))).min(1.0);
    Some(Tails {
        greater,
        less,
        two_sided,
    })
}

/// All n(n + 1)/2 averages (d_i + d_j)/2 with i <= j, ascending.
fn sorted_walsh_averages(d: &[f64]) -> Vec<f64> {
    let mut walsh = Vec::with_capacity(d.len() * (d.len() + 1) / 2);
    for (i, &first) in d.iter().enumerate() {
        for &second in &d[i..] {
            walsh.push((first + second) / 2.0);
        }
    }
    walsh.sort_by(f64::total_cmp);
    walsh
}

fn median_of_sorted(sorted: &[f64]) -> Option<f64> {
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted.get(middle).copied()
    } else {
        Some((sorted.get(middle - 1)? + sorted.get(middle)?) / 2.0)
    }
}

/// Which Walsh averages bound the interval: the k-th from each end.
struct IntervalRank {
    k: usize,
    achieved_confidence: f64,
    method: Method,
}

fn interval_rank(n: usize, confidence: f64) -> IntervalRank {
    match SignedRankNull::up_to_exact_limit(n) {
        Some(null) => exact_interval_rank(&null, confidence),
        None => normal_interval_rank(n, confidence),
    }
}

/// Deepest k that still gives an interval: beyond it the k-th smallest and k-th largest Walsh
/// averages would cross.
fn deepest_interval_rank(walsh_count: usize) -> usize {
    walsh_count.div_ceil(2)
}

/// Largest k whose coverage 1 - 2 P(W+ <= k - 1) is at least `confidence`; k = 1 (the whole
/// range) when even that falls short. The same k as R's `qsignrank(alpha / 2, n)`.
fn exact_interval_rank(null: &SignedRankNull, confidence: f64) -> IntervalRank {
    let coverage = |k: usize| 1.0 - 2.0 * null.at_most(k - 1);
    let deepest = deepest_interval_rank(null.largest_sum());
    let mut k = 1;
    while k < deepest && coverage(k + 1) >= confidence {
        k += 1;
    }
    IntervalRank {
        k,
        achieved_confidence: coverage(k),
        method: Method::Exact,
    }
}

/// With continuity correction the coverage of rank k is about 1 - 2Φ((k - 1/2 - M/2)/σ), so
/// the largest k reaching `confidence` is ⌊M/2 + 1/2 - z σ⌋ with z the two-sided normal
/// quantile: Hollander & Wolfe's C_α = M/2 - z σ rounded to the nearest integer.
fn normal_interval_rank(n: usize, confidence: f64) -> IntervalRank {
    let walsh_count = n * (n + 1) / 2;
    let half = walsh_count as f64 / 2.0;
    let nf = n as f64;
    let sd = (nf * (nf + 1.0) * (2.0 * nf + 1.0) / 24.0).sqrt();
    let normal = Normal::standard();
    // confidence is in (0, 1), so the probability is in (0.5, 1) and the quantile finite.
    let z = normal.inverse_cdf((1.0 + confidence) / 2.0);
    let deepest = deepest_interval_rank(walsh_count);
    let k = (half + 0.5 - z * sd).floor().clamp(1.0, deepest as f64) as usize;
    IntervalRank {
        k,
        achieved_confidence: 1.0 - 2.0 * normal.cdf((k as f64 - 0.5 - half) / sd),
        method: Method::NormalApproximation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_close(actual: f64, expected: f64, tolerance: f64) {
        assert!(
            (actual - expected).abs() <= tolerance,
            "expected {expected} ± {tolerance}, got {actual}"
        );
    }

    /// Hamilton depression scale factor IV for 9 patients at the first (x) and second (y)
    /// visit: Hollander & Wolfe (1973), Nonparametric Statistical Methods, p. 29, the example
    /// of R's `?wilcox.test`.
    #[allow(clippy::approx_constant)] // 3.14 is a patient's score, not π.
    fn depression_differences() -> Vec<f64> {
        let x = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30];
        let y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29];
        x.iter().zip(&y).map(|(x, y)| x - y).collect()
    }

    #[test]
    fn wilcoxon_matches_r_on_the_hollander_wolfe_depression_data() {
        // R: wilcox.test(x, y, paired = TRUE) gives V = 40, p-value = 0.03906;
        // alternative = "greater" gives p-value = 0.01953. Exactly: the negative differences
        // -0.08 and -0.147 have ranks 2 and 3, so W- = 5 and W+ = 45 - 5 = 40; the subsets of
        // {1..9} summing to at most 5 number 1+1+1+2+2+3 = 10, so P(W+ >= 40) = 10/512.
        let test = wilcoxon_signed_rank(&depression_differences()).unwrap();
        assert_eq!(test.method, Method::Exact);
        assert_eq!(test.n, 9);
        assert_eq!(test.zeros_dropped, 0);
        assert_eq!(test.w_plus, 40.0);
        assert_eq!(test.w_minus, 5.0);
        assert_eq!(test.statistic, 40.0);
        assert_close(test.p_greater, 10.0 / 512.0, 1e-15);
        assert_close(test.p_two_sided, 20.0 / 512.0, 1e-15);
        assert_close(test.p_greater, 0.01953, 5e-6);
        assert_close(test.p_two_sided, 0.03906, 5e-6);
        // P(W+ <= 40) = 1 - P(W+ <= 4) = 1 - 7/512.
        assert_close(test.p_less, 505.0 / 512.0, 1e-15);
    }

    #[test]
    fn wilcoxon_with_ties_matches_r_normal_approximation() {
        // Published R output (stats.stackexchange.com question 270889):
        // wilcox.test(dat, conf.int = T, correct = T, exact = F, conf.level = .99) gives
        // "Wilcoxon signed rank test with continuity correction, V = 190, p-value = 0.0001419".
        // By hand: n = 19, all positive so W+ = 190; five pairs of ties, so the variance is
        // 19·20·39/24 - 5·(2³ - 2)/48 = 617.5 - 0.625 = 616.875, z = (190 - 95 - 0.5)/√616.875
        // = 3.8048 and p = 2·(1 - Φ(3.8048)) = 1.4191e-4.
        let dat = [
            2.10, 2.35, 2.35, 3.10, 3.10, 3.15, 3.90, 3.90, 4.00, 4.80, 5.00, 5.00, 5.15, 5.35,
            5.50, 6.00, 6.00, 6.25, 6.45,
        ];
        let test = wilcoxon_signed_rank(&dat).unwrap();
        assert_eq!(test.method, Method::NormalApproximation);
        assert_eq!(test.n, 19);
        assert_eq!(test.w_plus, 190.0);
        assert_eq!(test.w_minus, 0.0);
        assert_close(test.p_two_sided, 0.0001419, 5e-8);
        assert_close(test.p_greater, 0.0001419 / 2.0, 5e-8);
    }

    #[test]
    fn wilcoxon_drops_zeros_and_averages_tied_ranks() {
        // Ten differences with a zero and a tie; every expected value derived here by hand.
        // The zero is dropped (n = 9) and the two 5s share rank 1.5, so
        // W+ = 7 + 1.5 + 9 + 8 + 1.5 = 27 and W- = 3 + 4 + 6 + 5 = 18. The tie rules out the
        // exact method: mean 22.5, variance 9·10·19/24 - (2³ - 2)/48 = 71.125,
        // z = (27 - 22.5 - 0.5)/√71.125 = 0.474295, p = erfc(z/√2) = 0.6352893.
        let d = [15.0, -7.0, 5.0, 20.0, 0.0, -9.0, 17.0, -12.0, 5.0, -10.0];
        let test = wilcoxon_signed_rank(&d).unwrap();
        assert_eq!(test.method, Method::NormalApproximation);
        assert_eq!((test.n, test.zeros_dropped), (9, 1));
        assert_eq!((test.w_plus, test.w_minus), (27.0, 18.0));
        assert_close(test.p_two_sided, 0.635_289_3, 1e-6);
    }

    #[test]
    fn wilcoxon_large_n_uses_the_normal_approximation() {
        // d = ±1..±30 with 1..10 negative: W- = 55, W+ = 465 - 55 = 410, no ties.
        // Derived by hand: mean 232.5, variance 30·31·61/24 = 2363.75, so
        // p_greater = 1 - Φ((410 - 232.5 - 0.5)/48.6184) = 1 - Φ(3.64058) = 1.36004e-4,
        // p_two_sided = 2.72008e-4, p_less = Φ((410 - 232.5 + 0.5)/48.6184) = 0.99987446.
        // For comparison, the exact P(W+ >= 410) counted over 2^30 patterns is 4.95e-5.
        let d: Vec<f64> = (1..=30)
            .map(|i| if i <= 10 { -f64::from(i) } else { f64::from(i) })
            .collect();
        let test = wilcoxon_signed_rank(&d).unwrap();
        assert_eq!(test.method, Method::NormalApproximation);
        assert_eq!((test.w_plus, test.w_minus), (410.0, 55.0));
        assert_close(test.p_greater, 1.360_038e-4, 1e-9);
        assert_close(test.p_two_sided, 2.720_076e-4, 2e-9);
        assert_close(test.p_less, 0.999_874_464, 1e-8);
        assert_close(SignedRankNull::count(30).at_least(410), 4.951_283e-5, 1e-10);
    }

    #[test]
    fn exact_distribution_reproduces_published_critical_values() {
        // University of York, Department of Mathematics, "Critical Values for T in the
        // Wilcoxon Matched-Pairs Signed-Rank Test", two-tailed P = 0.05: the largest T with
        // P(W+ <= T) <= 0.025, for n = 6..=25.
        let published = [
            0, 2, 3, 5, 8, 10, 13, 17, 21, 25, 29, 34, 40, 46, 52, 58, 65, 73, 81, 89,
        ];
        for (n, expected) in (6..=25).zip(published) {
            let null = SignedRankNull::count(n);
            let critical = (0..=null.largest_sum())
                .take_while(|&t| null.at_most(t) <= 0.025)
                .last();
            assert_eq!(critical, Some(expected), "n = {n}");
        }
    }

    #[test]
    fn exact_distribution_matches_brute_force_enumeration() {
        for n in 1..=12_usize {
            let null = SignedRankNull::count(n);
            let mut brute = vec![0_u64; n * (n + 1) / 2 + 1];
            for signs in 0_u32..(1 << n) {
                let sum: usize = (1..=n).filter(|rank| signs & (1 << (rank - 1)) != 0).sum();
                brute[sum] += 1;
            }
            assert_eq!(null.counts, brute, "n = {n}");
        }
    }

    #[test]
    fn hodges_lehmann_matches_r_on_the_hollander_wolfe_depression_data() {
        // R: wilcox.test(x, y, paired = TRUE, conf.int = TRUE) reports the (pseudo)median
        // 0.46. R's exact interval (stats:::wilcox.test.default) is [diffs[qu], diffs[M+1-qu]]
        // over the 45 sorted Walsh averages with qu = qsignrank(0.025, 9) = 6, at achieved
        // confidence 1 - 2·psignrank(5, 9) = 1 - 20/512 = 0.9609375. Enumerated: the sorted
        // Walsh averages start -0.147, -0.1135, -0.08, -0.0685, -0.035, 0.01 and end 1.022,
        // 0.987, 0.952, 0.821, 0.806, 0.786; the 23rd of 45 is 0.46. So the interval is
        // [0.010, 0.786].
        let hl = hodges_lehmann(&depression_differences(), 0.95).unwrap();
        assert_eq!(hl.method, Method::Exact);
        assert_close(hl.estimate, 0.46, 1e-12);
        assert_close(hl.lower, 0.010, 1e-12);
        assert_close(hl.upper, 0.786, 1e-12);
        assert_close(hl.achieved_confidence, 1.0 - 20.0 / 512.0, 1e-15);
    }

    #[test]
    fn hodges_lehmann_on_hand_computed_sets() {
        // Walsh averages of [1, 2, 3]: 1, 1.5, 2, 2, 2.5, 3; median 2.
        assert_eq!(hodges_lehmann(&[1.0, 2.0, 3.0], 0.5).unwrap().estimate, 2.0);
        // Of [3, 1]: 1, 2, 3; median 2 (order of the input does not matter).
        assert_eq!(hodges_lehmann(&[3.0, 1.0], 0.5).unwrap().estimate, 2.0);
        // Of [0, 0, 0, 0, 1]: ten 0s, four 0.5s and one 1; median 0. Zeros count.
        assert_eq!(
            hodges_lehmann(&[0.0, 0.0, 0.0, 0.0, 1.0], 0.5)
                .unwrap()
                .estimate,
            0.0
        );
        // Of [1, 2, 3, 4]: 1, 1.5, 2, 2, 2.5, 2.5, 3, 3, 3.5, 4; median (2.5 + 2.5)/2.
        assert_eq!(
            hodges_lehmann(&[1.0, 2.0, 3.0, 4.0], 0.5).unwrap().estimate,
            2.5
        );
    }

    #[test]
    fn hodges_lehmann_reports_a_shortfall_when_n_is_too_small() {
        // n = 3: P(W+ <= 0) = 1/8, so even the full range [1, 3] covers only 1 - 2/8 = 0.75.
        let hl = hodges_lehmann(&[1.0, 2.0, 3.0], 0.95).unwrap();
        assert_eq!((hl.lower, hl.upper), (1.0, 3.0));
        assert_close(hl.achieved_confidence, 0.75, 1e-15);
    }

    #[test]
    fn hodges_lehmann_large_n_uses_the_normal_rank() {
        // n = 30, 95 %: M = 465, σ = √2363.75 = 48.6184, z = 1.959964, so
        // k = ⌊232.5 + 0.5 - 95.2904⌋ = 137 and coverage ≈ 1 - 2Φ((137 - 0.5 - 232.5)/σ)
        // = 0.951682. The exact coverage of k = 137 is 0.952741 (of 138 it would be 0.950290).
        let bound = interval_rank(30, 0.95);
        assert_eq!(bound.method, Method::NormalApproximation);
        assert_eq!(bound.k, 137);
        assert_close(bound.achieved_confidence, 0.951_682, 1e-6);

        let d: Vec<f64> = (1..=30).map(f64::from).collect();
        let hl = hodges_lehmann(&d, 0.95).unwrap();
        let walsh = sorted_walsh_averages(&d);
        assert_eq!(hl.lower, walsh[136]);
        assert_eq!(hl.upper, walsh[465 - 137]);
        assert_eq!(hl.estimate, 15.5);
    }

    #[test]
    fn exact_and_normal_interval_ranks_agree_at_the_switch() {
        // n = 25: the published critical value 89 (York table above) gives k = 90 exactly;
        // the normal rank is ⌊162.5 + 0.5 - 1.959964·√1381.25⌋ = ⌊90.16⌋ = 90.
        assert_eq!(interval_rank(25, 0.95).k, 90);
        assert_eq!(normal_interval_rank(25, 0.95).k, 90);
    }

    #[test]
    fn holm_matches_the_wikipedia_example() {
        // Wikipedia, "Holm–Bonferroni method", example: p = 0.01, 0.04, 0.03, 0.005.
        // Sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 -> max 0.06.
        let adjusted = holm(&[0.01, 0.04, 0.03, 0.005]);
        let expected = [0.03, 0.06, 0.06, 0.02];
        for (actual, expected) in adjusted.iter().zip(expected) {
            assert_close(*actual, expected, 1e-15);
        }
    }

    #[test]
    fn holm_caps_at_one_and_treats_nan_as_no_evidence() {
        assert_eq!(holm(&[0.5, 0.6]), vec![1.0, 1.0]);
        assert_eq!(holm(&[]), Vec::<f64>::new());
        assert_eq!(holm(&[0.01, f64::NAN]), vec![0.02, 1.0]);
        assert_eq!(holm(&[-0.5, 2.0]), vec![0.0, 1.0]);
    }

    #[test]
    fn severity_boundaries() {
        assert_eq!(Thresholds::DEFAULT.classify(0.0999), None);
        assert_eq!(Thresholds::DEFAULT.classify(0.10), Some(Severity::Minor));
        assert_eq!(Thresholds::DEFAULT.classify(0.1999), Some(Severity::Minor));
        assert_eq!(Thresholds::DEFAULT.classify(0.20), Some(Severity::Major));
        assert_eq!(Thresholds::DEFAULT.classify(0.4999), Some(Severity::Major));
        assert_eq!(Thresholds::DEFAULT.classify(0.50), Some(Severity::Critical));
        assert_eq!(Thresholds::DEFAULT.classify(3.0), Some(Severity::Critical));
        assert_eq!(Thresholds::DEFAULT.classify(-0.6), None);
        assert_eq!(Thresholds::DEFAULT.classify(f64::NAN), None);
        assert_eq!(
            Thresholds::DEFAULT.classify(f64::INFINITY),
            Some(Severity::Critical)
        );
        assert!(Severity::Minor < Severity::Major && Severity::Major < Severity::Critical);
    }

    #[test]
    fn severity_from_a_log_ratio_bound() {
        // A lower bound of ln 1.25 on the log-ratio is a 25 % slowdown at least: major.
        let change = relative_change(1.25_f64.ln());
        assert_close(change, 0.25, 1e-15);
        assert_eq!(Thresholds::DEFAULT.classify(change), Some(Severity::Major));
    }

    #[test]
    fn thresholds_are_checked() {
        assert_eq!(Thresholds::new(0.10, 0.20, 0.50), Ok(Thresholds::DEFAULT));
        assert_eq!(Thresholds::default(), Thresholds::DEFAULT);
        assert!(Thresholds::new(0.0, 0.2, 0.5).is_err());
        assert!(Thresholds::new(0.3, 0.2, 0.5).is_err());
        assert!(Thresholds::new(0.1, f64::NAN, 0.5).is_err());
        let custom = Thresholds::new(0.05, 0.05, 1.0).unwrap();
        assert_eq!(custom.classify(0.05), Some(Severity::Major));
    }

    #[test]
    fn degenerate_input_gives_none() {
        assert_eq!(wilcoxon_signed_rank(&[]), None);
        assert_eq!(wilcoxon_signed_rank(&[0.0, 0.0, -0.0]), None);
        assert_eq!(wilcoxon_signed_rank(&[0.1, f64::NAN]), None);
        assert_eq!(wilcoxon_signed_rank(&[0.1, f64::INFINITY]), None);

        assert_eq!(hodges_lehmann(&[], 0.95), None);
        assert_eq!(hodges_lehmann(&[0.1, f64::NAN], 0.95), None);
        assert_eq!(hodges_lehmann(&[0.1, f64::NEG_INFINITY], 0.95), None);
        for confidence in [0.0, 1.0, -0.5, 1.5, f64::NAN] {
            assert_eq!(hodges_lehmann(&[0.1, 0.2], confidence), None);
        }
        assert_eq!(hodges_lehmann(&vec![0.1; WALSH_MAX_N + 1], 0.95), None);
    }

    #[test]
    fn tiny_and_constant_input_stays_well_defined() {
        // One positive difference: W+ = 1, P(W+ >= 1) = 1/2.
        let one = wilcoxon_signed_rank(&[0.3]).unwrap();
        assert_eq!(one.method, Method::Exact);
        assert_eq!(
            (one.p_greater, one.p_less, one.p_two_sided),
            (0.5, 1.0, 1.0)
        );

        // All equal: one tie group of n, normal approximation, variance still positive.
        let constant = wilcoxon_signed_rank(&[0.2; 40]).unwrap();
        assert_eq!(constant.method, Method::NormalApproximation);
        assert!(constant.p_greater < 1e-6);

        let hl = hodges_lehmann(&[0.0; 10], 0.95).unwrap();
        assert_eq!((hl.estimate, hl.lower, hl.upper), (0.0, 0.0, 0.0));
        let single = hodges_lehmann(&[0.7], 0.95).unwrap();
        assert_eq!(
            (single.estimate, single.lower, single.upper),
            (0.7, 0.7, 0.7)
        );
    }
}
