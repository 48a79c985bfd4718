//! RPC streams: a request carries a fresh stream id, and its reply (`READY` or `ERROR`)
//! comes back on the same stream to the handler registered for it.

use nix::unistd::Pid;
use unit_engine::HashMap;

/// Handlers waiting for replies, by stream id. `H` is whatever the owner needs to finish
/// the request: a closure, or an enum naming the pending operation.
#[derive(Debug)]
pub struct RpcStreams<H> {
    next_stream: u32,
    pending: HashMap<u32, (Pid, H)>,
}

impl<H> Default for RpcStreams<H> {
    fn default() -> Self {
        RpcStreams {
            next_stream: 1,
            pending: HashMap::default(),
        }
    }
}

impl<H> RpcStreams<H> {
    /// No pending requests.
    pub fn new() -> RpcStreams<H> {
        RpcStreams::default()
    }

    /// Registers a request to `peer`; returns the stream id to send it with (never 0).
    pub fn register(&mut self, peer: Pid, handler: H) -> u32 {
        let stream = self.next_stream;
        self.next_stream = self.next_stream.checked_add(1).unwrap_or(1);
        self.pending.insert(stream, (peer, handler));
        stream
    }

    /// Takes the handler for a reply's stream; `None` for an unknown or finished stream.
    pub fn take(&mut self, stream: u32) -> Option<H> {
        self.pending.remove(&stream).map(|(_, handler)| handler)
    }

    /// The handler waiting on `stream`, to change.
    pub fn get_mut(&mut self, stream: u32) -> Option<&mut H> {
        self.pending.get_mut(&stream).map(|(_, handler)| handler)
    }

    /// Takes the handler for a reply's stream if `from` is the peer the request went
    /// to; `None` for an unknown stream or another sender (the request stays pending).
    pub fn take_from(&mut self, stream: u32, from: Pid) -> Option<H> {
        match self.pending.get(&stream) {
            Some((peer, _)) if *peer == from => self.take(stream),
            _ => None,
        }
    }

    /// Takes every handler waiting on `peer` (it is gone: they will get no reply).
    pub fn take_for_peer(&mut self, peer: Pid) -> Vec<H> {
        let streams: Vec<u32> = self
            .pending
            .iter()
            .filter(|(_, (pid, _))| *pid == peer)
            .map(|(stream, _)| *stream)
            .collect();
        streams
            .into_iter()
            .filter_map(|stream| self.take(stream))
            .collect()
    }

    /// How many requests wait for a reply.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_find_their_handler_once() {
        let mut streams = RpcStreams::new();
        let router = Pid::from_raw(7);
        let first = streams.register(router, "apply");
        let second = streams.register(router, "status");
        assert_ne!(first, second);
        assert_ne!(first, 0);
        assert_eq!(
            streams.take_from(second, Pid::from_raw(8)),
            None,
            "not its peer"
        );
        assert_eq!(streams.take_from(second, router), Some("status"));
        assert_eq!(streams.take(second), None);
        assert_eq!(streams.len(), 1);
    }

    #[test]
    fn a_gone_peer_fails_its_requests_only() {
        let mut streams = RpcStreams::new();
        let a = streams.register(Pid::from_raw(1), 'a');
        streams.register(Pid::from_raw(2), 'b');
        streams.register(Pid::from_raw(2), 'c');
        let mut gone = streams.take_for_peer(Pid::from_raw(2));
        gone.sort_unstable();
        assert_eq!(gone, vec!['b', 'c']);
        assert_eq!(streams.take(a), Some('a'));
        assert!(streams.is_empty());
    }
}
