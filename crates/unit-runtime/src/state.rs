//! The state directory (UNIT-COMPAT 6): `conf.json`, `version`, `certs/`, `scripts/`.
//! Every file is replaced atomically: written as `<name>.tmp`, synced, renamed over the
//! old one, and the directory synced, so a crash leaves the old or the new file whole.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::unistd::{AccessFlags, access};

use crate::error::RuntimeError;

/// The stored configuration's file name.
const CONF_FILE: &str = "conf.json";
/// The file recording which version wrote the state.
const VERSION_FILE: &str = "version";

/// The state directory of this unitd.
#[derive(Debug, Clone)]
pub struct StateDir {
    path: PathBuf,
}

impl StateDir {
    /// The state directory at `path` (not created: it must exist).
    pub fn new(path: PathBuf) -> StateDir {
        StateDir { path }
    }

    /// Checks the directory exists and is writable, then creates `certs/` and `scripts/`
    /// (0700); failing to create those is only logged, as Unit does.
    pub fn prepare(&self) -> Result<(), RuntimeError> {
        let unusable = |source: io::Error| RuntimeError::StateDir {
            path: self.path.clone(),
            error: source,
        };
        let metadata = fs::metadata(&self.path).map_err(unusable)?;
        if !metadata.is_dir() {
            return Err(unusable(io::Error::from_raw_os_error(nix::libc::ENOTDIR)));
        }
        access(&self.path, AccessFlags::W_OK | AccessFlags::X_OK)
            .map_err(|errno| unusable(errno.into()))?;
        for (subdir, what) in [("certs", "certificates"), ("scripts", "scripts")] {
            let path = self.path.join(subdir);
            if let Err(error) = DirBuilder::new().mode(0o700).create(&path)
                && error.kind() != io::ErrorKind::AlreadyExists
            {
                tracing::error!(
                    "Unable to create {what} storage directory: mkdir({}) failed{}",
                    path.display(),
                    unit_log::os_error_suffix(&error)
                );
            }
        }
        Ok(())
    }

    /// The path of `conf.json`.
    pub fn conf_path(&self) -> PathBuf {
        self.path.join(CONF_FILE)
    }

    /// The stored configuration text, `None` when there is none.
    pub fn load_conf(&self) -> Result<Option<String>, RuntimeError> {
        let path = self.conf_path();
        match fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(RuntimeError::path("open", path, source)),
        }
    }

    /// Stores `conf` as `conf.json`, after `version` if that differs.
    pub fn store_conf(&self, conf: &[u8], version_number: u32) -> Result<(), RuntimeError> {
        let version = version_number.to_string();
        let version_path = self.path.join(VERSION_FILE);
        if fs::read_to_string(&version_path).ok().as_deref() != Some(version.as_str()) {
            atomic_write(&version_path, version.as_bytes())?;
        }
        atomic_write(&self.conf_path(), conf)
    }
}

/// Replaces `path` with `contents` (mode 0600) so that a crash at any point leaves either
/// the old file or the new one: write `<path>.tmp`, fsync it, rename it over `path`,
/// fsync the directory.
pub fn atomic_write(path: &Path, contents: &[u8]) -> Result<(), RuntimeError> {
    let mut temporary_os = path.as_os_str().to_owned();
    temporary_os.push(".tmp");
    let temporary = PathBuf::from(temporary_os);
    let result = write_synced(&temporary, contents).and_then(|()| {
        fs::rename(&temporary, path)
            .map_err(|source| RuntimeError::path("rename", &temporary, source))
    });
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
        return result;
    }
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(directory)
        .and_then(|dir| dir.sync_all())
        .map_err(|source| RuntimeError::path("fsync", directory, source))
}

fn write_synced(path: &Path, contents: &[u8]) -> Result<(), RuntimeError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| RuntimeError::path("open", path, source))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|source| RuntimeError::path("write", path, source))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("unit-runtime-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let created = fs::create_dir_all(&dir);
        assert!(created.is_ok(), "creating {}", dir.display());
        dir
    }

    #[test]
    fn store_replaces_the_file_whole() -> Result<(), RuntimeError> {
        let dir = temp_dir("store");
        let state = StateDir::new(dir.clone());
        state.prepare()?;
        assert!(dir.join("certs").is_dir() && dir.join("scripts").is_dir());
        assert_eq!(state.load_conf()?, None);
        state.store_conf(b"{\"listeners\":{}}", 13600)?;
        state.store_conf(b"{}", 13600)?;
        assert_eq!(state.load_conf()?.as_deref(), Some("{}"));
        assert_eq!(
            fs::read_to_string(dir.join("version")).ok().as_deref(),
            Some("13600")
        );
        assert!(!dir.join("conf.json.tmp").exists());
        let mode = fs::metadata(state.conf_path())
            .map(|m| m.permissions().mode() & 0o777)
            .ok();
        assert_eq!(mode, Some(0o600));
        let _ = fs::remove_dir_all(dir);
        Ok(())
    }

    #[test]
    fn missing_state_dir_is_named() {
        let state = StateDir::new(PathBuf::from("/nonexistent/unit-state"));
        let message = state.prepare().err().map(|error| error.to_string());
        assert_eq!(
            message.as_deref(),
            Some(
                "state directory \"/nonexistent/unit-state\" is not usable (2: No such file or directory)"
            )
        );
    }
}
