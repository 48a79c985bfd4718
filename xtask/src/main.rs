//! Project automation for unitd-rs, run as `cargo xtask <task>`.
//!
//! Each task lives in its own module: `ci` (`cargo xtask test`, the exact gate CI runs),
//! `dist` (a stripped release binary plus packaging files), `run` (a foreground unitd
//! with every path under `run/`), `bench` (benchmark suites), `compat` (NGINX Unit's
//! own test suite against this unitd) and `fuzz` (mutation fuzzing of the parsers);
//! `soak` (a long run under traffic, reconfiguration and router kills) lives with the
//! benchmarks' plumbing in `bench`.
//! Shared plumbing (the workspace root, running cargo) is in `cmd`.
//! The tidy checks are `#[test]` functions in `tidy`, so a plain `cargo test` runs them.
//!
//! This crate depends on no workspace library crate: it drives them only through cargo.

#![forbid(unsafe_code)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod ci;
mod cmd;
mod compat;
mod dist;
mod fuzz;
mod python;
mod run;
mod runner;
#[cfg(test)]
mod tidy;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Command line of `cargo xtask`.
#[derive(Parser)]
#[command(bin_name = "cargo xtask", about = "Project automation for unitd-rs")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

/// The tasks `cargo xtask` knows.
#[derive(Subcommand)]
enum Task {
    /// Run everything CI checks: rustfmt, clippy, tests, bench compilation and doctests.
    Test,
    /// Build a stripped release unitd and collect it with the packaging files in target/dist/.
    Dist,
    /// Build unitd and run it in the foreground with all its paths under run/.
    Run(run::RunArgs),
    /// Run benchmarks (by default the criterion benches of every crate).
    Bench(bench::BenchArgs),
    /// Run NGINX Unit's own test suite against a release unitd (as root).
    Compat(compat::CompatArgs),
    /// Fuzz the parsers (one target, or each in turn) with the stable-toolchain fuzzer.
    Fuzz(fuzz::FuzzArgs),
    /// Drive mixed traffic at a release unitd for minutes while reconfiguring it and
    /// killing its router, then check for lost requests, leaks and a stale conf.json.
    Soak(bench::SoakArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Test => ci::run(),
        Task::Dist => dist::run(),
        Task::Run(run_args) => run::run(run_args),
        Task::Bench(bench_args) => bench::run(bench_args),
        Task::Compat(compat_args) => compat::run(compat_args),
        Task::Fuzz(fuzz_args) => fuzz::run(fuzz_args),
        Task::Soak(soak_args) => bench::soak(soak_args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
