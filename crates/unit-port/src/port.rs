//! The two ends of a port: the owner's receiver and the senders others hold.

use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mio::event::Source;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::unistd::Pid;
use unit_engine::HashMap;

use crate::error::PortError;
use crate::message::PortId;
use crate::message::{FLAG_LAST, Header, Message, MsgType};
use crate::sys::{self, MAX_FDS_PER_PACKET};

/// The largest payload one packet carries; larger payloads are fragmented.
const MAX_FRAGMENT: usize = 16 * 1024;
/// The largest message a receiver reassembles; a sender past it is dropped.
const MAX_MESSAGE: usize = 256 * 1024 * 1024;
/// The most one sender may have pending across all its half-received messages; past
/// it, its packets that would add more are refused.
const MAX_PENDING_PER_SENDER: usize = 256 * 1024 * 1024;
/// What each half-received message costs its sender on top of its payload: more than
/// its entry really takes, so opening streams exhausts the budget long before memory.
const PARTIAL_OVERHEAD: usize = 1024;
/// How long a send waits for a full receiver before giving up.
const SEND_DEADLINE: Duration = Duration::from_secs(5);

/// Creates a new port: the receiver its owner reads, and a sender for others.
pub fn port_pair() -> Result<(PortReceiver, PortSender), PortError> {
    let (read_end, write_end) =
        sys::seqpacket_pair().map_err(|errno| PortError::io("socketpair", errno))?;
    Ok((
        PortReceiver::from_fd(read_end)?,
        PortSender::from_fd(write_end),
    ))
}

// === impl PortSender ===

/// The writing end of some process's port. Safe to share between threads: a message's
/// fragments are never interleaved with another message's from this sender.
#[derive(Debug)]
pub struct PortSender {
    fd: OwnedFd,
    send_lock: Mutex<()>,
}

impl PortSender {
    /// Wraps a descriptor received or inherited as a port's sending end.
    pub fn from_fd(fd: OwnedFd) -> PortSender {
        PortSender {
            fd,
            send_lock: Mutex::new(()),
        }
    }

    /// Sends `message`, replies to go to this process's port `reply_port`.
    /// Fragments large payloads; descriptors ride with the first packet.
    pub fn send(&self, message: &Message, reply_port: PortId) -> Result<(), PortError> {
        if message.fds.len() > MAX_FDS_PER_PACKET {
            return Err(PortError::TooManyFds);
        }
        let raw_fds: Vec<RawFd> = message.fds.iter().map(AsRawFd::as_raw_fd).collect();
        let mut chunks: Vec<&[u8]> = message.payload.chunks(MAX_FRAGMENT).collect();
        if chunks.is_empty() {
            chunks.push(&[]);
        }
        let n_chunks = chunks.len();
        let deadline = Instant::now() + SEND_DEADLINE;
        // A poisoned lock only means another thread panicked mid-send; the socket is intact.
        let _guard = self
            .send_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for (chunk_idx, chunk) in chunks.into_iter().enumerate() {
            let first = chunk_idx == 0;
            let fds: &[RawFd] = if first { &raw_fds } else { &[] };
            let header = Header {
                msg_type: message.msg_type,
                flags: if chunk_idx + 1 == n_chunks {
                    FLAG_LAST
                } else {
                    0
                },
                n_fds: fds.len() as u8,
                stream: message.stream,
                reply_port,
                payload_len: chunk.len() as u32,
            };
            let header_bytes = header.encode();
            self.send_packet(
                &[IoSlice::new(&header_bytes), IoSlice::new(chunk)],
                fds,
                deadline,
            )?;
        }
        Ok(())
    }

    /// A second sender for the same port (a duplicated descriptor), to pass on.
    pub fn try_clone(&self) -> Result<PortSender, PortError> {
        let fd = self.fd.try_clone().map_err(|source| PortError::Io {
            operation: "dup",
            source,
        })?;
        Ok(PortSender::from_fd(fd))
    }

