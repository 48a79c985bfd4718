//! The sockets engines serve: a connection or a listener over TCP or a unix socket, one
//! type for both so the code above them does not care which.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use mio::event::Source;
use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use mio::unix::pipe;
use mio::{Interest, Registry, Token};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{
    AddressFamily, ControlMessage, MsgFlags, SockaddrLike, SockaddrStorage, getsockname, send,
    sendmsg,
};

/// A non-blocking connection.
#[derive(Debug)]
pub enum Stream {
    /// Over TCP.
    Tcp(TcpStream),
    /// Over a unix socket.
    Unix(UnixStream),
    /// To a language runner: a pipe each way, handed over on a unix connection. A
    /// message through a pipe costs the kernel about half what it does through a unix
    /// socket.
    Pipes(Pipes),
}

/// The router's ends of a language runner's pipes: it writes requests into one and
/// reads answers from the other. Registered as one source: readiness to read comes from
/// the answers' pipe, to write from the requests'.
#[derive(Debug)]
pub struct Pipes {
    answers: pipe::Receiver,
    /// `None` once the sending side is shut.
    requests: Option<pipe::Sender>,
}

/// The one byte that goes with the runner's ends of the pipes.
const PIPES_GREETING: &[u8] = b"P";

impl Source for Pipes {
    fn register(&mut self, registry: &Registry, token: Token, _: Interest) -> io::Result<()> {
        self.answers.register(registry, token, Interest::READABLE)?;
        if let Some(requests) = &mut self.requests {
            requests.register(registry, token, Interest::WRITABLE)?;
        }
        Ok(())
    }

    fn reregister(&mut self, registry: &Registry, token: Token, _: Interest) -> io::Result<()> {
        self.answers
            .reregister(registry, token, Interest::READABLE)?;
        if let Some(requests) = &mut self.requests {
            requests.reregister(registry, token, Interest::WRITABLE)?;
        }
        Ok(())
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        self.answers.deregister(registry)?;
        if let Some(requests) = &mut self.requests {
            requests.deregister(registry)?;
        }
        Ok(())
    }
}

/// Space a read asks the kernel to fill, at the least; a buffer that fills it grows by
/// doubling.
const MIN_READ_SPARE: usize = 4096;

/// What [`Stream::read_available`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadOutcome {
    /// Bytes appended.
    pub read: usize,
    /// The peer has closed its side.
    pub eof: bool,
    /// The receive buffer is known to be empty: reading again before the next
    /// readiness event would only return EAGAIN.
    pub drained: bool,
}

/// One `read` (a socket's or a pipe's) into the spare capacity of `into`, which keeps
/// what arrived.
#[allow(unsafe_code)]
fn read_into_spare(fd: BorrowedFd<'_>, into: &mut Vec<u8>) -> Result<usize, Errno> {
    let spare = into.spare_capacity_mut();
    // SAFETY: `spare` is writable memory owned by `into`, `spare.len()` bytes long; read
    // writes at most that many bytes into it and does not keep the pointer.
    let read = unsafe { nix::libc::read(fd.as_raw_fd(), spare.as_mut_ptr().cast(), spare.len()) };
    let read = usize::try_from(read).map_err(|_| Errno::last())?;
    // SAFETY: read initialised the first `read` bytes of the spare capacity, and `read`
    // is at most its length, so the new length stays within the capacity.
    unsafe { into.set_len(into.len() + read) };
    Ok(read)
}

/// Sets TCP_QUICKACK on a TCP socket, which sends the acknowledgement of what has
/// arrived at once instead of at the delayed-ACK timer. Best effort: a failure only
/// leaves the kernel's timing.
#[allow(unsafe_code)]
fn set_quick_ack(fd: BorrowedFd<'_>) {
    let on: nix::libc::c_int = 1;
    // SAFETY: `fd` is an open socket for the duration of the call, and the option value
    // is a c_int on the stack, passed with its exact size; setsockopt only reads it.
    unsafe {
        nix::libc::setsockopt(
            fd.as_raw_fd(),
            nix::libc::IPPROTO_TCP,
            nix::libc::TCP_QUICKACK,
            (&raw const on).cast(),
            std::mem::size_of::<nix::libc::c_int>() as nix::libc::socklen_t,
        );
    }
}

