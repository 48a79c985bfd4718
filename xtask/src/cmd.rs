//! Plumbing shared by the tasks: where the workspace is and how to run a command in it.
//!
//! Commands run with the workspace root as their working directory, and each one is echoed
//! before it starts so a CI log shows exactly what failed.
//! Nothing here knows about a particular task.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The workspace root: the parent of the directory holding xtask's own `Cargo.toml`.
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("invariant: xtask's manifest directory sits inside the workspace root")
        .to_path_buf()
}

/// Cargo's target directory: `CARGO_TARGET_DIR` when set, else `target/` under the root.
pub(crate) fn target_dir() -> PathBuf {
    let root = workspace_root();
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// A `cargo` command with the given arguments, run from the workspace root.
///
/// Uses the cargo that started xtask (the `CARGO` environment variable) so the same
/// toolchain builds everything.
pub(crate) fn cargo(args: &[&str]) -> Command {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(program);
    command.args(args).current_dir(workspace_root());
    command
}

/// Echoes `command`, runs it to completion and fails unless it exits successfully.
pub(crate) fn run_step(command: &mut Command) -> Result<()> {
    let description = describe(command);
    println!("$ {description}");
    let status = command
        .status()
        .with_context(|| format!("starting `{description}`"))?;
    if !status.success() {
        bail!("`{description}` failed ({status})");
    }
    Ok(())
}

/// A one-line shell-like rendering of `command`, naming the program by its file name.
pub(crate) fn describe(command: &Command) -> String {
    let program = Path::new(command.get_program());
    let mut words = vec![
        program
            .file_name()
            .unwrap_or(program.as_os_str())
            .to_string_lossy()
            .into_owned(),
    ];
    words.extend(
        command
            .get_args()
            .map(|arg| arg.to_string_lossy().into_owned()),
    );
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_names_program_by_file_name() {
        let mut command = Command::new("/usr/bin/cargo");
        command.args(["fmt", "--all", "--", "--check"]);
        assert_eq!(describe(&command), "cargo fmt --all -- --check");
    }

    #[test]
    fn workspace_root_holds_the_workspace_manifest() {
        assert!(workspace_root().join("Cargo.toml").is_file());
        assert!(workspace_root().join("xtask").is_dir());
    }
}