    /// Gives up the descriptor, to pass it to another process.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    fn send_packet(
        &self,
        parts: &[IoSlice<'_>],
        fds: &[RawFd],
        deadline: Instant,
    ) -> Result<(), PortError> {
        loop {
            match sys::send_packet(self.fd.as_fd(), parts, fds) {
                Ok(_) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => self.wait_writable(deadline)?,
                Err(Errno::EPIPE | Errno::ECONNREFUSED | Errno::ECONNRESET) => {
                    return Err(PortError::Closed);
                }
                Err(errno) => return Err(PortError::io("sendmsg", errno)),
            }
        }
    }

    fn wait_writable(&self, deadline: Instant) -> Result<(), PortError> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(PortError::SendTimeout);
        }
        let millis = u16::try_from(remaining.as_millis()).unwrap_or(u16::MAX);
        let mut poll_fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLOUT)];
        match poll(&mut poll_fds, PollTimeout::from(millis)) {
            Ok(_) | Err(Errno::EINTR) => Ok(()),
            Err(errno) => Err(PortError::io("poll", errno)),
        }
    }
}

impl AsFd for PortSender {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

// === impl PortReceiver ===

/// A message still arriving in fragments.
#[derive(Debug)]
struct PartialMessage {
    msg_type: MsgType,
    reply_port: PortId,
    payload: Vec<u8>,
    fds: Vec<OwnedFd>,
}

/// How much a [`Reassembly`] keeps for its senders. [`Default`] gives the limits every
/// port uses; smaller ones are for tests and fuzzing, where the limits must be reached.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReassemblyLimits {
    /// The largest payload one message may reach.
    pub max_message: usize,
    /// The most one sender may have pending across its half-received messages: their
    /// payloads so far plus `partial_overhead` for each.
    pub max_pending_per_sender: usize,
    /// What each half-received message is charged on top of its payload, so that
    /// fragments with empty payloads and fresh stream ids run out of budget too.
    pub partial_overhead: usize,
}

impl Default for ReassemblyLimits {
    fn default() -> ReassemblyLimits {
        ReassemblyLimits {
            max_message: MAX_MESSAGE,
            max_pending_per_sender: MAX_PENDING_PER_SENDER,
            partial_overhead: PARTIAL_OVERHEAD,
        }
    }
}

/// The messages of a port still arriving in fragments, by sender and stream: packets go
/// in, whole messages come out. [`PortReceiver`] runs every packet it reads through one;
/// it is public (and hidden) for the fuzz targets, which feed it packets directly.
///
/// Each sender has a budget ([`ReassemblyLimits`]): a packet that would leave more than
/// `max_pending_per_sender` pending for its sender is refused, and the half-received
/// message it belonged to is dropped, as it is when the message outgrows
/// `max_message`. The sender's other half-received messages, and every other
/// sender's, stay as they were. A last fragment leaves nothing pending (its message
/// comes out whole), so only `max_message` limits it.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct Reassembly {
    partial: HashMap<(Pid, u32), PartialMessage>,
    /// What each sender with half-received messages has pending, kept in step with
    /// `partial`; a sender with nothing pending has no entry.
    pending: HashMap<Pid, usize>,
    limits: ReassemblyLimits,
}

impl Reassembly {
    /// A reassembly with other limits than the ports' own.
    pub fn with_limits(limits: ReassemblyLimits) -> Reassembly {
        Reassembly {
            partial: HashMap::default(),
            pending: HashMap::default(),
            limits,
        }
    }