impl Stream {
    /// Acknowledges what the peer has sent right away (TCP only). A peer that waits for
    /// an acknowledgement before sending its next small segment (Nagle's algorithm) is
    /// otherwise held up by the delayed-ACK timer whenever the server has nothing to
    /// send, as after it has read a TLS client's last handshake message.
    pub fn acknowledge_now(&self) {
        if let Stream::Tcp(stream) = self {
            set_quick_ack(stream.as_fd());
        }
    }

    /// Starts connecting to a TCP address (completion shows as writability).
    pub fn connect_tcp(address: SocketAddr) -> io::Result<Stream> {
        let stream = TcpStream::connect(address)?;
        stream.set_nodelay(true)?;
        Ok(Stream::Tcp(stream))
    }

    /// Starts connecting to a unix socket path, or to a Linux abstract socket when the
    /// path is `@name`.
    pub fn connect_unix(path: &Path) -> io::Result<Stream> {
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::ffi::OsStrExt;
        let address = match path.as_os_str().as_bytes().strip_prefix(b"@") {
            Some(name) => std::os::unix::net::SocketAddr::from_abstract_name(name)?,
            None => std::os::unix::net::SocketAddr::from_pathname(path)?,
        };
        Ok(Stream::Unix(UnixStream::connect_addr(&address)?))
    }

    /// Connects to a language runner's socket and hands it its ends of two new pipes,
    /// which carry the exchange from then on; the socket closes at once.
    pub fn connect_runner(path: &Path) -> io::Result<Stream> {
        let Stream::Unix(socket) = Stream::connect_unix(path)? else {
            return Err(io::Error::other("not a unix socket"));
        };
        let (requests, runner_requests) = pipe::new()?;
        let (runner_answers, answers) = pipe::new()?;
        let ends = [runner_requests.as_raw_fd(), runner_answers.as_raw_fd()];
        let rights = [ControlMessage::ScmRights(&ends)];
        let greeting = [io::IoSlice::new(PIPES_GREETING)];
        let flags = MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT;
        // A new connection's buffer is empty, so the one byte goes out whole or not at all.
        sendmsg::<()>(socket.as_raw_fd(), &greeting, &rights, flags, None)?;
        Ok(Stream::Pipes(Pipes {
            answers,
            requests: Some(requests),
        }))
    }

    /// The socket, to register with an engine.
    pub fn source(&mut self) -> &mut dyn Source {
        match self {
            Stream::Tcp(stream) => stream,
            Stream::Unix(stream) => stream,
            Stream::Pipes(pipes) => pipes,
        }
    }

