//! Starting a child by executing the unitd binary again, with descriptors handed over.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::unistd::{Pid, dup};
use unit_engine::HashMap;
use unit_port::ProcessType;

use crate::error::ProcessError;
use crate::sys::adopt_inherited_fd;

/// The environment variable naming the role a re-executed unitd plays.
pub const ROLE_ENV: &str = "UNITD_ROLE";
/// The environment variable listing handed-over descriptors as `name=fd,name=fd`.
pub const INHERITED_FDS_ENV: &str = "UNITD_FDS";
/// The binary to execute: this very program, whatever its path.
const SELF_EXE: &str = "/proc/self/exe";

/// How to start (and restart) a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartSpec {
    /// What kind of process it is.
    pub process_type: ProcessType,
    /// Its title, shown by `ps` (`argv[0]`).
    pub title: String,
    /// The role value the child reads from [`ROLE_ENV`].
    pub role: String,
    /// Variables to set in its environment.
    pub env: Vec<(String, String)>,
    /// Variables of ours it must not see.
    pub env_remove: Vec<String>,
}

/// Descriptors to hand a child, each under a name the child asks for.
#[derive(Debug, Default)]
pub struct InheritedFds<'a> {
    fds: Vec<(&'static str, BorrowedFd<'a>)>,
}

impl<'a> InheritedFds<'a> {
    /// Nothing to hand over yet.
    pub fn new() -> InheritedFds<'a> {
        InheritedFds::default()
    }

    /// Hands `fd` over as `name`.
    pub fn with(mut self, name: &'static str, fd: BorrowedFd<'a>) -> InheritedFds<'a> {
        self.fds.push((name, fd));
        self
    }
}

/// Starts a child as `spec` says. Each inherited descriptor is duplicated without
/// close-on-exec just for the spawn, so nothing else leaks into the child.
pub fn spawn(spec: &StartSpec, inherited_fds: &InheritedFds<'_>) -> Result<Pid, ProcessError> {
    let mut duplicates: Vec<OwnedFd> = Vec::with_capacity(inherited_fds.fds.len());
    let mut listing = Vec::with_capacity(inherited_fds.fds.len());
    for (name, fd) in &inherited_fds.fds {
        let duplicate = dup(fd.as_fd()).map_err(ProcessError::Dup)?;
        listing.push(format!("{name}={}", duplicate.as_raw_fd()));
        duplicates.push(duplicate);
    }
    let mut command = Command::new(SELF_EXE);
    command
        .arg0(&spec.title)
        .env(ROLE_ENV, &spec.role)
        .env(INHERITED_FDS_ENV, listing.join(","))
        .stdin(Stdio::null());
    for name in &spec.env_remove {
        command.env_remove(name);
    }
    for (name, value) in &spec.env {
        command.env(name, value);
    }
    let child = command.spawn().map_err(|source| ProcessError::Spawn {
        title: spec.title.clone(),
        source,
    })?;
    // The duplicates close here; the child has its own copies. Reaping is done with
    // waitpid by pid, so the Child handle is not kept.
    drop(duplicates);
    Ok(Pid::from_raw(child.id() as i32))
}

/// Guards against adopting the handed-over descriptors twice.
static INHERITED_TAKEN: AtomicBool = AtomicBool::new(false);

/// In a child: adopts the descriptors its parent handed over, by name. Only the first
/// call returns them; later calls return an empty map.
pub fn take_inherited_fds() -> Result<HashMap<String, OwnedFd>, ProcessError> {
    let mut fds = HashMap::default();
    if INHERITED_TAKEN.swap(true, Ordering::SeqCst) {
        return Ok(fds);
    }
    let listing = std::env::var(INHERITED_FDS_ENV).unwrap_or_default();
    for entry in listing.split(',').filter(|entry| !entry.is_empty()) {
        let bad = || ProcessError::BadInheritedFds(listing.clone());
        let (name, number) = entry.split_once('=').ok_or_else(bad)?;
        let raw_fd = number.parse().map_err(|_| bad())?;
        let fd = adopt_inherited_fd(raw_fd).ok_or_else(bad)?;
        fds.insert(name.to_owned(), fd);
    }
    Ok(fds)
}
