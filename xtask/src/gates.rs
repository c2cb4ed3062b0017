//! The quality gates as one list: `cargo xtask ci` runs them (the steps of `quality.toml
//! [ci]` that are gates), `cargo xtask baseline` rewrites the baselines of those that keep
//! one. Each gate measures, compares with its reference ([`crate::reference`]), publishes its
//! table, appends its history line ([`crate::history`]) and names the command that fixes or
//! reproduces a failure.

use anyhow::Result;
use strum::VariantArray;

use crate::{bench, demos, load, memory, size, techempower};

/// A quality gate. Its name (kebab-case, the same for clap, strum and `quality.toml`) and
/// the list of all (`Gate::VARIANTS`) are derived, not kept by hand.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, strum::IntoStaticStr, VariantArray,
)]
#[strum(serialize_all = "kebab-case")]
pub(crate) enum Gate {
    /// Stripped size of every feature configuration (`baselines/size.json`).
    Size,
    /// Heap of the dhat scenarios (`baselines/memory.json`).
    Memory,
    /// Instructions per operation under callgrind (`baselines/instructions.json`).
    Instructions,
    /// TechEmpower verification and a short load beside the references (no baseline: the
    /// references run in the same round).
    Techempower,
    /// The demo applications, started and exercised (figures to history; no baseline).
    Demos,
    /// The load profiles, a few seconds each against one demo (figures to history; no
    /// baseline: only errors and an invalid generator fail).
    Load,
}

impl Gate {
    pub(crate) fn name(self) -> &'static str {
        self.into()
    }

    /// Runs the gate as CI does.
    pub(crate) fn check(self) -> Result<()> {
        match self {
            Gate::Size => size::run(&size::Args::default()),
            Gate::Memory => memory::run(&memory::Args::default()),
            Gate::Instructions => bench::run(&bench::Args {
                instructions: true,
                ..bench::Args::default()
            }),
            Gate::Techempower => techempower::run(&techempower::Args::smoke()),
            // The demos' own tests ran in the `test` step.
            Gate::Demos => demos::run(&demos::Args {
                no_tests: true,
                ..demos::Args::default()
            }),
            Gate::Load => load::run(&load::Args::smoke()),
        }
    }

    /// How to reproduce a failure, and accept an intended change.
    pub(crate) fn remedy(self) -> &'static str {
        match self {
            Gate::Size => {
                "reproduce with `cargo xtask size`; accept intended growth with `cargo xtask baseline size`"
            }
            Gate::Memory => {
                "reproduce with `cargo xtask memory`; accept intended growth with `cargo xtask baseline memory`"
            }
            Gate::Instructions => {
                "reproduce with `cargo xtask bench --instructions`; accept an intended change with \
                 `cargo xtask baseline instructions`"
            }
            Gate::Techempower => "reproduce with `cargo xtask techempower --smoke`",
            Gate::Demos => "reproduce with `cargo xtask demos`",
            Gate::Load => "reproduce with `cargo xtask load --smoke`",
        }
    }

    /// Rewrites the gate's committed baseline from a fresh measurement; `false` for a gate
    /// that keeps none.
    fn accept(self) -> Result<bool> {
        match self {
            Gate::Size => size::write_baseline()?,
            Gate::Memory => memory::write_baseline()?,
            Gate::Instructions => bench::write_instructions_baseline()?,
            Gate::Techempower | Gate::Demos | Gate::Load => return Ok(false),
        }
        Ok(true)
    }
}

/// `cargo xtask baseline`.
#[derive(Debug, clap::Args)]
pub(crate) struct BaselineArgs {
    /// The gates whose baselines to rewrite (every gate that keeps one when none is named).
    #[arg(value_enum)]
    gates: Vec<Gate>,
}

/// Rewrites the baselines of the gates named (all by default), atomically each.
pub(crate) fn baseline(args: &BaselineArgs) -> Result<()> {
    let gates = if args.gates.is_empty() {
        Gate::VARIANTS.to_vec()
    } else {
        args.gates.clone()
    };
    for gate in gates {
        if !gate.accept()? && !args.gates.is_empty() {
            eprintln!(
                "note: {} keeps no baseline (its references run beside it)",
                gate.name()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::ValueEnum;

    use super::*;

    #[test]
    fn gate_names_are_the_names_baseline_and_ci_use() {
        for &gate in Gate::VARIANTS {
            let value = gate.to_possible_value().expect("every gate can be named");
            assert_eq!(value.get_name(), gate.name());
            let step: crate::config::Step =
                serde_json::from_value(serde_json::Value::String(gate.name().to_owned()))
                    .expect("every gate is a ci step of the same name");
            assert_eq!(step.gate(), Some(gate));
        }
    }
}
