//! When each request of an open-model run is due: a constant rate, a linear ramp, or steps
//! of rates held for a time. Send times come from the schedule alone, never from the
//! answers, so a server that stalls cannot slow the load down (no coordinated omission).

use std::time::Duration;

/// An arrival rate over the measured window.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// `rate` requests per second for `duration`.
    Constant { rate: f64, duration: Duration },
    /// From `from` to `to` requests per second, linearly, over `duration`.
    Ramp {
        from: f64,
        to: f64,
        duration: Duration,
    },
    /// Each rate (requests per second) held for its time, in order.
    Steps(Vec<(f64, Duration)>),
}

impl Schedule {
    /// Parses `--steps 100:5,200:5,400:5` (rate:seconds, comma separated).
    pub fn parse_steps(text: &str) -> Result<Self, String> {
        let steps = text
            .split(',')
            .map(|step| {
                let (rate, seconds) = step
                    .split_once(':')
                    .ok_or_else(|| format!("`{step}`: expected RATE:SECONDS"))?;
                let rate: f64 = rate
                    .trim()
                    .parse()
                    .map_err(|e| format!("`{step}`: rate: {e}"))?;
                let seconds: f64 = seconds
                    .trim()
                    .parse()
                    .map_err(|e| format!("`{step}`: seconds: {e}"))?;
                let positive = |v: f64| v.is_finite() && v > 0.0;
                if !positive(rate) || !positive(seconds) {
                    return Err(format!("`{step}`: rate and seconds must be more than 0"));
                }
                Ok((rate, Duration::from_secs_f64(seconds)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::Steps(steps))
    }

    /// The whole schedule's length.
    pub fn duration(&self) -> Duration {
        match self {
            Self::Constant { duration, .. } | Self::Ramp { duration, .. } => *duration,
            Self::Steps(steps) => steps.iter().map(|(_, d)| *d).sum(),
        }
    }

    /// The rate due at `at` into the schedule.
    pub fn rate_at(&self, at: Duration) -> f64 {
        match self {
            Self::Constant { rate, .. } => *rate,
            Self::Ramp { from, to, duration } => {
                from + (to - from) * (at.as_secs_f64() / duration.as_secs_f64()).min(1.0)
            }
            Self::Steps(steps) => {
                let mut start = Duration::ZERO;
                for (rate, length) in steps {
                    start += *length;
                    if at < start {
                        return *rate;
                    }
                }
                steps.last().map_or(0.0, |(rate, _)| *rate)
            }
        }
    }

    /// When request `n` (from 0) is due, from the schedule's start; `None` past its end.
    pub fn send_time(&self, n: u64) -> Option<Duration> {
        let n = n as f64;
        let seconds = match self {
            Self::Constant { rate, .. } => n / rate,
            Self::Ramp { from, to, duration } => {
                // The count due by t is from*t + (to-from)*t^2/(2D): solve it for t.
                let a = (to - from) / (2.0 * duration.as_secs_f64());
                if a.abs() < 1e-12 {
                    n / from
                } else {
                    (-from + (from * from + 4.0 * a * n).max(0.0).sqrt()) / (2.0 * a)
                }
            }
            Self::Steps(steps) => {
                let mut start = 0.0;
                let mut before = 0.0;
                for (rate, length) in steps {
                    let here = rate * length.as_secs_f64();
                    if n < before + here {
                        return Some(Duration::from_secs_f64(start + (n - before) / rate));
                    }
                    before += here;
                    start += length.as_secs_f64();
                }
                return None;
            }
        };
        let at = Duration::try_from_secs_f64(seconds).ok()?;
        (at < self.duration()).then_some(at)
    }

    /// How many requests the whole schedule sends.
    pub fn total(&self) -> u64 {
        let d = self.duration().as_secs_f64();
        let exact = match self {
            Self::Constant { rate, .. } => rate * d,
            Self::Ramp { from, to, .. } => (from + to) / 2.0 * d,
            Self::Steps(steps) => steps.iter().map(|(r, l)| r * l.as_secs_f64()).sum(),
        };
        exact.ceil() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: f64) -> Duration {
        Duration::from_secs_f64(n)
    }

    #[test]
    fn a_constant_rate_spaces_requests_evenly_and_stops_at_the_end() {
        let s = Schedule::Constant {
            rate: 4.0,
            duration: secs(1.0),
        };
        let times: Vec<_> = (0..5).map(|n| s.send_time(n)).collect();
        assert_eq!(
            times,
            [
                Some(secs(0.0)),
                Some(secs(0.25)),
                Some(secs(0.5)),
                Some(secs(0.75)),
                None
            ]
        );
        assert_eq!(s.total(), 4);
    }

    #[test]
    fn a_ramp_sends_its_average_rate_and_faster_towards_the_end() {
        let s = Schedule::Ramp {
            from: 100.0,
            to: 300.0,
            duration: secs(10.0),
        };
        assert_eq!(s.total(), 2000);
        let sent = (0..).take_while(|n| s.send_time(*n).is_some()).count();
        assert!((1999..=2000).contains(&sent), "{sent}");
        let first_gap = s.send_time(1).unwrap() - s.send_time(0).unwrap();
        let last_gap = s.send_time(1999).unwrap() - s.send_time(1998).unwrap();
        assert!(first_gap > last_gap * 2, "{first_gap:?} {last_gap:?}");
        assert!((s.rate_at(secs(5.0)) - 200.0).abs() < 1e-9);
    }

    #[test]
    fn steps_hold_each_rate_for_its_time() {
        let s = Schedule::parse_steps("10:1, 100:0.5").unwrap();
        assert_eq!(s.total(), 60);
        assert_eq!(s.send_time(10), Some(secs(1.0)));
        assert_eq!(s.send_time(11), Some(secs(1.01)));
        assert_eq!(s.send_time(60), None);
        assert_eq!(s.rate_at(secs(1.2)), 100.0);
        for bad in ["", "10", "10:0", "-1:1", "x:1", "10:1,"] {
            assert!(Schedule::parse_steps(bad).is_err(), "{bad}");
        }
    }
}
