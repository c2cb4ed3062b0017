//! `quality.toml`: loaded and validated in one place. An unknown key or a wrong type is an
//! error that names the key and the line.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Quality {
    pub(crate) ci: Ci,
    pub(crate) database: Database,
    pub(crate) size: Size,
    /// `cargo xtask memory`; absent until a file configures it.
    pub(crate) memory: Option<Memory>,
    /// `cargo xtask bench`; absent until a file configures it.
    pub(crate) bench: Option<Bench>,
    /// `cargo xtask techempower`; absent until a file configures it.
    pub(crate) techempower: Option<Techempower>,
    /// `cargo xtask demos`; absent until a file configures it.
    pub(crate) demos: Option<Demos>,
    /// `cargo xtask load`; absent until a file configures it.
    pub(crate) load: Option<Load>,
}

/// `[load]`: the load profiles, their SLO, the targets they load and the paired comparison.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Load {
    /// The `[[load.target_app]]` loaded when `--target` names none.
    pub(crate) target: String,
    /// The most connections the generator opens.
    pub(crate) connections: u32,
    /// Corrected p99 over this warns, in ms.
    pub(crate) slo_p99_ms: f64,
    /// Errors and non-2xx answers over this share fail (but in stress, which looks for them).
    pub(crate) max_error_rate: f64,
    pub(crate) sustained: Sustained,
    pub(crate) spike: Spike,
    pub(crate) stress: Stress,
    pub(crate) soak: Soak,
    pub(crate) against: LoadAgainst,
    #[serde(rename = "target_app")]
    pub(crate) targets: Vec<LoadTarget>,
}

/// `[[load.target_app]]`: what can be loaded and with which requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoadTarget {
    /// A `[[demos.demo]]` name, or `techempower` (AllFrame's TechEmpower server on its
    /// seeded database).
    pub(crate) name: String,
    /// Its request mix (the load generator's `--mix` file), from the workspace root.
    pub(crate) mix: String,
    /// Sent once on a fresh store before the load (what the mix's requests read or change).
    #[serde(default)]
    pub(crate) setup: Vec<SeedRequest>,
}

