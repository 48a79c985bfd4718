//! Starting a child by executing the unitd binary again, with descriptors handed over.
//!
//! A child is unitd itself in a role (the controller, the router), or a program of the
//! user's (an application). Either way `/proc/self/exe` is executed, so no child shares
//! its parent's threads or state; a program is reached through the `exec` role, which
//! places the program's descriptors, drops privileges and executes it
//! ([`crate::run_program`]). An isolated program is cloned from main instead
//! (`crate::isolated`).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use nix::unistd::{Pid, dup};

use crate::error::ProcessError;
use crate::isolated::spawn_isolated;
use crate::spec::{
    EXEC_ROLE, INHERITED_FDS_ENV, InheritedFds, Launch, PROGRAM_ENV, ROLE_ENV, StartSpec,
};

/// The binary to execute: this very program, whatever its path.
const SELF_EXE: &str = "/proc/self/exe";

/// Starts a child as `spec` says. Each inherited descriptor is duplicated without
/// close-on-exec just for the spawn, so nothing else leaks into the child. An isolated
/// program is cloned instead, and this returns once it has executed the program (or
/// with why it could not).
pub fn spawn(spec: &StartSpec, inherited_fds: &InheritedFds<'_>) -> Result<Pid, ProcessError> {
    if let Launch::Program(program) = &spec.launch
        && let Some(isolation) = &program.isolation
    {
        return spawn_isolated(program, isolation, inherited_fds);
    }
    let mut duplicates: Vec<OwnedFd> = Vec::new();
    let mut listing = Vec::new();
    for (name, fd) in inherited_fds.iter() {
        let duplicate = dup(fd.as_fd()).map_err(ProcessError::Dup)?;
        listing.push(format!("{name}={}", duplicate.as_raw_fd()));
        duplicates.push(duplicate);
    }
    let mut command = Command::new(SELF_EXE);
    command
        .arg0(&spec.title)
        .env(INHERITED_FDS_ENV, listing.join(","))
        .stdin(Stdio::null());
    for name in &spec.env_remove {
        command.env_remove(name);
    }
    for (name, value) in &spec.env {
        command.env(name, value);
    }
    match &spec.launch {
        Launch::Role(role) => {
            command.env(ROLE_ENV, role);
        }
        Launch::Program(program) => {
            command
                .env(ROLE_ENV, EXEC_ROLE)
                .env(PROGRAM_ENV, program.to_json());
        }
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
