//! Figures per test and server, the ratios of AllFrame to each reference round by round, and
//! the verdicts against quality.toml.

use serde::Serialize;

use super::load::Sample;
use crate::config::TfbTest;
use crate::level::Level;
use crate::summary::Table;

/// The samples of one server on one test, one per round.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ServerRuns {
    pub(crate) server: String,
    pub(crate) samples: Vec<Sample>,
}

/// One test's load results.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TestRuns {
    pub(crate) test: String,
    /// AllFrame's first, then the references.
    pub(crate) servers: Vec<ServerRuns>,
}

/// A median with the range it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Spread {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

impl Spread {
    pub(crate) fn of(values: impl IntoIterator<Item = f64>) -> Option<Self> {
        let mut values: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median = if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        };
        Some(Self {
            median,
            min: values[0],
            max: values[n - 1],
        })
    }

    fn show(self, digits: usize) -> String {
        format!(
            "{:.digits$} ({:.digits$}-{:.digits$})",
            self.median, self.min, self.max
        )
    }
}

/// AllFrame against one reference on one test, ratios taken round by round.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Ratio {
    pub(crate) test: String,
    pub(crate) reference: String,
    /// Reference CPU per request / AllFrame's: above 1.0, AllFrame spends less.
    pub(crate) cpu: Option<Spread>,
    pub(crate) min_cpu: Option<f64>,
    /// AllFrame's req/s / the reference's.
    pub(crate) rps: Option<Spread>,
    pub(crate) min_rps: Option<f64>,
    pub(crate) level: Level,
}

/// A verdict worth a line of its own under the tables.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Verdict {
    pub(crate) level: Level,
    pub(crate) message: String,
}

/// The ratios of `runs` (AllFrame first) against each reference; with `judge`, each is held
/// to the test's goals (a smoke run is too short to judge).
pub(crate) fn ratios(runs: &TestRuns, goals: &TfbTest, judge: bool) -> Vec<Ratio> {
    let Some((ours, references)) = runs.servers.split_first() else {
        return Vec::new();
    };
    references
        .iter()
        .map(|reference| {
            let rounds = ours.samples.iter().zip(&reference.samples);
            let cpu = Spread::of(
                rounds
                    .clone()
                    .map(|(a, r)| r.server_cpu_us_per_request / a.server_cpu_us_per_request),
            );
            let rps = Spread::of(rounds.map(|(a, r)| a.requests_per_sec / r.requests_per_sec));
            let min_cpu = goals.min_cpu_ratio.get(&reference.server).copied();
            let min_rps = goals.min_rps_ratio.get(&reference.server).copied();
            let below = |spread: Option<Spread>, min: Option<f64>| match (spread, min) {
                (Some(s), Some(min)) => s.median < min,
                _ => false,
            };
            let level = if judge && (below(cpu, min_cpu) || below(rps, min_rps)) {
                Level::Failure
            } else {
                Level::Ok
            };
            Ratio {
                test: runs.test.clone(),
                reference: reference.server.clone(),
                cpu,
                min_cpu,
                rps,
                min_rps,
                level,
            }
        })
        .collect()
}

/// Load errors and the req/s target of AllFrame's server on one test.
pub(crate) fn verdicts(runs: &TestRuns, goals: &TfbTest, judge: bool) -> Vec<Verdict> {
    let mut out = Vec::new();
    for server in &runs.servers {
        let errors: u64 = server.samples.iter().map(|s| s.errors).sum();
        let non_2xx: u64 = server.samples.iter().map(|s| s.non_2xx).sum();
        if errors + non_2xx > 0 {
            out.push(Verdict {
                // Ours fails the run; a reference's errors make its ratio suspect.
                level: if server.server == runs.servers[0].server {
                    Level::Failure
                } else {
                    Level::Warning
                },
                message: format!(
                    "{} on {}: {errors} connection errors and {non_2xx} non-2xx responses under load",
                    server.server, runs.test
                ),
            });
        }
    }
    let ours = runs.servers.first();
    let median_rps = ours.and_then(|s| Spread::of(s.samples.iter().map(|s| s.requests_per_sec)));
    if let (true, Some(target), Some(ours), Some(rps)) = (judge, goals.target_rps, ours, median_rps)
        && rps.median < target
    {
        out.push(Verdict {
            level: Level::Warning,
            message: format!(
                "{} on {}: {:.0} req/s is under the target of {target:.0}",
                ours.server, runs.test, rps.median
            ),
        });
    }
    out
}

