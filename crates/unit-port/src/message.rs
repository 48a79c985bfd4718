//! Message types, the packet header, and typed payloads.

use nix::unistd::Pid;
use std::os::fd::OwnedFd;

use crate::error::PortError;

/// A port's number within its process; each process's first port is 0.
pub type PortId = u32;

/// The kinds of process, in Unit's numeric order (the order of the per-type port slots).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ProcessType {
    /// The privileged main process.
    Main = 0,
    /// The module discovery process.
    Discovery = 1,
    /// The control API process.
    Controller = 2,
    /// The HTTP router process.
    Router = 3,
    /// An application's prototype process.
    Prototype = 4,
    /// An application process.
    App = 5,
}

impl ProcessType {
    /// How many process types there are.
    pub const COUNT: usize = 6;

    /// Every type, in numeric order.
    pub const ALL: [ProcessType; ProcessType::COUNT] = [
        ProcessType::Main,
        ProcessType::Discovery,
        ProcessType::Controller,
        ProcessType::Router,
        ProcessType::Prototype,
        ProcessType::App,
    ];

    /// The type with this number, if there is one.
    pub fn from_u8(value: u8) -> Option<ProcessType> {
        ProcessType::ALL.get(usize::from(value)).copied()
    }

    /// The lower-case name used in logs and process titles.
    pub fn name(self) -> &'static str {
        match self {
            ProcessType::Main => "main",
            ProcessType::Discovery => "discovery",
            ProcessType::Controller => "controller",
            ProcessType::Router => "router",
            ProcessType::Prototype => "prototype",
            ProcessType::App => "application",
        }
    }
}

