//! The error type of the engine crate.
//!
//! Every variant that wraps an OS failure exposes it through `source()` rather than
//! printing it, so `{:#}` chains show each cause once.

use std::io;

/// Everything that can fail in the engine, its remote handles and its thread pool.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// `epoll_create` (through `mio::Poll::new`) failed.
    #[error("creating the poll instance")]
    CreatePoll(#[source] io::Error),
    /// The eventfd behind the engine's waker could not be created or registered.
    #[error("creating the engine waker")]
    CreateWaker(#[source] io::Error),
    /// Waiting for events failed with something other than `EINTR`.
    #[error("polling for events")]
    Poll(#[source] io::Error),
    /// Writing to the waker of another engine failed.
    #[error("waking the engine")]
    Wake(#[source] io::Error),
    /// The engine a [`Remote`](crate::Remote) points to has been dropped.
    #[error("the engine has been dropped")]
    Gone,
    /// Changing the calling thread's signal mask failed.
    #[error("blocking signals")]
    BlockSignals(#[source] nix::Error),
    /// Creating or updating the signalfd failed.
    #[error("setting up the signalfd")]
    SignalFd(#[source] nix::Error),
    /// Registering the signalfd on the poll instance failed.
    #[error("registering the signalfd")]
    RegisterSignals(#[source] io::Error),
    /// Reading pending signals from the signalfd failed.
    #[error("reading the signalfd")]
    ReadSignals(#[source] nix::Error),
    /// A thread pool was asked for zero threads.
    #[error("a thread pool needs at least one thread")]
    NoThreads,
    /// The operating system refused to start a thread.
    #[error("spawning thread {name}")]
    SpawnThread {
        /// The name the thread would have had.
        name: String,
        /// Why the thread could not be started.
        #[source]
        source: io::Error,
    },
}
