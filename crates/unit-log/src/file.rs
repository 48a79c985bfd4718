//! The log file: opening it, making it descriptor 2, and reopening it after rotation.
//!
//! Opening happens before the swap, so a failed reopen leaves the old file in place.
//! Passing the new descriptor to child processes is the caller's business.

use std::fs::{File, OpenOptions};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::LogError;

/// Opens a log file the way Unit does: append, create with mode `0o600` if missing, and
/// close-on-exec (std sets `O_CLOEXEC` on every open). The error names the path.
pub fn open_log_file(path: &Path) -> Result<File, LogError> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(|error| LogError::Open {
            path: path.to_owned(),
            error,
        })
}

/// Makes `file` this process's stderr: `dup2(file, 2)`. The copy on descriptor 2 is not
/// close-on-exec, so children started afterwards inherit it as their stderr.
pub fn redirect_stderr(file: &impl AsFd) -> Result<(), LogError> {
    let fd = file.as_fd();
    nix::unistd::dup2_stderr(fd).map_err(|errno| LogError::Redirect {
        fd: fd.as_raw_fd(),
        error: errno.into(),
    })
}

/// The daemon log file by path, for reopening on SIGUSR1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogHandle {
    path: PathBuf,
}

impl LogHandle {
    /// A handle for the log file at `path`. Nothing is opened yet.
    pub fn new(path: PathBuf) -> LogHandle {
        LogHandle { path }
    }

    /// The log file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the path anew (creating the file again if it was renamed away), makes it
    /// descriptor 2, and returns it so the caller can hand it to child processes.
    ///
    /// On failure the old file stays on descriptor 2, a `warn` line is logged to it, and
    /// the error is returned.
    pub fn reopen(&self) -> Result<File, LogError> {
        self.reopen_onto(redirect_stderr)
    }

    /// [`LogHandle::reopen`] with the swap step given, so tests need not touch the test
    /// process's real stderr.
    fn reopen_onto(
        &self,
        redirect: impl FnOnce(&File) -> Result<(), LogError>,
    ) -> Result<File, LogError> {
        let reopened = open_log_file(&self.path).and_then(|file| {
            redirect(&file)?;
            Ok(file)
        });
        if let Err(error) = &reopened {
            tracing::warn!("{error}");
        }
        reopened
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::os::fd::OwnedFd;
    use std::os::unix::fs::PermissionsExt as _;

    use nix::fcntl::{FcntlArg, FdFlag, fcntl};

    use super::*;

    /// A fresh directory under the system temp directory, removed on drop.
    struct TempDir {
        path: PathBuf,
    }

    impl TempDir {
        fn new(test_name: &str) -> TempDir {
            let path = std::env::temp_dir().join(format!(
                "unit-log-{test_name}-{}-{}",
                std::process::id(),
                nix::unistd::gettid()
            ));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).expect("the temp directory is writable");
            TempDir { path }
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }

    fn contents(path: &Path) -> String {
        let mut text = String::new();
        File::open(path)
            .and_then(|mut file| file.read_to_string(&mut text))
            .expect("the test log file is readable");
        text
    }

    #[test]
    fn open_appends_with_mode_0600_and_cloexec() {
        let temp_dir = TempDir::new("open");
        let path = temp_dir.path.join("unit.log");
        std::fs::write(&path, "old\n").expect("the temp directory is writable");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
            .expect("the test owns the file");

        let mut file = open_log_file(&path).expect("the log file opens");
        file.write_all(b"new\n").expect("the log file is writable");
        assert_eq!(contents(&path), "old\nnew\n");
        // An existing file keeps its mode.
        let mode = |path: &Path| {
            std::fs::metadata(path)
                .expect("the file exists")
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(&path), 0o644);

        let created = temp_dir.path.join("created.log");
        let created_file = open_log_file(&created).expect("the log file is created");
        assert_eq!(mode(&created), 0o600);
        let fd_flags = fcntl(&created_file, FcntlArg::F_GETFD).expect("F_GETFD works");
        assert!(FdFlag::from_bits_truncate(fd_flags).contains(FdFlag::FD_CLOEXEC));
    }

    #[test]
    fn open_error_names_the_path() {
        let temp_dir = TempDir::new("open-error");
        let path = temp_dir.path.join("missing").join("unit.log");
        let error = open_log_file(&path).expect_err("the directory does not exist");
        assert_eq!(
            error.to_string(),
            format!(
                "open(\"{}\") failed (2: No such file or directory)",
                path.display()
            )
        );
        assert!(matches!(error, LogError::Open { path: error_path, .. } if error_path == path));
    }

    #[test]
    fn reopen_after_rename_creates_the_file_again() {
        let temp_dir = TempDir::new("reopen");
        let path = temp_dir.path.join("unit.log");
        let rotated = temp_dir.path.join("unit.log.1");
        let log_handle = LogHandle::new(path.clone());
        assert_eq!(log_handle.path(), path);

        let mut first = open_log_file(&path).expect("the log file opens");
        first
            .write_all(b"before\n")
            .expect("the log file is writable");
        // Stands in for descriptor 2: a descriptor that currently points at the old file.
        let mut standin: OwnedFd = first
            .try_clone()
            .expect("the descriptor can be duplicated")
            .into();
        std::fs::rename(&path, &rotated).expect("the log file can be renamed");

        let mut reopened = log_handle
            .reopen_onto(|file| {
                nix::unistd::dup2(file, &mut standin).map_err(|errno| LogError::Redirect {
                    fd: file.as_raw_fd(),
                    error: errno.into(),
                })
            })
            .expect("the log file is reopened");
        File::from(standin)
            .write_all(b"after, through the swapped descriptor\n")
            .expect("the stand-in is writable");
        reopened
            .write_all(b"after, through the returned file\n")
            .expect("the reopened file is writable");
        first
            .write_all(b"late write to the old file\n")
            .expect("the old file is still writable");

        assert_eq!(
            contents(&path),
            "after, through the swapped descriptor\nafter, through the returned file\n"
        );
        assert_eq!(contents(&rotated), "before\nlate write to the old file\n");
    }

    #[test]
    fn failed_reopen_keeps_the_old_file() {
        let temp_dir = TempDir::new("reopen-error");
        let path = temp_dir.path.join("gone").join("unit.log");
        let log_handle = LogHandle::new(path.clone());
        let mut redirected = false;
        let error = log_handle
            .reopen_onto(|_| {
                redirected = true;
                Ok(())
            })
            .expect_err("the directory does not exist");
        assert!(!redirected, "nothing may be swapped in when the open fails");
        assert!(matches!(error, LogError::Open { .. }));

        // The public path fails the same way before it touches descriptor 2.
        let error = log_handle
            .reopen()
            .expect_err("the directory does not exist");
        assert_eq!(
            error.to_string(),
            format!(
                "open(\"{}\") failed (2: No such file or directory)",
                path.display()
            )
        );
    }

    #[test]
    fn redirect_error_names_the_descriptor() {
        let error = LogError::Redirect {
            fd: 5,
            error: nix::errno::Errno::EBADF.into(),
        };
        assert_eq!(
            error.to_string(),
            "dup2(5, 2) failed (9: Bad file descriptor)"
        );
    }
}
