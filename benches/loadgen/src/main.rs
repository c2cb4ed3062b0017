//! Run with `cargo run --release -p allframe-loadgen -- --addr 127.0.0.1:8080`; see the
//! library docs for the flags and the JSON report.

use std::process::ExitCode;

use allframe_loadgen::{Args, run};
use clap::Parser as _;

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(report) => {
            let json = serde_json::to_string(&report).expect("a report always serializes");
            #[allow(
                clippy::print_stdout,
                reason = "stdout carries exactly the JSON report"
            )]
            {
                println!("{json}");
            }
            eprintln!("{}", report.summary());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("allframe-loadgen: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
