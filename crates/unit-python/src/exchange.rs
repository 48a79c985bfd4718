//! One connection from the router, as a request-answer exchange: reading request frames
//! and their bodies (by length or chunked), and writing HTTP/1.1 answers.
//!
//! Blocking I/O on the router's pipes (any descriptor works: the tests use sockets);
//! the callers release the GIL around it. A connection from the router starts with
//! the runner's ends of the two pipes, one way each, that carry it from then on.

use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;

use nix::fcntl::{FcntlArg, OFlag, fcntl};

use crate::adopt_received;
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};

use unit_http::{AppBody, ChunkedDecoder, HttpError, decode_app_request};

/// How many bytes one read asks for.
const READ_SIZE: usize = 64 * 1024;

/// What is left of the current request's body.
#[derive(Debug)]
enum BodyLeft {
    Length(u64),
    Chunked(Box<ChunkedDecoder>),
    Done,
}

/// A connection's input: what has been read and not yet used, and the body state.
#[derive(Debug)]
pub(crate) struct Input {
    stream: File,
    /// What has been read is `buffer[..end]`; the rest is room for the next read.
    buffer: Vec<u8>,
    /// Where the unused bytes in `buffer` start.
    start: usize,
    end: usize,
    body: BodyLeft,
    /// Chunked body bytes decoded but not yet taken.
    decoded: Vec<u8>,
    decoded_start: usize,
}

impl Input {
    pub(crate) fn new(stream: File) -> Input {
        Input {
            stream,
            buffer: vec![0; READ_SIZE],
            start: 0,
            end: 0,
            body: BodyLeft::Done,
            decoded: Vec::new(),
            decoded_start: 0,
        }
    }

