//! `cargo xtask techempower`: AllFrame's TechEmpower server and its references (axum, raw
//! hyper), verified by TFB's rules, then loaded side by side in one run.
//!
//! Absolute req/s from a shared 2-core machine mean little; what one run can show is how
//! AllFrame compares with axum and hyper on the same database, load generator and core. The
//! server runs pinned to one core and the load generator to the other; rounds interleave
//! the servers (A B, then B A) so drift favours neither; each round gives a ratio, and the report shows
//! their median and range. CPU time per request (from `/proc`) is the figure to compare:
//! the load generator saturates its own core before hyper-based servers do, so req/s alone
//! would compare load generators.

pub(crate) mod database;
mod load;
mod report;
pub(crate) mod servers;
mod verify;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use xshell::cmd;

use self::database::Choice;
use self::report::{Ratio, ServerRuns, TestRuns, Verdict};
use self::servers::{Pinning, Server};
pub(crate) use self::verify::TestType;
use self::verify::{DatabaseProbe, Finding, Severity};
use crate::config::{self, TfbTest};
use crate::level::Level;
use crate::shell;
use crate::summary::{self, Table};

#[derive(Debug, Default, clap::Args)]
pub(crate) struct Args {
    /// Test types to run, comma-separated (default: every `[[techempower.test]]`).
    #[arg(long, value_delimiter = ',')]
    test: Vec<String>,
    /// References to run beside AllFrame, comma-separated (default: all of them).
    #[arg(long, value_delimiter = ',')]
    vs: Vec<String>,
    /// Measured seconds per run (default: quality.toml's `duration_secs`).
    #[arg(long)]
    duration: Option<f64>,
    /// Rounds of A B A B (default: quality.toml's `rounds`).
    #[arg(long)]
    rounds: Option<usize>,
    /// PostgreSQL: `auto` (DATABASE_URL, quality.toml's default, else a throwaway cluster),
    /// `none` (json and plaintext only), `throwaway`, or a postgres:// URL.
    #[arg(long, default_value = "auto")]
    database: Choice,
    /// What CI runs: verification of every test, then one short round of load whose
    /// figures are not judged.
    #[arg(long)]
    smoke: bool,
    /// Verification only, no load.
    #[arg(long)]
    verify_only: bool,
    /// Print the results as JSON on stdout.
    #[arg(long)]
    json: bool,
}

impl Args {
    /// What `cargo xtask ci` runs.
    pub(crate) fn smoke() -> Self {
        Self {
            smoke: true,
            ..Self::default()
        }
    }
}

/// Everything `--json` prints.
#[derive(Debug, Serialize)]
struct Output {
    database: String,
    pinning: String,
    verification: Vec<Checked>,
    tests: Vec<TestRuns>,
    ratios: Vec<Ratio>,
    verdicts: Vec<Verdict>,
}

/// One server's verification of one test (or of its Date header, test "date").
#[derive(Debug, Serialize)]
struct Checked {
    server: String,
    test: String,
    findings: Vec<Finding>,
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let quality = config::load()?;
    let tfb = quality
        .techempower
        .as_ref()
        .context("quality.toml has no [techempower] section")?;
    let selected = config::select(&tfb.tests, &args.test, |t| &t.name, "techempower test")?;
    let references = config::select(&tfb.references, &args.vs, |r| &r.name, "reference")?;
    let test_type = |t: &TfbTest| TestType::parse(&t.name).expect("validated with the config");

    let bin_dir = build(&tfb.package, &tfb.loadgen)?;

    let needs_database = selected.iter().any(|t| test_type(t).needs_database());
    let database = if needs_database {
        database::prepare(&args.database, &quality, &tfb.database)?
    } else {
        Err("no selected test uses it".to_owned())
    };
    let database_note = match &database {
        Ok(db) => format!("{}; database `{}`", db.origin, tfb.database),
        Err(why) => format!("no PostgreSQL ({why}): database tests left out"),
    };
    eprintln!("{database_note}");
    let tests: Vec<&TfbTest> = selected
        .into_iter()
        .filter(|t| database.is_ok() || !test_type(t).needs_database())
        .collect();
    let (pinning, pinning_note) = Pinning::detect();
    eprintln!("{pinning_note}");

