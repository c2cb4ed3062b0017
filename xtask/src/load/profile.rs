//! One load profile's runs and their judgement: the generator schedules a profile makes
//! (one run, or a stress's steps and its recovery run), and the figures read from them.

use anyhow::Result;
use serde::Serialize;

use super::Profile;
use super::target::{Generator, Run, Server};
use crate::config::Load;
use crate::level::Level;

/// How long a profile runs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Timing {
    /// As quality.toml gives it.
    Full,
    /// A few seconds each, keeping the profile's shape (CI).
    Smoke,
    /// Every phase scaled by this factor (`--duration`, `--against`).
    Scaled(f64),
}

impl Timing {
    /// A phase of `seconds` in quality.toml, `smoke_seconds` in a smoke.
    fn of(self, seconds: f64, smoke_seconds: f64) -> f64 {
        match self {
            Timing::Full => seconds,
            Timing::Smoke => smoke_seconds,
            Timing::Scaled(k) => seconds * k,
        }
    }

    /// The factor that makes `profile` last `seconds` in all.
    pub(crate) fn lasting(load: &Load, profile: Profile, seconds: f64) -> Self {
        let nominal = match profile {
            Profile::Sustained => load.sustained.seconds,
            Profile::Soak => load.soak.seconds,
            Profile::Spike => {
                let s = &load.spike;
                s.before_seconds + s.spike_seconds + s.after_seconds
            }
            // Its steps and the recovery run (two steps long).
            Profile::Stress => load.stress.step_seconds * (load.stress.steps + 2) as f64,
        };
        Timing::Scaled(seconds / nominal)
    }
}

/// Runs `profile` against `server` (a fresh one, stopped afterwards) and judges it.
pub(crate) fn run(
    load: &Load,
    profile: Profile,
    timing: Timing,
    server: Box<dyn Server>,
    generator: &Generator,
) -> Result<Figures> {
    let mut runs = Vec::new();
    let planned = schedule(load, profile, timing);
    let last = planned.len() - 1;
    let mut broke = false;
    for (i, (flags, rate)) in planned.iter().enumerate() {
        // Past a stress's breaking point, straight to its recovery run.
        if broke && i < last {
            continue;
        }
        eprintln!("load {}: {}", profile.name(), flags.join(" "));
        let run = generator.run(server.as_ref(), flags)?;
        broke |= profile == Profile::Stress && i < last && stress_stop(load, &run).is_some();
        runs.push((*rate, run));
    }
    server.stop()?;
    Ok(judge(load, profile, &runs, timing))
}

/// One profile's figures: what the table, the JSON and the history carry.
#[derive(Debug, Serialize)]
pub(crate) struct Figures {
    pub(crate) profile: Profile,
    pub(crate) achieved_rate: f64,
    pub(crate) error_rate: f64,
    pub(crate) p50_us: u64,
    pub(crate) p95_us: u64,
    pub(crate) p99_us: u64,
    pub(crate) p999_us: u64,
    pub(crate) uncorrected_p99_us: u64,
    /// spike: the worst second's p99 before, during and after, and the seconds from the
    /// spike's end to the first second back under the SLO.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) phases_p99_us: Option<[u64; 3]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) recovery_s: Option<f64>,
    /// stress: the last rate within the SLO, and what broke first above it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) breaking_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) broke_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) recovered: Option<bool>,
    /// soak: the server's RSS slope over the run's second half and at its end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rss_slope_mib_per_hour: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) end_rss_bytes: Option<u64>,
    pub(crate) valid: bool,
    pub(crate) level: Level,
    pub(crate) notes: Vec<String>,
}

/// The generator runs of `profile`, each as its schedule flags and target rate. A stress
/// is one run per step (the runner stops at the first step that breaks) and a last one back
/// at the first rate: a fresh generator, as users who gave up come back.
fn schedule(load: &Load, profile: Profile, timing: Timing) -> Vec<(Vec<String>, f64)> {
    let time = |seconds: f64, smoke_seconds: f64| timing.of(seconds, smoke_seconds);
    let constant = |rate: f64, seconds: f64| {
        vec![
            "--rate".to_owned(),
            format!("{rate:.1}"),
            "--duration".to_owned(),
            seconds.to_string(),
        ]
    };
    match profile {
        Profile::Sustained => vec![(
            constant(load.sustained.rate, time(load.sustained.seconds, 3.0)),
            load.sustained.rate,
        )],
        Profile::Spike => {
            let s = &load.spike;
            let steps = [
                (s.rate, time(s.before_seconds, 2.0)),
                (s.rate * s.factor, time(s.spike_seconds, 2.0)),
                (s.rate, time(s.after_seconds, 3.0)),
            ];
            vec![(
                vec!["--steps".into(), steps_flag(&steps)],
                s.rate * s.factor,
            )]
        }
        Profile::Stress => {
            let s = &load.stress;
            let step = time(s.step_seconds, 1.0);
            let count = if matches!(timing, Timing::Smoke) {
                s.steps.min(3)
            } else {
                s.steps
            };
            let mut runs: Vec<(Vec<String>, f64)> = (0..count)
                .map(|k| {
                    let rate = s.start_rate * s.factor.powi(k as i32);
                    (constant(rate, step), rate)
                })
                .collect();
            runs.push((constant(s.start_rate, step * 2.0), s.start_rate));
            runs
        }
        Profile::Soak => {
            let mut flags = constant(load.soak.rate, time(load.soak.seconds, 6.0));
            if matches!(timing, Timing::Smoke) {
                // Enough readings in six seconds for a slope.
                flags.extend(["--interval".into(), "0.5".into()]);
            }
            vec![(flags, load.soak.rate)]
        }
    }
}

