//! The `exec` role: a re-executed unitd that becomes a program of the user's.
//!
//! Main starts an application process as unitd in this role, with a [`ProgramSpec`] in
//! the environment and the application's listen socket handed over. [`run_program`]
//! points standard output and error at the configured files, drops to the program's
//! user and group, enters its working directory, puts the listen socket at descriptor 3
//! (`LISTEN_FDS=1`, `LISTEN_PID`, `LISTEN_FDNAMES=unit`, the systemd convention), a
//! readiness pipe at descriptor 4 (`UNITD_READY_FD=4`) when main gave it one, and
//! executes the program with the environment it was given, nothing of unitd's own.
//! The program gets SIGKILL if main dies, so a main killed outright leaves no
//! application process behind.
//!
//! What it does not do: choose the environment or the credentials (main does, from the
//! configuration) or report how the program fares (main reaps it).

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::errno::Errno;
use nix::sys::prctl;
use nix::sys::signal::{SigSet, Signal};
use nix::unistd::{chdir, dup2_stderr, dup2_stdout, execve, getpid, getppid};

use crate::error::ProcessError;
use crate::isolation::{Isolation, enter_root};
use crate::spec::{LISTEN_FD_NAME, PROGRAM_ENV, ProgramSpec, READY_FD_NAME, take_inherited_fds};
use crate::sys::{place_fd, reset_signal_dispositions};

/// The descriptor a program finds its listen socket at.
const LISTEN_FD: i32 = 3;
/// The descriptor a program reports readiness on, when it was given a pipe for that.
const READY_FD: i32 = 4;
/// The variable that tells a program its readiness pipe.
pub const READY_FD_ENV: &str = "UNITD_READY_FD";

/// In the `exec` role: becomes the program main asked for. Returns only when that
/// fails, with the reason.
pub fn run_program() -> ProcessError {
    match prepare_and_exec() {
        Ok(never) => match never {},
        Err(error) => error,
    }
}

fn prepare_and_exec() -> Result<std::convert::Infallible, ProcessError> {
    let text = std::env::var(PROGRAM_ENV).unwrap_or_default();
    let spec = ProgramSpec::from_json(&text).ok_or(ProcessError::BadProgramSpec)?;
    let mut fds = take_inherited_fds()?;
    let listen_socket = fds.remove(LISTEN_FD_NAME);
    let ready_pipe = fds.remove(READY_FD_NAME);
    exec_program(&spec, listen_socket, ready_pipe, None)
}

