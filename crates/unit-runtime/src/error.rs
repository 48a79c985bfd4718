//! The error types of the main process: its start-up and storage, and the discovery of
//! a language module.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use unit_log::os_error_suffix;

/// Why the main process could not start or store something. Each message is one line
/// that names the path or value at fault.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A file system call on a path failed.
    #[error("{operation}(\"{}\") failed{}", path.display(), os_error_suffix(error))]
    Path {
        /// The call, such as `open` or `mkdir`.
        operation: &'static str,
        /// The path it was given.
        path: PathBuf,
        /// The OS error (printed in the message, Unit style).
        error: io::Error,
    },
    /// A socket call on an address failed.
    #[error("{operation}(\"{address}\") failed{}", os_error_suffix(error))]
    Socket {
        /// The call, such as `bind`.
        operation: &'static str,
        /// The address, as given.
        address: String,
        /// The OS error (printed in the message, Unit style).
        error: io::Error,
    },
    /// Another unitd answers on the control socket.
    #[error("connect({fd}, {address}) socket already in use")]
    ControlInUse {
        /// The probing descriptor.
        fd: i32,
        /// The control socket address.
        address: String,
    },
    /// The state directory is missing or not writable.
    #[error("state directory \"{}\" is not usable{}", path.display(), os_error_suffix(error))]
    StateDir {
        /// The state directory.
        path: PathBuf,
        /// Why not.
        error: io::Error,
    },
    /// `NGINX` holds something that is not a descriptor number.
    #[error(
        "invalid socket number \"{0}\" in NGINX environment variable, ignoring the rest of the variable"
    )]
    BadNginxValue(String),
    /// An inherited descriptor is not a usable socket.
    #[error("inherited socket {fd} is unusable{}", os_error_suffix(error))]
    BadInheritedSocket {
        /// The descriptor number.
        fd: i32,
        /// Why.
        error: io::Error,
    },
    /// A user or group lookup, or starting a process, failed.
    #[error(transparent)]
    Process(#[from] unit_process::ProcessError),
    /// A port operation failed.
    #[error(transparent)]
    Port(#[from] unit_port::PortError),
    /// The event engine failed.
    #[error(transparent)]
    Engine(#[from] unit_engine::EngineError),
    /// Logging could not be set up.
    #[error(transparent)]
    Log(#[from] unit_log::LogError),
    /// The main process could not be executed.
    #[error("executing the main process failed{}", os_error_suffix(.0))]
    Exec(io::Error),
    /// The daemon ended before it answered on its control socket.
    #[error("unitd exited during start-up; see the log file \"{}\"", .0.display())]
    DaemonFailed(PathBuf),
    /// The daemon did not answer in time.
    #[error("unitd did not become ready within {seconds} seconds; see the log file \"{}\"", log.display())]
    DaemonTimeout {
        /// How long the launcher waited.
        seconds: u64,
        /// The log file to look in.
        log: PathBuf,
    },
    /// A certificate name that is not a plain file name.
    #[error("invalid certificate name \"{0}\"")]
    CertificateName(String),
    /// Registering with the event engine failed.
    #[error("registering with the event engine failed{}", os_error_suffix(.0))]
    Register(io::Error),
    /// The pipe a language runner reports its readiness on could not be made.
    #[error("socketpair() for a readiness channel failed ({0})")]
    ReadyPipe(nix::errno::Errno),
    /// An application's `isolation` cannot be carried out; the message is Unit's.
    #[error("{0}")]
    Isolation(String),
}

/// Why a file in the modules directory is not taken as a language module. The message
/// follows the file's name in the log line.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ModuleInfoError {
    /// It is not a regular file anyone may execute.
    #[error("it is not an executable regular file")]
    NotExecutable,
    /// It could not be started.
    #[error("running it failed{}", os_error_suffix(.0))]
    Start(io::Error),
    /// Its output could not be read.
    #[error("reading its answer to --module-info failed{}", os_error_suffix(.0))]
    Read(io::Error),
    /// Waiting for it to exit failed.
    #[error("waiting for it to exit failed{}", os_error_suffix(.0))]
    Wait(io::Error),
    /// It did not answer and exit in time, and was killed.
    #[error("it did not answer --module-info within {} seconds", .0.as_secs())]
    Timeout(Duration),
    /// It exited with a status other than 0.
    #[error("--module-info exited with code {0}")]
    ExitCode(i32),
    /// It was ended by a signal.
    #[error("--module-info exited on signal {0}")]
    Signal(i32),
    /// The first line of its output is not `<type> <version>`.
    #[error("it answered --module-info with \"{0}\", not \"<type> <version>\"")]
    BadAnswer(String),
}

impl RuntimeError {
    /// Whether a process could not start because of what its application asks for:
    /// an isolation that cannot be carried out, or a failure its isolated process
    /// reported from inside its namespaces and root directory (a program that is not
    /// there, a mount refused).
    pub(crate) fn is_application_environment(&self) -> bool {
        matches!(
            self,
            RuntimeError::Isolation(_)
                | RuntimeError::Process(unit_process::ProcessError::Isolated(_))
        )
    }

    pub(crate) fn path(
        operation: &'static str,
        path: impl Into<PathBuf>,
        source: io::Error,
    ) -> RuntimeError {
        RuntimeError::Path {
            operation,
            path: path.into(),
            error: source,
        }
    }

    pub(crate) fn socket(
        operation: &'static str,
        address: impl ToString,
        source: impl Into<io::Error>,
    ) -> RuntimeError {
        RuntimeError::Socket {
            operation,
            address: address.to_string(),
            error: source.into(),
        }
    }
}
