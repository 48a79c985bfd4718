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
///
/// `PYO3_PYTHON` is set to the Python the runner builds against, so every cargo
/// command of a task builds it the same way; a `--workspace` command leaves the runner
/// out when there is no such Python.
pub(crate) fn cargo(args: &[&str]) -> Command {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(program);
    command.current_dir(workspace_root());
    let python = crate::python::interpreter();
    if let Some(python) = python {
        command.env(crate::python::PYO3_PYTHON, python);
    }
    for arg in args {
        command.arg(arg);
        if *arg == "--workspace" && python.is_none() {
            command.args(["--exclude", crate::python::RUNNER_PACKAGE]);
        }
    }
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

/// Creates `dir` and its parents, mode 0755 (so an unprivileged unitd can reach it).
pub(crate) fn create_dir(dir: &Path) -> Result<()> {
    use std::fs::{DirBuilder, Permissions};
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, Permissions::from_mode(0o755))
        .with_context(|| format!("setting the mode of {}", dir.display()))
}

/// A unitd that keeps all its files in one directory: control socket, pid file, log,
/// state, temporary and modules directories.
pub(crate) struct UnitdDir {
    root: PathBuf,
}

impl UnitdDir {
    pub(crate) fn new(root: PathBuf) -> UnitdDir {
        UnitdDir { root }
    }

    /// The directory holding everything.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The state directory (`conf.json` and the rest of what unitd stores).
    pub(crate) fn state(&self) -> PathBuf {
        self.root.join("state")
    }

    /// The control socket's path.
    pub(crate) fn control(&self) -> PathBuf {
        self.root.join("control.unit.sock")
    }

    /// The log file's path.
    pub(crate) fn log(&self) -> PathBuf {
        self.root.join("unit.log")
    }

    /// Creates the directories and returns `unitd --no-daemon` with every path here.
    pub(crate) fn command(&self, unitd: &Path) -> Result<Command> {
        let state = self.state();
        let tmp = self.root.join("tmp");
        for dir in [&self.root, &state, &tmp] {
            create_dir(dir)?;
        }
        let mut command = Command::new(unitd);
        command
            .arg("--no-daemon")
            .arg("--control")
            .arg(format!("unix:{}", self.control().display()))
            .arg("--pid")
            .arg(self.root.join("unit.pid"))
            .arg("--log")
            .arg(self.log())
            .arg("--statedir")
            .arg(state)
            .arg("--tmpdir")
            .arg(tmp)
            .arg("--modulesdir")
            .arg(self.root.join("modules"));
        Ok(command)
    }
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
