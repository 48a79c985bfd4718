//! `cargo xtask fuzz [TARGET] [--seconds N] [--runs N] [--seed N]`: mutation fuzzing on
//! the stable toolchain.
//!
//! Builds `unit-fuzz` with the `fuzz` profile (a release build with debug assertions and
//! overflow checks) and runs it from the workspace root, so it reads its seeds from
//! `fuzz/corpus/<target>/` and writes what it finds to `fuzz/crashes/<target>/`. With no
//! target it fuzzes every target in turn, `--seconds` each (10 by default); the first
//! finding stops it with a non-zero exit. `--reproduce FILE` runs one saved input again.
//! The fuzzing itself (mutations, the time limit, the allocation cap) is the binary's.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result};
use clap::Args;

use crate::cmd::{cargo, run_step, target_dir, workspace_root};

/// Arguments of `cargo xtask fuzz`.
#[derive(Args)]
pub(crate) struct FuzzArgs {
    /// The target to fuzz (see --list); every target in turn when omitted.
    target: Option<String>,
    /// Fuzz each target this many seconds (10 when neither this nor --runs is given).
    #[arg(long)]
    seconds: Option<u64>,
    /// Fuzz each target for this many executions.
    #[arg(long)]
    runs: Option<u64>,
    /// The seed of the mutations (by default one from the clock, which is printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Run this saved input of TARGET once, with its panic printed.
    #[arg(long, value_name = "FILE")]
    reproduce: Option<PathBuf>,
    /// List the targets.
    #[arg(long)]
    list: bool,
    /// Further options for the fuzz binary (`--timeout-ms`, `--alloc-limit-mb`), after `--`.
    #[arg(last = true)]
    extra: Vec<String>,
}

/// Builds the fuzz binary and runs it as `fuzz_args` say.
pub(crate) fn run(fuzz_args: FuzzArgs) -> Result<()> {
    run_step(&mut cargo(&[
        "build",
        "--profile",
        "fuzz",
        "-p",
        "unit-fuzz",
    ]))?;
    let mut command = Command::new(target_dir().join("fuzz").join("unit-fuzz"));
    command.current_dir(workspace_root());
    if let Some(target) = &fuzz_args.target {
        command.arg(target);
    }
    for (option, value) in [
        ("--seconds", fuzz_args.seconds),
        ("--runs", fuzz_args.runs),
        ("--seed", fuzz_args.seed),
    ] {
        if let Some(value) = value {
            command.arg(option).arg(value.to_string());
        }
    }
    if let Some(file) = &fuzz_args.reproduce {
        // The binary runs from the workspace root; the path was given from here.
        let file = std::env::current_dir()
            .context("reading the current directory")?
            .join(file);
        command.arg("--reproduce").arg(file);
    }
    if fuzz_args.list {
        command.arg("--list");
    }
    command.args(&fuzz_args.extra);
    run_step(&mut command)
}
