//! Run with `cargo run --release -p allframe-loadgen -- --addr 127.0.0.1:8080`; see the
//! library docs for the flags and the JSON report.

use std::process::ExitCode;

use allframe_loadgen::{Args, run, run_open};
use clap::Parser as _;

fn main() -> ExitCode {
    let args = Args::parse();
    let result = if args.schedule().is_some() {
        run_open(&args).map(|report| (json(&report), report.summary()))
    } else {
        run(&args).map(|report| (json(&report), report.summary()))
    };
    match result {
        Ok((json, summary)) => {
            #[allow(
                clippy::print_stdout,
                reason = "stdout carries exactly the JSON report"
            )]
            {
                println!("{json}");
            }
            eprintln!("{summary}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("allframe-loadgen: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn json(report: &impl serde::Serialize) -> String {
    serde_json::to_string(report).expect("a report always serializes")
}
