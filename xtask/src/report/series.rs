//! Runs turned into series: one figure of one item (a configuration, benchmark, scenario,
//! test or demo) over the commit axis, a point per commit and environment.
//!
//! Which figures each gate contributes, whether lower or higher is better and how noisy each
//! is (exact bytes and lines, nearly repeatable counts, wall-clock) is decided here, once; the page, the summary and the badges only draw what this module gives them.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::axis::{Commit, Stop};
use super::runs::Run;
use crate::baseline::Fingerprint;

/// The order gates appear in.
const GATES: [&str; 7] = [
    "size",
    "instructions",
    "bench",
    "memory",
    "techempower",
    "demos",
    "load",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Better {
    Lower,
    Higher,
}

/// How much a figure moves when the code does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Noise {
    /// The same code gives the same value (bytes of a binary, lines): any step is a change.
    Exact,
    /// Counted, nearly repeatable (instructions, heap bytes): a step must exceed the scatter
    /// and 1%, with no history needed to know that much.
    Counted,
    /// Wall-clock: a step must exceed the series' own spread, which takes a few points to know.
    Timed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Unit {
    Bytes,
    Instructions,
    OpsPerSec,
    Ratio,
    Micros,
    Millis,
    Lines,
    Number,
}

impl Unit {
    /// `871728` bytes as `851.3 KiB`, `1780.7` instructions as `1,781 instr/op`.
    pub(crate) fn format(self, v: f64) -> String {
        match self {
            Unit::Bytes if v.abs() >= 1024.0 * 1024.0 => format!("{:.2} MiB", v / 1048576.0),
            Unit::Bytes if v.abs() >= 1024.0 => format!("{:.1} KiB", v / 1024.0),
            Unit::Bytes if v.fract() != 0.0 => format!("{v:.2} B"),
            Unit::Bytes => format!("{v:.0} B"),
            Unit::Instructions => format!("{} instr/op", thousands(v)),
            Unit::OpsPerSec => format!("{} ops/s", crate::bench::si(v)),
            Unit::Ratio => format!("{v:.2}×"),
            Unit::Micros if v >= 1000.0 => format!("{:.2} ms", v / 1000.0),
            Unit::Micros => format!("{v:.0} µs"),
            Unit::Millis => format!("{v:.1} ms"),
            Unit::Lines => format!("{} lines", thousands(v)),
            Unit::Number => format!("{v}"),
        }
    }
}

fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 { format!("-{out}") } else { out }
}

/// One figure of one item over the axis.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Series {
    /// `size/default`, `bench/router/static`, `memory/memory_store/peak_bytes`.
    pub(crate) id: String,
    pub(crate) gate: String,
    pub(crate) title: String,
    pub(crate) unit: Unit,
    pub(crate) better: Better,
    pub(crate) noise: Noise,
    pub(crate) points: Vec<Point>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Point {
    /// Index into the dataset's stops.
    pub(crate) stop: usize,
    /// Index into the dataset's environments.
    pub(crate) environment: usize,
    /// The median of the runs at this stop and environment.
    pub(crate) value: f64,
    /// The interval: the measurement's own (criterion's 95%, a spread of rounds) widened
    /// to every run's value; `None` for one run without one.
    pub(crate) low: Option<f64>,
    pub(crate) high: Option<f64>,
    pub(crate) runs: usize,
    /// The gate's verdict in the latest of those runs.
    pub(crate) verdict: Option<String>,
    /// The kernel of the latest of those runs (not part of the environment, see there).
    pub(crate) kernel: String,
    /// Measured on uncommitted changes: drawn, never joined or searched for changes.
    pub(crate) dirty: bool,
}

/// Figures are drawn joined only within one environment: the toolchain, target, CPU model
/// and core count. A kernel change is marked on the chart without splitting the line: the
/// machines here get a new kernel build between sessions (6.18.44-fc-v669, -v782 in the
/// baselines), and a line split at each would join nothing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub(crate) struct Environment {
    pub(crate) rustc: String,
    pub(crate) target: String,
    pub(crate) cpu: String,
    pub(crate) cores: usize,
}

impl Environment {
    fn of(f: &Fingerprint) -> Self {
        Self {
            rustc: f.rustc.clone(),
            target: f.target.clone(),
            cpu: f.cpu.clone(),
            cores: f.cores,
        }
    }

    pub(crate) fn label(&self) -> String {
        if self.cpu.is_empty() {
            // Baselines from before the fingerprint recorded the machine.
            format!("machine not recorded, {}", self.rustc)
        } else {
            format!("{}, {} cores, {}", self.cpu, self.cores, self.rustc)
        }
    }
}

/// Where the environment changed along the axis.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Marker {
    pub(crate) stop: usize,
    pub(crate) text: String,
}

