//! `cargo xtask run`: a debug `unitd` in the foreground, every path under `run/`.
//!
//! The control socket, pid file, log, state and temporary directories all live in `run/`
//! at the workspace root (ignored by git), so a developer instance never touches the
//! system-wide defaults and needs no root.
//! The task replaces itself with unitd (`exec`), so Ctrl-C and other signals reach the
//! daemon directly; nothing is cleaned up afterwards because unitd removes its own files.

use std::fs::{self, DirBuilder, Permissions};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::cmd::{cargo, run_step, target_dir, workspace_root};

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

    let run_dir = workspace_root().join("run");
    let state_dir = run_dir.join("state");
    let tmp_dir = run_dir.join("tmp");
    for dir in [&run_dir, &state_dir, &tmp_dir] {
        create_dir(dir)?;
    }

    let control_socket = run_dir.join("control.unit.sock");
    let log_file = run_dir.join("unit.log");
    let mut command = Command::new(&unitd);
    command
        .arg("--no-daemon")
        .arg("--control")
        .arg(format!("unix:{}", control_socket.display()))
        .arg("--pid")
        .arg(run_dir.join("unit.pid"))
        .arg("--log")
        .arg(&log_file)
        .arg("--statedir")
        .arg(&state_dir)
        .arg("--tmpdir")
        .arg(&tmp_dir)
        .arg("--modulesdir")
        .arg(run_dir.join("modules"))
        .args(&run_args.unitd_args);

    println!(
        "control API: curl --unix-socket {} http://localhost/config",
        control_socket.display()
    );
    println!("log file:    {}", log_file.display());
    let error = command.exec();
    Err(error).with_context(|| format!("executing {}", unitd.display()))
}

/// Creates `dir` (and its parents) if needed and sets its mode to 0755.
fn create_dir(dir: &Path) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    fs::set_permissions(dir, Permissions::from_mode(0o755))
        .with_context(|| format!("setting the mode of {}", dir.display()))
}