macro_rules! msg_types {
    ($($(#[$doc:meta])* $name:ident = $value:literal,)+) => {
        /// What a message asks for or tells.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u16)]
        pub enum MsgType {
            $($(#[$doc])* $name = $value,)+
        }

        impl MsgType {
            /// The type with this wire number.
            pub fn from_u16(value: u16) -> Result<MsgType, PortError> {
                match value {
                    $($value => Ok(MsgType::$name),)+
                    other => Err(PortError::UnknownType(other)),
                }
            }
        }
    };
}

msg_types! {
    /// Main to a child: stop, finish what is under way and exit.
    Quit = 1,
    /// Main to a child: a peer's port (its pid, id and type; one descriptor, the sender
    /// end).
    NewPort = 2,
    /// Main to a child: a process is gone; drop its ports.
    RemovePid = 3,
    /// The positive reply to an RPC request, on the request's stream.
    RpcReady = 4,
    /// The negative reply to an RPC request, with the reason.
    RpcError = 5,
    /// A child to main: it is up and serving.
    ProcessReady = 6,
    /// Main to the controller: the stored configuration at start.
    StoredConf = 7,
    /// The controller to main: persist this configuration as `conf.json` (RPC).
    ConfStore = 8,
    /// Main to a child: the reopened log file (one descriptor) to put over stderr.
    ChangeFile = 9,
    /// The router to main: bind this listener address (RPC; the reply carries the socket).
    Socket = 10,
    /// The controller to the router: the status counters (RPC; the reply carries JSON).
    Status = 11,
    /// The router to main: open this access log (RPC; the reply carries the file).
    AccessLog = 12,
    /// The router to main: start a process of an application (RPC).
    StartProcess = 13,
    /// The controller to the router: move an application to new processes (RPC).
    AppRestart = 14,
    /// The router to main: it no longer listens on this address.
    SocketClose = 15,
    /// The controller to the router: apply this configuration (RPC).
    Apply = 16,
    /// Main to the router: the access log reopened after SIGUSR1 (one descriptor).
    AccessLogReopened = 17,
    /// The router to main: stop a process of an application.
    StopProcess = 18,
    /// The controller to main: store this certificate bundle in `certs/` (RPC).
    CertificateStore = 19,
    /// The controller to main: remove this certificate bundle from `certs/` (RPC).
    CertificateDelete = 20,
    /// The router to main: open this stored certificate bundle (RPC; the reply carries
    /// the file).
    CertificateFile = 21,
    /// Main to the controller: every stored certificate bundle, at start.
    StoredCertificates = 22,
}

/// Flag bit: this packet is the last fragment of its message.
pub(crate) const FLAG_LAST: u8 = 0x01;

/// The fixed header that starts every packet on a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The message type.
    pub msg_type: MsgType,
    /// Flag bits, such as last fragment.
    pub flags: u8,
    /// How many descriptors ride with this packet.
    pub n_fds: u8,
    /// The stream the message belongs to (0 for none); replies reuse the request's stream.
    pub stream: u32,
    /// The sender's port id that replies go to.
    pub reply_port: PortId,
    /// Payload bytes in this packet.
    pub payload_len: u32,
}

impl Header {
    /// Encoded size in bytes.
    pub const SIZE: usize = 16;

    /// Writes the header in native byte order (both ends are on one host).
    pub fn encode(&self) -> [u8; Header::SIZE] {
        let mut bytes = [0u8; Header::SIZE];
        bytes[0..2].copy_from_slice(&(self.msg_type as u16).to_ne_bytes());
        bytes[2] = self.flags;
        bytes[3] = self.n_fds;
        bytes[4..8].copy_from_slice(&self.stream.to_ne_bytes());
        bytes[8..12].copy_from_slice(&self.reply_port.to_ne_bytes());
        bytes[12..16].copy_from_slice(&self.payload_len.to_ne_bytes());
        bytes
    }

    /// Reads a header from the start of a packet.
    pub fn decode(packet: &[u8]) -> Result<Header, PortError> {
        let bytes: &[u8; Header::SIZE] = packet
            .get(..Header::SIZE)
            .and_then(|head| head.try_into().ok())
            .ok_or(PortError::Malformed("packet shorter than a header"))?;
        let u32_at = |at: usize| {
            u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let header = Header {
            msg_type: MsgType::from_u16(u16::from_ne_bytes([bytes[0], bytes[1]]))?,
            flags: bytes[2],
            n_fds: bytes[3],
            stream: u32_at(4),
            reply_port: u32_at(8),
            payload_len: u32_at(12),
        };
        if header.payload_len as usize != packet.len() - Header::SIZE {
            return Err(PortError::Malformed(
                "payload length does not match the packet",
            ));
        }
        Ok(header)
    }

    /// Whether this packet ends its message.
    pub fn is_last(&self) -> bool {
        self.flags & FLAG_LAST != 0
    }
}

/// A whole message: what it is, its stream, who sent it, its payload and descriptors.
#[derive(Debug)]
pub struct Message {
    /// The message type.
    pub msg_type: MsgType,
    /// The stream id (0 for none).
    pub stream: u32,
    /// The sending process, as the kernel reported it on receipt (0 on a message not
    /// received).
    pub sender: Pid,
    /// The sender's port id that replies go to.
    pub reply_port: PortId,
    /// The payload, reassembled from its fragments.
    pub payload: Vec<u8>,
    /// Descriptors that came with the message, owned by the receiver now.
    pub fds: Vec<OwnedFd>,
}

impl Message {
    /// A message with no stream, payload or descriptors.
    pub fn new(msg_type: MsgType) -> Message {
        Message {
            msg_type,
            stream: 0,
            sender: Pid::from_raw(0),
            reply_port: 0,
            payload: Vec::new(),
            fds: Vec::new(),
        }
    }

    /// Sets the payload.
    pub fn with_payload(mut self, payload: impl Into<Vec<u8>>) -> Message {
        self.payload = payload.into();
        self
    }

    /// Sets the stream id.
    pub fn with_stream(mut self, stream: u32) -> Message {
        self.stream = stream;
        self
    }

    /// Adds a descriptor to pass.
    pub fn with_fd(mut self, fd: OwnedFd) -> Message {
        self.fds.push(fd);
        self
    }

    /// The payload as text, with invalid UTF-8 replaced.
    pub fn payload_text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.payload)
    }
}

/// The payload of [`MsgType::NewPort`]: whose port the attached descriptor writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewPort {
    /// The process that owns the port.
    pub pid: Pid,
    /// The port's id within that process.
    pub id: PortId,
    /// The owner's process type.
    pub process_type: ProcessType,
}

impl NewPort {
    /// Encodes as 9 bytes: pid, id, type.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(9);
        bytes.extend_from_slice(&self.pid.as_raw().to_ne_bytes());
        bytes.extend_from_slice(&self.id.to_ne_bytes());
        bytes.push(self.process_type as u8);
        bytes
    }

    /// Decodes what [`NewPort::encode`] wrote.
    pub fn decode(bytes: &[u8]) -> Result<NewPort, PortError> {
        let malformed = PortError::Malformed("NEW_PORT payload is not 9 bytes");
        let bytes: &[u8; 9] = bytes.try_into().map_err(|_| malformed)?;
        let pid = i32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let id = u32::from_ne_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        let process_type = ProcessType::from_u8(bytes[8]).ok_or(PortError::Malformed(
            "NEW_PORT names an unknown process type",
        ))?;
        Ok(NewPort {
            pid: Pid::from_raw(pid),
            id,
            process_type,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let header = Header {
            msg_type: MsgType::Apply,
            flags: FLAG_LAST,
            n_fds: 2,
            stream: 77,
            reply_port: 3,
            payload_len: 5,
        };
        let mut packet = header.encode().to_vec();
        packet.extend_from_slice(b"hello");
        assert_eq!(Header::decode(&packet).ok(), Some(header));
        assert!(header.is_last());
    }

    #[test]
    fn header_rejects_bad_packets() {
        assert!(matches!(
            Header::decode(&[0; 5]),
            Err(PortError::Malformed(_))
        ));
        let header = Header {
            msg_type: MsgType::Quit,
            flags: 0,
            n_fds: 0,
            stream: 0,
            reply_port: 0,
            payload_len: 9,
        };
        assert!(matches!(
            Header::decode(&header.encode()),
            Err(PortError::Malformed(_))
        ));
        let mut unknown = header.encode();
        unknown[0..2].copy_from_slice(&999u16.to_ne_bytes());
        assert!(matches!(
            Header::decode(&unknown),
            Err(PortError::UnknownType(999))
        ));
    }

    #[test]
    fn message_types_round_trip_their_numbers() {
        for number in 0..=u16::from(u8::MAX) {
            if let Ok(msg_type) = MsgType::from_u16(number) {
                assert_eq!(msg_type as u16, number);
            }
        }
        assert!(MsgType::from_u16(0).is_err());
    }

    #[test]
    fn new_port_round_trip() {
        let new_port = NewPort {
            pid: Pid::from_raw(31337),
            id: 4,
            process_type: ProcessType::Router,
        };
        assert_eq!(NewPort::decode(&new_port.encode()).ok(), Some(new_port));
        assert!(NewPort::decode(&[1, 2, 3]).is_err());
        let mut bad_type = new_port.encode();
        bad_type[8] = 42;
        assert!(NewPort::decode(&bad_type).is_err());
    }

    #[test]
    fn process_type_numbers_follow_unit() {
        for (number, process_type) in ProcessType::ALL.iter().enumerate() {
            assert_eq!(*process_type as usize, number);
            assert_eq!(ProcessType::from_u8(number as u8), Some(*process_type));
        }
        assert_eq!(ProcessType::from_u8(6), None);
    }
}