/// `[load.against]`: `load --against REV`, base and head interleaved on one profile.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoadAgainst {
    /// Length of each run, in seconds (the profile's own phases scaled to it).
    pub(crate) seconds: f64,
    pub(crate) blocks: usize,
    pub(crate) max_blocks: usize,
    pub(crate) alpha: f64,
    /// Severity thresholds on a rise of p95 or p99, in percent.
    pub(crate) minor_percent: f64,
    pub(crate) major_percent: f64,
    pub(crate) critical_percent: f64,
    /// A significant rise whose lower bound passes this fails, in percent.
    pub(crate) fail_percent: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Sustained {
    pub(crate) rate: f64,
    pub(crate) seconds: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Spike {
    pub(crate) rate: f64,
    /// The spike's rate over the steady one.
    pub(crate) factor: f64,
    pub(crate) before_seconds: f64,
    pub(crate) spike_seconds: f64,
    pub(crate) after_seconds: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Stress {
    pub(crate) start_rate: f64,
    /// Each step's rate over the last.
    pub(crate) factor: f64,
    pub(crate) step_seconds: f64,
    pub(crate) steps: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Soak {
    pub(crate) rate: f64,
    pub(crate) seconds: f64,
    /// RSS growth over the second half above this warns, in MiB per hour.
    pub(crate) leak_budget_mib_per_hour: f64,
}

/// `[demos]`: the demo applications and their budgets.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Demos {
    /// Code lines of a demo's `src/` over this warn (the PRD's budget).
    pub(crate) code_lines_target: usize,
    /// Code lines over this fail, unless a demo sets its own limit.
    pub(crate) code_lines_limit: usize,
    /// Start-up (spawn to a healthy `GET /health`) over this is reported, in ms.
    pub(crate) startup_goal_ms: f64,
    /// Resident memory once healthy over this is reported, in MiB.
    pub(crate) idle_rss_goal_mib: f64,
    /// Events added through each demo's `seed` request before it is started again (0: the
    /// reopen is timed on the scenario's events alone); `--reopen-events` overrides it.
    pub(crate) reopen_events: usize,
    /// Start-up on the reopened store over this is reported, in ms.
    pub(crate) reopen_goal_ms: f64,
    #[serde(rename = "demo")]
    pub(crate) demos: Vec<Demo>,
}

/// A request of a demo's seed: `{ method = "POST", path = "/x", body = '{...}' }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SeedRequest {
    pub(crate) method: String,
    pub(crate) path: String,
    /// A JSON body.
    pub(crate) body: Option<String>,
    /// Request headers (`{ authorization = "Token {captured}" }`).
    #[serde(default)]
    pub(crate) headers: std::collections::BTreeMap<String, String>,
    /// A JSON pointer into the answer (`/user/token`): its string is `{captured}` in the
    /// requests this connection sends after it.
    pub(crate) capture: Option<String>,
}

/// `[[demos.demo]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Demo {
    pub(crate) name: String,
    /// Its package (and binary).
    pub(crate) package: String,
    /// Its directory, from the workspace root.
    pub(crate) path: String,
    /// The integration test (`tests/<name>.rs`) holding its contract scenario.
    pub(crate) contract_test: String,
    /// Its own code-line limit, justified beside it.
    pub(crate) code_lines_limit: Option<usize>,
    /// The contract scenario's p99 over this fails, in ms.
    pub(crate) p99_limit_ms: Option<f64>,
    /// The p99 budget of each probe the scenario times itself (`Contract::probe`), in ms:
    /// over it warns (a wall-clock figure on a shared machine), a probe missing fails.
    #[serde(default)]
    pub(crate) probe_p99_budgets_ms: BTreeMap<String, f64>,
    /// Sent once before seeding (to create what `seed` adds events to).
    #[serde(default)]
    pub(crate) seed_setup: Vec<SeedRequest>,
    /// A request that appends one event, sent until the store holds `reopen_events` more;
    /// a demo without one keeps no events and is only restarted.
    pub(crate) seed: Option<SeedRequest>,
}

/// `[techempower]`: the TechEmpower servers, their load and the ratios between them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Techempower {
    /// The package holding the servers.
    pub(crate) package: String,
    /// AllFrame's server binary.
    pub(crate) server: String,
    /// The package (and binary) of the load generator.
    pub(crate) loadgen: String,
    /// The database the servers use, created and seeded as TFB does.
    pub(crate) database: String,
    /// Rounds of A B A B (at least 3 for a spread).
    pub(crate) rounds: usize,
    /// Measured seconds per run.
    pub(crate) duration_secs: f64,
    /// Load before the rounds of each test and server, not measured.
    pub(crate) warmup_secs: f64,
    /// Seconds per run of the short smoke load (`--smoke`, as CI runs it).
    pub(crate) smoke_secs: f64,
    #[serde(rename = "reference")]
    pub(crate) references: Vec<TfbReference>,
    #[serde(rename = "test")]
    pub(crate) tests: Vec<TfbTest>,
}

/// `[[techempower.reference]]`: a server measured beside AllFrame's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TfbReference {
    pub(crate) name: String,
    pub(crate) binary: String,
    /// The test types it implements.
    pub(crate) tests: Vec<String>,
}

/// `[[techempower.test]]`: one TFB test type, its load and its goals.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TfbTest {
    pub(crate) name: String,
    pub(crate) connections: usize,
    /// Requests per write (16 for plaintext, as TFB).
    #[serde(default = "one")]
    pub(crate) pipeline: usize,
    /// AllFrame's req/s under this is a warning (the seed's figure).
    pub(crate) target_rps: Option<f64>,
    /// Per reference: its CPU time per request over AllFrame's must be at least this
    /// (1.0: AllFrame spends no more CPU per request).
    #[serde(default)]
    pub(crate) min_cpu_ratio: BTreeMap<String, f64>,
    /// Per reference: AllFrame's req/s over its req/s must be at least this.
    #[serde(default)]
    pub(crate) min_rps_ratio: BTreeMap<String, f64>,
}

