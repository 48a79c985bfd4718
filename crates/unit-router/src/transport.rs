//! The byte stream under a client connection: plain TCP or a unix socket, or TLS over
//! either (rustls).
//!
//! The HTTP code, the proxy and tunnels read and write through a [`Transport`] and
//! never touch the socket, so the TLS transport stands in for the plain one without them
//! changing. A file body goes with `sendfile` where the transport and the file allow it,
//! and is read and written otherwise (over TLS, and for a file that cannot be spliced,
//! such as one in `/proc`).
//!
//! Over TLS, records are read from the socket into a buffer of the connection's and fed
//! to rustls from there, so a short read still tells that the socket is drained, as it
//! does for the plain transport; the handshake runs inside the first reads. What rustls
//! has encrypted but the socket has not taken yet waits in rustls: the connection calls
//! [`Transport::flush_pending`] whenever it is driven, so a write event sends it on.
//!
//! What it does not do: HTTP, timeouts or registration decisions (the connection and
//! its worker make those).

use std::fs::File;
use std::io::{self, BufRead, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use mio::event::Source;
use nix::errno::Errno;
use rustls::{ServerConfig, ServerConnection};
use unit_engine::{ReadOutcome, Stream};

/// How big a piece of a file is read at a time when it cannot be sent with sendfile.
const FILE_COPY_CHUNK: usize = 64 * 1024;

/// How much TLS input is read from the socket before it is handed to rustls.
const TLS_READ_LIMIT: usize = 32 * 1024;

/// The stream of one client connection.
#[derive(Debug)]
pub(crate) enum Transport {
    /// The socket itself.
    Plain(Stream),
    /// TLS over the socket.
    Tls(Box<TlsStream>),
}

/// A TLS session over a socket.
#[derive(Debug)]
pub(crate) struct TlsStream {
    stream: Stream,
    session: ServerConnection,
    /// Records read from the socket and not yet taken by rustls.
    incoming: Vec<u8>,
    /// The client ended its side: a close_notify, or a close of the socket.
    eof: bool,
    /// The client has sent something (its handshake has begun).
    heard: bool,
}

impl Drop for TlsStream {
    /// A connection closing tells the client with a close_notify, as far as the socket
    /// takes it at once: a client that reads to the end then sees a clean close rather
    /// than a truncation (OpenSSL clients treat that as an error of the session).
    fn drop(&mut self) {
        if !self.session.is_handshaking() {
            self.session.send_close_notify();
            let _ = self.flush();
        }
    }
}

impl TlsStream {
    /// A server session for `config` over an accepted socket.
    pub(crate) fn new(
        stream: Stream,
        config: Arc<ServerConfig>,
    ) -> Result<TlsStream, rustls::Error> {
        Ok(TlsStream {
            stream,
            session: ServerConnection::new(config)?,
            incoming: Vec::new(),
            eof: false,
            heard: false,
        })
    }

    /// Writes what rustls holds encrypted; false when the socket is full.
    fn flush(&mut self) -> io::Result<bool> {
        while self.session.wants_write() {
            match self.session.write_tls(&mut self.stream) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(_) => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(true)
    }

    /// Takes decrypted bytes into `into` while it holds less than `limit`; true when
    /// rustls has none left.
    fn take_plaintext(
        &mut self,
        into: &mut Vec<u8>,
        limit: usize,
        read: &mut usize,
    ) -> io::Result<bool> {
        while into.len() < limit {
            let mut reader = self.session.reader();
            let taken = match reader.fill_buf() {
                // Only a clean close (close_notify) gives no bytes without an error.
                Ok([]) => {
                    self.eof = true;
                    return Ok(true);
                }
                Ok(chunk) => {
                    let taken = chunk.len().min(limit - into.len());
                    into.extend_from_slice(&chunk[..taken]);
                    taken
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                // The socket closed without a close_notify: an end all the same.
                Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => {
                    self.eof = true;
                    return Ok(true);
                }
                Err(error) => return Err(error),
            };
            reader.consume(taken);
            *read += taken;
        }
        Ok(false)
    }

    /// Reads and decrypts what is available; called when the socket may be readable, and
    /// it is read until a read shows it drained.
    fn read_available(&mut self, into: &mut Vec<u8>, limit: usize) -> io::Result<ReadOutcome> {
        let mut read = 0;
        let mut socket_readable = true;
        loop {
            let plaintext_left = !self.take_plaintext(into, limit, &mut read)?;
            if self.eof || plaintext_left {
                return Ok(ReadOutcome {
                    read,
                    eof: self.eof,
                    drained: self.eof,
                });
            }
            if self.incoming.is_empty() {
                if !socket_readable {
                    return Ok(ReadOutcome {
                        read,
                        eof: false,
                        drained: true,
                    });
                }
                let outcome = self
                    .stream
                    .read_available(&mut self.incoming, TLS_READ_LIMIT)?;
                socket_readable = !outcome.drained;
                if outcome.eof && self.incoming.is_empty() {
                    self.eof = true;
                    continue;
                }
                if outcome.read == 0 {
                    continue;
                }
            }
            let mut records = self.incoming.as_slice();
            let taken = self.session.read_tls(&mut records)?;
            self.incoming.drain(..taken);
            let was_handshaking = self.session.is_handshaking();
            if let Err(error) = self.session.process_new_packets() {
                // The alert rustls queued goes out if the socket takes it.
                let _ = self.flush();
                return Err(io::Error::new(io::ErrorKind::InvalidData, error));
            }
            // Handshake messages, and answers to what the client sent, go out now.
            self.flush()?;
            // The client's last handshake message was read and nothing may go back: a
            // client that sends its first request in a segment of its own would wait
            // for the delayed acknowledgement (Nagle) without this.
            if was_handshaking && !self.session.is_handshaking() {
                self.stream.acknowledge_now();
            }
            // Handshake records give the connection no bytes, so it would take this read
            // for an empty one and wait for the next event; a close that came with them
            // would then go unseen. The socket is read until it says EAGAIN instead (a
            // few times per connection).
            if was_handshaking {
                socket_readable = true;
            }
        }
    }

    fn write_pending(&mut self, buf: &[u8], written: &mut usize) -> io::Result<bool> {
        if !self.flush()? {
            return Ok(false);
        }
        while *written < buf.len() {
            let accepted = self.session.writer().write(&buf[*written..])?;
            *written += accepted;
            if !self.flush()? {
                return Ok(false);
            }
            if accepted == 0 {
                return Err(io::Error::from(io::ErrorKind::WriteZero));
            }
        }
        Ok(true)
    }
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
            Transport::Tls(tls) => tls.stream.source(),
        }
    }

    /// Whether this is TLS.
    pub(crate) fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_))
    }

    /// Whether a TLS handshake is still under way (false for a plain transport).
    pub(crate) fn is_handshaking(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(tls) => tls.session.is_handshaking(),
        }
    }

    /// Whether the client has sent something the connection has not read yet, or a TLS
    /// client has begun its handshake and not finished it: a request may be on its way.
    pub(crate) fn has_unread(&self) -> bool {
        match self {
            Transport::Plain(stream) => !stream.is_quiet(),
            Transport::Tls(tls) => {
                (tls.heard && tls.session.is_handshaking())
                    || !tls.incoming.is_empty()
                    || !tls.stream.is_quiet()
            }
        }
    }

    /// The TLS protocol version and the server name the client asked for, once the
    /// handshake is done.
    pub(crate) fn tls_details(&self) -> Option<(&'static str, Option<&str>)> {
        let Transport::Tls(tls) = self else {
            return None;
        };
        let version = match tls.session.protocol_version()? {
            rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2",
            rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3",
            _ => "TLS",
        };
        Some((version, tls.session.server_name()))
    }

    /// Sends on what a TLS session has encrypted and the socket has not taken yet:
    /// `Ok(true)` when nothing is left.
    pub(crate) fn flush_pending(&mut self) -> io::Result<bool> {
        match self {
            Transport::Plain(_) => Ok(true),
            Transport::Tls(tls) => tls.flush(),
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
            Transport::Tls(tls) => tls.read_available(into, limit),
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
            Transport::Tls(tls) => tls.write_pending(buf, written),
        }
    }

    /// Writes what it can of `bytes` now (a `100 Continue`, best effort).
    pub(crate) fn write_now(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(stream) => stream.write(bytes),
            Transport::Tls(tls) => {
                let accepted = tls.session.writer().write(bytes)?;
                tls.flush()?;
                Ok(accepted)
            }
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
            let Transport::Plain(stream) = self else {
                send.copying = true;
                continue;
            };
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
            Transport::Tls(tls) => {
                tls.session.send_close_notify();
                tls.flush()?;
                tls.stream.shutdown_write()
            }
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