/// Becomes `spec`'s program: the steps of the `exec` role, which an isolated process
/// cloned from main takes too, with its root directory entered before its credentials
/// change and without new privileges when its isolation says so. Returns only why it
/// could not.
pub(crate) fn exec_program(
    spec: &ProgramSpec,
    mut listen_socket: Option<OwnedFd>,
    mut ready_pipe: Option<OwnedFd>,
    isolation: Option<&Isolation>,
) -> Result<std::convert::Infallible, ProcessError> {
    // Zero in a PID namespace of its own, where main is outside; the check below then
    // cannot tell, and a main that dies takes the whole namespace with it anyway.
    let main = getppid();
    // Output files are opened before privileges are dropped (and the root changes), as
    // main opens its log.
    if let Some(path) = &spec.stdout {
        dup2_stdout(open_output(path)?).map_err(|errno| ProcessError::Redirect {
            path: path.clone(),
            errno,
        })?;
    }
    if let Some(path) = &spec.stderr {
        dup2_stderr(open_output(path)?).map_err(|errno| ProcessError::Redirect {
            path: path.clone(),
            errno,
        })?;
    }
    if let Some(root) = isolation.and_then(|isolation| isolation.root.as_ref()) {
        let own_mount_namespace = isolation.is_some_and(|isolation| isolation.namespaces.mount);
        enter_root(root, own_mount_namespace)?;
    }
    if let Some(credentials) = &spec.credentials {
        match isolation {
            // Inside a user namespace the process is not root by its uid but has the
            // capabilities to switch; outside one main is root. Either way the switch
            // must happen, with the groups main looked up.
            Some(isolation) => {
                credentials.apply(&isolation.groups, isolation.namespaces.user)?;
            }
            None => credentials.drop_privileges()?,
        }
    }
    // Set after the credentials change, which clears it; main may have died before it
    // was set, leaving this process to init.
    prctl::set_pdeathsig(Signal::SIGKILL).map_err(ProcessError::ParentDeath)?;
    if getppid() != main {
        return Err(ProcessError::ParentDeath(Errno::ESRCH));
    }
    // Entered as the program's user, so a directory it may not use is refused here.
    if let Some(directory) = &spec.working_directory {
        chdir(directory).map_err(|errno| ProcessError::Chdir {
            path: directory.clone(),
            errno,
        })?;
    }
    // Main watches its signals through a signalfd with them blocked, and a blocked mask
    // survives exec: the program starts with none blocked, as any program expects.
    SigSet::empty()
        .thread_set_mask()
        .map_err(ProcessError::SignalMask)?;
    reset_signal_dispositions().map_err(ProcessError::SignalMask)?;
    if isolation.is_some_and(|isolation| isolation.no_new_privs) {
        prctl::set_no_new_privs().map_err(|errno| ProcessError::Isolation {
            operation: "prctl(PR_SET_NO_NEW_PRIVS)".to_owned(),
            errno,
        })?;
    }
    let mut environment = spec.environment.clone();
    environment.retain(|(name, _)| name != READY_FD_ENV);
    // Neither may sit at the other's number when they are put in place.
    if listen_socket
        .as_ref()
        .is_some_and(|fd| fd.as_raw_fd() == READY_FD)
    {
        listen_socket = listen_socket
            .map(|fd| fd.try_clone())
            .transpose()
            .map_err(dup_error)?;
    }
    if ready_pipe
        .as_ref()
        .is_some_and(|fd| fd.as_raw_fd() == LISTEN_FD)
    {
        ready_pipe = ready_pipe
            .map(|fd| fd.try_clone())
            .transpose()
            .map_err(dup_error)?;
    }
    if let Some(listen_socket) = listen_socket {
        place_fd(listen_socket, LISTEN_FD).map_err(ProcessError::Dup)?;
        push_listen_environment(&mut environment);
    }
    if let Some(ready_pipe) = ready_pipe {
        place_fd(ready_pipe, READY_FD).map_err(ProcessError::Dup)?;
        environment.push((READY_FD_ENV.into(), READY_FD.to_string()));
    }
    let c_string = |text: String| {
        CString::new(text).map_err(|_| ProcessError::InvalidName(spec.executable.clone()))
    };
    let executable = c_string(spec.executable.clone())?;
    let argv0 = spec
        .argv0
        .clone()
        .unwrap_or_else(|| spec.executable.clone());
    let argv = std::iter::once(argv0)
        .chain(spec.arguments.iter().cloned())
        .map(c_string)
        .collect::<Result<Vec<_>, _>>()?;
    let envp = environment
        .into_iter()
        .map(|(name, value)| c_string(format!("{name}={value}")))
        .collect::<Result<Vec<_>, _>>()?;
    execve(&executable, &argv, &envp).map_err(|errno| ProcessError::Exec {
        executable: spec.executable.clone(),
        errno,
    })
}

/// The systemd variables that announce the listen socket at descriptor 3.
fn push_listen_environment(environment: &mut Vec<(String, String)>) {
    environment.retain(|(name, _)| !name.starts_with("LISTEN_"));
    environment.push(("LISTEN_FDS".into(), "1".into()));
    environment.push(("LISTEN_PID".into(), getpid().to_string()));
    environment.push(("LISTEN_FDNAMES".into(), "unit".into()));
}

fn dup_error(error: std::io::Error) -> ProcessError {
    ProcessError::Dup(
        error
            .raw_os_error()
            .map_or(Errno::UnknownErrno, Errno::from_raw),
    )
}

/// Opens an output file for appending, created readable by its owner and group.
fn open_output(path: &Path) -> Result<File, ProcessError> {
    File::options()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
        .map_err(|source| ProcessError::Redirect {
            path: path.to_owned(),
            errno: source
                .raw_os_error()
                .map_or(Errno::UnknownErrno, Errno::from_raw),
        })
}
