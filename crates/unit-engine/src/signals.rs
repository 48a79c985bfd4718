//! Signals as ordinary events: block them in the thread and read them from a signalfd.
//!
//! The signals an owner watches are blocked in the calling thread, so threads spawned
//! afterwards inherit the mask and the kernel keeps them pending for the signalfd instead
//! of running a handler or the default action. Blocked masks also survive `exec`, so a
//! process that starts children must reset the mask in the child before it executes.
//!
//! Standard signals do not queue: several deliveries of one signal before a read (a burst
//! of `SIGCHLD`, say) coalesce into one. Owners that reap children must therefore reap in
//! a loop until nothing is left. This module only reads signal numbers; what each signal
//! means is decided in the owner's single `match`.

use std::os::fd::AsRawFd;

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use nix::errno::Errno;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::error::EngineError;

/// The signals a unitd worker process (controller, router) takes through its engine:
/// SIGTERM, SIGINT and SIGQUIT make it exit; SIGHUP, SIGUSR1, SIGUSR2 and SIGPIPE are
/// taken so that they are ignored instead of killing it.
pub const WORKER_SIGNALS: [Signal; 7] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGHUP,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGPIPE,
];

/// A non-blocking signalfd registered on an engine's poll instance.
#[derive(Debug)]
pub(crate) struct Signals {
    signal_fd: SignalFd,
    watched: SigSet,
}

impl Signals {
    /// Blocks `signals` in the calling thread and starts reading them through a new
    /// signalfd registered under `token`.
    pub(crate) fn new(
        registry: &Registry,
        token: Token,
        signals: &[Signal],
    ) -> Result<Signals, EngineError> {
        let watched: SigSet = signals.iter().copied().collect();
        watched.thread_block().map_err(EngineError::BlockSignals)?;
        let signal_fd =
            SignalFd::with_flags(&watched, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
                .map_err(EngineError::SignalFd)?;
        registry
            .register(
                &mut SourceFd(&signal_fd.as_raw_fd()),
                token,
                Interest::READABLE,
            )
            .map_err(EngineError::RegisterSignals)?;
        Ok(Signals { signal_fd, watched })
    }

    /// Adds `signals` to the watched set, blocking them in the calling thread.
    pub(crate) fn watch_more(&mut self, signals: &[Signal]) -> Result<(), EngineError> {
        let added: SigSet = signals.iter().copied().collect();
        added.thread_block().map_err(EngineError::BlockSignals)?;
        let mut watched = self.watched;
        watched.extend(signals.iter().copied());
        self.signal_fd
            .set_mask(&watched)
            .map_err(EngineError::SignalFd)?;
        self.watched = watched;
        Ok(())
    }

    /// Reads every pending signal into `out`, until the signalfd is empty.
    ///
    /// The fd is registered edge-triggered, so it must be drained on every readiness
    /// event or later signals would go unreported.
    pub(crate) fn drain_into(&self, out: &mut Vec<Signal>) -> Result<(), EngineError> {
        loop {
            let info = match self.signal_fd.read_signal() {
                Ok(Some(info)) => info,
                Ok(None) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(errno) => return Err(EngineError::ReadSignals(errno)),
            };
            // The kernel reports only signals from our mask, so conversion cannot fail
            // in practice; skip anything unexpected rather than panic.
            let signo = i32::try_from(info.ssi_signo).ok();
            match signo.and_then(|signo| Signal::try_from(signo).ok()) {
                Some(signal) => out.push(signal),
                None => tracing::warn!(
                    signo = info.ssi_signo,
                    "unknown signal number from signalfd"
                ),
            }
        }
    }
}