fn one() -> usize {
    1
}

/// `[bench]`: the criterion suites and the regression gates.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Bench {
    /// The package whose `[[bench]]` targets are the suites.
    pub(crate) package: String,
    /// Blocks of `--against` (each runs base and head twice, ABBA).
    pub(crate) blocks: usize,
    /// While a verdict is undecided, blocks are added one at a time up to this many.
    pub(crate) max_blocks: usize,
    /// Significance level of each benchmark's test (Holm-corrected across the suite).
    pub(crate) alpha: f64,
    /// Severity thresholds on a slowdown's lower confidence bound, in percent.
    pub(crate) minor_percent: f64,
    pub(crate) major_percent: f64,
    pub(crate) critical_percent: f64,
    /// A significant slowdown whose lower bound passes this fails `--against`, in percent.
    pub(crate) fail_percent: f64,
    #[serde(rename = "target", default)]
    pub(crate) targets: Vec<BenchTarget>,
    pub(crate) instructions: Instructions,
}

/// `[[bench.target]]`: a benchmark's throughput floor (the seed's figure) and goal.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BenchTarget {
    /// criterion's full id, `group/function`.
    pub(crate) id: String,
    pub(crate) floor_ops: Option<f64>,
    pub(crate) goal_ops: Option<f64>,
}

/// `[bench.instructions]`: instruction counts of hot operations under callgrind.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Instructions {
    /// The binary of the package that runs one operation many times.
    pub(crate) binary: String,
    /// Iterations per measurement; the count per operation is the difference between
    /// runs of 2N and N, so set-up costs cancel out.
    pub(crate) iterations: u64,
    #[serde(rename = "benchmark")]
    pub(crate) benchmarks: Vec<InstructionBenchmark>,
}

/// `[[bench.instructions.benchmark]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InstructionBenchmark {
    pub(crate) id: String,
    /// Growth over the baseline that warns, in percent.
    pub(crate) soft_percent: f64,
    /// Growth over the baseline that fails, in percent.
    pub(crate) hard_percent: f64,
}

/// `[memory]`: heap scenarios under dhat.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Memory {
    /// The package whose binary runs the scenarios, one per process.
    pub(crate) package: String,
    /// Growth of a scenario's peak or retained heap against baselines/memory.json.
    pub(crate) growth_warn_percent: f64,
    pub(crate) growth_fail_percent: f64,
    #[serde(rename = "scenario")]
    pub(crate) scenarios: Vec<MemoryScenario>,
}

/// `[[memory.scenario]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MemoryScenario {
    /// The scenario's name, as the binary knows it.
    pub(crate) name: String,
    /// Events (or commands) it handles.
    pub(crate) events: u64,
    /// Peak heap over this fails, in MiB.
    pub(crate) limit_mib: Option<f64>,
    /// Peak heap over this is reported (our goal), in MiB.
    pub(crate) goal_mib: Option<f64>,
    /// Heap kept at the end over the start, over this fails, in MiB (a "no growth" check).
    pub(crate) retained_limit_mib: Option<f64>,
    /// Store overhead per event (beyond the payload's own bytes) over this is reported.
    pub(crate) overhead_goal_bytes: Option<f64>,
}

/// `[size]`: binary size of each feature configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Size {
    /// The package whose binary is measured, built once per configuration.
    pub(crate) probe: String,
    /// The package built beside it for the ratio (axum's hello world).
    pub(crate) reference: String,
    /// Crates listed per configuration.
    pub(crate) top_crates: usize,
    /// Growth of the stripped size against the baseline that warns, in percent.
    pub(crate) growth_warn_percent: f64,
    /// Growth of the stripped size against the baseline that fails, in percent.
    pub(crate) growth_fail_percent: f64,
    #[serde(rename = "config")]
    pub(crate) configs: Vec<SizeConfig>,
}