    /// The local address of a TCP connection.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            Stream::Tcp(stream) => stream.local_addr().ok(),
            Stream::Unix(_) | Stream::Pipes(_) => None,
        }
    }

    /// Writes `buf[*written..]` until it is all out (`Ok(true)`) or the socket is full
    /// (`Ok(false)`), advancing `written`.
    pub fn write_pending(&mut self, buf: &[u8], written: &mut usize) -> io::Result<bool> {
        while *written < buf.len() {
            match self.write(&buf[*written..]) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => *written += n,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(true)
    }

    /// Like [`Stream::write_pending`], telling a TCP socket that more follows right
    /// after (MSG_MORE), so a response head and the file sent next share packets.
    pub fn write_pending_more(&mut self, buf: &[u8], written: &mut usize) -> io::Result<bool> {
        let Stream::Tcp(stream) = self else {
            return self.write_pending(buf, written);
        };
        while *written < buf.len() {
            let flags = MsgFlags::from_bits_retain(nix::libc::MSG_MORE) | MsgFlags::MSG_NOSIGNAL;
            match send(stream.as_raw_fd(), &buf[*written..], flags) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => *written += n,
                Err(Errno::EAGAIN) => return Ok(false),
                Err(Errno::EINTR) => {}
                Err(errno) => return Err(errno.into()),
            }
        }
        Ok(true)
    }

    /// Reads what is available into `into` while it holds less than `limit` bytes.
    ///
    /// A read that returns less than was asked for has emptied the socket's receive
    /// buffer, so it ends the loop without the extra read that would only say EAGAIN:
    /// with edge-triggered polling, anything that arrives later raises a new event.
    /// [`ReadOutcome::drained`] tells the caller so, and it need not read again before
    /// the next readiness event. Bytes go straight into `into`'s spare capacity.
    pub fn read_available(&mut self, into: &mut Vec<u8>, limit: usize) -> io::Result<ReadOutcome> {
        let mut outcome = ReadOutcome::default();
        while into.len() < limit {
            let spare = into.capacity() - into.len();
            if spare < MIN_READ_SPARE {
                into.reserve(MIN_READ_SPARE.max(into.len()));
            }
            let asked = into.capacity() - into.len();
            match read_into_spare(self.as_fd(), into) {
                Ok(0) => {
                    outcome.eof = true;
                    outcome.drained = true;
                    return Ok(outcome);
                }
                Ok(n) => {
                    outcome.read += n;
                    if n < asked {
                        outcome.drained = true;
                        break;
                    }
                }
                Err(Errno::EAGAIN) => {
                    outcome.drained = true;
                    break;
                }
                Err(Errno::EINTR) => {}
                Err(errno) => return Err(errno.into()),
            }
        }
        Ok(outcome)
    }

    /// Shuts the sending side: the peer reads the end of what was sent, and may still
    /// send (a lingering close reads and drops it).
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(stream) => stream.shutdown(std::net::Shutdown::Write),
            Stream::Unix(stream) => stream.shutdown(std::net::Shutdown::Write),
            Stream::Pipes(pipes) => {
                pipes.requests = None;
                Ok(())
            }
        }
    }

    /// Whether an idle connection is still quiet: open, with nothing unread. Peeks,
    /// so nothing is consumed.
    pub fn is_quiet(&self) -> bool {
        if let Stream::Pipes(pipes) = self {
            // A pipe cannot be peeked at: it is quiet when nothing is there to read and
            // the runner has not closed its end.
            let mut watched = [PollFd::new(pipes.answers.as_fd(), PollFlags::POLLIN)];
            return matches!(poll(&mut watched, PollTimeout::ZERO), Ok(0));
        }
        let mut byte = [0u8; 1];
        let flags = MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT;
        matches!(
            nix::sys::socket::recv(self.as_fd().as_raw_fd(), &mut byte, flags),
            Err(Errno::EAGAIN)
        )
    }

    /// `Ok(true)` once a connect has completed, `Ok(false)` while it is under way, and
    /// the error if it failed.
    pub fn connected(&self) -> io::Result<bool> {
        let (error, peer) = match self {
            Stream::Tcp(stream) => (stream.take_error()?, stream.peer_addr().map(drop)),
            Stream::Unix(stream) => (stream.take_error()?, stream.peer_addr().map(drop)),
            Stream::Pipes(_) => return Ok(true),
        };
        if let Some(error) = error {
            return Err(error);
        }
        match peer {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(error) => Err(error),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(stream) => stream.read(buf),
            Stream::Unix(stream) => stream.read(buf),
            Stream::Pipes(pipes) => pipes.answers.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(stream) => stream.write(buf),
            Stream::Unix(stream) => stream.write(buf),
            Stream::Pipes(pipes) => match &mut pipes.requests {
                Some(requests) => requests.write(buf),
                None => Err(io::ErrorKind::BrokenPipe.into()),
            },
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsFd for Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Tcp(stream) => stream.as_fd(),
            Stream::Unix(stream) => stream.as_fd(),
            Stream::Pipes(pipes) => pipes.answers.as_fd(),
        }
    }
}

