//! Starting an isolated application process: cloned from main into its namespaces, it
//! becomes its program without executing unitd again.
//!
//! Main clones the process with the namespaces it asked for, so with a PID namespace
//! the process is that namespace's process 1 and still main's child. The clone waits on
//! a pipe until main has written the id maps of its user namespace and put it in its
//! cgroup, and then does what the `exec` role does (output files, credentials, working
//! directory, descriptors 3 and 4) with its root directory entered first, and executes
//! the program. Until that execve it reports any failure on a second pipe, which
//! closes on exec; main waits for one or the other, so a process that cannot start is
//! a failed start with the reason, as Unit logs it.
//!
//! Cloning without an exec is safe only in a process with one thread (main is one):
//! no lock can be held in the clone by a thread that is not there.
//!
//! What it does not do: resolve the isolation (main does) or mount for a process that
//! shares main's mount namespace (main has done so before).

use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill};
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::{Pid, dup2_stdin, pipe2, read, write};

use crate::error::ProcessError;
use crate::isolation::{Isolation, join_cgroup, write_id_maps};
use crate::program::exec_program;
use crate::spec::{InheritedFds, LISTEN_FD_NAME, ProgramSpec, READY_FD_NAME};
use crate::sys::{Cloned, clone_process, dup_at_least, exit_immediately};

/// How long an isolated process may take to execute its program: mounting its root
/// directory's contents is all it does first.
const EXEC_TIMEOUT: Duration = Duration::from_secs(30);
/// The lowest number the clone moves its failure pipe to, above the descriptors it
/// places for the program.
const FAILURE_FD_MIN: i32 = 10;

/// Starts `program` isolated as `isolation` says, with the descriptors of
/// `inherited_fds`, and returns its pid once it has executed the program.
pub(crate) fn spawn_isolated(
    program: &ProgramSpec,
    isolation: &Isolation,
    inherited_fds: &InheritedFds<'_>,
) -> Result<Pid, ProcessError> {
    if !single_threaded() {
        return Err(ProcessError::Threads);
    }
    let pipe_failed = |errno| ProcessError::Isolation {
        operation: "pipe2()".to_owned(),
        errno,
    };
    let (go_read, go_write) = pipe2(OFlag::O_CLOEXEC).map_err(pipe_failed)?;
    let (failure_read, failure_write) = pipe2(OFlag::O_CLOEXEC).map_err(pipe_failed)?;
    let flags = isolation.namespaces.clone_flags();
    let cloned = clone_process(flags).map_err(|errno| ProcessError::Isolation {
        operation: format!("clone({flags:?})"),
        errno,
    })?;
    let pid = match cloned {
        Cloned::Child => {
            drop(go_write);
            drop(failure_read);
            // Out of the way of the descriptors the program gets, so a failure of the
            // exec itself is still reported; close-on-exec like the original.
            let failure = dup_at_least(&failure_write, FAILURE_FD_MIN).unwrap_or(failure_write);
            let error = child(program, isolation, inherited_fds, go_read);
            let _ = write(&failure, error.to_string().as_bytes());
            exit_immediately(1)
        }
        Cloned::Parent(pid) => pid,
    };
    drop(go_read);
    drop(failure_write);
    let released = prepare_child(pid, isolation).and_then(|()| {
        write(&go_write, b"1").map_err(|errno| ProcessError::Isolation {
            operation: "write()".to_owned(),
            errno,
        })
    });
    drop(go_write);
    if let Err(error) = released {
        discard_child(pid);
        return Err(error);
    }
    match read_failure(&failure_read, EXEC_TIMEOUT) {
        Ok(None) => Ok(pid),
        Ok(Some(message)) => {
            // The clone exits right after it reports.
            let _ = waitpid(pid, None);
            Err(ProcessError::Isolated(message))
        }
        Err(error) => {
            discard_child(pid);
            Err(error)
        }
    }
}

/// What main does for the clone before it lets it go on: its id maps and its cgroup.
fn prepare_child(pid: Pid, isolation: &Isolation) -> Result<(), ProcessError> {
    if isolation.namespaces.user {
        write_id_maps(pid, isolation)?;
    }
    if let Some(cgroup) = &isolation.cgroup {
        join_cgroup(cgroup, pid)?;
    }
    Ok(())
}

/// Kills and reaps a clone that is not to run.
fn discard_child(pid: Pid) {
    let _ = kill(pid, Signal::SIGKILL);
    let _ = waitpid(pid, None);
}

/// Reads the clone's failure pipe: `None` at end of file (it executed its program),
/// or what it reported.
fn read_failure(pipe: &OwnedFd, timeout: Duration) -> Result<Option<String>, ProcessError> {
    let deadline = Instant::now() + timeout;
    let mut message = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(ProcessError::Timeout(timeout.as_secs()));
        }
        let poll_timeout = PollTimeout::try_from(remaining).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(pipe.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, poll_timeout) {
            Ok(0) | Err(Errno::EINTR) => continue,
            Ok(_) => {}
            Err(errno) => {
                return Err(ProcessError::Isolation {
                    operation: "poll()".to_owned(),
                    errno,
                });
            }
        }
        match read(pipe, &mut chunk) {
            Ok(0) if message.is_empty() => return Ok(None),
            Ok(0) => return Ok(Some(String::from_utf8_lossy(&message).into_owned())),
            Ok(n_read) => message.extend_from_slice(&chunk[..n_read]),
            Err(Errno::EINTR) => {}
            Err(errno) => {
                return Err(ProcessError::Isolation {
                    operation: "read()".to_owned(),
                    errno,
                });
            }
        }
    }
}

/// In the clone: waits for main, then becomes the program. Returns only why it could
/// not.
fn child(
    program: &ProgramSpec,
    isolation: &Isolation,
    inherited_fds: &InheritedFds<'_>,
    go: OwnedFd,
) -> ProcessError {
    match become_program(program, isolation, inherited_fds, go) {
        Ok(never) => match never {},
        Err(error) => error,
    }
}

fn become_program(
    program: &ProgramSpec,
    isolation: &Isolation,
    inherited_fds: &InheritedFds<'_>,
    go: OwnedFd,
) -> Result<std::convert::Infallible, ProcessError> {
    let failed = |operation: &str| {
        let operation = operation.to_owned();
        move |errno| ProcessError::Isolation { operation, errno }
    };
    let mut byte = [0u8; 1];
    // Main closes its end without writing when it gives up on this process.
    match read(&go, &mut byte) {
        Ok(1) => {}
        Ok(_) => return Err(ProcessError::ParentDeath(Errno::ESRCH)),
        Err(errno) => return Err(failed("read()")(errno)),
    }
    drop(go);
    let null = open(
        "/dev/null",
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(failed("open(\"/dev/null\")"))?;
    dup2_stdin(&null).map_err(failed("dup2()"))?;
    drop(null);
    let duplicate = |name: &str| -> Result<Option<OwnedFd>, ProcessError> {
        inherited_fds
            .get(name)
            .map(|fd| {
                fd.try_clone_to_owned().map_err(|error| {
                    ProcessError::Dup(
                        error
                            .raw_os_error()
                            .map_or(Errno::UnknownErrno, Errno::from_raw),
                    )
                })
            })
            .transpose()
    };
    let listen_socket = duplicate(LISTEN_FD_NAME)?;
    let ready_pipe = duplicate(READY_FD_NAME)?;
    exec_program(program, listen_socket, ready_pipe, Some(isolation))
}

/// Whether this process has one thread.
fn single_threaded() -> bool {
    std::fs::read_dir("/proc/self/task").is_ok_and(|tasks| tasks.count() == 1)
}
