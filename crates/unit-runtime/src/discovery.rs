//! Discovery of language modules, before the controller and the router start
//! (UNIT-COMPAT 5.1): which runners `--modulesdir` holds, and what each runs.
//!
//! A module is an executable regular file named `*.unit` (hidden files aside, as a
//! shell glob leaves them out). Each is run once as `<file> --module-info`, as
//! `--user`/`--group` when main is root, with no input and 10 seconds to answer; the
//! first line of its output is `<type> <version>`, e.g. `python 3.11.2`. Every module
//! that answers is logged as Unit's discovery process logs it
//! (`module: python 3.11.2 "<file>"`); a file that fails is logged once and skipped, so
//! discovery never keeps unitd from starting. What is found goes to the controller and
//! the router in `UNITD_MODULES` (`unit_conf::Modules`).
//!
//! The lines after the first may name what the runner needs inside an application's
//! root directory (`mount <absolute path>`: the runner itself, the libraries it loaded,
//! the interpreter's directories), which main mounts there for `automount.language_deps`
//! as Unit mounts what its language module was built with; main keeps them.
//!
//! What it does not do: load anything into main, or check that a module can run an
//! application (its runner finds out when it starts one).

use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use unit_conf::{MODULE_TYPES, Module, Modules};
use unit_engine::HashMap;
use unit_log::{alert, notice};
use unit_process::{Credentials, INHERITED_FDS_ENV, ROLE_ENV};

use crate::error::ModuleInfoError;
use crate::inherited::{LISTEN_FDS_ENV, LISTEN_PID_ENV, NGINX_ENV};
use crate::launcher::ARGV_ENV;

/// The argument a runner answers with its type and version.
const MODULE_INFO_ARGUMENT: &str = "--module-info";
/// How long a runner may take to answer.
const MODULE_INFO_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a runner's answer is kept: its first line and what it needs mounted.
const MAX_ANSWER: usize = 64 * 1024;
/// What starts a line naming a path a runner needs inside a root directory.
const MOUNT_PREFIX: &str = "mount ";
/// How often a runner that closed its output is checked for having exited.
const EXIT_POLL_INTERVAL: Duration = Duration::from_millis(5);
/// The file name ending of a module.
const MODULE_SUFFIX: &str = ".unit";

/// What discovery found: the modules, and what each runner needs inside a root
/// directory, by its file.
#[derive(Debug, Default)]
pub(crate) struct Discovered {
    /// The modules, for the controller and the router.
    pub(crate) modules: Modules,
    /// The paths each module's runner needs mounted for `language_deps`.
    pub(crate) language_deps: HashMap<PathBuf, Vec<PathBuf>>,
}

/// One runner's answer to `--module-info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModuleAnswer {
    /// Its type: `python`.
    pub(crate) module_type: String,
    /// Its version: `3.11.2`.
    pub(crate) version: String,
    /// The absolute paths it needs inside a root directory.
    pub(crate) mounts: Vec<PathBuf>,
}

/// Finds the modules in `modulesdir`, logging each as Unit does, and running each
/// runner as `credentials` when main has them (it is root).
pub(crate) fn discover_modules(modulesdir: &Path, credentials: Option<&Credentials>) -> Discovered {
    let candidates = module_candidates(modulesdir);
    if candidates.is_empty() {
        notice!("no modules matching: \"{}\" found", glob_text(modulesdir));
        return Discovered::default();
    }
    let mut modules: Vec<Module> = Vec::new();
    let mut language_deps = HashMap::default();
    for file in candidates {
        let answer = match module_info(&file, credentials, MODULE_INFO_TIMEOUT) {
            Ok(answer) => answer,
            Err(error) => {
                alert!("discovering module \"{}\" failed: {error}", file.display());
                continue;
            }
        };
        let ModuleAnswer {
            module_type,
            version,
            mounts,
        } = answer;
        notice!("module: {module_type} {version} \"{}\"", file.display());
        if !MODULE_TYPES.contains(&module_type.as_str()) {
            notice!("unknown module type {module_type}");
            continue;
        }
        if let Some(same) = modules
            .iter()
            .find(|module| module.module_type == module_type && module.version == version)
        {
            notice!(
                "ignoring {} module with the same application language version {module_type} {version} as in {}",
                file.display(),
                same.file.display()
            );
            continue;
        }
        language_deps.insert(file.clone(), mounts);
        modules.push(Module {
            module_type,
            version,
            file,
        });
    }
    Discovered {
        modules: Modules::new(modules),
        language_deps,
    }
}

/// The pattern the files are matched against, as Unit's message shows it.
fn glob_text(modulesdir: &Path) -> String {
    let dir = modulesdir.display().to_string();
    let separator = if dir.len() > 1 && !dir.ends_with('/') {
        "/"
    } else {
        ""
    };
    format!("{dir}{separator}*{MODULE_SUFFIX}")
}

