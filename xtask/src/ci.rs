//! `cargo xtask test`: the whole gate, exactly as CI runs it.
//!
//! Steps run in order and the first failure stops the task with a non-zero exit:
//! formatting, clippy with warnings denied, compiling the benchmarks without running them,
//! doctests, the Python runner (which the Python tests run beside unitd), and last the
//! unit and integration tests (including xtask's tidy tests), so the final lines of the
//! output are the main suite's results.
//! This task installs nothing and never edits files; `cargo fmt --all` is left to the user.

use anyhow::Result;

use crate::cmd::{cargo, run_step};

/// The cargo invocations that make up the gate, in the order they run.
const STEPS: &[&[&str]] = &[
    &["fmt", "--all", "--", "--check"],
    &[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ],
    &["bench", "--workspace", "--no-run"],
    &["test", "--workspace", "--doc"],
    &["test", "--workspace", "--lib", "--bins", "--tests"],
];

/// Runs every step of the gate, stopping at the first failure.
pub(crate) fn run() -> Result<()> {
    let (tests, checks) = STEPS
        .split_last()
        .ok_or_else(|| anyhow::anyhow!("the gate has no steps"))?;
    for step in checks {
        run_step(&mut cargo(step))?;
    }
    // The Python tests run the runner beside the unitd under test, which a test build
    // of the workspace does not make: it is built first (where a Python allows).
    crate::runner::build_runner("debug")?;
    run_step(&mut cargo(tests))?;
    println!("all checks passed");
    Ok(())
}
