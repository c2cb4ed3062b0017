//! Where a series moved: PELT (Killick, Fearnhead & Eckley 2012) over each environment's
//! points with a squared-error cost, then every step no larger than the series' own noise
//! merged away. An exact series (bytes of a binary) has no noise, so any step is a change; a
//! counted or wall-clock one has to move by more than three times its spread.
//!
//! Written here rather than taken from the `pelt` crate: its 0.3.4 answers `NotEnoughPoints`
//! for the exact search (`jump` 1) at every minimum segment length, and its approximate one
//! cannot place a step on the last commit, which is the one a pull request adds.

use serde::Serialize;

use super::series::{Better, Noise, Point, Series};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Change {
    /// The last stop before the change and the first after it: the commit range to read.
    pub(crate) before_stop: usize,
    pub(crate) after_stop: usize,
    /// The median of the segment before and of the segment after.
    pub(crate) before: f64,
    pub(crate) after: f64,
    /// Whether the move is towards the figure's better side.
    pub(crate) improvement: bool,
}

impl Change {
    pub(crate) fn percent(&self) -> f64 {
        if self.before == 0.0 {
            0.0
        } else {
            (self.after - self.before) / self.before.abs() * 100.0
        }
    }
}

/// The change points of `series`, oldest first, found per environment.
pub(crate) fn detect(series: &Series) -> Vec<Change> {
    let mut environments: Vec<usize> = series.points.iter().map(|p| p.environment).collect();
    environments.sort_unstable();
    environments.dedup();
    let mut changes = Vec::new();
    for environment in environments {
        let (points, values, threshold) = judged(series, environment);
        let Some(threshold) = threshold else {
            continue;
        };
        for (start, before, after) in steps(&values, threshold, series.noise) {
            changes.push(Change {
                before_stop: points[start - 1].stop,
                after_stop: points[start].stop,
                before,
                after,
                improvement: (after < before) == (series.better == Better::Lower),
            });
        }
    }
    changes.sort_by_key(|c| c.after_stop);
    changes
}

/// The points of `series` in `environment` that are judged, their values, and the smallest
/// move that counts among them.
pub(crate) fn judged(series: &Series, environment: usize) -> (Vec<&Point>, Vec<f64>, Option<f64>) {
    let points: Vec<&Point> = series
        .judged_points()
        .filter(|p| p.environment == environment)
        .collect();
    let values: Vec<f64> = points.iter().map(|p| p.value).collect();
    let half_widths: Vec<f64> = points
        .iter()
        .filter_map(|p| Some((p.high? - p.low?) / 2.0))
        .collect();
    let threshold = threshold(&values, &half_widths, series.noise);
    (points, values, threshold)
}

/// The smallest step that counts: a hair above zero for an exact series; for the others
/// three times the noise, the larger of the point-to-point scatter (a robust standard
/// deviation from successive differences) and the points' own intervals, and at least 1%. `None` when a timed series has too few points
/// to know its noise.
pub(crate) fn threshold(values: &[f64], half_widths: &[f64], noise: Noise) -> Option<f64> {
    let scale = median(values.iter().map(|v| v.abs()).collect())
        .unwrap_or(0.0)
        .max(1.0);
    let floor = match noise {
        Noise::Exact => return Some(scale * 1e-9),
        // Three runs of one build on this machine counted command_bus/execute at 1,786 to
        // 1,797 instructions (0.6%; `cargo xtask report` after `cargo xtask ci`): under 1%
        // is not a change.
        Noise::Counted => scale * 1e-2,
        Noise::Timed => scale * 1e-2,
    };
    if values.len() < 4 {
        return (noise == Noise::Counted).then_some(floor);
    }
    let differences: Vec<f64> = values.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    // MAD of differences: 1.4826 for a normal spread, sqrt(2) because a difference carries
    // the noise of two points. A quantized figure (pages of RSS, whole microseconds) often
    // repeats itself, which makes the median 0: its mean difference is the spread then.
    let mad = median(differences.clone()).unwrap_or(0.0);
    let typical = if mad > 0.0 {
        mad * 1.4826
    } else {
        differences.iter().sum::<f64>() / differences.len() as f64
    };
    let scatter = typical / std::f64::consts::SQRT_2;
    // A 95% interval's half-width is 1.96 standard deviations.
    let interval = median(half_widths.to_vec()).unwrap_or(0.0) / 1.96;
    Some((3.0 * scatter.max(interval)).max(floor))
}

