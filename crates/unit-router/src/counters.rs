//! The counters behind `/status`: each router worker keeps its own, and the router's
//! main thread adds them up.

use std::sync::atomic::AtomicU64;

/// One worker's counters since the router started, for `/status`, which adds up every
/// worker's. Each worker writes only its own, on a cache line of its own, so counting
/// never makes the workers' cores pass a line back and forth.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Counters {
    pub(crate) accepted: AtomicU64,
    pub(crate) idle: AtomicU64,
    pub(crate) closed: AtomicU64,
    pub(crate) requests: AtomicU64,
}