/// The files named like modules, sorted by name, as absolute paths (the router starts
/// them from other working directories). A directory that cannot be read has none.
fn module_candidates(modulesdir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(modulesdir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| !name.starts_with('.') && name.ends_with(MODULE_SUFFIX))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let file = modulesdir.join(name);
            std::path::absolute(&file).unwrap_or(file)
        })
        .collect()
}

/// Runs `file --module-info` and reads its answer: the module's type and version, and
/// what it needs mounted.
fn module_info(
    file: &Path,
    credentials: Option<&Credentials>,
    timeout: Duration,
) -> Result<ModuleAnswer, ModuleInfoError> {
    let executable = std::fs::metadata(file)
        .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0);
    if !executable {
        return Err(ModuleInfoError::NotExecutable);
    }
    let deadline = Instant::now() + timeout;
    let mut command = Command::new(file);
    command
        .arg(MODULE_INFO_ARGUMENT)
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    for name in [
        ROLE_ENV,
        INHERITED_FDS_ENV,
        ARGV_ENV,
        NGINX_ENV,
        LISTEN_FDS_ENV,
        LISTEN_PID_ENV,
    ] {
        command.env_remove(name);
    }
    if let Some(credentials) = credentials {
        // Without explicit groups the standard library drops the supplementary ones
        // before it changes the user.
        command
            .uid(credentials.uid.as_raw())
            .gid(credentials.gid.as_raw());
    }
    let mut child = command.spawn().map_err(ModuleInfoError::Start)?;
    let answer = match child.stdout.take() {
        Some(mut stdout) => read_answer(&mut stdout, deadline),
        None => Ok(Some(Vec::new())),
    };
    let status = wait_until(&mut child, deadline).map_err(ModuleInfoError::Wait)?;
    let answer = answer.map_err(ModuleInfoError::Read)?;
    let (Some(answer), Some(status)) = (answer, status) else {
        return Err(ModuleInfoError::Timeout(timeout));
    };
    if let Some(code) = status.code()
        && code != 0
    {
        return Err(ModuleInfoError::ExitCode(code));
    }
    if let Some(signal) = status.signal() {
        return Err(ModuleInfoError::Signal(signal));
    }
    let text = String::from_utf8_lossy(&answer);
    let mut lines = text.lines();
    let first_line = lines.next().unwrap_or_default();
    let (module_type, version) = parse_answer(first_line)
        .ok_or_else(|| ModuleInfoError::BadAnswer(first_line.to_owned()))?;
    // Only absolute paths: what is mounted for an application must not depend on
    // where main happens to be.
    let mounts = lines
        .filter_map(|line| line.strip_prefix(MOUNT_PREFIX))
        .map(PathBuf::from)
        .filter(|path| path.is_absolute())
        .collect();
    Ok(ModuleAnswer {
        module_type,
        version,
        mounts,
    })
}

/// Reads a runner's output to its end, keeping the first [`MAX_ANSWER`] bytes; `None`
/// when the deadline comes first.
fn read_answer(stdout: &mut ChildStdout, deadline: Instant) -> io::Result<Option<Vec<u8>>> {
    let mut answer = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Ok(None);
        }
        let timeout = PollTimeout::try_from(remaining).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(stdout.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) | Err(Errno::EINTR) => continue,
            Ok(_) => {}
            Err(errno) => return Err(errno.into()),
        }
        match stdout.read(&mut chunk) {
            Ok(0) => return Ok(Some(answer)),
            Ok(n_read) => {
                let room = MAX_ANSWER.saturating_sub(answer.len());
                answer.extend_from_slice(&chunk[..n_read.min(room)]);
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
}

/// Waits for `child` to exit until `deadline`, then kills it; `None` when it had to be
/// killed.
fn wait_until(child: &mut Child, deadline: Instant) -> io::Result<Option<ExitStatus>> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            child.wait()?;
            return Ok(None);
        }
        std::thread::sleep(EXIT_POLL_INTERVAL);
    }
}

/// Reads `<type> <version>`: a type of letters and dashes, one space, and a version
/// without spaces.
fn parse_answer(line: &str) -> Option<(String, String)> {
    let (module_type, version) = line.trim_end().split_once(' ')?;
    let valid_type = !module_type.is_empty()
        && module_type
            .chars()
            .all(|character| character.is_ascii_alphabetic() || character == '-');
    let valid_version = !version.is_empty() && !version.contains(char::is_whitespace);
    (valid_type && valid_version).then(|| (module_type.to_owned(), version.to_owned()))
}

#[cfg(test)]
mod tests;
