//! The raw socket calls behind ports: socket pairs, and packets with descriptors and
//! the sender's credentials.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType,
    UnixCredentials, recvmsg, sendmsg, setsockopt, socketpair, sockopt,
};
use nix::unistd::Pid;

/// The most descriptors one packet may carry.
pub(crate) const MAX_FDS_PER_PACKET: usize = 8;

/// A connected `SOCK_SEQPACKET` pair, both ends non-blocking and close-on-exec.
pub(crate) fn seqpacket_pair() -> nix::Result<(OwnedFd, OwnedFd)> {
    socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
    )
}

/// Asks the kernel to attach the sending process's credentials to every packet read
/// from `fd`, so a receiver learns who sent a packet from the kernel, not from the
/// packet.
pub(crate) fn pass_credentials(fd: BorrowedFd<'_>) -> nix::Result<()> {
    setsockopt(&fd, sockopt::PassCred, &true)
}

/// Sends one packet made of `parts`, with `fds` attached, without raising SIGPIPE.
pub(crate) fn send_packet(
    fd: BorrowedFd<'_>,
    parts: &[IoSlice<'_>],
    fds: &[RawFd],
) -> nix::Result<usize> {
    let rights = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage<'_>] = if fds.is_empty() { &[] } else { &rights };
    sendmsg::<()>(
        fd.as_raw_fd(),
        parts,
        cmsgs,
        MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT,
        None,
    )
}

/// One packet read from a port.
pub(crate) struct ReceivedPacket {
    /// Bytes read into the buffer.
    pub(crate) len: usize,
    /// Descriptors that came with it, now owned here.
    pub(crate) fds: Vec<OwnedFd>,
    /// The sending process as the kernel reports it (`SCM_CREDENTIALS`).
    pub(crate) sender: Option<Pid>,
    /// The packet or its descriptors did not fit.
    pub(crate) truncated: bool,
}

/// Reads one packet without blocking; descriptors arrive close-on-exec.
pub(crate) fn recv_packet(fd: BorrowedFd<'_>, buf: &mut [u8]) -> nix::Result<ReceivedPacket> {
    let mut cmsg_space = nix::cmsg_space!([RawFd; MAX_FDS_PER_PACKET], UnixCredentials);
    let mut iov = [IoSliceMut::new(buf)];
    let message = recvmsg::<()>(
        fd.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg_space),
        MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut fds = Vec::new();
    let mut sender = None;
    for cmsg in message.cmsgs().map_err(|_| Errno::EINVAL)? {
        match cmsg {
            ControlMessageOwned::ScmRights(raw_fds) => {
                fds.extend(raw_fds.into_iter().map(adopt_received_fd));
            }
            ControlMessageOwned::ScmCredentials(credentials) => {
                sender = Some(Pid::from_raw(credentials.pid()));
            }
            _ => {}
        }
    }
    let truncated = message
        .flags
        .intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC);
    Ok(ReceivedPacket {
        len: message.bytes,
        fds,
        sender,
        truncated,
    })
}

/// Takes ownership of a descriptor the kernel just installed for us via `SCM_RIGHTS`.
#[allow(unsafe_code)]
fn adopt_received_fd(raw_fd: RawFd) -> OwnedFd {
    // SAFETY: the kernel created this descriptor in our table while receiving the
    // message; nothing else in the process knows its number, so this is its only owner.
    unsafe { OwnedFd::from_raw_fd(raw_fd) }
}
