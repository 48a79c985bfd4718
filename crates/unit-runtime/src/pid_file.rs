//! The pid file: written once start-up succeeds, removed at exit.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::RuntimeError;

/// A written pid file; dropping it removes the file.
#[derive(Debug)]
pub(crate) struct PidFile {
    path: PathBuf,
}

impl PidFile {
    /// Creates missing parent directories (0755) and writes `<pid>\n` (0644, truncating).
    pub(crate) fn write(path: &Path, pid: u32) -> Result<PidFile, RuntimeError> {
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(parent)
                .map_err(|source| RuntimeError::path("mkdir", parent, source))?;
        }
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(path)
            .map_err(|source| RuntimeError::path("open", path, source))?;
        file.write_all(format!("{pid}\n").as_bytes())
            .map_err(|source| RuntimeError::path("write", path, source))?;
        Ok(PidFile {
            path: path.to_owned(),
        })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if let Err(error) = fs::remove_file(&self.path) {
            tracing::warn!(
                "removing pid file \"{}\" failed: {error}",
                self.path.display()
            );
        }
    }
}