    /// Reads more bytes; false at end of stream.
    fn fill(&mut self) -> io::Result<bool> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 && self.buffer.len() - self.end < READ_SIZE / 4 {
            self.buffer.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        // The room is zeroed when the buffer grows, not before every read.
        if self.buffer.len() - self.end < READ_SIZE / 4 {
            self.buffer.resize(self.end + READ_SIZE, 0);
        }
        let read = loop {
            match self.stream.read(&mut self.buffer[self.end..]) {
                Ok(read) => break read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        };
        self.end += read;
        Ok(read > 0)
    }

    /// The connection, to watch for readiness.
    pub(crate) fn stream(&self) -> &File {
        &self.stream
    }

    /// Whether bytes past the current request have been read already.
    pub(crate) fn has_buffered(&self) -> bool {
        self.start < self.end
    }

    /// Reads until a whole request frame is buffered: its length, or `None` when the
    /// router closed the connection between requests. A malformed frame is an error.
    pub(crate) fn next_frame(&mut self) -> io::Result<Option<usize>> {
        loop {
            match decode_app_request(&self.buffer[self.start..self.end]) {
                Ok(Some((request, length))) => {
                    self.body = match request.body {
                        AppBody::None => BodyLeft::Done,
                        AppBody::Length(0) => BodyLeft::Done,
                        AppBody::Length(length) => BodyLeft::Length(length),
                        AppBody::Chunked => BodyLeft::Chunked(Box::new(ChunkedDecoder::new())),
                    };
                    self.decoded.clear();
                    self.decoded_start = 0;
                    return Ok(Some(length));
                }
                Ok(None) => {}
                Err(error) => return Err(invalid(error)),
            }
            if !self.fill()? {
                if self.start == self.end {
                    return Ok(None);
                }
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the router closed the connection inside a request",
                ));
            }
        }
    }

    /// The frame `next_frame` found, `length` bytes.
    pub(crate) fn frame(&self, length: usize) -> &[u8] {
        &self.buffer[self.start..self.start + length]
    }

    /// Marks the frame as used; the body starts after it.
    pub(crate) fn consume_frame(&mut self, length: usize) {
        self.start += length;
    }

    /// Whether the body has been read to its end.
    pub(crate) fn body_done(&self) -> bool {
        matches!(self.body, BodyLeft::Done) && self.decoded_start == self.decoded.len()
    }

    /// How many body bytes are still to come, when the body has a length.
    pub(crate) fn body_remaining(&self) -> Option<u64> {
        match &self.body {
            BodyLeft::Length(left) => Some(*left),
            BodyLeft::Done => Some((self.decoded.len() - self.decoded_start) as u64),
            BodyLeft::Chunked(_) => None,
        }
    }

    /// Appends up to `limit` body bytes to `out`, reading as needed; 0 at the body's end.
    pub(crate) fn read_body(&mut self, limit: usize, out: &mut Vec<u8>) -> io::Result<usize> {
        if limit == 0 {
            return Ok(0);
        }
        loop {
            if self.decoded_start < self.decoded.len() {
                let taken = limit.min(self.decoded.len() - self.decoded_start);
                out.extend_from_slice(
                    &self.decoded[self.decoded_start..self.decoded_start + taken],
                );
                self.decoded_start += taken;
                if self.decoded_start == self.decoded.len() {
                    self.decoded.clear();
                    self.decoded_start = 0;
                }
                return Ok(taken);
            }
            let available = self.end - self.start;
            match &mut self.body {
                BodyLeft::Done => return Ok(0),
                BodyLeft::Length(left) => {
                    if available > 0 {
                        let taken = (limit as u64).min(*left).min(available as u64) as usize;
                        out.extend_from_slice(&self.buffer[self.start..self.start + taken]);
                        self.start += taken;
                        *left -= taken as u64;
                        if *left == 0 {
                            self.body = BodyLeft::Done;
                        }
                        return Ok(taken);
                    }
                }
                BodyLeft::Chunked(decoder) => {
                    if available > 0 {
                        let consumed = decoder
                            .decode(&self.buffer[self.start..self.end], &mut self.decoded)
                            .map_err(invalid)?;
                        self.start += consumed;
                        if decoder.is_done() {
                            self.body = BodyLeft::Done;
                        }
                        if consumed > 0 || self.decoded_start < self.decoded.len() {
                            continue;
                        }
                    }
                }
            }
            if !self.fill()? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the request body ended early",
                ));
            }
        }
    }

    /// Puts body bytes taken too many (past a line's end) back in front of the rest.
    pub(crate) fn unread(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.decoded_start >= bytes.len() {
            self.decoded_start -= bytes.len();
            self.decoded[self.decoded_start..self.decoded_start + bytes.len()]
                .copy_from_slice(bytes);
        } else {
            let mut joined = Vec::with_capacity(bytes.len() + self.decoded.len());
            joined.extend_from_slice(bytes);
            joined.extend_from_slice(&self.decoded[self.decoded_start..]);
            self.decoded = joined;
            self.decoded_start = 0;
        }
    }

    /// Appends body bytes up to and including the next newline, at most `limit`.
    pub(crate) fn read_line(&mut self, limit: usize, out: &mut Vec<u8>) -> io::Result<usize> {
        let start = out.len();
        while out.len() - start < limit {
            let from = out.len();
            let want = (limit - (from - start)).min(8192);
            if self.read_body(want, out)? == 0 {
                break;
            }
            if let Some(newline) = out[from..].iter().position(|byte| *byte == b'\n') {
                let end = from + newline + 1;
                let extra = out[end..].to_vec();
                out.truncate(end);
                self.unread(&extra);
                break;
            }
        }
        Ok(out.len() - start)
    }

    /// Reads and drops what is left of the body, so the next request can be read.
    pub(crate) fn skip_body(&mut self) -> io::Result<()> {
        let mut sink = Vec::new();
        while self.read_body(READ_SIZE, &mut sink)? > 0 {
            sink.clear();
        }
        Ok(())
    }
}

