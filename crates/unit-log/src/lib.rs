//! Logging for unitd: Unit's log line format on top of `tracing`, the log file, and
//! reopening it on SIGUSR1.
//!
//! [`init`] installs the process's subscriber. Every event becomes one line,
//! `YYYY/MM/DD HH:MM:SS [level] PID#TID message key=value…`, written with one `write(2)`
//! to file descriptor 2, which the main process points at the log file with
//! [`redirect_stderr`]. Unit's six levels map onto `tracing` levels, with [`notice!`] and
//! [`alert!`] for the two that `tracing` lacks. The threshold comes from the
//! [`LOG_LEVEL_ENV`] environment variable. [`LogHandle`] reopens the log file after it was
//! renamed.
//!
//! What this crate deliberately does not do: it prints no spans, has no per-module
//! filters, keeps no buffer between events, and does not send the reopened file to child
//! processes (the caller passes on what [`LogHandle::reopen`] returns).

#![forbid(unsafe_code)]

mod error;
mod file;
mod layer;
mod level;
mod line;
mod macros;

pub use error::{LogError, os_error_suffix};
pub use file::{LogHandle, open_log_file, redirect_stderr};
pub use layer::init;
pub use level::LOG_LEVEL_ENV;
pub use line::format_line;

/// The `tracing` crate, for the [`notice!`] and [`alert!`] macros.
#[doc(hidden)]
pub use tracing as __tracing;
