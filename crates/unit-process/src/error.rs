//! The error type of process operations.

use std::io;
use std::path::PathBuf;

use nix::errno::Errno;

/// What can go wrong starting, tracking or configuring processes.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// `getpwnam` found no such user.
    #[error("getpwnam(\"{0}\") failed, user \"{0}\" not found")]
    UserNotFound(String),
    /// `getgrnam` found no such group.
    #[error("getgrnam(\"{0}\") failed, group \"{0}\" not found")]
    GroupNotFound(String),
    /// A name with a NUL byte cannot be looked up.
    #[error("invalid user or group name \"{0}\"")]
    InvalidName(String),
    /// The user database could not be read.
    #[error("looking up \"{name}\" failed")]
    Lookup {
        /// The user or group looked up.
        name: String,
        /// The underlying error.
        #[source]
        source: nix::Error,
    },
    /// Changing credentials failed.
    #[error("{operation} failed")]
    Credentials {
        /// The call that failed, such as `setuid(65534)`.
        operation: String,
        /// The underlying error.
        #[source]
        source: nix::Error,
    },
    /// After dropping privileges the process could still become root again.
    #[error("privileges were not dropped: setuid(0) still succeeds")]
    RegainedRoot,
    /// The child could not be started.
    #[error("starting \"{title}\" failed")]
    Spawn {
        /// The title of the process that did not start.
        title: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A descriptor could not be prepared for handing over.
    #[error("duplicating a descriptor for a child failed")]
    Dup(#[source] nix::Error),
    /// The `exec` role was started without a program to execute.
    #[error("the program to execute is missing or malformed")]
    BadProgramSpec,
    /// A program's standard output or error file could not be opened.
    #[error("open(\"{}\") failed ({}: {})", path.display(), *errno as i32, errno.desc())]
    Redirect {
        /// The file.
        path: PathBuf,
        /// Why.
        errno: Errno,
    },
    /// A program's working directory could not be entered.
    #[error("chdir(\"{}\") failed ({}: {})", path.display(), *errno as i32, errno.desc())]
    Chdir {
        /// The directory.
        path: PathBuf,
        /// Why.
        errno: Errno,
    },
    /// A program could not be executed.
    #[error("execve(\"{executable}\") failed ({}: {})", *errno as i32, errno.desc())]
    Exec {
        /// The executable as configured.
        executable: String,
        /// Why.
        errno: Errno,
    },
    /// A program could not be tied to main's life, or main was already gone.
    #[error("tying the program to main failed")]
    ParentDeath(#[source] nix::Error),
    /// The signal mask could not be cleared for a program.
    #[error("sigprocmask failed")]
    SignalMask(#[source] nix::Error),
    /// The inherited-descriptor variable is malformed.
    #[error("invalid inherited descriptor list \"{0}\"")]
    BadInheritedFds(String),
    /// A step of isolating a process failed: a mount, a change of root, an id map.
    #[error("{operation} failed ({}: {})", *errno as i32, errno.desc())]
    Isolation {
        /// The call, as Unit's messages name it: `chroot("/srv/root")`.
        operation: String,
        /// Why.
        errno: Errno,
    },
    /// An isolated process failed before it could execute its program, and said why.
    #[error("{0}")]
    Isolated(String),
    /// Isolated processes are cloned from main without an exec in between, which only a
    /// process without other threads may do.
    #[error("an isolated process cannot be started by a process with several threads")]
    Threads,
    /// An isolated process neither executed its program nor failed in time.
    #[error("the isolated process did not execute its program within {0} s")]
    Timeout(u64),
}