/// The `.text` bytes of the default configuration's largest crates, stacked.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Stack {
    pub(crate) title: String,
    pub(crate) stops: Vec<usize>,
    /// Crate name and its bytes at each of `stops`; the last layer is every other crate.
    pub(crate) layers: Vec<(String, Vec<f64>)>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Dataset {
    pub(crate) stops: Vec<Stop>,
    pub(crate) environments: Vec<Environment>,
    pub(crate) series: Vec<Series>,
    pub(crate) stacks: Vec<Stack>,
    /// Runs of commits outside the axis (another branch, or before `--since`).
    pub(crate) left_out: usize,
}

impl Serialize for Stop {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Stop", 5)?;
        st.serialize_field("commit", &self.commit.hash)?;
        st.serialize_field("label", &self.label())?;
        st.serialize_field("subject", &self.subject())?;
        st.serialize_field("unix_time", &self.commit.unix_time)?;
        st.serialize_field("dirty", &self.dirty)?;
        st.end()
    }
}

type Grouped = BTreeMap<(usize, usize), Vec<Sample>>;

/// One figure read off one run.
#[derive(Clone)]
struct Sample {
    id: String,
    title: String,
    unit: Unit,
    better: Better,
    noise: Noise,
    value: f64,
    interval: Option<(f64, f64)>,
    verdict: Option<String>,
    kernel: String,
}

impl Series {
    /// Where this series' machine changed: the environment (a new line) or only the kernel.
    pub(crate) fn markers(&self, environments: &[Environment]) -> Vec<Marker> {
        self.points
            .windows(2)
            .filter_map(|w| {
                let (before, after) = (&w[0], &w[1]);
                let text = if before.environment != after.environment {
                    environments[after.environment].label()
                } else if before.kernel != after.kernel {
                    format!("kernel {}", after.kernel)
                } else {
                    return None;
                };
                Some(Marker {
                    stop: after.stop,
                    text,
                })
            })
            .collect()
    }

    /// The points change points are searched in: committed code, and uncommitted changes
    /// only as the newest point (the change a contributor is about to push).
    pub(crate) fn judged_points(&self) -> impl Iterator<Item = &Point> {
        let last = self.points.len().saturating_sub(1);
        self.points
            .iter()
            .enumerate()
            .filter(move |(i, p)| !p.dirty || *i == last)
            .map(|(_, p)| p)
    }
}

impl Dataset {
    pub(crate) fn build(commits: &[Commit], mut runs: Vec<Run>) -> Self {
        runs.sort_by_key(|r| r.unix_time);
        let measured: Vec<(String, bool)> =
            runs.iter().map(|r| (r.commit.clone(), r.dirty)).collect();
        let stops = super::axis::stops(commits, &measured);
        let stop_of = |run: &Run| {
            stops
                .iter()
                .position(|s| s.commit.hash == run.commit && s.dirty == run.dirty)
        };
        let mut environments: Vec<Environment> = Vec::new();
        // Per series id: its first sample (for the title, unit, ...) and the samples of each
        // (stop, environment).
        let mut grouped: BTreeMap<String, (Sample, Grouped)> = BTreeMap::new();
        let mut left_out = 0;
        for run in &runs {
            let Some(stop) = stop_of(run) else {
                left_out += 1;
                continue;
            };
            let env = Environment::of(&run.fingerprint);
            let environment = environments
                .iter()
                .position(|e| *e == env)
                .unwrap_or_else(|| {
                    environments.push(env);
                    environments.len() - 1
                });
            for sample in samples(run) {
                let entry = grouped
                    .entry(sample.id.clone())
                    .or_insert_with(|| (sample.clone(), BTreeMap::new()));
                entry.1.entry((stop, environment)).or_default().push(sample);
            }
        }
        let mut series: Vec<Series> = grouped
            .into_values()
            .map(|(meta, points)| Series {
                gate: meta.id.split('/').next().unwrap_or_default().to_owned(),
                id: meta.id,
                title: meta.title,
                unit: meta.unit,
                better: meta.better,
                noise: meta.noise,
                points: points
                    .into_iter()
                    .map(|((stop, environment), samples)| {
                        point(stop, environment, stops[stop].dirty, &samples)
                    })
                    .collect(),
            })
            .collect();
        let rank = |gate: &str| GATES.iter().position(|g| *g == gate).unwrap_or(GATES.len());
        series.sort_by(|a, b| (rank(&a.gate), &a.id).cmp(&(rank(&b.gate), &b.id)));
        Self {
            stacks: size_stack(&runs, &stop_of).into_iter().collect(),
            stops,
            environments,
            series,
            left_out,
        }
    }