    /// Adds one packet (header and payload), which came from `sender` with `fds`, to
    /// the message it belongs to; the message once it is whole.
    pub fn take_packet(
        &mut self,
        packet: &[u8],
        fds: Vec<OwnedFd>,
        sender: Pid,
    ) -> Result<Option<Message>, PortError> {
        let header = Header::decode(packet)?;
        let chunk = &packet[Header::SIZE..];
        let key = (sender, header.stream);
        let mut pending = self.pending(sender);
        let mut partial = match self.partial.remove(&key) {
            Some(partial) => {
                pending -= self.charge(&partial);
                partial
            }
            None => PartialMessage {
                msg_type: header.msg_type,
                reply_port: header.reply_port,
                payload: Vec::new(),
                fds: Vec::new(),
            },
        };
        // From here on the partial is out of the map and `pending` excludes it: an
        // error below drops it and leaves the sender's budget exact.
        if partial.payload.len() + chunk.len() > self.limits.max_message {
            self.set_pending(sender, pending);
            return Err(PortError::Malformed(
                "message larger than the reassembly limit",
            ));
        }
        if !header.is_last() {
            let charge = self.limits.partial_overhead + partial.payload.len() + chunk.len();
            if pending + charge > self.limits.max_pending_per_sender {
                self.set_pending(sender, pending);
                return Err(PortError::Malformed(
                    "sender has more half-received messages than its reassembly budget",
                ));
            }
            partial.payload.extend_from_slice(chunk);
            partial.fds.extend(fds);
            self.set_pending(sender, pending + charge);
            self.partial.insert(key, partial);
            return Ok(None);
        }
        self.set_pending(sender, pending);
        partial.payload.extend_from_slice(chunk);
        partial.fds.extend(fds);
        Ok(Some(Message {
            msg_type: partial.msg_type,
            stream: header.stream,
            sender,
            reply_port: partial.reply_port,
            payload: partial.payload,
            fds: partial.fds,
        }))
    }

    /// Drops half-received messages of a process that is gone.
    pub fn forget_sender(&mut self, pid: Pid) {
        self.partial.retain(|(sender, _), _| *sender != pid);
        self.pending.remove(&pid);
    }

    /// What `sender` has pending: its half-received messages' payloads so far, plus
    /// the fixed overhead for each.
    pub fn pending(&self, sender: Pid) -> usize {
        self.pending.get(&sender).copied().unwrap_or(0)
    }

    /// How many senders have something pending.
    pub fn n_pending_senders(&self) -> usize {
        self.pending.len()
    }

    /// What `partial` counts against its sender's budget.
    fn charge(&self, partial: &PartialMessage) -> usize {
        self.limits.partial_overhead + partial.payload.len()
    }

    /// Records what `sender` has pending, dropping the entry when that is nothing.
    fn set_pending(&mut self, sender: Pid, pending: usize) {
        if pending == 0 {
            self.pending.remove(&sender);
        } else {
            self.pending.insert(sender, pending);
        }
    }
}

/// The reading end of a port, owned by the process the port belongs to.
/// Register it with an engine and call [`PortReceiver::receive`] until it returns `None`.
///
/// Who sent a message is what the kernel says (`SCM_CREDENTIALS`), never what the
/// packet says, so a process cannot speak for another.
#[derive(Debug)]
pub struct PortReceiver {
    fd: OwnedFd,
    buf: Vec<u8>,
    reassembly: Reassembly,
}

impl PortReceiver {
    /// Wraps a descriptor received or inherited as this process's port reading end,
    /// asking the kernel for the credentials of every sender.
    pub fn from_fd(fd: OwnedFd) -> Result<PortReceiver, PortError> {
        sys::pass_credentials(fd.as_fd()).map_err(|errno| PortError::io("setsockopt", errno))?;
        Ok(PortReceiver {
            fd,
            buf: vec![0; Header::SIZE + MAX_FRAGMENT],
            reassembly: Reassembly::default(),
        })
    }

    /// The next complete message, or `None` when nothing more is waiting.
    /// `Err(PortError::Closed)` means every sender is gone; another `Err` is a failure of
    /// the socket itself. A malformed packet is logged and skipped, so the messages
    /// behind it are still read.
    pub fn receive(&mut self) -> Result<Option<Message>, PortError> {
        loop {
            let packet = match sys::recv_packet(self.fd.as_fd(), &mut self.buf) {
                Ok(packet) => packet,
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return Ok(None),
                Err(errno) => return Err(PortError::io("recvmsg", errno)),
            };
            if packet.len == 0 && packet.fds.is_empty() {
                return Err(PortError::Closed);
            }
            match self.take_packet(packet) {
                Ok(Some(message)) => return Ok(Some(message)),
                Ok(None) => {}
                Err(error) => tracing::warn!("dropping a port packet: {error}"),
            }
        }
    }

