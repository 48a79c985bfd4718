//! Posting work to an engine from other threads.
//!
//! A [`Remote`] shares an inbox (a mutex-guarded `Vec` of closures) and the engine's
//! `mio::Waker`. Posting pushes the closure and wakes the engine only when the inbox was
//! empty, since a non-empty inbox already has a wake-up on its way. The engine swaps the
//! whole inbox out under the lock and runs the closures after releasing it, so work never
//! runs while the lock is held. The inbox is not a general channel: it carries only
//! closures for one engine, and it is closed when that engine is dropped.
//!
//! Work posted by the engine's own thread during a turn wakes nothing: the turn drains
//! the inbox before it ends, and a turn that leaves work in it does not block in the
//! next poll. A handler that hands work to the next connection in line then costs no
//! system call.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use mio::Waker;

use super::{Engine, Work};
use crate::error::EngineError;

/// A cloneable, `Send` handle other threads use to post work to one engine and wake it.
///
/// Obtained from [`Engine::remote`]. The handle does not keep the engine alive: once the
/// engine is dropped, [`Remote::post`] returns [`EngineError::Gone`].
pub struct Remote<S> {
    shared: Arc<Shared<S>>,
}

impl<S> Remote<S> {
    /// Queues `work` to run on the engine's thread with its state, and wakes the engine.
    ///
    /// Work posted from one thread runs in posting order. Returns
    /// [`EngineError::Gone`] if the engine has been dropped, in which case `work` is
    /// dropped without running.
    pub fn post(
        &self,
        work: impl FnOnce(&mut S, &mut Engine<S>) + Send + 'static,
    ) -> Result<(), EngineError> {
        self.post_boxed(Box::new(work))
    }

    pub(crate) fn new(shared: Arc<Shared<S>>) -> Remote<S> {
        Remote { shared }
    }

    pub(crate) fn post_boxed(&self, work: Work<S>) -> Result<(), EngineError> {
        let was_empty = {
            let mut inbox = self.shared.lock();
            if inbox.closed {
                return Err(EngineError::Gone);
            }
            inbox.works.push(work);
            inbox.works.len() == 1
        };
        if was_empty {
            if self.shared.in_turn_here() {
                self.shared.unwoken.store(true, Ordering::Relaxed);
            } else {
                self.shared.waker.wake().map_err(EngineError::Wake)?;
            }
        }
        Ok(())
    }
}

impl<S> Clone for Remote<S> {
    fn clone(&self) -> Remote<S> {
        Remote {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S> fmt::Debug for Remote<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote").finish_non_exhaustive()
    }
}

// === impl Shared ===

/// The part of an engine that other threads can reach.
pub(crate) struct Shared<S> {
    inbox: Mutex<Inbox<S>>,
    waker: Waker,
    /// The mark of the thread running a turn of the engine, or 0 between turns.
    turn_thread: AtomicUsize,
    /// The engine's own thread posted work without waking it (set and read by that
    /// thread alone).
    unwoken: AtomicBool,
}

/// A number that tells the calling thread from every other live thread (never 0).
fn thread_mark() -> usize {
    thread_local! {
        static MARK: u8 = const { 0 };
    }
    MARK.with(|mark| std::ptr::from_ref(mark) as usize)
}

/// Work posted from other threads and not yet taken by the engine.
struct Inbox<S> {
    works: Vec<Work<S>>,
    /// Set when the engine is dropped; later posts fail with [`EngineError::Gone`].
    closed: bool,
}

impl<S> Shared<S> {
    pub(crate) fn new(waker: Waker) -> Shared<S> {
        Shared {
            inbox: Mutex::new(Inbox {
                works: Vec::new(),
                closed: false,
            }),
            waker,
            turn_thread: AtomicUsize::new(0),
            unwoken: AtomicBool::new(false),
        }
    }

    /// The calling thread runs a turn of the engine until [`Shared::leave_turn`].
    pub(crate) fn enter_turn(&self) {
        self.turn_thread.store(thread_mark(), Ordering::Relaxed);
    }

    pub(crate) fn leave_turn(&self) {
        self.turn_thread.store(0, Ordering::Relaxed);
    }

    /// Whether the calling thread is in a turn of the engine (so the engine drains
    /// what it posts without being woken). Only the turn's own thread ever stores its
    /// mark, so a relaxed load cannot see it from another thread.
    fn in_turn_here(&self) -> bool {
        self.turn_thread.load(Ordering::Relaxed) == thread_mark()
    }

    /// Whether work this thread posted without a wake-up may still wait in the inbox;
    /// the inbox is looked at only when some was.
    pub(crate) fn has_unwoken_work(&self) -> bool {
        self.unwoken.swap(false, Ordering::Relaxed) && !self.lock().works.is_empty()
    }

    /// Swaps the posted work into `spare`, which must be empty, leaving its allocation
    /// to the inbox so the steady state allocates nothing.
    pub(crate) fn take_into(&self, spare: &mut Vec<Work<S>>) {
        debug_assert!(
            spare.is_empty(),
            "the spare inbox buffer is drained before reuse"
        );
        std::mem::swap(&mut self.lock().works, spare);
    }

    /// Refuses further posts and returns the work that will never run.
    pub(crate) fn close(&self) -> Vec<Work<S>> {
        let mut inbox = self.lock();
        inbox.closed = true;
        std::mem::take(&mut inbox.works)
    }

    /// Locks the inbox. Work never runs under this lock, so a poisoned lock only means
    /// a push panicked (allocation failure) and the `Vec` is still consistent.
    fn lock(&self) -> MutexGuard<'_, Inbox<S>> {
        self.inbox.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::*;
    use crate::pool::ThreadPool;

    fn is_send_sync<T: Send + Sync>() {}

    #[test]
    fn handles_cross_threads_whatever_the_state() {
        // The state itself need not be `Send`: only the closures travel.
        is_send_sync::<Remote<Rc<()>>>();
        is_send_sync::<ThreadPool>();
    }
}
