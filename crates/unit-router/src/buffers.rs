//! Byte buffers that idle connections give back to their worker.
//!
//! A kept-alive connection between requests needs no input or output buffer, and with
//! thousands of them open the buffers would be most of the router's memory. Each one
//! hands its buffers to the worker when it falls idle and takes some back when it is
//! driven again. The worker keeps a few for reuse, so a busy keep-alive connection
//! takes back the very buffer it gave and allocates nothing; the rest are freed.

/// How many buffers a worker keeps for reuse: enough for the connections active in one
/// engine turn, not so many that a burst's buffers are held for ever.
const MAX_SPARE: usize = 64;

/// A buffer that grew past this (a large answer, a pipelined burst) is freed rather
/// than kept, so the spare list holds at most `MAX_SPARE` times this.
const MAX_KEPT_CAPACITY: usize = 64 * 1024;

/// A worker's spare buffers, empty and ready to be filled.
#[derive(Debug, Default)]
pub(crate) struct SpareBuffers {
    spare: Vec<Vec<u8>>,
}

impl SpareBuffers {
    /// A buffer for a connection that has none: a spare one when there is one, else an
    /// empty one that allocates when it is first written to.
    pub(crate) fn take(&mut self) -> Vec<u8> {
        self.spare.pop().unwrap_or_default()
    }

    /// Takes a buffer back, emptied; freed when there are enough spare already or it
    /// is too large to be worth keeping.
    pub(crate) fn give(&mut self, mut buffer: Vec<u8>) {
        let capacity = buffer.capacity();
        if capacity == 0 || capacity > MAX_KEPT_CAPACITY || self.spare.len() >= MAX_SPARE {
            return;
        }
        buffer.clear();
        self.spare.push(buffer);
    }

    /// Fills `buffer` with a spare one if it has no memory of its own.
    pub(crate) fn lend_to(&mut self, buffer: &mut Vec<u8>) {
        if buffer.capacity() == 0 {
            *buffer = self.take();
        }
    }

    /// Takes `buffer`'s memory back when it holds nothing, leaving it without any.
    pub(crate) fn reclaim(&mut self, buffer: &mut Vec<u8>) {
        if buffer.is_empty() {
            self.give(std::mem::take(buffer));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_given_back_is_lent_again() {
        let mut spares = SpareBuffers::default();
        let mut buffer = Vec::with_capacity(4096);
        let memory = buffer.as_ptr();
        spares.reclaim(&mut buffer);
        assert_eq!(buffer.capacity(), 0);
        let mut other = Vec::new();
        spares.lend_to(&mut other);
        assert_eq!(other.as_ptr(), memory);
        assert_eq!(other.capacity(), 4096);
        assert!(other.is_empty());
    }

    #[test]
    fn a_buffer_holding_bytes_is_not_taken() {
        let mut spares = SpareBuffers::default();
        let mut buffer = b"GET / HTTP/1.1\r\n".to_vec();
        spares.reclaim(&mut buffer);
        assert_eq!(buffer, b"GET / HTTP/1.1\r\n");
        assert!(spares.take().capacity() == 0, "nothing was kept");
    }

    #[test]
    fn a_buffer_with_memory_is_not_replaced() {
        let mut spares = SpareBuffers::default();
        spares.give(Vec::with_capacity(100));
        let mut buffer = Vec::with_capacity(10);
        let memory = buffer.as_ptr();
        spares.lend_to(&mut buffer);
        assert_eq!(buffer.as_ptr(), memory);
        assert_eq!(spares.take().capacity(), 100);
    }

    #[test]
    fn large_buffers_and_surplus_ones_are_freed() {
        let mut spares = SpareBuffers::default();
        spares.give(Vec::with_capacity(MAX_KEPT_CAPACITY + 1));
        assert_eq!(spares.take().capacity(), 0);
        for _ in 0..MAX_SPARE + 10 {
            spares.give(Vec::with_capacity(16));
        }
        assert_eq!(spares.spare.len(), MAX_SPARE);
    }
}
