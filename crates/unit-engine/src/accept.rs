//! What a server does when accepting fails for want of descriptors or memory: the
//! connections it has go on, accepting pauses for a moment instead of spinning on a
//! listener the kernel keeps reporting, and the condition is logged at most once a
//! second.

use std::io;
use std::time::{Duration, Instant};

/// How long accepting pauses: long enough not to spin, short enough that clients in the
/// backlog wait little once descriptors are free.
pub const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// At most one log line about it per this long.
const LOG_INTERVAL: Duration = Duration::from_secs(1);

/// Whether an accept failed for want of descriptors or memory, so that it would fail
/// again until some are freed.
pub fn is_out_of_resources(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(nix::libc::EMFILE | nix::libc::ENFILE | nix::libc::ENOBUFS | nix::libc::ENOMEM)
    )
}

/// A server's accepting state.
#[derive(Debug, Default)]
pub struct AcceptBackoff {
    paused: bool,
    logged: Option<Instant>,
}

/// What to do after an accept failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptFailure {
    /// Out of resources: accepting is paused; arm a timer for [`ACCEPT_PAUSE`] and
    /// [`AcceptBackoff::resume`] then. `log` says whether to say so now.
    Paused {
        /// Whether this failure is to be logged (the first in a second).
        log: bool,
    },
    /// Any other failure.
    Other,
}

impl AcceptBackoff {
    /// Whether accepting is paused.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// An accept failed with `error` at `now`.
    pub fn failed(&mut self, error: &io::Error, now: Instant) -> AcceptFailure {
        if !is_out_of_resources(error) {
            return AcceptFailure::Other;
        }
        self.paused = true;
        let log = self
            .logged
            .is_none_or(|logged| now.saturating_duration_since(logged) >= LOG_INTERVAL);
        if log {
            self.logged = Some(now);
        }
        AcceptFailure::Paused { log }
    }

    /// The pause is over: accept again (every listener, since edge-triggered ones raise
    /// no new event for connections already waiting).
    pub fn resume(&mut self) {
        self.paused = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_descriptors_pauses_and_logs_once_a_second() {
        let mut backoff = AcceptBackoff::default();
        let start = Instant::now();
        let emfile = io::Error::from_raw_os_error(nix::libc::EMFILE);
        assert_eq!(
            backoff.failed(&emfile, start),
            AcceptFailure::Paused { log: true }
        );
        assert!(backoff.is_paused());
        backoff.resume();
        assert!(!backoff.is_paused());
        let soon = start + Duration::from_millis(500);
        assert_eq!(
            backoff.failed(&emfile, soon),
            AcceptFailure::Paused { log: false }
        );
        let later = start + Duration::from_millis(1100);
        let enfile = io::Error::from_raw_os_error(nix::libc::ENFILE);
        assert_eq!(
            backoff.failed(&enfile, later),
            AcceptFailure::Paused { log: true }
        );
        let reset = io::Error::from_raw_os_error(nix::libc::ECONNABORTED);
        assert_eq!(backoff.failed(&reset, later), AcceptFailure::Other);
    }
}
