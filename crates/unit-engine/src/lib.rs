//! The event engine every unitd thread runs: one `mio` poll loop with timers, work queues,
//! a waker for other threads, signals delivered through a signalfd, and a small thread
//! pool for blocking work.
//!
//! An [`Engine`] is owned by one thread together with the owner's state `S`. The owner
//! registers its own sockets on [`Engine::registry`] with tokens below
//! [`Engine::RESERVED_TOKENS_START`] and gets every cause of work back as one closed
//! [`Event`] enum, so a single `match` in the owner lists everything its loop reacts to.
//! Closures ([`Work`]) run on the engine's thread between polls with `&mut S`; other
//! threads post them through a [`Remote`], and a [`ThreadPool`] posts the results of
//! blocking jobs back the same way.
//!
//! What this crate deliberately does not do: it knows nothing about ports, processes,
//! HTTP or configuration, keeps no table of handlers per token (the owner maps its tokens
//! to its own objects), and installs no signal handlers (it only blocks signals and reads
//! them from a signalfd). It also hosts the workspace's [`HashMap`] and [`HashSet`]
//! aliases, since it is the one leaf every other crate already depends on.

#![deny(unsafe_code)]

mod accept;
mod collections;
mod engine;
mod error;
mod net;
mod pool;
mod signals;
mod timers;

pub use mio::{Interest, Registry, Token};

pub use accept::{ACCEPT_PAUSE, AcceptBackoff, AcceptFailure, is_out_of_resources};
pub use collections::{HashMap, HashSet};
pub use engine::{Engine, Event, Remote, Work};
pub use error::EngineError;
pub use net::{Listener, ReadOutcome, Stream};
pub use pool::ThreadPool;
pub use signals::WORKER_SIGNALS;
pub use timers::TimerId;
