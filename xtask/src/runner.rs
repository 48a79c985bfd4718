//! Building the Python runner and installing it where unitd finds it: the modules
//! directory of a `cargo xtask run` instance, of the compatibility suite, or of
//! `target/dist/`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::cmd::{cargo, create_dir, run_step, target_dir};
use crate::python::{RUNNER_PACKAGE, interpreter};

/// The runner's file name in a modules directory: unitd runs every `*.unit` there.
pub(crate) const MODULE_FILE: &str = "python3.unit";

/// Builds the runner in `profile` (`debug` or `release`) when the machine can, and
/// returns the built executable; `None` without a suitable Python.
pub(crate) fn build_runner(profile: &str) -> Result<Option<PathBuf>> {
    if interpreter().is_none() {
        return Ok(None);
    }
    let mut args = vec!["build", "-p", RUNNER_PACKAGE];
    if profile == "release" {
        args.push("--release");
    }
    run_step(&mut cargo(&args))?;
    let built = target_dir().join(profile).join(RUNNER_PACKAGE);
    if !built.is_file() {
        bail!("the build succeeded but {} is missing", built.display());
    }
    Ok(Some(built))
}

/// Copies the runner into `modules` as the module unitd discovers, executable by
/// anyone (application processes run as their own users).
pub(crate) fn install_module(runner: &Path, modules: &Path) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;

    create_dir(modules)?;
    let module = modules.join(MODULE_FILE);
    // Copied to a new name and renamed, so a unitd running the old copy is not disturbed.
    let copying = modules.join(format!(".{MODULE_FILE}.{}", std::process::id()));
    std::fs::copy(runner, &copying)
        .with_context(|| format!("copying {} to {}", runner.display(), copying.display()))?;
    std::fs::set_permissions(&copying, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("chmod {}", copying.display()))?;
    std::fs::rename(&copying, &module)
        .with_context(|| format!("renaming {} to {}", copying.display(), module.display()))?;
    Ok(module)
}