/// The figures table: one row per test and server, medians over the rounds.
pub(crate) fn figures_table(all: &[TestRuns], rounds: usize) -> Table {
    let mut table = Table::new(
        &format!("TechEmpower: median of {rounds} round(s) (min-max)"),
        &[
            "test",
            "server",
            "req/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "errors",
            "non-2xx",
            "CPU us/req",
            "loadgen busy",
        ],
    );
    for runs in all {
        for server in &runs.servers {
            let s = &server.samples;
            let spread = |f: fn(&Sample) -> f64| Spread::of(s.iter().map(f));
            let show = |f: fn(&Sample) -> f64, digits| {
                spread(f).map_or_else(|| "-".to_owned(), |v| v.show(digits))
            };
            let median = |f: fn(&Sample) -> f64, digits: usize| {
                spread(f).map_or_else(|| "-".to_owned(), |v| format!("{:.digits$}", v.median))
            };
            table.row(vec![
                runs.test.clone(),
                server.server.clone(),
                show(|s| s.requests_per_sec, 0),
                median(|s| s.latency_us.p50 / 1000.0, 2),
                median(|s| s.latency_us.p99 / 1000.0, 2),
                median(|s| s.latency_us.max / 1000.0, 1),
                s.iter().map(|s| s.errors).sum::<u64>().to_string(),
                s.iter().map(|s| s.non_2xx).sum::<u64>().to_string(),
                show(|s| s.server_cpu_us_per_request, 2),
                median(|s| s.loadgen_busy * 100.0, 0) + " %",
            ]);
        }
    }
    table
}

/// The ratios table.
pub(crate) fn ratio_table(ratios: &[Ratio]) -> Table {
    let mut table = Table::new(
        "TechEmpower: AllFrame against each reference, round by round (median, min-max)",
        &[
            "test",
            "vs",
            "CPU/req ratio",
            "goal",
            "req/s ratio",
            "goal",
            "verdict",
        ],
    );
    let show = |s: Option<Spread>| s.map_or_else(|| "-".to_owned(), |s| s.show(2));
    let goal = |g: Option<f64>| g.map_or_else(|| "-".to_owned(), |g| format!(">= {g:.2}"));
    for r in ratios {
        table.row(vec![
            r.test.clone(),
            r.reference.clone(),
            show(r.cpu),
            goal(r.min_cpu),
            show(r.rps),
            goal(r.min_rps),
            r.level.label().to_owned(),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::techempower::load::Latency;

    fn sample(rps: f64, cpu: f64) -> Sample {
        Sample {
            requests: 1000,
            requests_per_sec: rps,
            latency_us: Latency {
                p50: 100.0,
                p99: 900.0,
                max: 2000.0,
            },
            errors: 0,
            non_2xx: 0,
            server_cpu_us_per_request: cpu,
            loadgen_busy: 0.5,
        }
    }

    fn goals() -> TfbTest {
        TfbTest {
            name: "json".into(),
            connections: 8,
            pipeline: 1,
            target_rps: Some(150.0),
            min_cpu_ratio: [("axum".to_owned(), 1.0)].into(),
            min_rps_ratio: [("axum".to_owned(), 0.9)].into(),
        }
    }

    fn runs(ours: &[(f64, f64)], axum: &[(f64, f64)]) -> TestRuns {
        let samples = |v: &[(f64, f64)]| v.iter().map(|(r, c)| sample(*r, *c)).collect();
        TestRuns {
            test: "json".into(),
            servers: vec![
                ServerRuns {
                    server: "allframe".into(),
                    samples: samples(ours),
                },
                ServerRuns {
                    server: "axum".into(),
                    samples: samples(axum),
                },
            ],
        }
    }

    #[test]
    fn the_median_and_range_of_rounds() {
        let s = Spread::of([3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(Spread::of([1.0, 4.0]).unwrap().median, 2.5);
        assert_eq!(Spread::of([f64::NAN]), None);
    }

    #[test]
    fn ratios_are_taken_round_by_round() {
        // Round 2 is slow for both (a noisy neighbour): the pairing cancels it out.
        let r = runs(
            &[(200.0, 8.0), (100.0, 16.0), (200.0, 8.0)],
            &[(180.0, 9.0), (90.0, 18.0), (180.0, 9.0)],
        );
        let ratios = ratios(&r, &goals(), true);
        let cpu = ratios[0].cpu.unwrap();
        assert!((cpu.median - 1.125).abs() < 1e-9 && (cpu.max - cpu.min).abs() < 1e-9);
        assert_eq!(ratios[0].level, Level::Ok);
    }

    #[test]
    fn a_ratio_under_its_goal_fails_only_when_judged() {
        let r = runs(&[(100.0, 10.0); 3], &[(100.0, 8.0); 3]);
        assert_eq!(ratios(&r, &goals(), true)[0].level, Level::Failure);
        assert_eq!(ratios(&r, &goals(), false)[0].level, Level::Ok);
    }

    #[test]
    fn errors_and_a_missed_target_are_verdicts() {
        let mut r = runs(&[(100.0, 8.0); 3], &[(100.0, 8.0); 3]);
        r.servers[0].samples[1].non_2xx = 3;
        let v = verdicts(&r, &goals(), true);
        assert!(
            v.iter()
                .any(|v| v.level == Level::Failure && v.message.contains("3 non-2xx"))
        );
        assert!(
            v.iter()
                .any(|v| v.level == Level::Warning && v.message.contains("target"))
        );
        assert!(verdicts(&runs(&[(200.0, 8.0); 3], &[(1.0, 1.0)]), &goals(), true).is_empty());
    }
}