/// `[[size.config]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SizeConfig {
    pub(crate) name: String,
    /// Features of the probe (named as the `allframe` features they enable).
    pub(crate) features: Vec<String>,
    /// Over this is a warning (the PRD's target), in MiB.
    pub(crate) target_mib: f64,
    /// Over this is a failure (the PRD's hard limit), in MiB.
    pub(crate) limit_mib: f64,
    /// Our own goal, in MiB: over it is reported, not failed.
    pub(crate) goal_mib: Option<f64>,
    /// Our own goal as a ratio to the reference binary.
    pub(crate) goal_vs_reference: Option<f64>,
}

/// `[ci]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Ci {
    /// Steps of `cargo xtask ci`, in order.
    pub(crate) steps: Vec<Step>,
}

/// A step of `cargo xtask ci`.
/// Its name is the variant's kebab-case (`BenchTest` is `bench-test`) for serde and strum
/// alike; `Step::VARIANTS` lists them all.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Deserialize, strum::IntoStaticStr, strum::VariantArray,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub(crate) enum Step {
    Fmt,
    Clippy,
    /// Every facade feature alone and together, and the additivity fixtures.
    Features,
    Test,
    Size,
    Memory,
    /// Each benchmark once, as a test.
    BenchTest,
    /// The instruction-count gate.
    Instructions,
    /// TechEmpower verification of every test and a short load.
    Techempower,
    /// Every demo started, exercised by its contract scenario and stopped.
    Demos,
    /// A few seconds of each load profile against the `[load]` demo.
    Load,
}

impl Step {
    /// The gate this step runs, if it is one.
    pub(crate) fn gate(self) -> Option<crate::gates::Gate> {
        use crate::gates::Gate;
        match self {
            Step::Size => Some(Gate::Size),
            Step::Memory => Some(Gate::Memory),
            Step::Instructions => Some(Gate::Instructions),
            Step::Techempower => Some(Gate::Techempower),
            Step::Demos => Some(Gate::Demos),
            Step::Load => Some(Gate::Load),
            Step::Fmt | Step::Clippy | Step::Features | Step::Test | Step::BenchTest => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        self.into()
    }
}

/// `[database]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Database {
    /// Used when `DATABASE_URL` is not set.
    pub(crate) default_url: url::Url,
}

pub(crate) const FILE: &str = "quality.toml";

/// The entries named in `names` (all of them when none are named); an unknown name is an
/// error listing the known ones.
pub(crate) fn select<'a, T>(
    all: &'a [T],
    names: &[String],
    name_of: impl Fn(&T) -> &str,
    what: &str,
) -> Result<Vec<&'a T>> {
    if names.is_empty() {
        return Ok(all.iter().collect());
    }
    names
        .iter()
        .map(|name| {
            all.iter().find(|t| name_of(t) == name).with_context(|| {
                let known: Vec<&str> = all.iter().map(&name_of).collect();
                format!(
                    "no {what} `{name}` in quality.toml (known: {})",
                    known.join(", ")
                )
            })
        })
        .collect()
}

/// Reads and validates `quality.toml` at the workspace root.
pub(crate) fn load() -> Result<Quality> {
    load_from(&crate::shell::root().join(FILE))
}

pub(crate) fn load_from(path: &Path) -> Result<Quality> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading {} (every budget lives there)", path.display()))?;
    parse(&text).with_context(|| format!("{} is not valid", path.display()))
}