    pub(crate) fn series(&self, id: &str) -> Option<&Series> {
        self.series.iter().find(|s| s.id == id)
    }
}

fn point(stop: usize, environment: usize, dirty: bool, samples: &[Sample]) -> Point {
    let mut values: Vec<f64> = samples.iter().map(|s| s.value).collect();
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let value = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    let lows = samples.iter().filter_map(|s| s.interval.map(|i| i.0));
    let highs = samples.iter().filter_map(|s| s.interval.map(|i| i.1));
    let has_interval = n > 1 || samples.iter().any(|s| s.interval.is_some());
    Point {
        stop,
        environment,
        value,
        low: has_interval.then(|| lows.chain(values.iter().copied()).fold(f64::MAX, f64::min)),
        high: has_interval.then(|| highs.chain(values.iter().copied()).fold(f64::MIN, f64::max)),
        runs: n,
        verdict: samples.iter().rev().find_map(|s| s.verdict.clone()),
        kernel: samples.last().map(|s| s.kernel.clone()).unwrap_or_default(),
        dirty,
    }
}

fn number(v: &Value) -> Option<f64> {
    v.as_f64().filter(|v| v.is_finite())
}

/// The figures of one run, by gate.
fn samples(run: &Run) -> Vec<Sample> {
    let mut out = Vec::new();
    let verdict = |key: &str| run.verdicts.get(key).cloned();
    let mut push = |id: String,
                    title: String,
                    unit: Unit,
                    better: Better,
                    noise: Noise,
                    value: Option<f64>,
                    interval: Option<(f64, f64)>,
                    verdict: Option<String>| {
        if let Some(value) = value {
            out.push(Sample {
                id,
                title,
                unit,
                better,
                noise,
                value,
                interval,
                verdict,
                kernel: run.fingerprint.kernel.clone(),
            });
        }
    };
    let items = run.figures.as_object();
    match run.gate.as_str() {
        "size" => {
            for (name, m) in items.into_iter().flatten() {
                let title = if name == "reference" {
                    "axum reference: stripped binary".to_owned()
                } else {
                    format!("{name}: stripped binary")
                };
                push(
                    format!("size/{name}"),
                    title,
                    Unit::Bytes,
                    Better::Lower,
                    Noise::Exact,
                    number(&m["stripped_bytes"]),
                    None,
                    verdict(name),
                );
            }
        }
        "instructions" | "bench" => {
            let instructions = run.gate == "instructions";
            for (id, v) in items.into_iter().flatten() {
                let (value, interval) = match v {
                    Value::Object(o) => (
                        o.get("value").and_then(number),
                        o.get("low")
                            .and_then(number)
                            .zip(o.get("high").and_then(number)),
                    ),
                    v => (number(v), None),
                };
                push(
                    format!("{}/{id}", run.gate),
                    id.clone(),
                    if instructions {
                        Unit::Instructions
                    } else {
                        Unit::OpsPerSec
                    },
                    if instructions {
                        Better::Lower
                    } else {
                        Better::Higher
                    },
                    if instructions {
                        Noise::Counted
                    } else {
                        Noise::Timed
                    },
                    value,
                    interval,
                    verdict(id),
                );
            }
        }
        "memory" => {
            for (scenario, f) in items.into_iter().flatten() {
                for (field, what) in [
                    ("peak_bytes", "heap peak"),
                    ("bytes_per_event", "heap bytes per event"),
                ] {
                    push(
                        format!("memory/{scenario}/{field}"),
                        format!("{scenario}: {what}"),
                        Unit::Bytes,
                        Better::Lower,
                        Noise::Counted,
                        number(&f[field]),
                        None,
                        verdict(scenario),
                    );
                }
            }
        }
        "techempower" => {
            // A smoke run is a few seconds per test: kept apart from the full runs.
            let smoke = run.figures["smoke"].as_bool().unwrap_or(false);
            let (suffix, note) = if smoke {
                ("/smoke", " (smoke run)")
            } else {
                ("", "")
            };
            for ratio in run.figures["ratios"].as_array().into_iter().flatten() {
                let (Some(test), Some(reference)) =
                    (ratio["test"].as_str(), ratio["reference"].as_str())
                else {
                    continue;
                };
                for (field, what) in [("cpu", "CPU per request"), ("rps", "requests/s")] {
                    let spread = &ratio[field];
                    push(
                        format!("techempower/{test}/{reference}/{field}{suffix}"),
                        format!("{test}: {what}, AllFrame's advantage over {reference}{note}"),
                        Unit::Ratio,
                        Better::Higher,
                        Noise::Timed,
                        number(&spread["median"]),
                        number(&spread["min"]).zip(number(&spread["max"])),
                        verdict(&format!("{test}/{reference}")),
                    );
                }
            }
        }
        "demos" => {
            for (demo, f) in items.into_iter().flatten() {
                for (field, what, unit, noise) in [
                    ("p99_us", "p99 latency", Unit::Micros, Noise::Timed),
                    ("idle_rss_bytes", "idle RSS", Unit::Bytes, Noise::Timed),
                    ("startup_ms", "start-up", Unit::Millis, Noise::Timed),
                    (
                        "reopen_ms",
                        "restart on its data",
                        Unit::Millis,
                        Noise::Timed,
                    ),
                    ("code_lines", "code lines", Unit::Lines, Noise::Exact),
                ] {
                    push(
                        format!("demos/{demo}/{field}"),
                        format!("{demo}: {what}"),
                        unit,
                        Better::Lower,
                        noise,
                        number(&f[field]),
                        None,
                        verdict(demo),
                    );
                }
            }
        }
        "load" => {
            // Keyed by profile, `/smoke` for CI's few seconds (kept apart from full runs).
            for (profile, f) in items.into_iter().flatten() {
                for (field, what, unit, better) in [
                    (
                        "p99_us",
                        "p99 latency (corrected)",
                        Unit::Micros,
                        Better::Lower,
                    ),
                    (
                        "p50_us",
                        "p50 latency (corrected)",
                        Unit::Micros,
                        Better::Lower,
                    ),
                    (
                        "breaking_rate",
                        "breaking point",
                        Unit::OpsPerSec,
                        Better::Higher,
                    ),
                    (
                        "recovery_s",
                        "recovery after the spike (s)",
                        Unit::Number,
                        Better::Lower,
                    ),
                    (
                        "rss_slope_mib_per_hour",
                        "RSS slope (MiB/h)",
                        Unit::Number,
                        Better::Lower,
                    ),
                ] {
                    push(
                        format!("load/{profile}/{field}"),
                        format!("{profile}: {what}"),
                        unit,
                        better,
                        Noise::Timed,
                        number(&f[field]),
                        None,
                        verdict(profile.strip_suffix("/smoke").unwrap_or(profile)),
                    );
                }
            }
        }
        // A gate this report does not know yet: every number it recorded, by its path.
        gate => {
            let mut leaves = Vec::new();
            flatten(&run.figures, String::new(), &mut leaves);
            for (path, value) in leaves {
                push(
                    format!("{gate}/{path}"),
                    path.clone(),
                    Unit::Number,
                    Better::Lower,
                    Noise::Timed,
                    Some(value),
                    None,
                    verdict(path.split('/').next().unwrap_or_default()),
                );
            }
        }
    }
    out
}

