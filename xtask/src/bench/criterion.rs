//! The criterion suite: `cargo bench --workspace`, with extra arguments passed through.
//!
//! Criterion keeps its baselines and reports under `target/criterion/`; this module adds
//! no result handling of its own.

use anyhow::Result;

use crate::cmd::{cargo, run_step};

/// Runs every workspace bench target, appending `extra_args` to the cargo command line.
pub(super) fn run(extra_args: &[String]) -> Result<()> {
    let mut command = cargo(&["bench", "--workspace"]);
    if !extra_args.is_empty() {
        command.arg("--").args(extra_args);
    }
    run_step(&mut command)
}