fn steps_flag(steps: &[(f64, f64)]) -> String {
    steps
        .iter()
        .map(|(rate, seconds)| format!("{rate:.1}:{seconds}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Why a run is past the service level, if it is: errors (dropped requests among them)
/// over their share, else corrected p99 over the SLO.
pub(crate) fn broken(load: &Load, run: &Run) -> Option<&'static str> {
    if run.failed() as f64 > load.max_error_rate * run.scheduled.max(1) as f64 {
        Some("errors")
    } else if run.corrected_us.p99 as f64 > load.slo_p99_ms * 1000.0 {
        Some("latency")
    } else {
        None
    }
}

/// Why a stress stops stepping up after `run`: the server broke, or the generator could
/// not keep to the step's schedule (`"generator"`: this machine cannot offer more, and the
/// server's breaking point is above the step before).
fn stress_stop(load: &Load, run: &Run) -> Option<&'static str> {
    broken(load, run).or((!run.generator.valid).then_some("generator"))
}

fn judge(load: &Load, profile: Profile, runs: &[(f64, Run)], timing: Timing) -> Figures {
    let smoke = matches!(timing, Timing::Smoke);
    let slo_us = (load.slo_p99_ms * 1000.0) as u64;
    // A stress's figures are those of its last step before the recovery run, or of the step
    // before that when the generator is what stopped it (its figures are not the server's).
    let generator_stopped = profile == Profile::Stress
        && runs.len() > 2
        && stress_stop(load, &runs[runs.len() - 2].1) == Some("generator");
    let (_, run) = match profile {
        Profile::Stress if generator_stopped => &runs[runs.len() - 3],
        Profile::Stress if runs.len() > 1 => &runs[runs.len() - 2],
        _ => &runs[0],
    };
    let errors = run.failed();
    let error_rate = errors as f64 / run.scheduled.max(1) as f64;
    let mut figures = Figures {
        profile,
        achieved_rate: run.achieved_rate,
        error_rate,
        p50_us: run.corrected_us.p50,
        p95_us: run.corrected_us.p95,
        p99_us: run.corrected_us.p99,
        p999_us: run.corrected_us.p999,
        uncorrected_p99_us: run.uncorrected_us.p99,
        phases_p99_us: None,
        recovery_s: None,
        breaking_rate: None,
        broke_by: None,
        recovered: None,
        rss_slope_mib_per_hour: None,
        end_rss_bytes: None,
        valid: runs.iter().all(|(_, r)| r.generator.valid),
        level: Level::Ok,
        notes: Vec::new(),
    };
    let warn = |figures: &mut Figures, note: String| {
        figures.level = figures.level.max(Level::Warning);
        figures.notes.push(note);
    };
    match profile {
        Profile::Sustained | Profile::Soak => {}
        Profile::Spike => {
            let s = &load.spike;
            let (before, during) = (
                timing.of(s.before_seconds, 2.0),
                timing.of(s.spike_seconds, 2.0),
            );
            let phase = |from: f64, to: f64| {
                run.intervals
                    .iter()
                    .filter(|i| i.at >= from && i.at < to)
                    .map(|i| i.corrected_us.p99)
                    .max()
                    .unwrap_or(0)
            };
            let end = before + during;
            figures.phases_p99_us =
                Some([phase(0.0, before), phase(before, end), phase(end, f64::MAX)]);
            let worst_during = figures.phases_p99_us.map_or(0, |p| p[1]);
            figures.recovery_s = if worst_during <= slo_us {
                // It never left the SLO: nothing to recover from.
                Some(0.0)
            } else {
                run.intervals
                    .iter()
                    .filter(|i| i.at >= end && i.completed > 0)
                    .find(|i| i.corrected_us.p99 <= slo_us)
                    .map(|i| i.at + 1.0 - end)
            };
            if figures.recovery_s.is_none() {
                warn(
                    &mut figures,
                    "never back under the SLO after the spike".into(),
                );
            }
        }
        Profile::Stress => {
            let (steps, recovery) = runs.split_at(runs.len() - 1);
            let first_broken = steps
                .iter()
                .position(|(_, r)| stress_stop(load, r).is_some());
            figures.breaking_rate = match first_broken {
                Some(0) => None,
                Some(k) => Some(steps[k - 1].0),
                None => steps.last().map(|(rate, _)| *rate),
            };
            figures.broke_by = Some(
                first_broken
                    .and_then(|k| stress_stop(load, &steps[k].1))
                    .unwrap_or("nothing")
                    .to_owned(),
            );
            if let Some(k) = first_broken.filter(|_| generator_stopped) {
                let note = format!(
                    "the generator could not offer {:.0} req/s here: the server's breaking \
                         point is above {:.0} req/s",
                    steps[k].0,
                    figures.breaking_rate.unwrap_or(0.0)
                );
                warn(&mut figures, note);
            }
            figures.recovered = recovery.first().map(|(_, r)| broken(load, r).is_none());
            if figures.recovered == Some(false) {
                warn(
                    &mut figures,
                    "did not recover when the rate dropped back".into(),
                );
            }
        }
    }
    if profile == Profile::Soak {
        figures.rss_slope_mib_per_hour = run.server_rss_slope_mib_per_hour;
        figures.end_rss_bytes = run
            .intervals
            .iter()
            .rev()
            .find_map(|i| Some(i.server.as_ref()?.rss_bytes));
        // A slope over seconds (a smoke, a scaled run) says nothing of a leak.
        if let Some(slope) = run.server_rss_slope_mib_per_hour
            && slope > load.soak.leak_budget_mib_per_hour
            && matches!(timing, Timing::Full)
        {
            warn(
                &mut figures,
                format!(
                    "RSS grows {slope:.1} MiB/h, over the leak budget of {} MiB/h",
                    load.soak.leak_budget_mib_per_hour
                ),
            );
        }
    }
    if matches!(profile, Profile::Sustained | Profile::Soak) && figures.p99_us > slo_us {
        let note = format!("p99 {} µs over the SLO of {} µs", figures.p99_us, slo_us);
        warn(&mut figures, note);
    }
    // Any run whose generator fell behind fails the profile, but the step that stopped a
    // stress that way: it is where this machine's generator ends, not a figure of the server.
    let invalid = runs.iter().enumerate().find(|(i, (_, r))| {
        let stopped_a_stress = generator_stopped && *i == runs.len() - 2;
        !r.generator.valid && !stopped_a_stress
    });
    if let Some((_, (_, r))) = invalid {
        figures.level = Level::Failure;
        figures.notes.push(format!(
            "INVALID run: {}",
            r.generator
                .invalid_because
                .as_deref()
                .unwrap_or("the generator fell behind")
        ));
    }
    // Errors fail where they are not the point: every profile but stress, whose job is to
    // find where they start.
    if profile != Profile::Stress && error_rate > load.max_error_rate {
        figures.level = Level::Failure;
        figures.notes.push(format!(
            "{errors} errors of {} requests ({:.2}%, more than {:.2}%)",
            run.scheduled,
            error_rate * 100.0,
            load.max_error_rate * 100.0
        ));
    }
    if smoke && figures.level == Level::Warning {
        // A smoke is seconds long on a shared machine: absolute figures are not judged.
        figures.level = Level::Ok;
    }
    figures
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rate: f64, p99_us: u64, valid: bool) -> (f64, Run) {
        let json = format!(
            r#"{{"scheduled": 1000, "dropped": 0, "errors": {{}}, "non_2xx": 0,
                "achieved_rate": {rate}, "corrected_us": {{"p50": 900, "p95": 1500, "p99": {p99_us}, "p999": {p99_us}}},
                "uncorrected_us": {{"p50": 800, "p95": 1000, "p99": 1200, "p999": 1300}},
                "generator": {{"valid": {valid}, "invalid_because": {}}},
                "intervals": [], "server_rss_slope_mib_per_hour": null}}"#,
            if valid { "null" } else { r#""late""# }
        );
        (rate, serde_json::from_str(&json).unwrap())
    }

    use crate::load::tests::load;

    #[test]
    fn a_stress_the_generator_cannot_drive_further_ends_there_with_a_warning() {
        let runs = [
            run(100.0, 2_000, true),
            run(200.0, 3_000, true),
            run(400.0, 4_000, false),
            run(100.0, 2_000, true),
        ];
        let figures = judge(&load(), Profile::Stress, &runs, Timing::Full);
        assert_eq!(
            figures.broke_by.as_deref(),
            Some("generator"),
            "{figures:?}"
        );
        assert_eq!(figures.breaking_rate, Some(200.0));
        // The figures are the last step the generator kept to, and it is not a failure.
        assert_eq!(figures.achieved_rate, 200.0);
        assert_eq!(figures.level, Level::Warning, "{figures:?}");

        // A generator behind at a step that did not stop the stress (its recovery) fails.
        let mut late_recovery = runs;
        late_recovery[2] = run(400.0, 90_000, true);
        late_recovery[3] = run(100.0, 2_000, false);
        let figures = judge(&load(), Profile::Stress, &late_recovery, Timing::Full);
        assert_eq!(figures.broke_by.as_deref(), Some("latency"));
        assert_eq!(figures.level, Level::Failure, "{figures:?}");
    }
}
