//! What is counted (only events inside the measured window) and the report made from it.

use std::fmt::{self, Write as _};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::parse::Parsed;

/// Latencies above this are recorded as this (an hour: far beyond any `--timeout`).
pub(crate) const MAX_LATENCY_US: u64 = 3_600_000_000;

/// The measured window `[start, end)`: an event counts when it happens inside it, so load
/// during warmup and responses still in flight at the end are left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First instant that counts.
    pub start: Instant,
    /// First instant that no longer counts.
    pub end: Instant,
}

impl Window {
    /// A window of `duration` after `warmup` from `now`.
    pub fn after(now: Instant, warmup: Duration, duration: Duration) -> Self {
        let start = now + warmup;
        Self {
            start,
            end: start + duration,
        }
    }

    /// Whether an event at `at` counts.
    pub fn contains(&self, at: Instant) -> bool {
        self.start <= at && at < self.end
    }
}

/// The kinds of connection failure counted in `errors`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Connecting failed or timed out.
    Connect,
    /// Reading failed, or the server closed the connection.
    Read,
    /// Writing the request batch failed.
    Write,
    /// No progress for `--timeout`.
    Timeout,
    /// The response bytes could not be framed.
    Parse,
}

impl ErrorKind {
    const ALL: [Self; 5] = [
        Self::Connect,
        Self::Read,
        Self::Write,
        Self::Timeout,
        Self::Parse,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Read => "read",
            Self::Write => "write",
            Self::Timeout => "timeout",
            Self::Parse => "parse",
        }
    }
}

/// Error counts by kind (a field of the JSON report).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Errors {
    pub connect: u64,
    pub read: u64,
    pub write: u64,
    pub timeout: u64,
    pub parse: u64,
}

impl Errors {
    pub(crate) fn slot(&mut self, kind: ErrorKind) -> &mut u64 {
        match kind {
            ErrorKind::Connect => &mut self.connect,
            ErrorKind::Read => &mut self.read,
            ErrorKind::Write => &mut self.write,
            ErrorKind::Timeout => &mut self.timeout,
            ErrorKind::Parse => &mut self.parse,
        }
    }

    /// All errors of every kind.
    pub fn total(&self) -> u64 {
        self.connect + self.read + self.write + self.timeout + self.parse
    }
}

/// Latency percentiles in microseconds, from each batch's write to each response's arrival.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
    pub mean: f64,
}

/// The JSON object printed on stdout; see the crate docs for each field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub requests: u64,
    pub seconds: f64,
    pub requests_per_sec: f64,
    pub non_2xx: u64,
    pub errors: Errors,
    pub latency_us: Latency,
    pub bytes_read: u64,
    pub connections: u32,
    pub pipeline: u32,
}

impl Report {
    /// The one human line for stderr.
    pub fn summary(&self) -> String {
        let mut line = format!(
            "loadgen: {} req/s over {:.1} s, {} connections x {} pipelined, \
             p50 {}, p90 {}, p99 {}, max {}, {} errors",
            thousands(self.requests_per_sec.round() as u64),
            self.seconds,
            thousands(u64::from(self.connections)),
            self.pipeline,
            Micros(self.latency_us.p50),
            Micros(self.latency_us.p90),
            Micros(self.latency_us.p99),
            Micros(self.latency_us.max),
            thousands(self.errors.total()),
        );
        let kinds = [
            ("connect", self.errors.connect),
            ("read", self.errors.read),
            ("write", self.errors.write),
            ("timeout", self.errors.timeout),
            ("parse", self.errors.parse),
        ];
        let detail: Vec<String> = kinds
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(kind, n)| format!("{n} {kind}"))
            .collect();
        if !detail.is_empty() {
            let _ = write!(line, " ({})", detail.join(", "));
        }
        if self.non_2xx > 0 {
            let _ = write!(line, ", {} non-2xx", thousands(self.non_2xx));
        }
        line
    }
}

/// Counters shared by every connection of the run (one thread, so no atomics).
#[derive(Debug)]
pub struct Stats {
    window: Window,
    requests: u64,
    non_2xx: u64,
    bytes_read: u64,
    errors: Errors,
    latency: Histogram<u64>,
    /// The first message of each error kind, counted or not: the diagnostic worth printing.
    first_errors: [Option<String>; 5],
}

impl Stats {
    /// Empty counters for `window`.
    pub fn new(window: Window) -> Self {
        Self {
            window,
            requests: 0,
            non_2xx: 0,
            bytes_read: 0,
            errors: Errors::default(),
            latency: Histogram::new_with_max(MAX_LATENCY_US, 3)
                .expect("constant histogram bounds are valid"),
            first_errors: Default::default(),
        }
    }

    /// The window events are counted in.
    pub fn window(&self) -> Window {
        self.window
    }

    /// A read of `bytes` at `at` that completed `parsed` responses of a batch written at `sent`.
    pub fn record_read(&mut self, sent: Instant, at: Instant, bytes: usize, parsed: &Parsed) {
        if !self.window.contains(at) {
            return;
        }
        self.bytes_read += bytes as u64;
        if parsed.responses > 0 {
            self.requests += u64::from(parsed.responses);
            self.non_2xx += u64::from(parsed.non_2xx);
            let micros = u64::try_from(at.saturating_duration_since(sent).as_micros())
                .unwrap_or(u64::MAX)
                .min(MAX_LATENCY_US);
            self.latency
                .saturating_record_n(micros, u64::from(parsed.responses));
        }
    }

