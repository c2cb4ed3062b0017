//! AllFrame's quality system. Run `cargo xtask --help`.
//!
//! `main` parses the command line and dispatches; each subcommand lives in its own module
//! with a `run` function.

mod ci;
mod config;
mod shell;
mod summary;
mod test;

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
    /// The workspace tests (cargo-nextest when installed), PostgreSQL-backed ones included
    /// when a database is reachable.
    Test(test::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ci(args) => ci::run(&args),
        Command::Test(args) => test::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
