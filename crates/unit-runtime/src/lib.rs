//! The unitd main process: from settings to running processes.
//!
//! [`launch`] is what a user's `unitd` command does once its command line is parsed: it
//! re-executes the binary as the main process under its `ps` title, in the foreground or
//! as a daemon whose launcher exits only once the control socket answers.
//! [`run_main`] is that main process: it checks privileges, creates the control socket,
//! opens the log, writes the pid file, discovers the language modules, starts the
//! controller and the router (telling them which modules there are), introduces
//! them to each other over ports, restarts them when they die, stores the configuration,
//! and on a quit signal stops them all and removes what it created.
//!
//! Not here: the control API (`unit-controller`), HTTP (`unit-router`), and how ports and
//! processes work inside (`unit-port`, `unit-process`).

#![forbid(unsafe_code)]

mod applications;
mod control_socket;
mod discovery;
mod error;
mod inherited;
mod isolation;
mod launcher;
mod listen;
mod main_process;
mod pid_file;
mod readiness;
mod services;
mod startup;
mod state;
mod supervisor;

pub use error::RuntimeError;
pub use inherited::{InheritedSocket, SocketAddress};
pub use launcher::{ARGV_ENV, launch, main_title};
pub use main_process::run_main;
pub use state::{StateDir, atomic_write};
pub use supervisor::{CONTROL_FD_NAME, CREDENTIALS_ENV, MAIN_FD_NAME, PORT_FD_NAME};
