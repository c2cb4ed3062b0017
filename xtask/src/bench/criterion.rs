//! Reading criterion's result files (never its terminal output): for each benchmark,
//! `<dir>/<group>/<bench>/new/benchmark.json` (the id and throughput), `estimates.json`
//! (the time per iteration) and `sample.json` (the raw samples).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// One benchmark's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Measurement {
    /// criterion's full id, `group/function[/value]`: stable, so baselines survive.
    pub(crate) id: String,
    /// Elements per iteration when the benchmark declared a throughput.
    pub(crate) elements: Option<u64>,
    /// Nanoseconds per iteration: the slope of a linear sampling, else the mean.
    pub(crate) ns_per_iter: f64,
    /// criterion's 95% interval of that estimate.
    pub(crate) ns_lower: f64,
    pub(crate) ns_upper: f64,
    /// Nanoseconds per iteration of each sample.
    pub(crate) samples: Vec<f64>,
}

impl Measurement {
    /// Operations (elements) per second, for benchmarks with a throughput.
    pub(crate) fn ops_per_sec(&self) -> Option<f64> {
        self.elements.map(|n| n as f64 * 1e9 / self.ns_per_iter)
    }

    /// The 95% interval of `ops_per_sec`: the slowest time per iteration is the lowest
    /// throughput.
    pub(crate) fn ops_per_sec_interval(&self) -> Option<(f64, f64)> {
        let per_iter = self.elements? as f64 * 1e9;
        Some((per_iter / self.ns_upper, per_iter / self.ns_lower))
    }
}

#[derive(Deserialize)]
struct BenchmarkFile {
    full_id: String,
    throughput: Option<Throughput>,
}

#[derive(Deserialize)]
enum Throughput {
    Elements(u64),
    Bytes(u64),
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct EstimatesFile {
    mean: Estimate,
    slope: Option<Estimate>,
}

#[derive(Deserialize)]
struct Estimate {
    point_estimate: f64,
    confidence_interval: Interval,
}

#[derive(Deserialize)]
struct Interval {
    lower_bound: f64,
    upper_bound: f64,
}

#[derive(Deserialize)]
struct SampleFile {
    iters: Vec<f64>,
    times: Vec<f64>,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "reading {} (criterion writes it; rerun the benchmark)",
            path.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not criterion's JSON (corrupted? rerun the benchmark)",
            path.display()
        )
    })
}

/// Every benchmark whose results are under `dir`, sorted by id.
pub(crate) fn read_dir(dir: &Path) -> Result<Vec<Measurement>> {
    let mut found = Vec::new();
    collect(dir, &mut found)?;
    if found.is_empty() {
        bail!("no criterion results under {}", dir.display());
    }
    let mut measurements = found
        .iter()
        .map(|new| read_one(new))
        .collect::<Result<Vec<_>>>()?;
    measurements.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(measurements)
}

/// The `new` directories below `dir` (criterion's `base` and `change` are older runs).
fn collect(dir: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") && path.join("benchmark.json").exists() {
            found.push(path);
        } else if path.file_name().is_none_or(|n| n != "report") {
            collect(&path, found)?;
        }
    }
    Ok(())
}

fn read_one(new: &Path) -> Result<Measurement> {
    let benchmark: BenchmarkFile = read_json(&new.join("benchmark.json"))?;
    let estimates: EstimatesFile = read_json(&new.join("estimates.json"))?;
    let sample: SampleFile = read_json(&new.join("sample.json"))?;
    if sample.iters.len() != sample.times.len() || sample.iters.iter().any(|&n| n <= 0.0) {
        bail!(
            "{} has mismatched or empty samples",
            new.join("sample.json").display()
        );
    }
    let estimate = estimates.slope.unwrap_or(estimates.mean);
    if !(estimate.point_estimate.is_finite() && estimate.point_estimate > 0.0) {
        bail!(
            "{} has no usable estimate",
            new.join("estimates.json").display()
        );
    }
    let elements = match benchmark.throughput {
        Some(Throughput::Elements(n) | Throughput::Bytes(n)) => Some(n),
        Some(Throughput::Other) | None => None,
    };
    Ok(Measurement {
        id: benchmark.full_id,
        elements,
        ns_per_iter: estimate.point_estimate,
        ns_lower: estimate.confidence_interval.lower_bound,
        ns_upper: estimate.confidence_interval.upper_bound,
        samples: sample
            .iters
            .iter()
            .zip(&sample.times)
            .map(|(n, t)| t / n)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures(name: &str) -> PathBuf {
        crate::shell::root()
            .join("xtask/fixtures/criterion")
            .join(name)
    }

    #[test]
    fn results_are_read_from_the_new_directories() {
        let found = read_dir(&fixtures("ok")).unwrap();
        let ids: Vec<&str> = found.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "command_bus/execute/1000_streams",
                "serialization/event_to_json"
            ],
            "one each, `base` ignored"
        );
        let execute = &found[0];
        assert_eq!(execute.elements, Some(1));
        assert!(
            (execute.ns_per_iter - 256.6606944487036).abs() < 1e-9,
            "the slope"
        );
        assert!(execute.ns_lower < execute.ns_per_iter && execute.ns_per_iter < execute.ns_upper);
        let ops = execute.ops_per_sec().unwrap();
        assert!((ops - 1e9 / 256.6606944487036).abs() < 1e-3, "{ops}");
        assert_eq!(execute.samples.len(), 5);
        assert!(execute.samples.iter().all(|&s| s > 100.0 && s < 1000.0));
    }

    #[test]
    fn a_corrupted_or_missing_file_is_named() {
        let err = format!("{:#}", read_dir(&fixtures("corrupt")).unwrap_err());
        assert!(
            err.contains("two_steps/new/estimates.json") && err.contains("corrupted"),
            "{err}"
        );
        let err = format!("{:#}", read_dir(&fixtures("missing")).unwrap_err());
        assert!(
            err.contains("compensation/new/estimates.json") && err.contains("rerun"),
            "{err}"
        );
        let err = format!("{:#}", read_dir(&fixtures("none")).unwrap_err());
        assert!(err.contains("fixtures/criterion/none"), "{err}");
    }
}
