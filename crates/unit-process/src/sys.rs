//! The raw calls of this crate: adopting a descriptor inherited across exec, placing
//! one at a fixed number for a program about to be executed, and cloning main into the
//! namespaces of an isolated process.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::Mutex;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::sched::CloneFlags;
use nix::unistd::Pid;

/// Descriptor numbers already adopted, so none gets a second owner.
static ADOPTED: Mutex<Vec<RawFd>> = Mutex::new(Vec::new());

/// Takes ownership of a descriptor number inherited from the process that executed us
/// (a port handed over by main, or a listen socket from `NGINX` or systemd), after
/// checking it is open, and marks it close-on-exec so it goes no further.
/// Returns `None` for standard streams, closed numbers, and numbers adopted before.
#[allow(unsafe_code)]
pub fn adopt_inherited_fd(raw_fd: RawFd) -> Option<OwnedFd> {
    if raw_fd < 3 {
        return None;
    }
    let mut adopted = ADOPTED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if adopted.contains(&raw_fd) {
        return None;
    }
    // SAFETY: F_GETFD only reads the descriptor's flags; on a number that is not open it
    // fails with EBADF, and the borrow ends with this call.
    let borrowed = unsafe { BorrowedFd::borrow_raw(raw_fd) };
    fcntl(borrowed, FcntlArg::F_GETFD).ok()?;
    adopted.push(raw_fd);
    // SAFETY: the descriptor is open (checked above), was handed to this process by its
    // parent or the service manager for it to own, and the ADOPTED list guarantees this
    // is the only OwnedFd ever made from this number.
    let owned = unsafe { OwnedFd::from_raw_fd(raw_fd) };
    fcntl(&owned, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).ok()?;
    Some(owned)
}

/// Makes `fd` open at `number`, without close-on-exec, for the program this process is
/// about to execute (`LISTEN_FDS` sockets start at descriptor 3). The original is closed
/// when it is a different number.
#[allow(unsafe_code)]
pub(crate) fn place_fd(fd: OwnedFd, number: RawFd) -> nix::Result<()> {
    if fd.as_raw_fd() == number {
        fcntl(&fd, FcntlArg::F_SETFD(FdFlag::empty()))?;
        // Stays open across the exec that follows.
        let _ = fd.into_raw_fd();
        return Ok(());
    }
    // SAFETY: this runs in a single-threaded process just before it executes a program:
    // nothing else owns or will use the descriptor `number` (dup2 replaces whatever it
    // was), and the returned owner is leaked so the descriptor stays open across exec.
    let placed = unsafe { nix::unistd::dup2_raw(&fd, number) }?;
    let _ = placed.into_raw_fd();
    Ok(())
}

/// Restores the default action of every signal, for a program about to be executed:
/// an ignored signal stays ignored across exec, and the standard library ignores
/// SIGPIPE, as a shell may SIGINT and SIGQUIT for what it starts in the background.
#[allow(unsafe_code)]
pub(crate) fn reset_signal_dispositions() -> nix::Result<()> {
    use nix::sys::signal::{SigHandler, Signal, signal};
    let catchable =
        Signal::iterator().filter(|number| !matches!(number, Signal::SIGKILL | Signal::SIGSTOP));
    for number in catchable {
        // SAFETY: SIG_DFL installs no handler of ours, so no code can run in signal
        // context; the process is single-threaded and about to execute a program.
        unsafe { signal(number, SigHandler::SigDfl) }?;
    }
    Ok(())
}

/// Which side of a [`clone_process`] this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cloned {
    /// The new process.
    Child,
    /// The caller, with the new process's pid.
    Parent(Pid),
}

/// The arguments of `clone3` up to `tls` (`CLONE_ARGS_SIZE_VER0`), the same on every
/// architecture, unlike the argument order of `clone`.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
}

/// Creates a child process as `fork` does, in the new namespaces `flags` name; the
/// child's exit is reported to this process with SIGCHLD.
///
/// The caller must have one thread, and the child may only run code up to an `execve`
/// or [`exit_immediately`].
#[allow(unsafe_code)]
pub(crate) fn clone_process(flags: CloneFlags) -> nix::Result<Cloned> {
    let mut args = CloneArgs {
        // The flags are bits of an int; as clone3 takes them they are widened, not
        // sign-extended.
        flags: u64::from(flags.bits() as u32),
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    // SAFETY: without CLONE_VM and with no stack given, clone3 duplicates the process
    // as fork does: the child runs on its own copy of this stack and memory. The caller
    // has one thread, so no lock in that copy is held by a thread the child lacks, and
    // the child only runs until it executes a program or exits. The kernel reads
    // `args` (of the size passed) during the call only.
    let mut result = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if result == -1 && Errno::last() == Errno::ENOSYS {
        // Kernels before 5.3, and sandboxes that filter clone3, have clone only.
        let raw_flags = libc::c_ulong::from(flags.bits() as u32) | libc::SIGCHLD as libc::c_ulong;
        // SAFETY: as above; with a null stack and no thread or TLS flags the remaining
        // arguments are unused, whatever order this architecture takes them in.
        result =
            unsafe { libc::syscall(libc::SYS_clone, raw_flags, 0usize, 0usize, 0usize, 0usize) };
    }
    match result {
        -1 => Err(Errno::last()),
        0 => Ok(Cloned::Child),
        pid => Ok(Cloned::Parent(Pid::from_raw(pid as libc::pid_t))),
    }
}

/// Ends a cloned child at once, with `status`: the exit handlers and buffers it holds
/// are copies of main's, not its own to run or flush.
#[allow(unsafe_code)]
pub(crate) fn exit_immediately(status: i32) -> ! {
    // SAFETY: _exit only ends the process; it touches none of its memory.
    unsafe { libc::_exit(status) }
}

/// A duplicate of `fd` numbered `min` or above, close-on-exec.
#[allow(unsafe_code)]
pub(crate) fn dup_at_least(fd: &OwnedFd, min: RawFd) -> nix::Result<OwnedFd> {
    let raw_fd = fcntl(fd, FcntlArg::F_DUPFD_CLOEXEC(min))?;
    // SAFETY: F_DUPFD_CLOEXEC returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw_fd) })
}