    /// Adds one packet to the message it belongs to; the message once it is whole.
    fn take_packet(&mut self, packet: sys::ReceivedPacket) -> Result<Option<Message>, PortError> {
        if packet.truncated {
            return Err(PortError::Malformed("packet larger than a fragment"));
        }
        let sender = packet.sender.ok_or(PortError::Malformed(
            "packet without the sender's credentials",
        ))?;
        self.reassembly
            .take_packet(&self.buf[..packet.len], packet.fds, sender)
    }

    /// Drops half-received messages of a process that is gone.
    pub fn forget_sender(&mut self, pid: Pid) {
        self.reassembly.forget_sender(pid);
    }
}

impl AsFd for PortReceiver {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Source for PortReceiver {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.fd.as_raw_fd()).register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.fd.as_raw_fd()).reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        SourceFd(&self.fd.as_raw_fd()).deregister(registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn receive_one(receiver: &mut PortReceiver) -> Message {
        for _ in 0..1000 {
            match receiver.receive() {
                Ok(Some(message)) => return message,
                Ok(None) => std::thread::sleep(Duration::from_millis(1)),
                Err(error) => panic!("receive failed: {error}"),
            }
        }
        panic!("no message arrived");
    }

    #[test]
    fn small_message_round_trip() -> Result<(), PortError> {
        let (mut receiver, sender) = port_pair()?;
        sender.send(
            &Message::new(MsgType::Apply)
                .with_stream(9)
                .with_payload("hello"),
            2,
        )?;
        let message = receive_one(&mut receiver);
        assert_eq!(message.msg_type, MsgType::Apply);
        assert_eq!(message.stream, 9);
        assert_eq!(message.reply_port, 2);
        assert_eq!(message.sender, nix::unistd::getpid());
        assert_eq!(message.payload, b"hello");
        assert!(receiver.receive()?.is_none());
        Ok(())
    }

    #[test]
    fn empty_message_round_trip() -> Result<(), PortError> {
        let (mut receiver, sender) = port_pair()?;
        sender.send(&Message::new(MsgType::Quit), 0)?;
        let message = receive_one(&mut receiver);
        assert_eq!(message.msg_type, MsgType::Quit);
        assert!(message.payload.is_empty());
        Ok(())
    }

    #[test]
    fn large_payload_is_fragmented_and_reassembled() -> Result<(), PortError> {
        let (mut receiver, sender) = port_pair()?;
        let payload: Vec<u8> = (0..(3 * MAX_FRAGMENT + 123))
            .map(|i| (i % 251) as u8)
            .collect();
        let expected = payload.clone();
        let writer = std::thread::spawn(move || {
            sender.send(&Message::new(MsgType::Apply).with_payload(payload), 0)
        });
        let message = receive_one(&mut receiver);
        assert!(writer.join().map_err(|_| PortError::Closed)?.is_ok());
        assert_eq!(message.payload, expected);
        Ok(())
    }

    #[test]
    fn descriptors_are_passed() -> Result<(), Box<dyn std::error::Error>> {
        let (mut receiver, sender) = port_pair()?;
        let (mut ours, theirs) = std::os::unix::net::UnixStream::pair()?;
        sender.send(
            &Message::new(MsgType::ChangeFile).with_fd(OwnedFd::from(theirs)),
            0,
        )?;
        let mut message = receive_one(&mut receiver);
        assert_eq!(message.fds.len(), 1);
        let passed = message.fds.pop().ok_or("no fd")?;
        let mut passed = std::os::unix::net::UnixStream::from(passed);
        passed.write_all(b"ping")?;
        let mut got = [0u8; 4];
        ours.read_exact(&mut got)?;
        assert_eq!(&got, b"ping");
        Ok(())
    }

    #[test]
    fn too_many_descriptors_are_refused() -> Result<(), Box<dyn std::error::Error>> {
        let (_receiver, sender) = port_pair()?;
        let mut message = Message::new(MsgType::Apply);
        for _ in 0..=MAX_FDS_PER_PACKET {
            message.fds.push(std::fs::File::open("/dev/null")?.into());
        }
        assert!(matches!(
            sender.send(&message, 0),
            Err(PortError::TooManyFds)
        ));
        Ok(())
    }

    #[test]
    fn a_malformed_packet_does_not_hold_back_the_messages_behind_it() -> Result<(), PortError> {
        let (mut receiver, sender) = port_pair()?;
        let garbage = [IoSlice::new(b"not a header")];
        sys::send_packet(sender.as_fd(), &garbage, &[])
            .map_err(|errno| PortError::io("send", errno))?;
        let mut unknown_type = Header {
            msg_type: MsgType::Quit,
            flags: FLAG_LAST,
            n_fds: 0,
            stream: 0,
            reply_port: 0,
            payload_len: 0,
        }
        .encode();
        unknown_type[0..2].copy_from_slice(&999u16.to_ne_bytes());
        sys::send_packet(sender.as_fd(), &[IoSlice::new(&unknown_type)], &[])
            .map_err(|errno| PortError::io("send", errno))?;
        sender.send(&Message::new(MsgType::Status).with_stream(5), 0)?;
        let message = receive_one(&mut receiver);
        assert_eq!((message.msg_type, message.stream), (MsgType::Status, 5));
        assert!(receiver.receive()?.is_none());
        Ok(())
    }

    #[test]
    fn closed_when_every_sender_is_gone() -> Result<(), PortError> {
        let (mut receiver, sender) = port_pair()?;
        drop(sender);
        assert!(matches!(receiver.receive(), Err(PortError::Closed)));
        Ok(())
    }

    #[test]
    fn send_to_a_closed_port_fails() -> Result<(), PortError> {
        let (receiver, sender) = port_pair()?;
        drop(receiver);
        assert!(matches!(
            sender.send(&Message::new(MsgType::Quit), 0),
            Err(PortError::Closed)
        ));
        Ok(())
    }

    // === Reassembly's per-sender budget ===

    /// Small limits: messages up to 100 bytes, 64 pending per sender, 10 per partial.
    const TEST_LIMITS: ReassemblyLimits = ReassemblyLimits {
        max_message: 100,
        max_pending_per_sender: 64,
        partial_overhead: 10,
    };

    fn packet(stream: u32, last: bool, payload: &[u8]) -> Vec<u8> {
        let mut packet = Header {
            msg_type: MsgType::Status,
            flags: if last { FLAG_LAST } else { 0 },
            n_fds: 0,
            stream,
            reply_port: 0,
            payload_len: payload.len() as u32,
        }
        .encode()
        .to_vec();
        packet.extend_from_slice(payload);
        packet
    }

    fn take(
        reassembly: &mut Reassembly,
        sender: i32,
        stream: u32,
        last: bool,
        payload: &[u8],
    ) -> Result<Option<Message>, PortError> {
        reassembly.take_packet(
            &packet(stream, last, payload),
            Vec::new(),
            Pid::from_raw(sender),
        )
    }

    #[test]
    fn the_per_sender_budget_refuses_and_drops_only_that_stream() -> Result<(), PortError> {
        let mut reassembly = Reassembly::with_limits(TEST_LIMITS);
        assert!(take(&mut reassembly, 1, 1, false, &[1; 20])?.is_none());
        assert!(take(&mut reassembly, 1, 2, false, &[2; 10])?.is_none());
        assert_eq!(reassembly.pending(Pid::from_raw(1)), 30 + 20);
        // Stream 2 would reach 10 + 25 and the sender 65, one past the budget.
        assert!(matches!(
            take(&mut reassembly, 1, 2, false, &[2; 15]),
            Err(PortError::Malformed(_))
        ));
        assert_eq!(reassembly.pending(Pid::from_raw(1)), 30);
        // Stream 1 is untouched; stream 2 starts again from nothing.
        let message = take(&mut reassembly, 1, 1, true, &[1; 5])?.expect("stream 1 completes");
        assert_eq!(message.payload, [1; 25]);
        let message = take(&mut reassembly, 1, 2, true, b"x")?.expect("stream 2 completes");
        assert_eq!(message.payload, b"x");
        assert_eq!(reassembly.pending(Pid::from_raw(1)), 0);
        assert_eq!(reassembly.n_pending_senders(), 0);
        Ok(())
    }

    #[test]
    fn other_senders_have_their_own_budget() -> Result<(), PortError> {
        let mut reassembly = Reassembly::with_limits(TEST_LIMITS);
        assert!(take(&mut reassembly, 1, 1, false, &[1; 54])?.is_none());
        assert!(take(&mut reassembly, 1, 2, false, &[]).is_err());
        assert!(take(&mut reassembly, 2, 1, false, &[2; 54])?.is_none());
        assert_eq!(reassembly.pending(Pid::from_raw(1)), 64);
        assert_eq!(reassembly.pending(Pid::from_raw(2)), 64);
        let message = take(&mut reassembly, 2, 1, true, &[])?.expect("sender 2 completes");
        assert_eq!(message.payload, [2; 54]);
        assert_eq!(reassembly.pending(Pid::from_raw(1)), 64);
        Ok(())
    }

    #[test]
    fn the_budget_is_released_on_completion_and_on_forget_sender() -> Result<(), PortError> {
        let mut reassembly = Reassembly::with_limits(TEST_LIMITS);
        for _ in 0..10 {
            assert!(take(&mut reassembly, 1, 7, false, &[0; 50])?.is_none());
            assert!(take(&mut reassembly, 1, 7, true, &[0; 50])?.is_some());
        }
        assert_eq!(reassembly.n_pending_senders(), 0);
        assert!(take(&mut reassembly, 1, 1, false, &[0; 50])?.is_none());
        assert!(take(&mut reassembly, 2, 1, false, &[0; 50])?.is_none());
        reassembly.forget_sender(Pid::from_raw(1));
        assert_eq!(reassembly.pending(Pid::from_raw(1)), 0);
        assert_eq!(reassembly.n_pending_senders(), 1);
        assert!(take(&mut reassembly, 1, 2, false, &[0; 54])?.is_none());
        assert_eq!(reassembly.pending(Pid::from_raw(2)), 60);
        Ok(())
    }

    #[test]
    fn the_per_message_limit_releases_the_dropped_partial() -> Result<(), PortError> {
        let limits = ReassemblyLimits {
            max_pending_per_sender: 1000,
            ..TEST_LIMITS
        };
        let mut reassembly = Reassembly::with_limits(limits);
        assert!(take(&mut reassembly, 1, 1, false, &[0; 90])?.is_none());
        assert!(take(&mut reassembly, 1, 1, true, &[0; 11]).is_err());
        assert_eq!(reassembly.n_pending_senders(), 0);
        Ok(())
    }

    #[test]
    fn empty_fragments_with_new_streams_run_out_of_budget() -> Result<(), PortError> {
        let mut reassembly = Reassembly::with_limits(TEST_LIMITS);
        for stream in 0..6 {
            assert!(take(&mut reassembly, 1, stream, false, &[])?.is_none());
        }
        for stream in 6..1000 {
            assert!(matches!(
                take(&mut reassembly, 1, stream, false, &[]),
                Err(PortError::Malformed(_))
            ));
        }
        assert_eq!(reassembly.pending(Pid::from_raw(1)), 60);
        assert_eq!(reassembly.partial.len(), 6);
        Ok(())
    }

    #[test]
    fn the_real_budget_bounds_empty_fragments() -> Result<(), PortError> {
        let mut reassembly = Reassembly::default();
        let most = MAX_PENDING_PER_SENDER / PARTIAL_OVERHEAD;
        let packet = |stream: u32| packet(stream, false, &[]);
        let mut n_taken = 0;
        for stream in 0..=most as u32 {
            if reassembly
                .take_packet(&packet(stream), Vec::new(), Pid::from_raw(1))
                .is_ok()
            {
                n_taken += 1;
            }
        }
        assert_eq!(n_taken, most);
        assert_eq!(reassembly.pending(Pid::from_raw(1)), MAX_PENDING_PER_SENDER);
        Ok(())
    }
}
