//! Ports: the channels unitd's processes talk over.
//!
//! A port is a unix-domain `SOCK_SEQPACKET` socket pair owned by one process: the owner
//! reads from one end ([`PortReceiver`]) and every process that may write to it holds a
//! copy of the other end ([`PortSender`]), handed over with `SCM_RIGHTS`.
//! A [`Message`] is a fixed [`Header`], a payload, and optional file descriptors; payloads
//! larger than one packet travel as fragments, the final one flagged last. Who sent a
//! message is what the kernel reports (`SCM_CREDENTIALS`), never what the packet says.
//! [`ToChild`], [`ToMain`], [`ToRouter`] and [`Reply`] are the typed messages, one enum
//! per direction, and [`ChildPort`] is the port loop every child role runs.
//!
//! The [`PortTable`] finds a sender by `(pid, port id)` and keeps a slot per
//! [`ProcessType`] for the latest port of each kind; [`RpcStreams`] pairs requests with
//! their `READY`/`ERROR` replies by stream id.
//!
//! This crate moves bytes and descriptors; it does not decide what a message means to a
//! process, and it knows nothing of the process registry.

#![deny(unsafe_code)]

mod child;
mod error;
mod message;
mod port;
mod protocol;
mod rpc;
mod sys;
mod table;

pub use child::{ChildEvent, ChildPort, Requester};
pub use error::PortError;
pub use message::{Header, Message, MsgType, NewPort, PortId, ProcessType};
pub use port::{PortReceiver, PortSender, port_pair};
#[doc(hidden)]
pub use port::{Reassembly, ReassemblyLimits};
pub use protocol::{AppStart, AppStarted, Reply, ToChild, ToMain, ToRouter};
pub use rpc::RpcStreams;
pub use table::{PortKey, PortTable};
