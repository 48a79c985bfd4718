//! The allocation cap: a global allocator that counts live bytes and stops an input that
//! holds more than its share.
//!
//! [`CountingAlloc`] wraps the system allocator; the fuzz binary installs it with
//! `#[global_allocator]`. While an input runs ([`arm`]), an allocation that would take
//! the bytes live above what they were when the input started by more than the cap
//! never returns: the allocating thread records it ([`tripped`]) and sleeps, and the
//! engine's supervisor, which watches from another thread, reports the input and ends
//! the run. Returning null instead would abort the process before the input is saved,
//! and an allocator must not unwind.
//!
//! The counts are process-wide atomics, as a global allocator's state must be.
//! It counts; it does not sample, track call sites or free anything itself.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// Bytes allocated and not yet freed, by every thread.
static LIVE: AtomicUsize = AtomicUsize::new(0);
/// `LIVE` when the running input started.
static BASELINE: AtomicUsize = AtomicUsize::new(0);
/// The cap on bytes an input may hold above `BASELINE`; 0 when no input runs.
static CAP: AtomicUsize = AtomicUsize::new(0);
/// An allocation went over the cap.
static TRIPPED: AtomicBool = AtomicBool::new(false);
/// The size of the allocation that went over the cap.
static TRIPPED_SIZE: AtomicUsize = AtomicUsize::new(0);
/// What the input held when it went over the cap.
static TRIPPED_HELD: AtomicUsize = AtomicUsize::new(0);

/// The system allocator with a count of live bytes and the per-input cap.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAlloc;

/// The allocation that went over the cap: its size, and what the input held before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverAllocation {
    /// The size asked for.
    pub requested: usize,
    /// Bytes the input held when it asked.
    pub held: usize,
}

/// Starts counting for an input: from now until [`disarm`], it may hold at most `cap`
/// bytes more than are live now.
pub(crate) fn arm(cap: usize) {
    BASELINE.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
    CAP.store(cap, Ordering::Relaxed);
}

/// Stops enforcing the cap (the input is over, or a report is being written).
pub(crate) fn disarm() {
    CAP.store(0, Ordering::Relaxed);
}

/// The allocation that went over the cap, once one has.
pub(crate) fn tripped() -> Option<OverAllocation> {
    TRIPPED.load(Ordering::Acquire).then(|| OverAllocation {
        requested: TRIPPED_SIZE.load(Ordering::Relaxed),
        held: TRIPPED_HELD.load(Ordering::Relaxed),
    })
}

/// Whether this allocator is the process's global allocator (the fuzz binary's), so the
/// cap is enforced at all.
pub fn is_installed() -> bool {
    let before = LIVE.load(Ordering::Relaxed);
    let probe = std::hint::black_box(vec![0u8; 4096]);
    let counted = LIVE.load(Ordering::Relaxed) != before;
    drop(probe);
    counted
}

/// Counts `size` more bytes, first stopping the thread for good if they take the input
/// over its cap.
fn charge(size: usize) {
    let cap = CAP.load(Ordering::Relaxed);
    if cap != 0 {
        let held = LIVE
            .load(Ordering::Relaxed)
            .saturating_sub(BASELINE.load(Ordering::Relaxed));
        if held.saturating_add(size) > cap {
            TRIPPED_SIZE.store(size, Ordering::Relaxed);
            TRIPPED_HELD.store(held, Ordering::Relaxed);
            TRIPPED.store(true, Ordering::Release);
            // The supervisor reports the input and ends the process; sleeping allocates
            // nothing, so this thread stays out of the allocator's way meanwhile.
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
    LIVE.fetch_add(size, Ordering::Relaxed);
}

/// Takes back the `size` bytes charged for an allocation that failed (`block` is null).
fn uncharge_failed(block: *mut u8, size: usize) {
    if block.is_null() {
        LIVE.fetch_sub(size, Ordering::Relaxed);
    }
}

// SAFETY: every method passes its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the counting around the calls only touches atomics, never
// allocates, and never unwinds (the over-cap path sleeps forever instead of returning).
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        charge(layout.size());
        // SAFETY: the caller's `layout` obligations are passed on unchanged.
        let block = unsafe { System.alloc(layout) };
        uncharge_failed(block, layout.size());
        block
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        charge(layout.size());
        // SAFETY: as in `alloc`.
        let block = unsafe { System.alloc_zeroed(layout) };
        uncharge_failed(block, layout.size());
        block
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, that is from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old_size = layout.size();
        if new_size > old_size {
            charge(new_size - old_size);
        }
        // SAFETY: `ptr` came from `System` with `layout`; the caller vouches for
        // `new_size`.
        let moved = unsafe { System.realloc(ptr, layout, new_size) };
        if moved.is_null() {
            // The block stays as it was, so the growth charged above is not live.
            if new_size > old_size {
                LIVE.fetch_sub(new_size - old_size, Ordering::Relaxed);
            }
        } else if new_size < old_size {
            LIVE.fetch_sub(old_size - new_size, Ordering::Relaxed);
        }
        moved
    }
}
