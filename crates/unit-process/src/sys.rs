//! The raw calls of this crate: adopting a descriptor inherited across exec, and
//! placing one at a fixed number for a program about to be executed.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::Mutex;

use nix::fcntl::{FcntlArg, FdFlag, fcntl};

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