/// Segments of `values` whose medians differ by more than `threshold`: each step as (index
/// of its first value, median before, median after).
pub(crate) fn steps(values: &[f64], threshold: f64, noise: Noise) -> Vec<(usize, f64, f64)> {
    if values.len() < 2 {
        return Vec::new();
    }
    // A penalty of one threshold squared per segment: a split must explain more squared
    // error than a step of the smallest size that counts between two points.
    let mut starts = pelt(values, threshold * threshold);
    loop {
        let medians = segment_medians(values, &starts);
        // Merge the smallest sub-threshold step.
        let smallest = (1..medians.len())
            .map(|i| (i, (medians[i] - medians[i - 1]).abs()))
            .filter(|(_, step)| *step <= threshold)
            .min_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((i, _)) = smallest {
            starts.remove(i - 1);
            continue;
        }
        // In a noisy series one point between two like neighbours is an outlier, not a
        // regression and its recovery; the last point may stand alone (a new commit).
        let bounds: Vec<usize> = std::iter::once(0)
            .chain(starts.iter().copied())
            .chain(std::iter::once(values.len()))
            .collect();
        let outlier = (noise != Noise::Exact)
            .then(|| {
                (1..medians.len().saturating_sub(1)).find(|&i| {
                    bounds[i + 1] - bounds[i] == 1
                        && (medians[i + 1] - medians[i - 1]).abs() <= threshold
                })
            })
            .flatten();
        if let Some(i) = outlier {
            // Segment i is values[starts[i-1]..starts[i]]: both its ends go.
            starts.drain(i - 1..=i);
            continue;
        }
        return starts
            .iter()
            .enumerate()
            .map(|(i, &start)| (start, medians[i], medians[i + 1]))
            .collect();
    }
}

fn segment_medians(values: &[f64], starts: &[usize]) -> Vec<f64> {
    let bounds: Vec<usize> = std::iter::once(0)
        .chain(starts.iter().copied())
        .chain(std::iter::once(values.len()))
        .collect();
    bounds
        .windows(2)
        .map(|w| median(values[w[0]..w[1]].to_vec()).unwrap_or(0.0))
        .collect()
}

