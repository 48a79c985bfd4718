//! The Python the runner (`unit-python`) is built against.
//!
//! pyo3 builds against the interpreter `PYO3_PYTHON` names, or `python3` on `PATH`, and
//! the runner loads that interpreter's shared library when an application starts, as
//! the application's user. So the first of `PYO3_PYTHON`, the system's
//! `/usr/bin/python3` and `python3` on `PATH` that has a shared library is chosen: the
//! system one before a user's own (pyenv's lives in a home directory other users may
//! not enter). Without any, the runner is left out and the rest builds as usual.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The variable pyo3 reads.
pub(crate) const PYO3_PYTHON: &str = "PYO3_PYTHON";
/// The runner's package.
pub(crate) const RUNNER_PACKAGE: &str = "unit-python";

/// The interpreter to build the runner against, if the machine has a suitable one.
pub(crate) fn interpreter() -> Option<&'static PathBuf> {
    static CHOSEN: OnceLock<Option<PathBuf>> = OnceLock::new();
    CHOSEN
        .get_or_init(|| {
            let mut candidates = Vec::new();
            if let Some(named) = std::env::var_os(PYO3_PYTHON) {
                candidates.push(PathBuf::from(named));
            }
            candidates.push(PathBuf::from("/usr/bin/python3"));
            candidates.push(PathBuf::from("python3"));
            candidates.into_iter().find(has_shared_library)
        })
        .as_ref()
}

/// Whether `python` runs and was built with `--enable-shared`.
fn has_shared_library(python: &PathBuf) -> bool {
    Command::new(python)
        .args([
            "-c",
            "import sys, sysconfig; sys.exit(0 if sysconfig.get_config_var('Py_ENABLE_SHARED') else 1)",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}
