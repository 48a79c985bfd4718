//! The byte stream under a client connection: plain TCP or a unix socket now, TLS next.
//!
//! The HTTP code, the proxy and tunnels read and write through a [`Transport`] and
//! never touch the socket, so a transport that encrypts can stand in for the plain one
//! without them changing. A file body goes with `sendfile` where the transport and the
//! file allow it, and is read and written otherwise (a file that cannot be spliced, such
//! as one in `/proc`).
//!
//! What it does not do: HTTP, timeouts or registration decisions (the connection and
//! its worker make those).

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;

use mio::event::Source;
use nix::errno::Errno;
use unit_engine::{ReadOutcome, Stream};

/// How big a piece of a file is read at a time when it cannot be sent with sendfile.
const FILE_COPY_CHUNK: usize = 64 * 1024;

/// The stream of one client connection.
#[derive(Debug)]
pub(crate) enum Transport {
    /// The socket itself.
    Plain(Stream),
}

/// A file body still to send, and how.
#[derive(Debug)]
pub(crate) struct FileSend {
    pub(crate) file: std::sync::Arc<File>,
    pub(crate) offset: u64,
    pub(crate) remaining: u64,
    /// The file refused sendfile: it is read into `chunk` and written from there.
    copying: bool,
    chunk: Vec<u8>,
    chunk_written: usize,
}

impl FileSend {
    /// `len` bytes of `file` from `offset`.
    pub(crate) fn new(file: std::sync::Arc<File>, offset: u64, len: u64) -> FileSend {
        FileSend {
            file,
            offset,
            remaining: len,
            copying: false,
            chunk: Vec::new(),
            chunk_written: 0,
        }
    }
}

impl Transport {
    /// The socket, to register with an engine.
    pub(crate) fn source(&mut self) -> &mut dyn Source {
        match self {
            Transport::Plain(stream) => stream.source(),
        }
    }

    /// Reads what is available into `into` while it holds less than `limit` bytes.
    pub(crate) fn read_available(
        &mut self,
        into: &mut Vec<u8>,
        limit: usize,
    ) -> io::Result<ReadOutcome> {
        match self {
            Transport::Plain(stream) => stream.read_available(into, limit),
        }
    }

    /// Writes `buf[*written..]` until it is all out (`Ok(true)`) or the transport is
    /// full (`Ok(false)`); `more` says a file body follows at once.
    pub(crate) fn write_pending(
        &mut self,
        buf: &[u8],
        written: &mut usize,
        more: bool,
    ) -> io::Result<bool> {
        match self {
            Transport::Plain(stream) if more => stream.write_pending_more(buf, written),
            Transport::Plain(stream) => stream.write_pending(buf, written),
        }
    }

    /// Writes what it can of `bytes` now (a `100 Continue`, best effort).
    pub(crate) fn write_now(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(stream) => stream.write(bytes),
        }
    }

    /// Sends the rest of a file body: `Ok(true)` once it is all out, `Ok(false)` when
    /// the transport is full.
    pub(crate) fn send_file(&mut self, send: &mut FileSend) -> io::Result<bool> {
        while send.remaining > 0 || send.chunk_written < send.chunk.len() {
            if send.copying {
                if !self.copy_file_chunk(send)? {
                    return Ok(false);
                }
                continue;
            }
            let Transport::Plain(stream) = self;
            let count = usize::try_from(send.remaining.min(1 << 30)).unwrap_or(1 << 30);
            let mut offset = send.offset as i64;
            match nix::sys::sendfile::sendfile(
                stream.as_fd(),
                &*send.file,
                Some(&mut offset),
                count,
            ) {
                // The file shrank under us: what was promised cannot be sent.
                Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                Ok(n) => {
                    send.offset += n as u64;
                    send.remaining -= n as u64;
                }
                Err(Errno::EAGAIN) => return Ok(false),
                Err(Errno::EINTR) => {}
                Err(Errno::EINVAL | Errno::ENOSYS | Errno::EOPNOTSUPP) => send.copying = true,
                Err(errno) => return Err(errno.into()),
            }
        }
        Ok(true)
    }

    /// One step of sending a file that sendfile refuses: writes the chunk read last,
    /// and reads the next when it is out. False when the transport is full.
    fn copy_file_chunk(&mut self, send: &mut FileSend) -> io::Result<bool> {
        if send.chunk_written < send.chunk.len() {
            let chunk = std::mem::take(&mut send.chunk);
            let mut written = send.chunk_written;
            let wrote_all = self.write_pending(&chunk, &mut written, false);
            send.chunk = chunk;
            send.chunk_written = written;
            return wrote_all;
        }
        let want =
            usize::try_from(send.remaining.min(FILE_COPY_CHUNK as u64)).unwrap_or(FILE_COPY_CHUNK);
        send.chunk.resize(want, 0);
        let read = send.file.read_at(&mut send.chunk, send.offset)?;
        if read == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
        send.chunk.truncate(read);
        send.chunk_written = 0;
        send.offset += read as u64;
        send.remaining -= read as u64;
        Ok(true)
    }

    /// Shuts the sending side (a lingering close, or a tunnel whose upstream closed).
    pub(crate) fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(stream) => stream.shutdown_write(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::sync::Arc;

    use super::*;

    /// A plain transport over one end of a unix socket pair, and the other end.
    fn transport_pair() -> (Transport, std::os::unix::net::UnixStream) {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().expect("a socket pair");
        ours.set_nonblocking(true).expect("non-blocking");
        let stream = Stream::Unix(mio::net::UnixStream::from_std(ours));
        (Transport::Plain(stream), theirs)
    }

    fn file_with(contents: &[u8]) -> Arc<File> {
        let path = std::env::temp_dir().join(format!(
            "unit-router-transport-{}-{}",
            std::process::id(),
            contents.len()
        ));
        std::fs::write(&path, contents).expect("write the file");
        let file = File::open(&path).expect("open the file");
        let _ = std::fs::remove_file(&path);
        Arc::new(file)
    }

    /// Sends `send` to completion, reading the other end meanwhile; what arrived.
    fn send_all(mut send: FileSend) -> Vec<u8> {
        let (mut transport, mut theirs) = transport_pair();
        let reader = std::thread::spawn(move || {
            let mut received = Vec::new();
            theirs.read_to_end(&mut received).expect("read");
            received
        });
        while !transport.send_file(&mut send).expect("send") {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        drop(transport);
        reader.join().expect("the reader")
    }

    #[test]
    fn a_file_goes_with_sendfile_or_by_copying() {
        let contents: Vec<u8> = (0..300_000u32).map(|n| (n % 251) as u8).collect();
        let file = file_with(&contents);
        let sent = send_all(FileSend::new(Arc::clone(&file), 1000, 250_000));
        assert_eq!(sent, &contents[1000..251_000]);
        // A file that refuses sendfile is read and written in chunks instead.
        let mut copying = FileSend::new(file, 7, 200_000);
        copying.copying = true;
        assert_eq!(send_all(copying), &contents[7..200_007]);
    }
}