    /// A failure detected at `at`; counted if inside the window.
    pub fn record_error(&mut self, at: Instant, kind: ErrorKind, detail: &dyn fmt::Display) {
        self.first_errors[kind as usize].get_or_insert_with(|| detail.to_string());
        if self.window.contains(at) {
            *self.errors.slot(kind) += 1;
        }
    }

    /// Failures counted whenever they happened (connections that could not open at start).
    pub fn count_errors(&mut self, kind: ErrorKind, count: u64) {
        *self.errors.slot(kind) += count;
    }

    /// The first message of each kind of error seen, for stderr.
    pub fn first_errors(&self) -> impl Iterator<Item = (&'static str, &str)> + '_ {
        ErrorKind::ALL
            .iter()
            .zip(&self.first_errors)
            .filter_map(|(kind, message)| Some((kind.name(), message.as_deref()?)))
    }

    /// The report of everything counted so far.
    pub fn report(&self, connections: u32, pipeline: u32) -> Report {
        let seconds = (self.window.end - self.window.start).as_secs_f64();
        let latency = &self.latency;
        let latency_us = if latency.is_empty() {
            Latency::default()
        } else {
            Latency {
                p50: latency.value_at_quantile(0.50),
                p90: latency.value_at_quantile(0.90),
                p99: latency.value_at_quantile(0.99),
                max: latency.max(),
                mean: latency.mean(),
            }
        };
        Report {
            requests: self.requests,
            seconds,
            requests_per_sec: self.requests as f64 / seconds,
            non_2xx: self.non_2xx,
            errors: self.errors,
            latency_us,
            bytes_read: self.bytes_read,
            connections,
            pipeline,
        }
    }
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Microseconds shown in the unit that keeps them readable.
struct Micros(u64);

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            us @ 0..1_000 => write!(f, "{us} us"),
            us @ 1_000..1_000_000 => write!(f, "{:.2} ms", us as f64 / 1e3),
            us => write!(f, "{:.2} s", us as f64 / 1e6),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(responses: u32, non_2xx: u32) -> Parsed {
        Parsed {
            consumed: 0,
            responses,
            non_2xx,
        }
    }

    #[test]
    fn only_events_inside_the_window_count() {
        let t0 = Instant::now();
        let window = Window::after(t0, Duration::from_secs(1), Duration::from_secs(2));
        let mut stats = Stats::new(window);
        let ms = |n| t0 + Duration::from_millis(n);
        // During warmup, at the start, inside, at the end (excluded), after.
        for at in [500, 1000, 2500, 3000, 3500] {
            stats.record_read(ms(at - 2), ms(at), 100, &parsed(16, 1));
            stats.record_error(ms(at), ErrorKind::Read, &"reset");
        }
        let report = stats.report(4, 16);
        assert_eq!(report.requests, 32);
        assert_eq!(report.non_2xx, 2);
        assert_eq!(report.bytes_read, 200);
        assert_eq!(
            report.errors,
            Errors {
                read: 2,
                ..Errors::default()
            }
        );
        assert_eq!(report.seconds, 2.0);
        assert_eq!(report.requests_per_sec, 16.0);
        assert_eq!(report.latency_us.p50, 2000);
        assert_eq!(report.latency_us.max, 2000);
        assert_eq!(
            stats.first_errors().collect::<Vec<_>>(),
            [("read", "reset")]
        );
    }

    #[test]
    fn json_has_the_documented_shape() {
        let t0 = Instant::now();
        let stats = Stats::new(Window::after(t0, Duration::ZERO, Duration::from_secs(5)));
        let json = serde_json::to_value(stats.report(256, 16)).unwrap();
        let expected = serde_json::json!({
            "requests": 0, "seconds": 5.0, "requests_per_sec": 0.0, "non_2xx": 0,
            "errors": { "connect": 0, "read": 0, "write": 0, "timeout": 0, "parse": 0 },
            "latency_us": { "p50": 0, "p90": 0, "p99": 0, "max": 0, "mean": 0.0 },
            "bytes_read": 0, "connections": 256, "pipeline": 16,
        });
        assert_eq!(json, expected);
    }

    #[test]
    fn summary_reads_well() {
        let report = Report {
            requests: 617_280,
            seconds: 5.0,
            requests_per_sec: 123_456.0,
            non_2xx: 0,
            errors: Errors {
                timeout: 2,
                ..Errors::default()
            },
            latency_us: Latency {
                p50: 850,
                p90: 1_200,
                p99: 2_500_000,
                max: 3_000_000,
                mean: 1.0,
            },
            bytes_read: 1,
            connections: 256,
            pipeline: 16,
        };
        assert_eq!(
            report.summary(),
            "loadgen: 123,456 req/s over 5.0 s, 256 connections x 16 pipelined, p50 850 us, \
             p90 1.20 ms, p99 2.50 s, max 3.00 s, 2 errors (2 timeout)"
        );
    }
}