/// The runner's ends of a new connection's pipes, which come with its first byte:
/// (requests in, answers out). The socket itself carries nothing more.
pub(crate) fn take_pipes(socket: &UnixStream) -> io::Result<(File, File)> {
    let mut greeting = [0u8; 1];
    let mut buffers = [IoSliceMut::new(&mut greeting)];
    let mut space = nix::cmsg_space!([RawFd; 2]);
    let received = loop {
        match recvmsg::<()>(
            socket.as_raw_fd(),
            &mut buffers,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(received) => break received,
            Err(nix::errno::Errno::EINTR) => {}
            Err(errno) => return Err(errno.into()),
        }
    };
    let mut ends = Vec::with_capacity(2);
    for message in received.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = message {
            ends.extend(fds.into_iter().map(adopt_received));
        }
    }
    let mut ends = ends.into_iter();
    match (ends.next(), ends.next(), ends.next()) {
        (Some(requests), Some(answers), None) => {
            // The router made them non-blocking; these ends are the runner's alone.
            for end in [&requests, &answers] {
                let flags = OFlag::from_bits_retain(fcntl(end, FcntlArg::F_GETFL)?);
                fcntl(end, FcntlArg::F_SETFL(flags & !OFlag::O_NONBLOCK))?;
            }
            Ok((File::from(requests), File::from(answers)))
        }
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "a connection from the router came without its pipes",
        )),
    }
}