/// Exact PELT with a squared-error cost: the starts of every segment but the first.
fn pelt(values: &[f64], penalty: f64) -> Vec<usize> {
    let n = values.len();
    // Sums of squares of raw values lose a one-byte step of a 5 MB binary to rounding:
    // the sums are taken about the first value.
    let origin = values[0];
    let mut sum = vec![0.0; n + 1];
    let mut squares = vec![0.0; n + 1];
    for (i, v) in values.iter().map(|v| v - origin).enumerate() {
        sum[i + 1] = sum[i] + v;
        squares[i + 1] = squares[i] + v * v;
    }
    let cost = |a: usize, b: usize| {
        let s = sum[b] - sum[a];
        (squares[b] - squares[a] - s * s / (b - a) as f64).max(0.0)
    };
    // best[t]: the least cost of values[..t]; last[t]: where its last segment starts.
    let mut best = vec![0.0; n + 1];
    let mut last = vec![0usize; n + 1];
    best[0] = -penalty;
    let mut candidates = vec![0usize];
    for t in 1..=n {
        let (start, total) = candidates
            .iter()
            .map(|&s| (s, best[s] + cost(s, t) + penalty))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("0 is always a candidate until pruned by a better one");
        best[t] = total;
        last[t] = start;
        // Pruning: a start that is already worse than the best cannot become the best later.
        candidates.retain(|&s| best[s] + cost(s, t) <= best[t]);
        candidates.push(t);
    }
    let mut starts = Vec::new();
    let mut t = n;
    while last[t] > 0 {
        starts.push(last[t]);
        t = last[t];
    }
    starts.reverse();
    starts
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Noise that looks normal, the same on every run: xorshift and Box-Muller.
    fn noise(n: usize, sigma: f64) -> Vec<f64> {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        (0..n)
            .map(|_| {
                let (u, v) = (next().max(1e-12), next());
                sigma * (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
            })
            .collect()
    }

    #[test]
    fn a_deterministic_series_flags_a_one_byte_step_even_on_its_last_point() {
        let mut values = vec![871_728.0; 12];
        values.push(871_729.0);
        let threshold = threshold(&values, &[], Noise::Exact).unwrap();
        assert_eq!(
            steps(&values, threshold, Noise::Exact),
            vec![(12, 871_728.0, 871_729.0)]
        );
        assert!(steps(&[871_728.0; 13], threshold, Noise::Exact).is_empty());
    }

    #[test]
    fn a_noisy_flat_series_has_no_change_and_a_step_beyond_its_noise_is_found_where_it_is() {
        let flat: Vec<f64> = noise(60, 2.0).iter().map(|n| 1000.0 + n).collect();
        let threshold_flat = threshold(&flat, &[], Noise::Timed).unwrap();
        assert!(
            steps(&flat, threshold_flat, Noise::Timed).is_empty(),
            "{:?}",
            steps(&flat, threshold_flat, Noise::Timed)
        );

        let stepped: Vec<f64> = flat
            .iter()
            .enumerate()
            .map(|(i, v)| if i >= 40 { v + 20.0 } else { *v })
            .collect();
        let threshold_step = threshold(&stepped, &[], Noise::Timed).unwrap();
        let found = steps(&stepped, threshold_step, Noise::Timed);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, 40);
        assert!((found[0].2 - found[0].1 - 20.0).abs() < 3.0, "{found:?}");
    }

    #[test]
    fn a_step_smaller_than_the_measurements_own_intervals_is_not_a_change() {
        let values: Vec<f64> = (0..20)
            .map(|i| if i < 10 { 100.0 } else { 103.0 })
            .collect();
        // Each point's 95% interval is ±10: a step of 3 is inside the noise.
        let threshold = threshold(&values, &[10.0; 20], Noise::Timed).unwrap();
        assert!(steps(&values, threshold, Noise::Timed).is_empty());
    }

    #[test]
    fn a_one_byte_step_of_a_large_binary_survives_rounding() {
        let mut values = vec![5_570_000.0; 500];
        values.push(5_570_001.0);
        let threshold = threshold(&values, &[], Noise::Exact).unwrap();
        assert_eq!(
            steps(&values, threshold, Noise::Exact),
            vec![(500, 5_570_000.0, 5_570_001.0)]
        );
    }

    #[test]
    fn one_outlier_is_not_a_regression_and_its_recovery() {
        let mut values: Vec<f64> = noise(60, 2.0).iter().map(|n| 1000.0 + n).collect();
        values[30] += 12.0;
        let threshold = threshold(&values, &[], Noise::Timed).unwrap();
        assert!(steps(&values, threshold, Noise::Timed).is_empty());
        // The newest point alone may be a change: that is the commit being judged.
        let mut last = vec![1000.0; 30];
        last.push(1200.0);
        let counted = super::threshold(&last, &[], Noise::Counted).unwrap();
        assert_eq!(
            steps(&last, counted, Noise::Counted),
            vec![(30, 1000.0, 1200.0)]
        );
    }

    #[test]
    fn a_quantized_series_that_repeats_itself_is_not_all_change() {
        // Idle RSS in 4 KiB pages: one page more once is noise.
        let mut values = vec![8_192_000.0; 10];
        values.push(8_196_096.0);
        values.extend([8_192_000.0; 10]);
        let threshold = threshold(&values, &[], Noise::Timed).unwrap();
        assert!(
            steps(&values, threshold, Noise::Timed).is_empty(),
            "{threshold}"
        );
    }

    #[test]
    fn a_noisy_series_too_short_to_know_its_noise_reports_nothing() {
        assert_eq!(threshold(&[1.0, 2.0, 50.0], &[], Noise::Timed), None);
        // A count needs no history to know that 1% is beyond its noise.
        assert_eq!(
            threshold(&[1000.0, 1000.0, 1010.0], &[], Noise::Counted),
            Some(10.0)
        );
    }
}
