//! The one raw call of this crate: adopting a descriptor inherited across exec.

use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};
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