    let log_dir = shell::target_dir().join("techempower");
    std::fs::create_dir_all(&log_dir).with_context(|| format!("creating {}", log_dir.display()))?;
    let db_url = database.as_ref().ok().map(|db| &db.url);
    let mut servers = Vec::new();
    let ours: Vec<TestType> = tests.iter().map(|t| test_type(t)).collect();
    servers.push(("allframe", tfb.server.as_str(), ours));
    for reference in &references {
        let theirs: Vec<TestType> = tests
            .iter()
            .filter(|t| reference.tests.contains(&t.name))
            .map(|t| test_type(t))
            .collect();
        if !theirs.is_empty() {
            servers.push((reference.name.as_str(), reference.binary.as_str(), theirs));
        }
    }
    let mut servers: Vec<Server> = servers
        .into_iter()
        .map(|(name, binary, tests)| {
            let log = log_dir.join(format!("{name}.log"));
            Server::start(
                name,
                &bin_dir.join(binary),
                tests,
                db_url,
                pinning.server,
                &log,
            )
        })
        .collect::<Result<_>>()?;

    // Verification: a server that breaks a rule on a test is not loaded on it.
    let mut probe = match &database {
        Ok(db) => Some(database::Probe::connect(db)?),
        Err(_) => None,
    };
    let mut verification = Vec::new();
    for server in &mut servers {
        eprintln!("verifying {} on {}", server.name, server.addr);
        let date = verify::verify_date_changes(server.addr);
        let date_failed = date.iter().any(|f| f.severity == Severity::Fail);
        verification.push(Checked {
            server: server.name.clone(),
            test: "date".to_owned(),
            findings: date,
        });
        let mut passed = Vec::new();
        for &test in &server.tests {
            let findings = verify::verify(
                server.addr,
                test,
                probe.as_mut().map(|p| p as &mut dyn DatabaseProbe),
            );
            if !date_failed && !findings.iter().any(|f| f.severity == Severity::Fail) {
                passed.push(test);
            }
            verification.push(Checked {
                server: server.name.clone(),
                test: test.name().to_owned(),
                findings,
            });
        }
        server.tests = passed;
    }
    let ours_failed = verification
        .iter()
        .any(|c| c.server == "allframe" && c.findings.iter().any(|f| f.severity == Severity::Fail));
    verification_table(&verification).publish()?;

