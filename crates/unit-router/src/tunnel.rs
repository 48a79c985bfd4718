//! A tunnel: what a client connection becomes once an upstream or an application
//! answered its upgrade (`101 Switching Protocols`): bytes are copied both ways as they
//! come, until the upstream side has closed and what it sent is out, or both sides
//! have.
//!
//! Each direction has a buffer of at most [`HIGH_WATER`] bytes; a side is not read while
//! the other has not taken what it sent, so a slow reader slows the writer instead of
//! growing memory. When one side closes, the other's sending side is shut once what was
//! buffered for it is out. The tunnel ends once the upstream's direction is done: the
//! upstream (a WebSocket application that closed, say) has nothing more to say and takes
//! nothing more, so a client that keeps its end open holds no process or listener. It
//! also ends when both directions are done, or when either side fails.
//!
//! What it does not do: look at the bytes (WebSocket framing is the application's
//! business) or time out (the worker applies the listener's idle timeout).

use std::io;

use crate::transport::Transport;
use crate::upstream::{HIGH_WATER, Upstream};

/// What a step of the tunnel came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TunnelStep {
    /// Waiting for a side.
    Blocked,
    /// Both directions are done, or a side failed: close both.
    Closed,
}

/// One direction of a tunnel.
#[derive(Debug, Default)]
struct Direction {
    /// Read from one side, not yet written to the other; `written` of it is out.
    buffer: Vec<u8>,
    written: usize,
    /// The reading side may hold unread bytes.
    readable: bool,
    /// The reading side reported a close or an error: read until a read says which.
    hung_up: bool,
    /// The reading side has closed.
    eof: bool,
    /// The writing side's sending half has been shut after the close.
    shut: bool,
}

impl Direction {
    fn pending(&self) -> bool {
        self.written < self.buffer.len()
    }

    /// Whether this direction has nothing more to do.
    fn finished(&self) -> bool {
        self.eof && !self.pending()
    }
}

/// A client connection's tunnel through an upstream connection.
#[derive(Debug)]
pub(crate) struct Tunnel {
    pub(crate) upstream: Upstream,
    /// Client → upstream.
    up: Direction,
    /// Upstream → client.
    down: Direction,
}

impl Tunnel {
    /// A tunnel through `upstream`; `to_upstream` are client bytes already read past the
    /// upgrade request, `to_client` upstream bytes already read past the `101` head.
    pub(crate) fn new(upstream: Upstream, to_upstream: Vec<u8>, to_client: Vec<u8>) -> Tunnel {
        Tunnel {
            upstream,
            up: Direction {
                buffer: to_upstream,
                readable: true,
                ..Direction::default()
            },
            down: Direction {
                buffer: to_client,
                readable: true,
                ..Direction::default()
            },
        }
    }

    /// The client side reported readability, or (`hung_up`) a close or an error.
    pub(crate) fn mark_client_readable(&mut self, hung_up: bool) {
        self.up.readable = true;
        self.up.hung_up |= hung_up;
    }

    /// The upstream side reported readability, or (`hung_up`) a close or an error.
    pub(crate) fn mark_upstream_readable(&mut self, hung_up: bool) {
        self.down.readable = true;
        self.down.hung_up |= hung_up;
    }

    /// Copies all it can both ways.
    pub(crate) fn drive(&mut self, client: &mut Transport) -> TunnelStep {
        match self.pump(client) {
            Ok(()) if self.down.finished() => TunnelStep::Closed,
            Ok(()) => TunnelStep::Blocked,
            Err(_) => TunnelStep::Closed,
        }
    }

    fn pump(&mut self, client: &mut Transport) -> io::Result<()> {
        loop {
            let mut progressed = false;
            // Upstream → client.
            if self.down.pending() {
                let mut written = self.down.written;
                client.write_pending(&self.down.buffer, &mut written, false)?;
                progressed |= written > self.down.written;
                self.down.written = written;
            }
            if !self.down.pending() {
                self.down.buffer.clear();
                self.down.written = 0;
                if self.down.eof && !self.down.shut {
                    self.down.shut = true;
                    client.shutdown_write()?;
                }
                if self.down.readable && !self.down.eof {
                    let outcome = self
                        .upstream
                        .stream
                        .read_available(&mut self.down.buffer, HIGH_WATER)?;
                    self.down.eof = outcome.eof;
                    self.down.readable = !outcome.drained || (self.down.hung_up && !outcome.eof);
                    progressed |= outcome.read > 0 || outcome.eof;
                }
            }
            // Client → upstream.
            if self.up.pending() {
                let mut written = self.up.written;
                self.upstream
                    .stream
                    .write_pending(&self.up.buffer, &mut written)?;
                progressed |= written > self.up.written;
                self.up.written = written;
            }
            if !self.up.pending() {
                self.up.buffer.clear();
                self.up.written = 0;
                if self.up.eof && !self.up.shut {
                    self.up.shut = true;
                    self.upstream.stream.shutdown_write()?;
                }
                if self.up.readable && !self.up.eof {
                    let outcome = client.read_available(&mut self.up.buffer, HIGH_WATER)?;
                    self.up.eof = outcome.eof;
                    self.up.readable = !outcome.drained || (self.up.hung_up && !outcome.eof);
                    progressed |= outcome.read > 0 || outcome.eof;
                }
            }
            if !progressed {
                return Ok(());
            }
        }
    }
}
