//! unitd's Python language runner.
//!
//! unitd finds this executable in its modules directory (`--module-info` prints the
//! module type and version, e.g. `python 3.11.2`, then what it needs mounted inside an
//! application's root directory) and starts it as each process of a
//! Python application, with the application's configuration in `UNITD_PYTHON_APP`
//! and its listening socket as descriptor 3. The runner starts an embedded CPython,
//! imports the application's targets and serves the router's connections: WSGI on
//! `threads` threads, ASGI on one asyncio event loop per thread.
//!
//! SIGTERM, SIGINT and SIGQUIT end the process after the interpreter's exit
//! functions (and an ASGI application's lifespan shutdown) have run.

#![deny(unsafe_code)]

mod asgi;
mod config;
mod deps;
mod exchange;
mod interpreter;
mod wsgi;

use std::io::Write as _;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::process::ExitCode;
use std::sync::Arc;

use nix::sys::signal::{SigSet, Signal};
use pyo3::prelude::*;
use pyo3::types::PyString;
use unit_log::alert;

use crate::config::{AppConfig, Protocol};
use crate::interpreter::LoadedTarget;

/// `SERVER_SOFTWARE`, as the router's `Server` field says it.
pub(crate) const SERVER_SOFTWARE: &str = concat!("Unit/", env!("CARGO_PKG_VERSION"));

/// The descriptor the listening socket arrives on (the systemd convention).
const LISTEN_FD: RawFd = 3;
/// The variable that names the pipe to report readiness on (descriptor 4).
pub(crate) const READY_FD_ENV: &str = "UNITD_READY_FD";
/// How many requests one ASGI event loop is offered at once: its connections wait on
/// the loop, not on a thread.
const ASGI_REQUESTS_PER_THREAD: usize = 1024;

/// The signals that end the process.
const QUIT_SIGNALS: [Signal; 3] = [Signal::SIGTERM, Signal::SIGINT, Signal::SIGQUIT];

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("--module-info") {
        let version = interpreter::python_version();
        let mut answer = format!("python {version}\n");
        // What an application's root directory needs for this runner to start there.
        for path in deps::language_deps(std::env::args().next().as_deref()) {
            answer.push_str(&format!("mount {}\n", path.display()));
        }
        let printed = std::io::stdout().write_all(answer.as_bytes());
        return if printed.is_ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    unit_log::init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(()) => ExitCode::FAILURE,
    }
}

/// Starts the application and serves until a quit signal; `Err` once the reason has
/// been logged.
fn run() -> Result<(), ()> {
    let conf = AppConfig::from_env().map_err(|error| alert!("{error}"))?;
    let listener = UnixListener::from(
        adopt_fd(LISTEN_FD, "the application's socket").map_err(|error| alert!("{error}"))?,
    );
    let ready_pipe = take_ready_pipe().map_err(|error| alert!("{error}"))?;
    // Signals are taken by the thread that waits for them, not by the workers (or
    // threads the application starts, which inherit the mask).
    let mut quit = SigSet::empty();
    for signal in QUIT_SIGNALS {
        quit.add(signal);
    }
    quit.thread_block()
        .map_err(|errno| alert!("failed to block signals: {errno}"))?;
    interpreter::initialize(conf.home.as_deref()).map_err(|error| alert!("{error}"))?;
    let app = Python::attach(|py| interpreter::load(py, &conf)).map_err(drop)?;
    let (server, capacity) = match app.protocol {
        Protocol::Wsgi => {
            let wsgi =
                Python::attach(|py| wsgi::Wsgi::new(py, app, conf.threads)).map_err(|error| {
                    Python::attach(|py| error.print(py));
                    alert!("Python failed to prepare the WSGI environ");
                })?;
            let connections = wsgi::Connections::new(listener, conf.threads)
                .map_err(|error| alert!("watching the application's socket failed: {error}"))?;
            (
                Server::Wsgi(Arc::new(wsgi), Arc::new(connections)),
                conf.threads,
            )
        }
        Protocol::Asgi => {
            let asgi = asgi::Asgi::start(app).map_err(drop)?;
            (
                Server::Asgi(Arc::new(asgi), Arc::new(listener)),
                conf.threads.saturating_mul(ASGI_REQUESTS_PER_THREAD),
            )
        }
    };
    for _ in 0..conf.threads {
        let server = server.clone();
        let mut builder = std::thread::Builder::new();
        if let Some(size) = conf.thread_stack_size {
            builder = builder.stack_size(size);
        }
        builder
            .spawn(move || {
                let outcome = match &server {
                    Server::Wsgi(wsgi, connections) => wsgi.serve(connections),
                    Server::Asgi(asgi, listener) => asgi.serve(listener),
                };
                if let Err(error) = outcome {
                    alert!("accepting a connection failed: {error}");
                    std::process::exit(1);
                }
            })
            .map_err(|error| alert!("failed to start a thread: {error}"))?;
    }
    // Unit's application processes announce themselves so, under their own pid; tools
    // (Unit's test suite among them) find a process's pid by this line.
    tracing::info!("\"{}\" application started", conf.name);
    if let Some(mut pipe) = ready_pipe {
        // The socket is listening: what connects before the threads take it waits.
        writeln!(pipe, "ready {capacity}")
            .map_err(|error| alert!("reporting readiness failed: {error}"))?;
        // Main then hands over a reopened log on the same socket (SIGUSR1).
        std::thread::Builder::new()
            .name("log".to_owned())
            .spawn(move || take_reopened_logs(pipe))
            .map_err(|error| alert!("failed to start a thread: {error}"))?;
    }
    let signal = quit.wait().ok();
    tracing::info!("exiting on {signal:?}");
    if let Server::Asgi(asgi, _) = &server {
        asgi.shut_down();
    }
    run_exit_functions();
    Ok(())
}

