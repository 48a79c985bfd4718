//! `cargo xtask run`: a debug `unitd` in the foreground, every path under `run/`.
//!
//! The control socket, pid file, log, state and temporary directories all live in `run/`
//! at the workspace root (ignored by git), so a developer instance never touches the
//! system-wide defaults and needs no root.
//! The task replaces itself with unitd (`exec`), so Ctrl-C and other signals reach the
//! daemon directly; nothing is cleaned up afterwards because unitd removes its own files.

use std::os::unix::process::CommandExt;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::cmd::{UnitdDir, cargo, run_step, target_dir, workspace_root};

/// Arguments of `cargo xtask run`.
#[derive(Args)]
pub(crate) struct RunArgs {
    /// Extra arguments for unitd, after `--`.
    #[arg(last = true)]
    unitd_args: Vec<String>,
}

/// Builds unitd, prepares `run/` and execs the daemon; returns only on failure.
pub(crate) fn run(run_args: RunArgs) -> Result<()> {
    run_step(&mut cargo(&["build", "-p", "unitd"]))?;
    let unitd = target_dir().join("debug").join("unitd");
    if !unitd.is_file() {
        bail!("the build succeeded but {} is missing", unitd.display());
    }

    let run_dir = UnitdDir::new(workspace_root().join("run"));
    let control_socket = run_dir.control();
    let log_file = run_dir.log();
    let mut command = run_dir.command(&unitd)?;
    command.args(&run_args.unitd_args);

    println!(
        "control API: curl --unix-socket {} http://localhost/config",
        control_socket.display()
    );
    println!("log file:    {}", log_file.display());
    let error = command.exec();
    Err(error).with_context(|| format!("executing {}", unitd.display()))
}