fn invalid(error: HttpError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

/// Writes every byte of `parts`, in order, with as few system calls as it takes.
pub(crate) fn write_all_parts(stream: &mut Option<File>, parts: &[&[u8]]) -> io::Result<()> {
    let Some(stream) = stream else {
        return Err(io::ErrorKind::BrokenPipe.into());
    };
    let mut part = 0;
    let mut offset = 0;
    while part < parts.len() {
        if offset == parts[part].len() {
            part += 1;
            offset = 0;
            continue;
        }
        let mut slices = Vec::with_capacity(parts.len() - part);
        slices.push(IoSlice::new(&parts[part][offset..]));
        slices.extend(parts[part + 1..].iter().map(|bytes| IoSlice::new(bytes)));
        let mut written = match stream.write_vectored(&slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => written,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        while written > 0 && part < parts.len() {
            let left = parts[part].len() - offset;
            if written >= left {
                written -= left;
                part += 1;
                offset = 0;
            } else {
                offset += written;
                written = 0;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::OwnedFd;
    use unit_http::{AppRequestHead, encode_chunk, encode_last_chunk};

    fn frame(body: AppBody) -> Vec<u8> {
        let head = AppRequestHead {
            method: "POST",
            target: "/",
            path: "/",
            query: "",
            version_minor: 1,
            flags: 0,
            body,
            remote_addr: "127.0.0.1",
            remote_port: 1,
            local_addr: "127.0.0.1",
            local_port: 2,
            server_name: "localhost",
            app_target: "",
            websocket: unit_http::WebSocketLimits {
                max_frame_size: 1 << 20,
                read_timeout_ms: 60_000,
                keepalive_interval_ms: 0,
            },
        };
        let mut out = Vec::new();
        head.encode(std::iter::empty(), &mut out);
        out
    }

    #[test]
    fn requests_and_bodies_are_read_in_turn_in_pieces() {
        let (mut router, runner) = UnixStream::pair().expect("socket pair");
        let mut sent = frame(AppBody::Length(5));
        sent.extend_from_slice(b"hello");
        sent.extend(frame(AppBody::Chunked));
        encode_chunk(b"abc", &mut sent);
        encode_chunk(b"defg", &mut sent);
        encode_last_chunk(&mut sent);
        sent.extend(frame(AppBody::None));
        let writer = std::thread::spawn(move || {
            for piece in sent.chunks(3) {
                router.write_all(piece).expect("write");
            }
        });
        let mut input = Input::new(File::from(OwnedFd::from(runner)));
        let mut bodies = Vec::new();
        while let Some(length) = input.next_frame().expect("frame") {
            input.consume_frame(length);
            let mut body = Vec::new();
            while input.read_body(2, &mut body).expect("body") > 0 {}
            assert!(input.body_done());
            bodies.push(body);
        }
        writer.join().expect("writer");
        assert_eq!(bodies, [b"hello".to_vec(), b"abcdefg".to_vec(), Vec::new()]);
    }

    #[test]
    fn lines_are_read_to_their_newline_and_the_rest_stays() {
        let (mut router, runner) = UnixStream::pair().expect("socket pair");
        let mut sent = frame(AppBody::Length(14));
        sent.extend_from_slice(b"one\ntwo\nthree!");
        router.write_all(&sent[..sent.len() - 1]).expect("write");
        let mut input = Input::new(File::from(OwnedFd::from(runner)));
        let length = input.next_frame().expect("frame").expect("a frame");
        input.consume_frame(length);
        let mut line = Vec::new();
        input.read_line(usize::MAX, &mut line).expect("line");
        assert_eq!(line, b"one\n");
        line.clear();
        input.read_line(2, &mut line).expect("line");
        assert_eq!(line, b"tw");
        line.clear();
        input.read_line(usize::MAX, &mut line).expect("line");
        assert_eq!(line, b"o\n");
        router.write_all(b"!").expect("write");
        line.clear();
        input.read_line(usize::MAX, &mut line).expect("line");
        assert_eq!(line, b"three!");
        assert!(input.body_done());
    }

    #[test]
    fn a_connection_brings_its_pipes_and_one_without_them_is_refused() {
        use nix::sys::socket::{ControlMessage, sendmsg};
        let (router, runner) = UnixStream::pair().expect("socket pair");
        let (runner_requests, mut requests) = pipe_ends();
        let (mut answers, runner_answers) = pipe_ends();
        let ends = [runner_requests.as_raw_fd(), runner_answers.as_raw_fd()];
        sendmsg::<()>(
            router.as_raw_fd(),
            &[IoSlice::new(b"P")],
            &[ControlMessage::ScmRights(&ends)],
            MsgFlags::empty(),
            None,
        )
        .expect("send the ends");
        drop((runner_requests, runner_answers));
        let (mut from_router, mut to_router) = take_pipes(&runner).expect("the pipes");
        requests.write_all(b"frame").expect("write");
        let mut frame = [0u8; 5];
        from_router.read_exact(&mut frame).expect("read");
        assert_eq!(&frame, b"frame");
        to_router.write_all(b"answer").expect("write");
        let mut answer = [0u8; 6];
        answers.read_exact(&mut answer).expect("read");
        assert_eq!(&answer, b"answer");

        let (router, runner) = UnixStream::pair().expect("socket pair");
        (&router).write_all(b"P").expect("send");
        let refused = take_pipes(&runner).expect_err("no pipes");
        assert_eq!(refused.kind(), io::ErrorKind::InvalidData);
    }

    /// A pipe as files: (read end, write end).
    fn pipe_ends() -> (File, File) {
        let (read, write) = nix::unistd::pipe().expect("pipe");
        (File::from(read), File::from(write))
    }

    #[test]
    fn parts_are_written_whole() {
        let (writer, mut reader) = UnixStream::pair().expect("socket pair");
        let big = vec![7u8; 300_000];
        let reading = std::thread::spawn(move || {
            let mut all = Vec::new();
            reader.read_to_end(&mut all).expect("read");
            all
        });
        let mut writer = Some(File::from(OwnedFd::from(writer)));
        write_all_parts(&mut writer, &[b"head", &big, b"tail"]).expect("write");
        drop(writer);
        let all = reading.join().expect("reader");
        assert_eq!(all.len(), 4 + big.len() + 4);
        assert_eq!(&all[..4], b"head");
        assert_eq!(&all[all.len() - 4..], b"tail");
    }
}