/// A non-blocking listening socket.
#[derive(Debug)]
pub enum Listener {
    /// A TCP listener.
    Tcp(TcpListener),
    /// A unix socket listener.
    Unix(UnixListener),
}

impl Listener {
    /// Takes a listening socket of either family (as handed over by another process) and
    /// makes it non-blocking.
    pub fn from_fd(fd: OwnedFd) -> io::Result<Listener> {
        let storage: SockaddrStorage = getsockname(fd.as_raw_fd()).map_err(io::Error::from)?;
        if storage.family() == Some(AddressFamily::Unix) {
            let listener = std::os::unix::net::UnixListener::from(fd);
            listener.set_nonblocking(true)?;
            Ok(Listener::Unix(UnixListener::from_std(listener)))
        } else {
            let listener = std::net::TcpListener::from(fd);
            listener.set_nonblocking(true)?;
            Ok(Listener::Tcp(TcpListener::from_std(listener)))
        }
    }

    /// Accepts a connection, with the peer's address for TCP.
    pub fn accept(&self) -> io::Result<(Stream, Option<SocketAddr>)> {
        match self {
            Listener::Tcp(listener) => {
                let (stream, peer) = listener.accept()?;
                stream.set_nodelay(true)?;
                Ok((Stream::Tcp(stream), Some(peer)))
            }
            Listener::Unix(listener) => {
                let (stream, _) = listener.accept()?;
                Ok((Stream::Unix(stream), None))
            }
        }
    }