#[derive(Clone)]
enum Server {
    Wsgi(Arc<wsgi::Wsgi>, Arc<wsgi::Connections>),
    Asgi(Arc<asgi::Asgi>, Arc<UnixListener>),
}

/// Takes descriptor `fd`, which main opened for this process (`what` names it).
#[allow(unsafe_code)]
fn adopt_fd(fd: RawFd, what: &str) -> std::io::Result<OwnedFd> {
    // SAFETY: only borrowed for the check; `from_raw_fd` below takes ownership.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    nix::fcntl::fcntl(borrowed, nix::fcntl::FcntlArg::F_GETFD).map_err(|errno| {
        std::io::Error::other(format!("descriptor {fd} is not {what}: {errno}"))
    })?;
    // SAFETY: the descriptor is open (checked above) and nothing else in this process
    // owns it: main put it there for the runner alone, and each is adopted once.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The pipe main waits on for readiness, when it gave one (`UNITD_READY_FD`).
fn take_ready_pipe() -> std::io::Result<Option<std::fs::File>> {
    let Some(fd) = std::env::var(READY_FD_ENV).ok() else {
        return Ok(None);
    };
    let fd: RawFd = fd
        .parse()
        .map_err(|_| std::io::Error::other(format!("{READY_FD_ENV} is not a descriptor")))?;
    Ok(Some(std::fs::File::from(adopt_fd(
        fd,
        "the readiness pipe",
    )?)))
}

/// Puts each log main sends at standard error, until main's end closes.
fn take_reopened_logs(channel: std::fs::File) {
    use std::os::fd::AsRawFd;

    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};

    let mut byte = [0u8; 1];
    loop {
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let mut buffers = [std::io::IoSliceMut::new(&mut byte)];
        let received = match recvmsg::<()>(
            channel.as_raw_fd(),
            &mut buffers,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(received) => received,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
        };
        if received.bytes == 0 {
            return;
        }
        let Ok(messages) = received.cmsgs() else {
            continue;
        };
        for message in messages {
            if let ControlMessageOwned::ScmRights(fds) = message {
                for fd in fds {
                    let log = adopt_received(fd);
                    if let Err(errno) = nix::unistd::dup2_stderr(&log) {
                        tracing::warn!("taking the reopened log failed: {errno}");
                    }
                }
            }
        }
    }
}

/// Takes ownership of a descriptor that arrived with `SCM_RIGHTS`.
#[allow(unsafe_code)]
pub(crate) fn adopt_received(fd: RawFd) -> OwnedFd {
    // SAFETY: the kernel installed this descriptor in this process for the message just
    // received; nothing else knows its number, so this is its only owner.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Runs the `atexit` functions, as the interpreter's finalization would, and flushes
/// the standard streams.
fn run_exit_functions() {
    Python::attach(|py| {
        let ran = py
            .import("atexit")
            .and_then(|atexit| atexit.call_method0("_run_exitfuncs"));
        if let Err(error) = ran {
            error.print(py);
        }
        for stream in ["stdout", "stderr"] {
            if let Ok(stream) = py.import("sys").and_then(|sys| sys.getattr(stream)) {
                let _ = stream.call_method0("flush");
            }
        }
    });
}

/// The target a request names: the one called `name`, or the first.
pub(crate) fn target_for<'t>(targets: &'t [LoadedTarget], name: &[u8]) -> &'t LoadedTarget {
    targets
        .iter()
        .find(|target| target.target.name.as_bytes() == name)
        .unwrap_or(&targets[0])
}

/// `wsgi.errors` (and the ASGI server's error output): what is written goes to the
/// log, one `[error]` line per line written.
#[pyclass]
#[derive(Default)]
pub(crate) struct ErrorStream {
    pending: String,
}

#[pymethods]
impl ErrorStream {
    fn write(&mut self, text: &Bound<'_, PyString>) -> PyResult<usize> {
        let text = text.to_cow()?;
        self.pending.push_str(&text);
        while let Some(end) = self.pending.find('\n') {
            let line: String = self.pending.drain(..=end).collect();
            tracing::error!("{}", line.trim_end_matches('\n'));
        }
        Ok(text.chars().count())
    }

    fn writelines(&mut self, lines: &Bound<'_, PyAny>) -> PyResult<()> {
        for line in lines.try_iter()? {
            self.write(line?.cast::<PyString>()?)?;
        }
        Ok(())
    }

    /// An `[info]` line (the runner's own notes, as Unit's router logs them).
    fn info(&self, text: &str) {
        tracing::info!("{text}");
    }

    fn flush(&mut self) {
        if !self.pending.is_empty() {
            tracing::error!("{}", self.pending);
            self.pending.clear();
        }
    }
}