pub(crate) fn parse(text: &str) -> Result<Quality> {
    let quality: Quality = toml::from_str(text).map_err(|err| anyhow::anyhow!("{err}"))?;
    if quality.ci.steps.is_empty() {
        bail!("[ci] steps is empty: list at least one step");
    }
    let size = &quality.size;
    if size.growth_fail_percent < size.growth_warn_percent {
        bail!("[size] growth_fail_percent must not be below growth_warn_percent");
    }
    for (i, config) in size.configs.iter().enumerate() {
        if size.configs[..i].iter().any(|c| c.name == config.name) {
            bail!("[[size.config]] `{}` appears twice", config.name);
        }
        if config.limit_mib < config.target_mib {
            bail!(
                "[[size.config]] `{}`: limit_mib is below target_mib",
                config.name
            );
        }
    }
    if let Some(memory) = &quality.memory {
        if memory.growth_fail_percent < memory.growth_warn_percent {
            bail!("[memory] growth_fail_percent must not be below growth_warn_percent");
        }
        for (i, scenario) in memory.scenarios.iter().enumerate() {
            if memory.scenarios[..i]
                .iter()
                .any(|s| s.name == scenario.name)
            {
                bail!("[[memory.scenario]] `{}` appears twice", scenario.name);
            }
        }
    }
    if let Some(bench) = &quality.bench {
        if !(bench.minor_percent <= bench.major_percent
            && bench.major_percent <= bench.critical_percent)
        {
            bail!("[bench] needs minor_percent <= major_percent <= critical_percent");
        }
        if !(0.0 < bench.alpha && bench.alpha < 1.0) {
            bail!("[bench] alpha must be between 0 and 1");
        }
        if bench.blocks < 2 {
            bail!("[bench] blocks must be at least 2");
        }
        for b in &bench.instructions.benchmarks {
            if b.hard_percent < b.soft_percent {
                bail!(
                    "[[bench.instructions.benchmark]] `{}`: hard_percent is below soft_percent",
                    b.id
                );
            }
        }
    }
    if let Some(tfb) = &quality.techempower {
        validate_techempower(tfb)?;
    }
    if let Some(demos) = &quality.demos {
        if demos.code_lines_limit < demos.code_lines_target {
            bail!("[demos] code_lines_limit must not be below code_lines_target");
        }
        for (i, demo) in demos.demos.iter().enumerate() {
            if demos.demos[..i].iter().any(|d| d.name == demo.name) {
                bail!("[[demos.demo]] `{}` appears twice", demo.name);
            }
        }
    }
    if quality.ci.steps.contains(&Step::Demos) && quality.demos.is_none() {
        bail!("[ci] steps lists `demos` but there is no [demos] section");
    }
    if let Some(load) = &quality.load {
        validate_load(load, quality.demos.as_ref())?;
    } else if quality.ci.steps.contains(&Step::Load) {
        bail!("[ci] steps lists `load` but there is no [load] section");
    }
    for (i, step) in quality.ci.steps.iter().enumerate() {
        if quality.ci.steps[..i].contains(step) {
            bail!("[ci] steps lists `{}` twice", step.name());
        }
    }
    Ok(quality)
}

fn validate_load(load: &Load, demos: Option<&Demos>) -> Result<()> {
    for (i, target) in load.targets.iter().enumerate() {
        let known = target.name == TECHEMPOWER_TARGET
            || demos.is_some_and(|d| d.demos.iter().any(|d| d.name == target.name));
        if !known {
            bail!(
                "[[load.target_app]] `{}` is neither a [[demos.demo]] name nor `{TECHEMPOWER_TARGET}`",
                target.name
            );
        }
        if load.targets[..i].iter().any(|t| t.name == target.name) {
            bail!("[[load.target_app]] `{}` appears twice", target.name);
        }
    }
    if !load.targets.iter().any(|t| t.name == load.target) {
        bail!(
            "[load] target `{}` is not a [[load.target_app]] name",
            load.target
        );
    }
    let a = &load.against;
    if a.blocks < 2 || a.max_blocks < a.blocks || a.seconds <= 0.0 {
        bail!("[load.against] needs blocks >= 2, max_blocks >= blocks and seconds > 0");
    }
    if !(0.0 < a.alpha && a.alpha < 1.0) {
        bail!("[load.against] alpha must be between 0 and 1");
    }
    Ok(())
}

/// The `[[load.target_app]]` name of the TechEmpower server.
pub(crate) const TECHEMPOWER_TARGET: &str = "techempower";