    let mut output = Output {
        database: database_note,
        pinning: pinning_note,
        verification,
        tests: Vec::new(),
        ratios: Vec::new(),
        verdicts: Vec::new(),
    };
    if !args.verify_only {
        let loadgen = bin_dir.join(&tfb.loadgen);
        let seconds = if args.smoke {
            tfb.smoke_secs
        } else {
            args.duration.unwrap_or(tfb.duration_secs)
        };
        let rounds = if args.smoke {
            1
        } else {
            args.rounds.unwrap_or(tfb.rounds)
        };
        let ticks = servers::ticks_per_second();
        let total: usize = tests
            .iter()
            .map(|t| {
                servers
                    .iter()
                    .filter(|s| s.tests.contains(&test_type(t)))
                    .count()
                    * rounds
            })
            .sum();
        let progress = ProgressBar::new(total as u64).with_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} ({elapsed})")
                .expect("template"),
        );
        progress.enable_steady_tick(Duration::from_millis(200));
        for goals in &tests {
            let test = test_type(goals);
            let loaded: Vec<&Server> = servers.iter().filter(|s| s.tests.contains(&test)).collect();
            if loaded.first().is_none_or(|s| s.name != "allframe") {
                continue;
            }
            let shape = load::Shape {
                path: test.load_path(),
                connections: goals.connections,
                pipeline: goals.pipeline,
                seconds,
            };
            if !args.smoke && tfb.warmup_secs > 0.0 {
                for server in &loaded {
                    progress.set_message(format!("{}: warming up {}", test.name(), server.name));
                    let warmup = load::Shape {
                        seconds: tfb.warmup_secs,
                        ..shape.clone()
                    };
                    load::run(&loadgen, server, &warmup, pinning.load, ticks)?;
                }
            }
            let mut runs: Vec<ServerRuns> = loaded
                .iter()
                .map(|s| ServerRuns {
                    server: s.name.clone(),
                    samples: Vec::new(),
                })
                .collect();
            for round in 1..=rounds {
                // A B in odd rounds, B A in even ones: a drift over the run favours no one.
                let mut order: Vec<(&&Server, &mut ServerRuns)> =
                    loaded.iter().zip(&mut runs).collect();
                if round % 2 == 0 {
                    order.reverse();
                }
                for (server, runs) in order {
                    progress.set_message(format!(
                        "{}: {} round {round}/{rounds}",
                        test.name(),
                        server.name
                    ));
                    runs.samples
                        .push(load::run(&loadgen, server, &shape, pinning.load, ticks)?);
                    progress.inc(1);
                }
            }
            let runs = TestRuns {
                test: test.name().to_owned(),
                servers: runs,
            };
            let judge = !args.smoke;
            output.ratios.extend(report::ratios(&runs, goals, judge));
            output
                .verdicts
                .extend(report::verdicts(&runs, goals, judge));
            output.tests.push(runs);
        }
        progress.finish_and_clear();
        report::figures_table(&output.tests, rounds).publish()?;
        if !output.ratios.is_empty() {
            report::ratio_table(&output.ratios).publish()?;
        }
        for verdict in &output.verdicts {
            eprintln!("{}: {}", verdict.level.label(), verdict.message);
        }
        let figures = serde_json::json!({
            "smoke": args.smoke,
            "tests": &output.tests,
            "ratios": &output.ratios,
        });
        crate::history::append(
            "techempower",
            &crate::baseline::Fingerprint::current()?,
            &[
                ("requests", "requests"),
                ("requests_per_sec", "requests per second"),
                ("latency_us", "microseconds"),
                ("errors", "requests"),
                ("non_2xx", "responses"),
                ("server_cpu_us_per_request", "microseconds of CPU"),
                ("loadgen_busy", "fraction of a core"),
                ("cpu", "ratio (reference CPU per request / AllFrame's)"),
                ("rps", "ratio (AllFrame's req/s / the reference's)"),
            ],
            &figures,
            &output
                .ratios
                .iter()
                .map(|r| {
                    (
                        format!("{}/{}", r.test, r.reference),
                        r.level.label().to_owned(),
                    )
                })
                .collect(),
        )?;
    }
    drop(servers);
    if args.json {
        summary::print_json(&output)?;
    }

    let failed_ratios = output.ratios.iter().any(|r| r.level == Level::Failure);
    let failed_load = output.verdicts.iter().any(|v| v.level == Level::Failure);
    if ours_failed {
        bail!(
            "AllFrame's server breaks TechEmpower rules (listed above); reproduce with \
             `cargo xtask techempower --verify-only`"
        );
    }
    if failed_load || failed_ratios {
        bail!(
            "AllFrame's server missed a goal of quality.toml [techempower] (listed above); \
             reproduce with `cargo xtask techempower{}`",
            if args.test.is_empty() {
                String::new()
            } else {
                format!(" --test {}", args.test.join(","))
            }
        );
    }
    Ok(())
}

/// Builds the servers and the load generator in release (the profile every measurement
/// uses) and returns the directory holding their executables.
fn build(package: &str, loadgen: &str) -> Result<PathBuf> {
    let sh = shell::at_root()?;
    let cargo = shell::cargo();
    let reproduce = format!("cargo build --release -p {package} -p {loadgen}");
    eprintln!("building: {reproduce}");
    cmd!(sh, "{cargo} build --release -p {package} -p {loadgen}")
        .run()
        .with_context(|| format!("building the servers failed; reproduce with `{reproduce}`"))?;
    Ok(shell::target_dir().join("release"))
}

fn verification_table(checked: &[Checked]) -> Table {
    let mut table = Table::new(
        "TechEmpower verification (TFB's rules)",
        &["server", "test", "result"],
    );
    for c in checked {
        let count = |s: Severity| c.findings.iter().filter(|f| f.severity == s).count();
        let result = match (count(Severity::Fail), count(Severity::Warn)) {
            (0, 0) => "pass".to_owned(),
            (0, w) => format!("pass, {w} warning(s)"),
            (f, _) => format!("FAILED ({f} rule(s) broken)"),
        };
        table.row(vec![c.server.clone(), c.test.clone(), result]);
        for f in &c.findings {
            table.row(vec![String::new(), String::new(), f.to_string()]);
        }
    }
    table
}
