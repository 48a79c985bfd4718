//! The port loop every child role runs: its own port, its link to main, and the ports of
//! the peers main introduced.
//!
//! [`ChildPort::next_event`] reads messages until the port is drained and turns each into
//! a [`ChildEvent`]. It keeps the peer table itself (`NEW_PORT`, `REMOVE_PID`) and checks
//! who may send what, by the sender's pid as the kernel reported it: only main may stop a
//! child, introduce or remove peers, replace its log or hand it main's own messages; only
//! the controller may ask the router for anything. A message that is malformed or comes
//! from the wrong sender is logged and dropped, and the messages behind it are still read.
//!
//! What it does not do: act on the events (the role does) or time out RPCs (the role
//! arms its own deadlines).

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use nix::unistd::Pid;

use crate::error::PortError;
use crate::message::PortId;
use crate::message::{Message, NewPort, ProcessType};
use crate::port::{PortReceiver, PortSender};
use crate::protocol::{Reply, ToChild, ToMain, ToRouter};
use crate::table::{PortKey, PortTable};

/// A child's own port id; children have one port.
const CHILD_PORT_ID: PortId = 0;

/// Where to answer a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requester {
    /// The process that asked.
    pub pid: Pid,
    /// Its port that replies go to.
    pub reply_port: PortId,
    /// The request's stream, which the reply reuses.
    pub stream: u32,
}

/// What a child's port brought.
#[derive(Debug)]
pub enum ChildEvent {
    /// Main said quit.
    Quit,
    /// Main is gone: its end of the link closed.
    MainGone,
    /// Main introduced a peer (already in the table).
    PeerAdded(NewPort),
    /// A peer is gone (already out of the table).
    PeerGone(Pid),
    /// Main reopened the log: put this file over stderr.
    LogFile(OwnedFd),
    /// Main sent something for the role itself (the stored configuration, a reopened
    /// access log).
    FromMain(ToChild),
    /// The controller asks the router something; answer with [`ChildPort::reply`].
    Request {
        /// Who to answer.
        requester: Requester,
        /// What it asks.
        request: ToRouter,
    },
    /// The answer to an RPC this process sent.
    Reply {
        /// The RPC's stream.
        stream: u32,
        /// Who answered.
        from: Pid,
        /// The answer.
        reply: Reply,
    },
}

/// A child's ports: the one it reads, main's, and its peers'.
#[derive(Debug)]
pub struct ChildPort {
    receiver: PortReceiver,
    main: PortSender,
    main_pid: Pid,
    peers: PortTable,
    main_gone: bool,
}

impl ChildPort {
    /// Wraps the port a child was handed, main's port, and main's pid.
    pub fn new(receiver: PortReceiver, main: PortSender, main_pid: Pid) -> ChildPort {
        ChildPort {
            receiver,
            main,
            main_pid,
            peers: PortTable::new(),
            main_gone: false,
        }
    }

    /// Main's pid.
    pub fn main_pid(&self) -> Pid {
        self.main_pid
    }

    /// Registers the port for reading under `port_token`, and main's port under
    /// `main_link_token`: it reports a close when main exits.
    pub fn register(
        &mut self,
        registry: &Registry,
        port_token: Token,
        main_link_token: Token,
    ) -> io::Result<()> {
        registry.register(&mut self.receiver, port_token, Interest::READABLE)?;
        let main_fd = self.main.as_fd().as_raw_fd();
        registry.register(&mut SourceFd(&main_fd), main_link_token, Interest::READABLE)
    }

    /// The latest peer of a process type, if main introduced one.
    pub fn peer(&self, process_type: ProcessType) -> Option<Pid> {
        self.peers.by_type(process_type).map(|(key, _)| key.pid)
    }

    /// Sends `message` to main.
    pub fn send_main(&self, message: ToMain, stream: u32) -> Result<(), PortError> {
        self.main
            .send(&message.into_message().with_stream(stream), CHILD_PORT_ID)
    }

    /// Sends `message` to the latest peer of `process_type`; its pid.
    pub fn send_peer(&self, process_type: ProcessType, message: Message) -> Result<Pid, PortError> {
        let (key, sender) = self.peers.by_type(process_type).ok_or(PortError::Closed)?;
        sender.send(&message, CHILD_PORT_ID)?;
        Ok(key.pid)
    }

    /// Answers a request.
    pub fn reply(&self, requester: Requester, reply: Reply) -> Result<(), PortError> {
        let key = PortKey {
            pid: requester.pid,
            id: requester.reply_port,
        };
        let sender = if requester.pid == self.main_pid {
            &self.main
        } else {
            self.peers.get(key).ok_or(PortError::Closed)?
        };
        sender.send(&reply.into_message(requester.stream), CHILD_PORT_ID)
    }

    /// The next event, or `None` once the port is drained (and after main is gone).
    pub fn next_event(&mut self) -> Option<ChildEvent> {
        loop {
            let mut message = match self.receiver.receive() {
                Ok(Some(message)) => message,
                Ok(None) => return None,
                Err(PortError::Closed) => {
                    if self.main_gone {
                        return None;
                    }
                    self.main_gone = true;
                    return Some(ChildEvent::MainGone);
                }
                Err(error) => {
                    tracing::warn!("reading the port failed: {error}");
                    return None;
                }
            };
            match self.take(&mut message) {
                Ok(Some(event)) => return Some(event),
                Ok(None) => {}
                Err(error) => tracing::warn!(
                    "dropping {:?} from process {}: {error}",
                    message.msg_type,
                    message.sender
                ),
            }
        }
    }

    /// Turns a message into an event, or refuses it.
    fn take(&mut self, message: &mut Message) -> Result<Option<ChildEvent>, PortError> {
        let sender = message.sender;
        if let Some(reply) = Reply::from_message(message)? {
            return Ok(Some(ChildEvent::Reply {
                stream: message.stream,
                from: sender,
                reply,
            }));
        }
        if let Some(from_main) = ToChild::from_message(message)? {
            if sender != self.main_pid {
                return Err(PortError::WrongSender);
            }
            return Ok(Some(self.take_from_main(from_main)));
        }
        if let Some(request) = ToRouter::from_message(message)? {
            if self.peers.process_type_of(sender) != Some(ProcessType::Controller) {
                return Err(PortError::WrongSender);
            }
            let requester = Requester {
                pid: sender,
                reply_port: message.reply_port,
                stream: message.stream,
            };
            return Ok(Some(ChildEvent::Request { requester, request }));
        }
        Err(PortError::Unexpected(message.msg_type as u16))
    }

    /// What a message from main comes to; peers are added and removed here.
    fn take_from_main(&mut self, message: ToChild) -> ChildEvent {
        match message {
            ToChild::Quit => ChildEvent::Quit,
            ToChild::NewPort { port, sender } => {
                let key = PortKey {
                    pid: port.pid,
                    id: port.id,
                };
                self.peers.insert(key, port.process_type, sender);
                ChildEvent::PeerAdded(port)
            }
            ToChild::RemovePid(pid) => {
                self.peers.remove_pid(pid);
                self.receiver.forget_sender(pid);
                ChildEvent::PeerGone(pid)
            }
            ToChild::ChangeFile(file) => ChildEvent::LogFile(file),
            other => ChildEvent::FromMain(other),
        }
    }
}

#[cfg(test)]
mod tests;