fn validate_techempower(tfb: &Techempower) -> Result<()> {
    use crate::techempower::TestType;
    if tfb.rounds == 0 || tfb.duration_secs <= 0.0 || tfb.smoke_secs <= 0.0 {
        bail!("[techempower] rounds, duration_secs and smoke_secs must be positive");
    }
    let known = || {
        TestType::ALL
            .iter()
            .map(|t| t.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (i, test) in tfb.tests.iter().enumerate() {
        if TestType::parse(&test.name).is_none() {
            bail!(
                "[[techempower.test]] `{}` is not a TFB test type (known: {})",
                test.name,
                known()
            );
        }
        if tfb.tests[..i].iter().any(|t| t.name == test.name) {
            bail!("[[techempower.test]] `{}` appears twice", test.name);
        }
        if test.connections == 0 || test.pipeline == 0 {
            bail!(
                "[[techempower.test]] `{}`: connections and pipeline must be positive",
                test.name
            );
        }
        for name in test.min_cpu_ratio.keys().chain(test.min_rps_ratio.keys()) {
            if !tfb.references.iter().any(|r| &r.name == name) {
                bail!(
                    "[[techempower.test]] `{}` names `{name}`, which is no [[techempower.reference]]",
                    test.name
                );
            }
        }
    }
    for (i, reference) in tfb.references.iter().enumerate() {
        if tfb.references[..i].iter().any(|r| r.name == reference.name) {
            bail!(
                "[[techempower.reference]] `{}` appears twice",
                reference.name
            );
        }
        for test in &reference.tests {
            if !tfb.tests.iter().any(|t| &t.name == test) {
                bail!(
                    "[[techempower.reference]] `{}` lists `{test}`, which is no [[techempower.test]]",
                    reference.name
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = r#"
[ci]
steps = ["fmt", "clippy", "test"]

[database]
default_url = "postgres://postgres@127.0.0.1:5432/postgres"

[size]
probe = "size-probe"
reference = "size-axum"
top_crates = 8
growth_warn_percent = 5.0
growth_fail_percent = 10.0

[[size.config]]
name = "minimal"
features = []
target_mib = 2.0
limit_mib = 3.0
goal_vs_reference = 1.25
"#;

    fn error(text: &str) -> String {
        format!("{:#}", parse(text).unwrap_err())
    }

    #[test]
    fn the_committed_file_is_valid() {
        let quality = load().expect("quality.toml at the root parses");
        assert!(quality.ci.steps.contains(&Step::Test));
    }

    #[test]
    fn a_load_target_is_a_demo_or_the_techempower_server_and_the_default_is_one() {
        let text = std::fs::read_to_string(crate::shell::root().join("quality.toml")).unwrap();
        let err = error(&text.replace(r#"name = "techempower""#, r#"name = "techempowr""#));
        assert!(
            err.contains("`techempowr` is neither a [[demos.demo]]"),
            "{err}"
        );
        let err = error(&text.replace(r#"target = "ecommerce-api""#, r#"target = "shop""#));
        assert!(err.contains("`shop` is not a [[load.target_app]]"), "{err}");
        let err = error(&text.replace("max_blocks = 8", "max_blocks = 1"));
        assert!(err.contains("[load.against] needs blocks >= 2"), "{err}");
    }

    #[test]
    fn the_demos_gate_needs_its_section_and_sane_limits() {
        let err = error(&VALID.replace(r#""test"]"#, r#""test", "demos"]"#));
        assert!(err.contains("no [demos] section"), "{err}");
        let demos = "\n[demos]\ncode_lines_target = 500\ncode_lines_limit = 400\nstartup_goal_ms = 200.0\nidle_rss_goal_mib = 20.0\nreopen_events = 0\nreopen_goal_ms = 1000.0\ndemo = []\n";
        let err = error(&format!("{VALID}{demos}"));
        assert!(err.contains("code_lines_limit must not be below"), "{err}");
        let typo = demos.replace("code_lines_limit = 400", "code_line_limit = 900");
        let err = error(&format!("{VALID}{typo}"));
        assert!(err.contains("unknown field `code_line_limit`"), "{err}");
    }

    #[test]
    fn a_valid_file_parses() {
        let quality = parse(VALID).unwrap();
        assert_eq!(quality.ci.steps, [Step::Fmt, Step::Clippy, Step::Test]);
        assert_eq!(quality.database.default_url.port(), Some(5432));
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        let text = VALID.replace("steps =", "stpes =");
        let err = error(&text);
        assert!(err.contains("unknown field `stpes`"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn an_unknown_section_is_named() {
        let err = error(&format!("[sise]\nlimit = 1\n{VALID}"));
        assert!(err.contains("unknown field `sise`"), "{err}");
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn a_wrong_type_is_named_with_its_line() {
        let err = error(&VALID.replace(r#"["fmt", "clippy", "test"]"#, r#""fmt""#));
        assert!(
            err.contains("invalid type") && err.contains("line 3"),
            "{err}"
        );
        let err = error(&VALID.replace("postgres://postgres@127.0.0.1:5432/postgres", "not a url"));
        assert!(
            err.contains("line 6") && err.contains("default_url"),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_step_is_named() {
        let err = error(&VALID.replace(r#""clippy""#, r#""clipy""#));
        assert!(err.contains("unknown variant `clipy`"), "{err}");
        assert!(
            err.contains("`fmt`, `clippy`, `features`, `test`, `size`, `memory`"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_section_or_a_repeated_step_is_an_error() {
        let err = error("[ci]\nsteps = [\"fmt\"]\n");
        assert!(err.contains("missing field `database`"), "{err}");
        let err = error(&VALID.replace("limit_mib = 3.0", "limit_mib = 1.0"));
        assert!(
            err.contains("`minimal`: limit_mib is below target_mib"),
            "{err}"
        );
        let err = error(&VALID.replace("target_mib = 2.0", "target_mb = 2.0"));
        assert!(
            err.contains("unknown field `target_mb`") && err.contains("line 18"),
            "{err}"
        );
        let err = error(&VALID.replace(r#""clippy""#, r#""fmt""#));
        assert!(err.contains("lists `fmt` twice"), "{err}");
    }

    const TECHEMPOWER: &str = r#"
[techempower]
package = "allframe-techempower"
server = "tfb-allframe"
loadgen = "allframe-loadgen"
database = "hello_world"
rounds = 3
duration_secs = 5.0
warmup_secs = 1.0
smoke_secs = 1.0

[[techempower.reference]]
name = "axum"
binary = "tfb-axum"
tests = ["json"]

[[techempower.test]]
name = "json"
connections = 64
min_cpu_ratio = { axum = 1.0 }
"#;

    #[test]
    fn techempower_tests_and_references_are_checked() {
        let quality = parse(&format!("{VALID}{TECHEMPOWER}")).unwrap();
        let tfb = quality.techempower.unwrap();
        assert_eq!(
            (tfb.tests[0].pipeline, tfb.tests[0].min_cpu_ratio["axum"]),
            (1, 1.0)
        );
        let err = error(&format!(
            "{VALID}{}",
            TECHEMPOWER.replace(r#"name = "json""#, r#"name = "jsn""#)
        ));
        assert!(
            err.contains("`jsn` is not a TFB test type") && err.contains("plaintext"),
            "{err}"
        );
        let err = error(&format!(
            "{VALID}{}",
            TECHEMPOWER.replace("{ axum = 1.0 }", "{ actix = 1.0 }")
        ));
        assert!(
            err.contains("names `actix`, which is no [[techempower.reference]]"),
            "{err}"
        );
        let err = error(&format!(
            "{VALID}{}",
            TECHEMPOWER.replace(r#"tests = ["json"]"#, r#"tests = ["db"]"#)
        ));
        assert!(
            err.contains("lists `db`, which is no [[techempower.test]]"),
            "{err}"
        );
        let err = error(&format!(
            "{VALID}{}",
            TECHEMPOWER.replace("connections = 64", "conections = 64")
        ));
        assert!(
            err.contains("unknown field `conections`") && err.contains("line 39"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_file_says_where_budgets_live() {
        let err = format!(
            "{:#}",
            load_from(Path::new("/nonexistent/quality.toml")).unwrap_err()
        );
        assert!(
            err.contains("/nonexistent/quality.toml") && err.contains("budget"),
            "{err}"
        );
    }
}
