//! Waiting for a language runner to say it is ready.
//!
//! A runner's process gets the write end of a pipe at descriptor 4 and writes one line
//! on it once the application is loaded (and an ASGI application's lifespan startup has
//! succeeded): `ready <capacity>`, how many requests it serves at once. Main answers
//! the router's start only then, with that capacity, so a request is never sent to a
//! process that is still importing, and an application that cannot start is a failed
//! start (its traceback is in the log). A pipe that closes without the line, or no line
//! within [`READY_TIMEOUT`], fails the start.
//!
//! The "pipe" is one end of a unix socket pair: once the process is ready, main keeps
//! its end for as long as the process lives and, when the log is reopened (SIGUSR1),
//! sends the new log file over it for the process to put at its standard error. Main
//! reads nothing more from it, so the process can tell main nothing.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::Duration;

use mio::unix::SourceFd;
use nix::unistd::Pid;
use unit_engine::{Interest, Registry, Token};

/// How long a runner may take to become ready: the router's own deadline for a start.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The longest readiness line accepted.
const MAX_LINE: usize = 64;

/// A start waiting for its process's line.
#[derive(Debug)]
pub(crate) struct PendingReady {
    pub(crate) pid: Pid,
    pub(crate) name: String,
    pub(crate) socket_path: PathBuf,
    /// The router's pid, its reply port and the request's stream.
    pub(crate) reply_to: (Pid, unit_port::PortId, u32),
    pipe: File,
    line: Vec<u8>,
    /// The process's standard error is the unit log, so a reopened one is sent.
    stderr_is_log: bool,
}

/// What reading the pipe came to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Readiness {
    /// Nothing more to read yet.
    Waiting,
    /// The process is ready and serves this many requests at once.
    Ready(u32),
    /// The pipe closed without a valid line, or said something else.
    Failed(String),
}

impl PendingReady {
    /// Registers `pipe` (main's end, made non-blocking) under `token`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn register(
        registry: &Registry,
        token: Token,
        pipe: OwnedFd,
        pid: Pid,
        name: String,
        socket_path: PathBuf,
        reply_to: (Pid, unit_port::PortId, u32),
        stderr_is_log: bool,
    ) -> io::Result<PendingReady> {
        nix::fcntl::fcntl(
            &pipe,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        )
        .map_err(io::Error::from)?;
        registry.register(&mut SourceFd(&pipe.as_raw_fd()), token, Interest::READABLE)?;
        Ok(PendingReady {
            pid,
            name,
            socket_path,
            reply_to,
            pipe: File::from(pipe),
            line: Vec::with_capacity(MAX_LINE),
            stderr_is_log,
        })
    }

    /// Reads what the process wrote.
    pub(crate) fn read(&mut self) -> Readiness {
        let mut buffer = [0u8; MAX_LINE];
        loop {
            match (&self.pipe).read(&mut buffer) {
                Ok(0) => {
                    return Readiness::Failed("the process ended before it was ready".to_owned());
                }
                Ok(read) => {
                    self.line.extend_from_slice(&buffer[..read]);
                    if let Some(end) = self.line.iter().position(|byte| *byte == b'\n') {
                        return parse_line(&self.line[..end]);
                    }
                    if self.line.len() > MAX_LINE {
                        return Readiness::Failed("the readiness line is too long".to_owned());
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    return Readiness::Waiting;
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => {
                    return Readiness::Failed(format!("reading its pipe failed: {error}"));
                }
            }
        }
    }

    /// Main's end, kept to pass the process a reopened log; `None` when its standard
    /// error is a file of its own.
    pub(crate) fn into_log_channel(self) -> Option<OwnedFd> {
        self.stderr_is_log.then(|| OwnedFd::from(self.pipe))
    }

    /// Stops watching the pipe.
    pub(crate) fn deregister(&self, registry: &Registry) {
        let _ = registry.deregister(&mut SourceFd(&self.pipe.as_raw_fd()));
    }
}

/// Sends `log` over a ready process's channel, as one byte with the descriptor.
pub(crate) fn send_log(channel: &OwnedFd, log: &File) -> nix::Result<()> {
    use std::io::IoSlice;

    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};

    let fds = [log.as_raw_fd()];
    sendmsg::<()>(
        channel.as_raw_fd(),
        &[IoSlice::new(b"l")],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map(drop)
}

/// Parses `ready <capacity>`.
fn parse_line(line: &[u8]) -> Readiness {
    let text = String::from_utf8_lossy(line);
    let mut words = text.split_whitespace();
    match (
        words.next(),
        words.next().map(str::parse::<u32>),
        words.next(),
    ) {
        (Some("ready"), Some(Ok(capacity)), None) if capacity > 0 => Readiness::Ready(capacity),
        _ => Readiness::Failed(format!(
            "it reported \"{}\" instead of readiness",
            text.trim()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_readiness_line_names_a_positive_capacity() {
        assert_eq!(parse_line(b"ready 4"), Readiness::Ready(4));
        assert_eq!(parse_line(b"ready 1024 "), Readiness::Ready(1024));
        for bad in [
            &b"ready"[..],
            b"ready 0",
            b"ready -1",
            b"ready 2 3",
            b"go 1",
            b"",
        ] {
            assert!(
                matches!(parse_line(bad), Readiness::Failed(_)),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
