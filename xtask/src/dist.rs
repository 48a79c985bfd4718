//! `cargo xtask dist`: a stripped release `unitd`, its packaging files and the Python
//! runner (`modules/python3.unit`, when the machine can build it) in `target/dist/`.
//!
//! Everything that must exist (the `strip` tool and the files under `pkg/`) is checked
//! before the release build starts, so a missing piece is reported at once and by name.
//! The task does not build distribution packages (deb, rpm, images); it only gathers
//! the files such a package would install.

use std::fs;
use std::io;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cmd::{cargo, run_step, target_dir, workspace_root};

/// Packaging files copied from `pkg/` next to the binary.
const PKG_FILES: &[&str] = &["unitd.8", "unit.service", "unit.socket", "example.json"];

/// Builds, strips and collects everything into `target/dist/`, then lists it.
pub(crate) fn run() -> Result<()> {
    let pkg_dir = workspace_root().join("pkg");
    let missing: Vec<String> = PKG_FILES
        .iter()
        .map(|name| pkg_dir.join(name))
        .filter(|path| !path.is_file())
        .map(|path| path.display().to_string())
        .collect();
    if !missing.is_empty() {
        bail!("missing packaging files: {}", missing.join(", "));
    }
    check_strip_installed()?;

    run_step(&mut cargo(&["build", "--release", "-p", "unitd"]))?;
    let built_binary = target_dir().join("release").join("unitd");
    if !built_binary.is_file() {
        bail!(
            "the release build succeeded but {} is missing",
            built_binary.display()
        );
    }

    let dist_dir = target_dir().join("dist");
    match fs::remove_dir_all(&dist_dir) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => {
            return Err(error).with_context(|| format!("removing old {}", dist_dir.display()));
        }
    }
    fs::create_dir_all(&dist_dir).with_context(|| format!("creating {}", dist_dir.display()))?;

    let dist_binary = dist_dir.join("unitd");
    copy(&built_binary, &dist_binary)?;
    run_step(Command::new("strip").arg(&dist_binary))?;
    for name in PKG_FILES {
        copy(&pkg_dir.join(name), &dist_dir.join(name))?;
    }
    // The Python runner, as the module unitd finds in its `--modulesdir`.
    let mut listed: Vec<String> = std::iter::once("unitd")
        .chain(PKG_FILES.iter().copied())
        .map(str::to_owned)
        .collect();
    match crate::runner::build_runner("release")? {
        Some(runner) => {
            let module = crate::runner::install_module(&runner, &dist_dir.join("modules"))?;
            run_step(Command::new("strip").arg(&module))?;
            listed.push(format!("modules/{}", crate::runner::MODULE_FILE));
        }
        None => {
            println!("note: no Python with a shared library: the Python runner is not included")
        }
    }

    println!("{}:", dist_dir.display());
    for name in &listed {
        let path = dist_dir.join(name);
        let metadata =
            fs::metadata(&path).with_context(|| format!("reading {}", path.display()))?;
        println!("{:>12}  {name}", metadata.len());
    }
    Ok(())
}

/// Fails with an installation hint when `strip` cannot be started.
fn check_strip_installed() -> Result<()> {
    match Command::new("strip").arg("--version").output() {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => bail!("`strip --version` failed ({})", output.status),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            bail!("`strip` is not installed; install binutils (e.g. `apt-get install binutils`)")
        }
        Err(error) => Err(error).context("starting `strip --version`"),
    }
}

/// Copies one file, naming both ends on failure.
fn copy(from: &Path, to: &Path) -> Result<()> {
    fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    Ok(())
}
