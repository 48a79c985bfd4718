//! Processes: the registry of unitd's processes keyed by pid, how each is started, the
//! credentials children drop to, and reaping.
//!
//! Children are started by executing the unitd binary again (`/proc/self/exe`) with their
//! role in the environment and their title as `argv[0]`, so `ps` shows the title and no
//! child inherits its parent's threads or state. Descriptors a child needs are handed over
//! by number ([`InheritedFds`]); the child adopts them with [`take_inherited_fds`]. A
//! program of the user's (an application) is started the same way, in the `exec` role,
//! which becomes the program ([`run_program`]). An application process with an
//! [`Isolation`] (namespaces, a root directory, a cgroup) is cloned from main into its
//! namespaces instead and becomes its program the same way.
//!
//! This crate starts and tracks processes; what they say to each other is `unit-port`'s
//! business, and when to start or stop them is the runtime's.

#![deny(unsafe_code)]

mod credentials;
mod error;
mod isolated;
mod isolation;
mod program;
mod reap;
mod registry;
mod spawn;
mod spec;
mod sys;

pub use sys::adopt_inherited_fd;

pub use credentials::Credentials;
pub use error::ProcessError;
pub use isolation::{
    IdMap, Isolation, Mount, MountKind, Namespaces, RootDirectory, mount_inside, unmount_inside,
};
pub use program::{READY_FD_ENV, run_program};
pub use reap::{ExitStatus, reap_exited};
pub use registry::{ChildKind, Process, ProcessRegistry, ProcessState, RestartPolicy};
pub use spawn::spawn;
pub use spec::{
    EXEC_ROLE, INHERITED_FDS_ENV, InheritedFds, Launch, ProgramSpec, ROLE_ENV, StartSpec,
    take_inherited_fds,
};
