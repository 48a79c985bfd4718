//! The errors of this crate and Unit's way of printing an OS error.
//!
//! Messages follow Unit: the failed call with its argument, then ` (<errno>: <strerror>)`,
//! e.g. `open("/var/log/unit.log") failed (13: Permission denied)`. Because the message
//! already prints the OS error, the variants keep it as a plain field, not as `source()`.

use std::io;
use std::os::fd::RawFd;
use std::path::PathBuf;

/// Why a log file could not be opened or put in place.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// Opening (or creating) the log file failed.
    #[error("open(\"{}\") failed{}", .path.display(), os_error_suffix(.error))]
    Open {
        /// The file that was being opened.
        path: PathBuf,
        /// What the OS said.
        error: io::Error,
    },
    /// Making the log file descriptor 2 failed.
    #[error("dup2({fd}, 2) failed{}", os_error_suffix(.error))]
    Redirect {
        /// The descriptor that was to become stderr.
        fd: RawFd,
        /// What the OS said.
        error: io::Error,
    },
}

/// Formats an OS error the way Unit ends its log messages: ` (13: Permission denied)`,
/// with a leading space. An error without an errno prints as ` (<error>)`.
pub fn os_error_suffix(error: &io::Error) -> String {
    match error.raw_os_error() {
        Some(code) => format!(" ({code}: {})", strerror(code)),
        None => format!(" ({error})"),
    }
}

/// The C library's text for `code`, as `strerror(3)` gives it. The standard library
/// fetches that text for its own `Display`, which adds ` (os error <code>)`; we drop it.
fn strerror(code: i32) -> String {
    let text = io::Error::from_raw_os_error(code).to_string();
    let std_suffix = format!(" (os error {code})");
    match text.strip_suffix(&std_suffix) {
        Some(description) => description.to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn suffix_and_messages() {
        let denied = || io::Error::from_raw_os_error(13);
        assert_eq!(os_error_suffix(&denied()), " (13: Permission denied)");
        assert_eq!(
            os_error_suffix(&io::Error::from_raw_os_error(2)),
            " (2: No such file or directory)"
        );
        assert_eq!(
            os_error_suffix(&io::Error::other("no errno here")),
            " (no errno here)"
        );
        let open_error = LogError::Open {
            path: Path::new("/x/unit.log").to_owned(),
            error: denied(),
        };
        assert_eq!(
            open_error.to_string(),
            "open(\"/x/unit.log\") failed (13: Permission denied)"
        );
        let redirect_error = LogError::Redirect {
            fd: 7,
            error: io::Error::from_raw_os_error(9),
        };
        assert_eq!(
            redirect_error.to_string(),
            "dup2(7, 2) failed (9: Bad file descriptor)"
        );
        assert!(std::error::Error::source(&open_error).is_none());
        assert_eq!(
            os_error_suffix(&nix::errno::Errno::EBADF.into()),
            " (9: Bad file descriptor)"
        );
    }
}
