//! Judging one configuration: its limits, its goals, and its growth since the baseline.

use serde::Serialize;

pub(crate) use crate::level::Level;

use crate::config::SizeConfig;

pub(crate) const MIB: f64 = 1024.0 * 1024.0;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Verdict {
    pub(crate) level: Level,
    pub(crate) reasons: Vec<String>,
    /// Growth of the stripped size since the baseline, in percent, when comparable.
    pub(crate) growth_percent: Option<f64>,
}

/// Thresholds on growth since the baseline, in percent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Growth {
    pub(crate) warn: f64,
    pub(crate) fail: f64,
}

pub(crate) fn judge(
    config: &SizeConfig,
    growth: Growth,
    stripped: u64,
    reference: Option<u64>,
    baseline: Option<u64>,
) -> Verdict {
    let mut findings: Vec<(Level, String)> = Vec::new();
    let mib = stripped as f64 / MIB;
    if mib > config.limit_mib {
        findings.push((
            Level::Failure,
            format!(
                "{mib:.2} MiB is over the hard limit of {} MiB",
                config.limit_mib
            ),
        ));
    } else if mib > config.target_mib {
        findings.push((
            Level::Warning,
            format!(
                "{mib:.2} MiB is over the target of {} MiB",
                config.target_mib
            ),
        ));
    }
    if let Some(goal) = config.goal_mib.filter(|goal| mib > *goal) {
        findings.push((
            Level::AboveGoal,
            format!("{mib:.2} MiB is above our goal of {goal} MiB"),
        ));
    }
    if let (Some(goal), Some(reference)) = (config.goal_vs_reference, reference) {
        let ratio = stripped as f64 / reference as f64;
        if ratio > goal {
            findings.push((
                Level::AboveGoal,
                format!("{ratio:.2}x the reference is above our goal of {goal}x"),
            ));
        }
    }
    let growth_percent = baseline
        .filter(|b| *b > 0)
        .map(|b| (stripped as f64 / b as f64 - 1.0) * 100.0);
    if let Some(pct) = growth_percent {
        if pct > growth.fail {
            findings.push((
                Level::Failure,
                format!(
                    "grew {pct:.1}% since the baseline (fails above {}%)",
                    growth.fail
                ),
            ));
        } else if pct > growth.warn {
            findings.push((
                Level::Warning,
                format!(
                    "grew {pct:.1}% since the baseline (warns above {}%)",
                    growth.warn
                ),
            ));
        }
    }
    let level = findings
        .iter()
        .map(|(level, _)| *level)
        .max()
        .unwrap_or(Level::Ok);
    Verdict {
        level,
        reasons: findings.into_iter().map(|(_, reason)| reason).collect(),
        growth_percent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GROWTH: Growth = Growth {
        warn: 5.0,
        fail: 10.0,
    };

    fn config() -> SizeConfig {
        SizeConfig {
            name: "minimal".into(),
            features: vec![],
            target_mib: 2.0,
            limit_mib: 3.0,
            goal_mib: Some(1.5),
            goal_vs_reference: Some(1.25),
        }
    }

    fn mib(x: f64) -> u64 {
        (x * MIB) as u64
    }

    #[test]
    fn the_same_binary_against_its_own_baseline_is_ok() {
        let v = judge(&config(), GROWTH, mib(1.0), Some(mib(1.0)), Some(mib(1.0)));
        assert_eq!(v.level, Level::Ok, "{v:?}");
        assert!(v.reasons.is_empty());
        assert_eq!(v.growth_percent, Some(0.0));
    }

    #[test]
    fn an_injected_regression_since_the_baseline_is_caught() {
        let v = judge(&config(), GROWTH, mib(1.12), Some(mib(1.0)), Some(mib(1.0)));
        assert_eq!(v.level, Level::Failure, "{v:?}");
        assert!(v.reasons[0].contains("grew 12.0%"), "{v:?}");
        let v = judge(&config(), GROWTH, mib(1.06), Some(mib(1.0)), Some(mib(1.0)));
        assert_eq!(v.level, Level::Warning, "{v:?}");
    }

    #[test]
    fn limits_targets_and_goals_have_their_levels() {
        assert_eq!(
            judge(&config(), GROWTH, mib(3.1), None, None).level,
            Level::Failure
        );
        assert_eq!(
            judge(&config(), GROWTH, mib(2.5), None, None).level,
            Level::Warning
        );
        let above = judge(&config(), GROWTH, mib(1.6), None, None);
        assert_eq!(above.level, Level::AboveGoal);
        let ratio = judge(&config(), GROWTH, mib(1.4), Some(mib(1.0)), None);
        assert_eq!(ratio.level, Level::AboveGoal);
        assert!(ratio.reasons[0].contains("1.40x"), "{ratio:?}");
    }

    #[test]
    fn without_a_baseline_there_is_no_growth_verdict() {
        let v = judge(&config(), GROWTH, mib(1.0), Some(mib(1.0)), None);
        assert_eq!((v.level, v.growth_percent), (Level::Ok, None));
    }
}
