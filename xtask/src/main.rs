//! AllFrame's quality system. Run `cargo xtask --help`.
//!
//! `main` parses the command line and dispatches; each subcommand lives in its own module
//! with a `run` function.

mod baseline;
mod bench;
mod changed;
mod ci;
mod config;
mod demos;
mod features;
mod gates;
mod history;
mod http;
mod level;
mod load;
mod memory;
mod paired;
mod profile;
mod reference;
mod report;
mod shell;
mod size;
mod summary;
mod techempower;
mod test;
#[cfg(test)]
mod tidy;
mod worktree;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "AllFrame's quality system", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// What CI runs: fmt, clippy, the tests, then every quality gate, and a table of results.
    Ci(ci::Args),
    /// Every feature of `allframe` compiles alone, none, all together, and `openapi` beside a
    /// crate whose types have no schema (feature additivity).
    Features(features::Args),
    /// The workspace tests (cargo-nextest when installed), PostgreSQL-backed ones included
    /// when a database is reachable.
    Test(test::Args),
    /// Binary size of every feature configuration: stripped bytes, `.text` by crate, the cost
    /// of each feature, the ratio to axum, limits and the baseline.
    Size(size::Args),
    /// The criterion suites: ops/s against targets; `--test`, `--instructions` and
    /// `--against REV` / `--aa` are the CI check and the two regression gates.
    Bench(bench::Args),
    /// Heap scenarios under dhat: peak and retained heap, bytes per event, allocations, limits
    /// and the baseline.
    Memory(memory::Args),
    /// TechEmpower's test types on AllFrame, axum and raw hyper: verified by TFB's rules,
    /// then loaded side by side (A B A B), with CPU per request and the ratios.
    Techempower(techempower::Args),
    /// The demo applications: each built, tested, started in release on a fresh data
    /// directory, exercised by its contract scenario and stopped with SIGTERM; start-up,
    /// memory, latencies and code lines against quality.toml.
    Demos(demos::Args),
    /// A demo or the TechEmpower server under open-model load: sustained, spike, stress and
    /// soak profiles, latency corrected for coordinated omission, the server's RSS beside it,
    /// SLOs and leak budget; `--against REV` is the paired regression gate.
    Load(load::Args),
    /// Where the time goes: a CPU profile (Linux perf) of a load target's server or of the
    /// benchmarks matching a filter, drawn as a flamegraph SVG.
    Profile(profile::Args),
    /// Every gate's history on one commit axis: an offline HTML dashboard with change points,
    /// SVG badges, and (`--markdown`) the pull-request summary.
    Report(report::Args),
    /// Rewrite the committed baselines from a fresh measurement (then commit them).
    Baseline(gates::BaselineArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ci(args) => ci::run(&args),
        Command::Features(args) => features::run(&args),
        Command::Test(args) => test::run(&args),
        Command::Size(args) => size::run(&args),
        Command::Memory(args) => memory::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Techempower(args) => techempower::run(&args),
        Command::Demos(args) => demos::run(&args),
        Command::Load(args) => load::run(&args),
        Command::Profile(args) => profile::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Baseline(args) => gates::baseline(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Cli;

    fn parses(args: &[&str]) -> bool {
        Cli::try_parse_from(std::iter::once("cargo xtask").chain(args.iter().copied())).is_ok()
    }

    #[test]
    fn bench_modes_that_cannot_combine_are_refused_instead_of_one_being_dropped() {
        assert!(!parses(&["bench", "--test", "--instructions"]));
        assert!(!parses(&["bench", "--instructions", "--against", "HEAD"]));
        assert!(!parses(&["bench", "--test", "--aa"]));
        assert!(parses(&["bench", "--instructions"]));
    }

    #[test]
    fn ci_lists_its_steps_as_json_only_with_list() {
        assert!(parses(&["ci", "--list", "--json"]));
        assert!(!parses(&["ci", "--json"]));
        assert!(parses(&["ci", "--step", "fmt", "--step", "clippy"]));
    }
}
