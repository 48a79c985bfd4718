//! The poll loop: one `mio::Poll`, its timers, its work queues and its signals.
//!
//! Each turn computes the poll timeout from the nearest timer (zero while local work is
//! queued), polls (retrying `EINTR`), hands readiness and signals to the owner's handler,
//! fires expired timers through the same handler, then runs the work posted from other
//! threads followed by the work posted locally. The engine never decides what an event
//! means; the owner's handler does, in one `match` over [`Event`].

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Registry, Token, Waker};
use nix::sys::signal::Signal;

pub use self::remote::Remote;
use self::remote::Shared;
use crate::error::EngineError;
use crate::signals::Signals;
use crate::timers::{TimerId, Timers};

/// Everything the loop reacts to.
#[derive(Debug)]
pub enum Event {
    /// Readiness of a source the owner registered on [`Engine::registry`] with a token of
    /// its own choosing, below [`Engine::RESERVED_TOKENS_START`].
    ///
    /// Sources are registered edge-triggered, as mio always does: read or write until
    /// `WouldBlock` before waiting for the next event.
    Io {
        /// The token the source was registered with.
        token: Token,
        /// The source can be read (or accepted from) without blocking.
        readable: bool,
        /// The source can be written without blocking.
        writable: bool,
        /// The read or write side was closed, or the source reported an error.
        closed: bool,
    },
    /// A timer armed with [`Engine::add_timer`] or [`Engine::add_timer_at`] expired.
    Timer {
        /// The id [`Engine::add_timer`] returned.
        id: TimerId,
        /// The key the owner gave when arming the timer.
        key: u64,
    },
    /// A signal watched with [`Engine::watch_signals`] arrived.
    ///
    /// Several deliveries of one standard signal between two reads arrive as one event.
    Signal(Signal),
}

/// Work run on the engine's thread between polls, with the owner's state.
///
/// It is `Send` because it may be posted from another thread through a [`Remote`].
pub type Work<S> = Box<dyn FnOnce(&mut S, &mut Engine<S>) + Send>;

/// One thread's event loop: a `mio::Poll` with timers, work queues, a waker and signals.
///
/// `S` is the owner's state; the engine only passes it to the handler and to posted work.
pub struct Engine<S> {
    poll: Poll,
    events: Events,
    timers: Timers,
    local_works: VecDeque<Work<S>>,
    shared: Arc<Shared<S>>,
    /// Spare buffer the remote inbox is swapped into, kept to reuse its allocation.
    remote_works: Vec<Work<S>>,
    signals: Option<Signals>,
    /// Reused buffer for the signals read in one readiness event.
    pending_signals: Vec<Signal>,
    stop_requested: bool,
    /// When the last poll returned: the time of everything handled in this turn.
    now: Instant,
}

/// Token of the waker that other threads use to interrupt the poll.
const WAKER: Token = Token(usize::MAX - 1);

/// Token of the signalfd.
const SIGNALS: Token = Token(usize::MAX - 2);

// The engine's own tokens must stay out of the owners' range.
const _: () = assert!(WAKER.0 >= Engine::<()>::RESERVED_TOKENS_START);
const _: () = assert!(SIGNALS.0 >= Engine::<()>::RESERVED_TOKENS_START);

/// How many readiness events one poll returns at most.
const EVENTS_CAPACITY: usize = 1024;

/// Longer delays are shortened to this (about a century) so deadlines never overflow.
const MAX_TIMER_DELAY: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

impl<S> Engine<S> {
    /// Tokens from this value up are the engine's own; owners register below it.
    pub const RESERVED_TOKENS_START: usize = usize::MAX - 16;

    /// Creates an engine with its own poll instance and waker.
    pub fn new() -> Result<Engine<S>, EngineError> {
        let poll = Poll::new().map_err(EngineError::CreatePoll)?;
        let waker = Waker::new(poll.registry(), WAKER).map_err(EngineError::CreateWaker)?;
        Ok(Engine {
            poll,
            events: Events::with_capacity(EVENTS_CAPACITY),
            timers: Timers::default(),
            local_works: VecDeque::new(),
            shared: Arc::new(Shared::new(waker)),
            remote_works: Vec::new(),
            signals: None,
            pending_signals: Vec::new(),
            stop_requested: false,
            now: Instant::now(),
        })
    }

    /// When the last poll returned. Handlers use it as the time of the events they
    /// handle, so a turn reads the clock once, however many events it brings.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The registry owners use to register their sources, with tokens below
    /// [`Engine::RESERVED_TOKENS_START`].
    pub fn registry(&self) -> &Registry {
        self.poll.registry()
    }

