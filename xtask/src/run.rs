//! `cargo xtask run`: a debug `unitd` in the foreground, every path under `run/`.
//!
//! The control socket, pid file, log, state and temporary directories all live in `run/`
//! at the workspace root (ignored by git), so a developer instance never touches the
//! system-wide defaults and needs no root.
//! The task replaces itself with unitd (`exec`), so Ctrl-C and other signals reach the
//! daemon directly; nothing is cleaned up afterwards because unitd removes its own files.
//!
//! The Python runner is built too (when the machine has a Python with its shared
//! library) and installed in the instance's modules directory.
//!
//! With `--example`, the instance lives in `run/example/` instead and starts with
//! `examples/config.json`: the Rust example is built there first, and the configuration's
//! relative paths resolve against the workspace root, unitd's working directory.

use std::os::unix::process::CommandExt;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::cmd::{UnitdDir, cargo, run_step, target_dir, workspace_root};

/// Arguments of `cargo xtask run`.
#[derive(Args)]
pub(crate) struct RunArgs {
    /// Start with `examples/config.json`: the Rust and Python example applications.
    #[arg(long)]
    example: bool,
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

    let root = workspace_root();
    let run_dir = if run_args.example {
        UnitdDir::new(root.join("run").join("example"))
    } else {
        UnitdDir::new(root.join("run"))
    };
    let control_socket = run_dir.control();
    let log_file = run_dir.log();
    let mut command = run_dir.command(&unitd)?;
    // The Python runner goes into the instance's modules directory, where unitd
    // finds it at start.
    match crate::runner::build_runner("debug")? {
        Some(runner) => {
            crate::runner::install_module(&runner, &run_dir.root().join("modules"))?;
        }
        None if run_args.example => bail!(
            "the examples include Python applications, and no Python with a shared library \
             was found to build the runner with (set PYO3_PYTHON to one)"
        ),
        None => {
            println!("note: no Python with a shared library: Python applications are unavailable")
        }
    }
    if run_args.example {
        prepare_example(&run_dir)?;
        command
            .arg("--config")
            .arg(root.join("examples").join("config.json"));
        println!(
            "examples:    curl http://127.0.0.1:8300/ (Rust), http://127.0.0.1:8301/ (Python on \
             descriptor 3), http://127.0.0.1:8302/ (WSGI), http://127.0.0.1:8303/ (ASGI)"
        );
    }
    command.args(&run_args.unitd_args).current_dir(&root);

    println!(
        "control API: curl --unix-socket {} http://localhost/config",
        control_socket.display()
    );
    println!("log file:    {}", log_file.display());
    let error = command.exec();
    Err(error).with_context(|| format!("executing {}", unitd.display()))
}

/// Builds the Rust example into `run/example/` and forgets the configuration a previous
/// run stored, so `--config` applies again (it only seeds an empty state directory).
fn prepare_example(run_dir: &UnitdDir) -> Result<()> {
    let root = workspace_root();
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let mut build = std::process::Command::new(rustc);
    build
        .args(["--edition", "2021", "-O", "-o"])
        .arg(run_dir.root().join("hello-app"))
        .arg(root.join("examples").join("hello.rs"))
        .current_dir(&root);
    run_step(&mut build)?;
    let stored = run_dir.state().join("conf.json");
    match std::fs::remove_file(&stored) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error).with_context(|| format!("removing {}", stored.display())),
    }
}
