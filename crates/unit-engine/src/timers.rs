//! The timer queue: deadlines kept in order so the nearest one sets the poll timeout.
//!
//! Timers live in a `BTreeMap` keyed by `(deadline, sequence number)`: equal deadlines
//! fire in arming order, and arming, cancelling and taking the nearest timer are all
//! O(log n). A [`TimerId`] carries its own map key, so cancelling needs no side table.
//! This module only stores deadlines; the engine decides when to look at the clock and
//! how to deliver expired timers.

use std::collections::BTreeMap;
use std::time::Instant;

/// Identifies an armed timer so it can be cancelled with [`Engine::cancel_timer`](crate::Engine::cancel_timer).
///
/// Ids are never reused within one engine, so cancelling a timer that already fired is a
/// harmless no-op even if newer timers exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerId {
    deadline: Instant,
    seq: u64,
}

/// Armed timers of one engine, ordered by deadline then by arming order.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    entries: BTreeMap<(Instant, u64), u64>,
    next_seq: u64,
}

impl Timers {
    /// Arms a timer for `deadline` that will report `key`.
    pub(crate) fn add(&mut self, deadline: Instant, key: u64) -> TimerId {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.entries.insert((deadline, seq), key);
        TimerId { deadline, seq }
    }

    /// Disarms a timer; does nothing if it already fired or was cancelled.
    pub(crate) fn cancel(&mut self, timer_id: TimerId) {
        self.entries.remove(&(timer_id.deadline, timer_id.seq));
    }

    /// The deadline of the timer that expires first.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.entries
            .first_key_value()
            .map(|(&(deadline, _), _)| deadline)
    }

    /// The sequence number the next armed timer will get.
    ///
    /// Timers armed from now on compare greater or equal to it, which lets the engine
    /// fire only the timers that were armed before it started firing.
    pub(crate) fn watermark(&self) -> u64 {
        self.next_seq
    }

    /// Removes and returns the earliest timer that expired at or before `now` and was
    /// armed before `watermark`.
    pub(crate) fn pop_expired(&mut self, now: Instant, watermark: u64) -> Option<(TimerId, u64)> {
        let (deadline, seq) = self
            .entries
            .range(..=(now, u64::MAX))
            .map(|(&entry_key, _)| entry_key)
            .find(|&(_, seq)| seq < watermark)?;
        let key = self.entries.remove(&(deadline, seq))?;
        Some((TimerId { deadline, seq }, key))
    }

    /// How many timers are armed.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn expire_all(timers: &mut Timers, now: Instant) -> Vec<u64> {
        let watermark = timers.watermark();
        std::iter::from_fn(|| timers.pop_expired(now, watermark))
            .map(|(_, key)| key)
            .collect()
    }

    #[test]
    fn expire_in_deadline_then_arming_order() {
        let start = Instant::now();
        let mut timers = Timers::default();
        timers.add(start + Duration::from_millis(30), 3);
        timers.add(start + Duration::from_millis(10), 1);
        timers.add(start + Duration::from_millis(20), 20);
        timers.add(start + Duration::from_millis(20), 21);
        timers.add(start + Duration::from_millis(20), 22);
        timers.add(start + Duration::from_millis(90), 9);
        assert_eq!(
            timers.next_deadline(),
            Some(start + Duration::from_millis(10))
        );
        assert_eq!(
            expire_all(&mut timers, start + Duration::from_millis(30)),
            [1, 20, 21, 22, 3]
        );
        assert_eq!(timers.len(), 1);
        assert_eq!(
            timers.next_deadline(),
            Some(start + Duration::from_millis(90))
        );
    }

    #[test]
    fn cancelled_timers_never_expire() {
        let start = Instant::now();
        let mut timers = Timers::default();
        let first = timers.add(start, 1);
        let second = timers.add(start, 2);
        timers.add(start, 3);
        timers.cancel(second);
        assert_eq!(expire_all(&mut timers, start), [1, 3]);
        // Cancelling after expiry and cancelling twice are no-ops.
        timers.cancel(first);
        timers.cancel(second);
        assert_eq!(timers.len(), 0);
        assert_eq!(timers.next_deadline(), None);
    }

    #[test]
    fn timers_armed_after_the_watermark_wait() {
        let start = Instant::now();
        let mut timers = Timers::default();
        let now = start + Duration::from_millis(10);
        timers.add(now, 1);
        let watermark = timers.watermark();
        // Armed later with an earlier deadline: it sorts first but must wait.
        timers.add(start, 2);
        assert_eq!(
            timers.pop_expired(now, watermark).map(|(_, key)| key),
            Some(1)
        );
        assert_eq!(timers.pop_expired(now, watermark), None);
        assert_eq!(expire_all(&mut timers, now), [2]);
    }
}