    /// Blocks `signals` in the calling thread and delivers them as [`Event::Signal`]
    /// through a signalfd registered on this engine's poll.
    ///
    /// Call it before spawning threads, so they inherit the mask and the signals are not
    /// delivered to them instead. Calling it again adds to the watched set. The mask is
    /// also inherited across `exec`: children must reset it before executing. The signals
    /// stay blocked after the engine is dropped.
    pub fn watch_signals(&mut self, signals: &[Signal]) -> Result<(), EngineError> {
        match &mut self.signals {
            Some(watched) => watched.watch_more(signals),
            None => {
                self.signals = Some(Signals::new(self.poll.registry(), SIGNALS, signals)?);
                Ok(())
            }
        }
    }

    /// Arms a timer that expires `after` from now and reports `key`.
    ///
    /// Delays longer than about a century are shortened to that. A timer armed while
    /// timers are firing expires on the next turn at the earliest.
    pub fn add_timer(&mut self, after: Duration, key: u64) -> TimerId {
        self.timers
            .add(Instant::now() + after.min(MAX_TIMER_DELAY), key)
    }

    /// Arms a timer that expires at `deadline` and reports `key`.
    ///
    /// A deadline in the past expires on the next turn. Timers with equal deadlines
    /// expire in arming order.
    pub fn add_timer_at(&mut self, deadline: Instant, key: u64) -> TimerId {
        self.timers.add(deadline, key)
    }

    /// Disarms a timer; does nothing if it already expired or was cancelled.
    pub fn cancel_timer(&mut self, id: TimerId) {
        self.timers.cancel(id);
    }