    /// The socket, to register with an engine.
    pub fn source(&mut self) -> &mut dyn Source {
        match self {
            Listener::Tcp(listener) => listener,
            Listener::Unix(listener) => listener,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_connects_reach_paths_and_abstract_names() -> io::Result<()> {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("unit-engine-test-{}", std::process::id());
        let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        let listener = std::os::unix::net::UnixListener::bind_addr(&address)?;
        let _stream = Stream::connect_unix(Path::new(&format!("@{name}")))?;
        let (_, peer) = listener.accept()?;
        assert!(
            peer.as_abstract_name().is_none(),
            "the client side is unnamed"
        );

        let dir = std::env::temp_dir().join(format!("unit-engine-net-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("socket");
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixListener::bind(&path)?;
        let _stream = Stream::connect_unix(&path)?;
        listener.accept()?;
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    /// What a runner does with a new connection: takes the two pipe ends it carries.
    fn runner_ends(socket: &std::os::unix::net::UnixStream) -> io::Result<(OwnedFd, OwnedFd)> {
        use std::os::fd::{FromRawFd, RawFd};
        let mut greeting = [0u8; 1];
        let mut buffers = [io::IoSliceMut::new(&mut greeting)];
        let mut space = nix::cmsg_space!([RawFd; 2]);
        let received = nix::sys::socket::recvmsg::<()>(
            socket.as_raw_fd(),
            &mut buffers,
            Some(&mut space),
            MsgFlags::empty(),
        )?;
        let mut fds = Vec::new();
        for message in received.cmsgs()? {
            if let nix::sys::socket::ControlMessageOwned::ScmRights(received) = message {
                fds.extend(received);
            }
        }
        assert_eq!(fds.len(), 2, "two ends");
        // SAFETY: received just now with SCM_RIGHTS, so owned by nothing else.
        #[allow(unsafe_code)]
        let ends = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        Ok(ends)
    }

    #[test]
    fn a_runner_connection_hands_over_two_pipes_that_carry_it() -> io::Result<()> {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("unit-engine-pipes-{}", std::process::id());
        let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        let listener = std::os::unix::net::UnixListener::bind_addr(&address)?;
        let mut stream = Stream::connect_runner(Path::new(&format!("@{name}")))?;
        let (socket, _) = listener.accept()?;
        let (requests, answers) = runner_ends(&socket)?;
        let (mut requests, mut answers) =
            (std::fs::File::from(requests), std::fs::File::from(answers));
        drop(socket);

        let mut written = 0;
        assert!(stream.write_pending(b"request", &mut written)?);
        let mut request = [0u8; 7];
        requests.read_exact(&mut request)?;
        assert_eq!(&request, b"request");

        assert!(stream.is_quiet(), "nothing to read yet");
        answers.write_all(b"answer")?;
        assert!(!stream.is_quiet(), "an answer waits");
        let mut into = Vec::new();
        let outcome = stream.read_available(&mut into, 1024)?;
        assert_eq!((into.as_slice(), outcome.eof), (&b"answer"[..], false));
        assert!(stream.is_quiet());

        // Shutting the sending side is the end of the requests' pipe.
        stream.shutdown_write()?;
        let mut rest = Vec::new();
        requests.read_to_end(&mut rest)?;
        assert!(rest.is_empty());
        assert!(stream.write(b"more").is_err());

        // A runner that is gone is its answers' pipe's end.
        drop(answers);
        assert!(!stream.is_quiet(), "the end shows");
        let outcome = stream.read_available(&mut into, 1024)?;
        assert!(outcome.eof);
        Ok(())
    }

    #[test]
    fn tcp_and_unix_listeners_accept() -> io::Result<()> {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0")?;
        let address = tcp.local_addr()?;
        let listener = Listener::from_fd(OwnedFd::from(tcp))?;
        let client = std::net::TcpStream::connect(address)?;
        let mut accepted = None;
        for _ in 0..100 {
            match listener.accept() {
                Ok(pair) => {
                    accepted = Some(pair);
                    break;
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(error) => return Err(error),
            }
        }
        let (stream, peer) = accepted.ok_or_else(|| io::Error::other("nothing accepted"))?;
        assert_eq!(peer, Some(client.local_addr()?));
        assert_eq!(stream.local_addr(), Some(address));
        assert!(stream.connected()?);

        let (left, right) = std::os::unix::net::UnixStream::pair()?;
        left.set_nonblocking(true)?;
        right.set_nonblocking(true)?;
        let mut left = Stream::Unix(UnixStream::from_std(left));
        let mut right = Stream::Unix(UnixStream::from_std(right));
        assert_eq!(left.local_addr(), None);
        assert!(right.is_quiet(), "nothing sent yet");
        let mut written = 0;
        assert!(left.write_pending(b"hello", &mut written)?);
        assert_eq!(written, 5);
        let mut received = Vec::new();
        let outcome = |read, eof, drained| ReadOutcome { read, eof, drained };
        assert_eq!(
            right.read_available(&mut received, 1024)?,
            outcome(5, false, true),
            "a short read drains the socket"
        );
        assert_eq!(received, b"hello");
        assert_eq!(
            right.read_available(&mut received, 1024)?,
            outcome(0, false, true),
            "nothing more yet"
        );
        // More than the buffer's first spare space: the buffer grows and keeps reading.
        let big = vec![7u8; 3 * MIN_READ_SPARE];
        let mut written = 0;
        assert!(left.write_pending(&big, &mut written)?);
        let mut large = Vec::new();
        assert_eq!(
            right.read_available(&mut large, 1 << 20)?,
            outcome(big.len(), false, true)
        );
        assert_eq!(large, big);
        // A buffer at its limit is not read into, and the socket is not known drained.
        assert!(left.write_pending(b"0123456789", &mut 0)?);
        let mut full = vec![0u8; 4];
        assert_eq!(
            right.read_available(&mut full, 4)?,
            outcome(0, false, false)
        );
        assert!(!right.is_quiet(), "bytes wait unread");
        drop(left);
        let mut rest = Vec::new();
        assert_eq!(
            right.read_available(&mut rest, 1024)?,
            outcome(10, false, true)
        );
        assert_eq!(
            right.read_available(&mut rest, 1024)?,
            outcome(0, true, true),
            "closed"
        );
        Ok(())
    }
}