fn flatten(value: &Value, path: String, out: &mut Vec<(String, f64)>) {
    match value {
        Value::Object(o) => {
            for (k, v) in o {
                let path = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}/{k}")
                };
                flatten(v, path, out);
            }
        }
        v => {
            if let Some(n) = number(v) {
                out.push((path, n));
            }
        }
    }
}

/// The default configuration's `.text` by crate: the five largest at the latest stop, and
/// the rest as one layer.
fn size_stack(runs: &[Run], stop_of: &dyn Fn(&Run) -> Option<usize>) -> Option<Stack> {
    const LAYERS: usize = 5;
    let mut by_stop: BTreeMap<usize, &serde_json::Map<String, Value>> = BTreeMap::new();
    for run in runs.iter().filter(|r| r.gate == "size") {
        if let (Some(stop), Some(crates)) =
            (stop_of(run), run.figures["default"]["crates"].as_object())
        {
            // Runs are in time order: the latest at a stop wins.
            by_stop.insert(stop, crates);
        }
    }
    let (_, latest) = by_stop.last_key_value()?;
    let mut largest: Vec<(&String, f64)> = latest
        .iter()
        .filter_map(|(k, v)| Some((k, number(v)?)))
        .collect();
    largest.sort_by(|a, b| b.1.total_cmp(&a.1));
    let names: Vec<String> = largest
        .iter()
        .take(LAYERS)
        .map(|(k, _)| (*k).clone())
        .collect();
    let mut layers: Vec<(String, Vec<f64>)> =
        names.iter().map(|n| (n.clone(), Vec::new())).collect();
    let mut rest = Vec::new();
    for crates in by_stop.values() {
        let total: f64 = crates.values().filter_map(number).sum();
        let mut shown = 0.0;
        for (name, values) in &mut layers {
            let v = crates.get(name.as_str()).and_then(number).unwrap_or(0.0);
            shown += v;
            values.push(v);
        }
        rest.push(total - shown);
    }
    layers.push(("every other crate".to_owned(), rest));
    Some(Stack {
        title: "default: .text by crate".to_owned(),
        stops: by_stop.keys().copied().collect(),
        layers,
    })
}
