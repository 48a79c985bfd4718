//! The error type of port operations.

use std::io;

/// What can go wrong sending or receiving on a port.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// The operating system refused a socket operation.
    #[error("port {operation} failed")]
    Io {
        /// The operation that failed, such as `sendmsg`.
        operation: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The peer stayed unable to take a packet for longer than the send deadline.
    #[error("port send timed out: the receiver does not read")]
    SendTimeout,
    /// A packet was shorter than a header, or its header did not describe it.
    #[error("malformed port packet: {0}")]
    Malformed(&'static str),
    /// A packet carried more descriptors than fit the control buffer.
    #[error("port packet carried too many file descriptors")]
    TooManyFds,
    /// A message that must carry one descriptor came with none, or with more.
    #[error("a {0} message must carry exactly one descriptor")]
    MissingFd(&'static str),
    /// A message came from a process that may not send it.
    #[error("the sender may not send this message")]
    WrongSender,
    /// A message of a known type that this receiver has no use for.
    #[error("unexpected message of type {0}")]
    Unexpected(u16),
    /// A message type number that this build does not know.
    #[error("unknown port message type {0}")]
    UnknownType(u16),
    /// The peer closed its end.
    #[error("port closed by peer")]
    Closed,
}

impl PortError {
    pub(crate) fn io(operation: &'static str, errno: nix::Error) -> PortError {
        PortError::Io {
            operation,
            source: io::Error::from(errno),
        }
    }
}
