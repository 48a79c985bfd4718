//! Finding `wrk`, `nginx` and `openssl`, and installing them with apt when they are missing.
//!
//! Installing needs root; without it the task stops with a message saying what to install.
//! Nothing is installed when the programs are already on the machine.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Result, bail};

use super::procfs;
use crate::cmd::run_step;

/// Directories searched after `PATH`, since an unprivileged `PATH` often lacks the `sbin`
/// directories where nginx lives.
const EXTRA_DIRS: [&str; 4] = ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/bin"];

/// The external programs the benchmark drives.
pub(super) struct Tools {
    /// The load generator.
    pub(super) wrk: PathBuf,
    /// The reference server, when it is part of the run.
    pub(super) nginx: Option<PathBuf>,
}

/// Finds `openssl`, which makes the TLS loads' certificate, installing it when missing.
pub(super) fn openssl() -> Result<PathBuf> {
    if let Some(openssl) = find_program("openssl") {
        return Ok(openssl);
    }
    install(&["openssl"])?;
    find_program("openssl")
        .ok_or_else(|| anyhow::anyhow!("openssl is still missing after installing it with apt-get"))
}

/// Finds wrk (and nginx when `need_nginx`), installing whichever is missing.
pub(super) fn ensure(need_nginx: bool) -> Result<Tools> {
    let mut wanted = vec!["wrk"];
    if need_nginx {
        wanted.push("nginx");
    }
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|name| find_program(name).is_none())
        .collect();
    if !missing.is_empty() {
        install(&missing)?;
    }
    let found = |name: &str| {
        find_program(name).ok_or_else(|| {
            anyhow::anyhow!("{name} is still missing after installing it with apt-get")
        })
    };
    Ok(Tools {
        wrk: found("wrk")?,
        nginx: if need_nginx {
            Some(found("nginx")?)
        } else {
            None
        },
    })
}

/// Installs the Debian packages `names` (which are also the program names).
fn install(names: &[&str]) -> Result<()> {
    let list = names.join(" ");
    if procfs::effective_uid() != Some(0) {
        bail!(
            "the HTTP benchmark needs {list}, which is not installed, and only root can \
             install it; run `sudo apt-get install -y {list}` (or your system's equivalent) \
             and try again"
        );
    }
    if find_program("apt-get").is_none() {
        bail!(
            "the HTTP benchmark needs {list}, which is not installed, and this machine has \
             no apt-get; install it with the system's package manager and try again"
        );
    }
    let apt_get = |args: &[&str]| {
        let mut command = Command::new("apt-get");
        command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        command
    };
    let mut install_args = vec!["install", "-y"];
    install_args.extend_from_slice(names);
    if run_step(&mut apt_get(&install_args)).is_ok() {
        return Ok(());
    }
    println!("installing failed; refreshing the package lists and trying once more");
    run_step(&mut apt_get(&["update"]))?;
    run_step(&mut apt_get(&install_args))
}

/// The first executable file called `name` in `PATH` or [`EXTRA_DIRS`].
fn find_program(name: &str) -> Option<PathBuf> {
    let path_dirs: Vec<PathBuf> = env::var_os("PATH")
        .map(|path| env::split_paths(&path).collect())
        .unwrap_or_default();
    path_dirs
        .into_iter()
        .chain(EXTRA_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// Whether `path` is a regular file with an execute bit set.
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_program_that_every_machine_has() {
        let sh = find_program("sh").expect("sh is installed");
        assert!(sh.is_absolute());
        assert!(find_program("surely-no-such-program-here").is_none());
    }
}