    /// The deadline of the armed timer that expires first.
    pub fn next_timer_deadline(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// Queues work for this thread.
    ///
    /// It runs after the current batch of events and timers, before the next poll; the
    /// poll does not wait while work is queued. Work posted by queued work runs in the
    /// same drain.
    pub fn post(&mut self, work: impl FnOnce(&mut S, &mut Engine<S>) + Send + 'static) {
        self.local_works.push_back(Box::new(work));
    }

    /// A cloneable, `Send` handle other threads use to post work and wake this engine.
    pub fn remote(&self) -> Remote<S> {
        Remote::new(Arc::clone(&self.shared))
    }

    /// Makes [`Engine::run`] return after the current iteration.
    ///
    /// Called before `run`, it makes `run` return at once.
    pub fn stop(&mut self) {
        self.stop_requested = true;
    }

    /// Runs the loop until [`Engine::stop`] is called from the handler or from work.
    ///
    /// Each iteration is one [`Engine::turn`] without a maximum wait: with no timers and
    /// no queued work the poll blocks until a source, a signal or a [`Remote`] wakes it.
    /// Returns the first poll or signal-reading error.
    pub fn run(
        &mut self,
        state: &mut S,
        mut handler: impl FnMut(&mut S, &mut Engine<S>, Event),
    ) -> Result<(), EngineError> {
        loop {
            if self.stop_requested {
                self.stop_requested = false;
                return Ok(());
            }
            self.turn(state, None, &mut handler)?;
        }
    }

    /// One iteration of the loop, waiting at most `max_wait` (`None`: until something
    /// happens), then handling everything that is ready.
    ///
    /// Order: poll; readiness and signal events to `handler`; expired timers to
    /// `handler`; work posted from other threads; work posted locally.
    pub fn turn(
        &mut self,
        state: &mut S,
        max_wait: Option<Duration>,
        mut handler: impl FnMut(&mut S, &mut Engine<S>, Event),
    ) -> Result<(), EngineError> {
        let timeout = self.poll_timeout(max_wait);
        self.poll_events(timeout)?;
        tracing::trace!(timeout = ?timeout, n_timers = self.timers.len(), "engine turn");
        self.shared.enter_turn();
        let dispatched = self.dispatch_events(state, &mut handler);
        if dispatched.is_ok() {
            self.fire_timers(state, &mut handler);
            self.run_works(state);
        }
        self.shared.leave_turn();
        dispatched
    }

    /// How long the next poll may wait: until the nearest timer or `max_wait`, whichever
    /// is sooner, and not at all while local work is queued.
    ///
    /// The wait is counted from the turn's time, not the clock: a timer fires later by
    /// as long as the turn's handlers ran, which spares a clock read per turn.
    fn poll_timeout(&self, max_wait: Option<Duration>) -> Option<Duration> {
        // Work this thread posted late in the last turn woke nothing: it runs now.
        if !self.local_works.is_empty() || self.shared.has_unwoken_work() {
            return Some(Duration::ZERO);
        }
        let until_timer = self
            .timers
            .next_deadline()
            .map(|deadline| deadline.saturating_duration_since(self.now));
        match (until_timer, max_wait) {
            (Some(until_timer), Some(max_wait)) => Some(until_timer.min(max_wait)),
            (until_timer, max_wait) => until_timer.or(max_wait),
        }
    }

    /// Polls into `self.events`, retrying `EINTR` with the time that is left.
    fn poll_events(&mut self, timeout: Option<Duration>) -> Result<(), EngineError> {
        // Counted from the turn's time: an interrupted poll may end a little early,
        // which only makes for an empty turn.
        let deadline = timeout.and_then(|timeout| self.now.checked_add(timeout));
        let mut timeout = timeout;
        loop {
            match self.poll.poll(&mut self.events, timeout) {
                Ok(()) => {
                    self.now = Instant::now();
                    return Ok(());
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {
                    if let Some(deadline) = deadline {
                        timeout = Some(deadline.saturating_duration_since(Instant::now()));
                    }
                }
                Err(error) => return Err(EngineError::Poll(error)),
            }
        }
    }

    /// Hands the events of the last poll to `handler`.
    ///
    /// The events are moved out of `self` while the handler runs, because the handler
    /// needs `&mut self`; they are put back even on error so their buffer is reused.
    fn dispatch_events(
        &mut self,
        state: &mut S,
        handler: &mut impl FnMut(&mut S, &mut Engine<S>, Event),
    ) -> Result<(), EngineError> {
        let events = std::mem::replace(&mut self.events, Events::with_capacity(0));
        let mut result = Ok(());
        for event in events.iter() {
            match event.token() {
                // The remote inbox is drained on every turn; the wake-up only ended the poll.
                WAKER => {}
                SIGNALS => {
                    result = self.deliver_signals(state, handler);
                    if result.is_err() {
                        break;
                    }
                }
                token if token.0 >= Self::RESERVED_TOKENS_START => {
                    tracing::debug!(token = token.0, "event for an unknown reserved token");
                }
                token => handler(
                    state,
                    self,
                    Event::Io {
                        token,
                        readable: event.is_readable(),
                        writable: event.is_writable(),
                        closed: event.is_read_closed()
                            || event.is_write_closed()
                            || event.is_error(),
                    },
                ),
            }
        }
        self.events = events;
        result
    }

    /// Reads every pending signal and hands each to `handler`.
    fn deliver_signals(
        &mut self,
        state: &mut S,
        handler: &mut impl FnMut(&mut S, &mut Engine<S>, Event),
    ) -> Result<(), EngineError> {
        let Some(signals) = &self.signals else {
            return Ok(());
        };
        let mut pending_signals = std::mem::take(&mut self.pending_signals);
        let result = signals.drain_into(&mut pending_signals);
        // Signals read before a failure are still delivered.
        for signal in pending_signals.drain(..) {
            handler(state, self, Event::Signal(signal));
        }
        self.pending_signals = pending_signals;
        result
    }

    /// Hands every timer that expired by now, and was armed before this call, to `handler`.
    ///
    /// Timers the handler cancels are not fired; timers it arms wait for the next turn,
    /// so a handler that re-arms a zero delay cannot starve the poll.
    fn fire_timers(
        &mut self,
        state: &mut S,
        handler: &mut impl FnMut(&mut S, &mut Engine<S>, Event),
    ) {
        let now = self.now;
        let watermark = self.timers.watermark();
        while let Some((id, key)) = self.timers.pop_expired(now, watermark) {
            handler(state, self, Event::Timer { id, key });
        }
    }

    /// Runs the work posted from other threads (and from this one during the turn),
    /// then the local queue until it is empty. Posted work that posts more is run in a
    /// few more rounds; what is left after them waits for the next turn, which then
    /// does not block.
    fn run_works(&mut self, state: &mut S) {
        const ROUNDS: usize = 4;
        for _ in 0..ROUNDS {
            self.shared.take_into(&mut self.remote_works);
            if self.remote_works.is_empty() {
                break;
            }
            let mut remote_works = std::mem::take(&mut self.remote_works);
            for work in remote_works.drain(..) {
                work(state, self);
            }
            self.remote_works = remote_works;
        }
        while let Some(work) = self.local_works.pop_front() {
            work(state, self);
        }
    }
}

impl<S> Drop for Engine<S> {
    fn drop(&mut self) {
        // Close the inbox first so remotes see `Gone`, then drop the orphaned work outside
        // the lock: dropping a closure may drop a `Remote` or post elsewhere.
        let abandoned = self.shared.close();
        drop(abandoned);
    }
}

impl<S> fmt::Debug for Engine<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("n_timers", &self.timers.len())
            .field("n_local_works", &self.local_works.len())
            .field("watches_signals", &self.signals.is_some())
            .field("stop_requested", &self.stop_requested)
            .finish_non_exhaustive()
    }
}

mod remote;
#[cfg(test)]
mod tests;
