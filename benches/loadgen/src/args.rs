//! Command-line flags and the pre-encoded request batch they describe.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::schedule::Schedule;

/// The `Accept` header TechEmpower's plaintext test sends (its json test sends another; pass
/// it with `--header`).
pub const PLAINTEXT_ACCEPT: &str = "Accept: text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,\
     application/xml;q=0.8,*/*;q=0.7";

/// HTTP/1.1 load generator: keeps `--connections` keep-alive connections busy, each writing
/// `--pipeline` requests at once and waiting for all their responses (wrk's pipeline.lua),
/// and prints one JSON report on stdout.
#[derive(Debug, Clone, Parser)]
#[command(name = "allframe-loadgen", version)]
pub struct Args {
    /// Server to load, as host:port; also sent as the Host header.
    #[arg(long)]
    pub addr: String,

    /// Request target of every request.
    #[arg(long, default_value = "/plaintext", value_parser = parse_path)]
    pub path: String,

    /// Connections kept open, all opened before the measured window.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub connections: u32,

    /// Requests written in one write per connection before waiting for their responses.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub pipeline: u32,

    /// Length of the measured window, in seconds.
    #[arg(long, default_value = "5", value_parser = parse_positive_seconds)]
    pub duration: Duration,

    /// Seconds of load before the measured window that are not counted.
    #[arg(long, default_value = "0", value_parser = parse_seconds)]
    pub warmup: Duration,

    /// Seconds without progress (connect, write or any response byte) before a connection
    /// counts a timeout and reconnects.
    #[arg(long, default_value = "5", value_parser = parse_positive_seconds)]
    pub timeout: Duration,

    /// Extra request header, `Name: value`; repeatable. Giving any replaces the default
    /// plaintext `Accept` header.
    #[arg(long = "header", value_name = "HEADER", value_parser = parse_header)]
    pub headers: Vec<String>,

    /// Open model: this many requests per second, due on a schedule whatever the answers
    /// (latency also measured from each request's due time); `--connections` is then the
    /// most connections opened on demand.
    #[arg(long, value_parser = parse_rate, conflicts_with_all = ["steps", "pipeline"])]
    pub rate: Option<f64>,

    /// Open model: from `--rate`, rise linearly to this rate over `--duration`.
    #[arg(long, value_parser = parse_rate, requires = "rate")]
    pub ramp_to: Option<f64>,

    /// Open model in steps, `RATE:SECONDS,...` (instead of `--rate` and `--duration`).
    #[arg(long, value_parser = Schedule::parse_steps, conflicts_with = "pipeline")]
    pub steps: Option<Schedule>,

    /// Open model: seconds per row of the per-interval report.
    #[arg(long, default_value = "1", value_parser = parse_positive_seconds)]
    pub interval: Duration,

    /// Open model: weighted requests from a JSON file (see the `mix` module) instead of
    /// `--path` and `--header`.
    #[arg(long, value_name = "FILE")]
    pub mix: Option<PathBuf>,

    /// Open model: read this process's RSS, CPU time and open descriptors from /proc at
    /// the end of every interval.
    #[arg(long, value_name = "PID")]
    pub watch: Option<u32>,
}

impl Args {
    /// `pipeline` copies of the request, written to the socket as one buffer.
    pub fn request_batch(&self) -> Vec<u8> {
        let mut request = format!("GET {} HTTP/1.1\r\nHost: {}\r\n", self.path, self.addr);
        if self.headers.is_empty() {
            request.push_str(PLAINTEXT_ACCEPT);
            request.push_str("\r\n");
        }
        for header in &self.headers {
            request.push_str(header);
            request.push_str("\r\n");
        }
        request.push_str("Connection: keep-alive\r\n\r\n");
        request.repeat(self.pipeline as usize).into_bytes()
    }
}

impl Args {
    /// The schedule of an open-model run; `None` for the closed model.
    pub fn schedule(&self) -> Option<Schedule> {
        if let Some(steps) = &self.steps {
            return Some(steps.clone());
        }
        let rate = self.rate?;
        Some(match self.ramp_to {
            Some(to) => Schedule::Ramp {
                from: rate,
                to,
                duration: self.duration,
            },
            None => Schedule::Constant {
                rate,
                duration: self.duration,
            },
        })
    }
}

fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .parse()
        .map_err(|e| format!("{e}: expected requests per second, e.g. 500"))?;
    if rate.is_finite() && rate > 0.0 {
        Ok(rate)
    } else {
        Err("must be more than 0".into())
    }
}

pub(crate) fn parse_path(path: &str) -> Result<String, String> {
    if !path.starts_with('/') || path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err("a path starts with '/' and has no spaces or control characters".into());
    }
    Ok(path.to_owned())
}

pub(crate) fn parse_header(header: &str) -> Result<String, String> {
    let valid = header.split_once(':').is_some_and(|(name, _)| {
        !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
    });
    if !valid || header.bytes().any(|b| b == b'\r' || b == b'\n') {
        return Err("expected `Name: value` on one line".into());
    }
    Ok(header.to_owned())
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|e| format!("{e}: expected seconds, e.g. 0.5"))?;
    Duration::try_from_secs_f64(seconds).map_err(|e| e.to_string())
}

fn parse_positive_seconds(text: &str) -> Result<Duration, String> {
    Some(parse_seconds(text)?)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| "must be more than 0".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Result<Args, clap::Error> {
        let base = ["allframe-loadgen", "--addr", "127.0.0.1:8080"];
        Args::try_parse_from(base.iter().chain(extra))
    }

    #[test]
    fn batch_holds_pipeline_copies_of_the_tfb_request() {
        let args = args(&["--pipeline", "16"]).unwrap();
        let batch = String::from_utf8(args.request_batch()).unwrap();
        let one = format!(
            "GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n{PLAINTEXT_ACCEPT}\r\n\
             Connection: keep-alive\r\n\r\n"
        );
        assert_eq!(batch, one.repeat(16));
    }

    #[test]
    fn header_flag_replaces_the_default_accept() {
        let args = args(&["--path", "/json", "--header", "Accept: application/json"]).unwrap();
        let batch = String::from_utf8(args.request_batch()).unwrap();
        assert_eq!(
            batch,
            "GET /json HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept: application/json\r\n\
             Connection: keep-alive\r\n\r\n"
        );
    }

    #[test]
    fn flags_are_validated() {
        assert!(args(&["--path", "plaintext"]).is_err());
        assert!(args(&["--header", "no colon"]).is_err());
        assert!(args(&["--duration", "0"]).is_err());
        assert!(args(&["--duration", "-1"]).is_err());
        assert!(args(&["--pipeline", "0"]).is_err());
        assert!(args(&["--rate", "0"]).is_err());
        assert!(args(&["--rate", "10", "--pipeline", "4"]).is_err());
        assert!(args(&["--ramp-to", "10"]).is_err());
        assert!(args(&["--rate", "10", "--steps", "5:1"]).is_err());
        let args = args(&["--duration", "0.25", "--warmup", "0"]).unwrap();
        assert_eq!(args.duration, Duration::from_millis(250));
        assert_eq!(args.warmup, Duration::ZERO);
    }
}
