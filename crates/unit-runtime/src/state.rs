//! The state directory (UNIT-COMPAT 6): `conf.json`, `version`, `certs/`, `scripts/`.
//! Every file is replaced atomically: written as a temporary file in the same directory,
//! synced, renamed over the old one, and the directory synced, so a crash leaves the old
//! or the new file whole. `conf.json` and `version` use `<name>.tmp`; a certificate
//! bundle uses a temporary name created exclusively, since any name could be another
//! bundle's.
//!
//! What it does not do: parse what it stores (the controller checks bundles and
//! configurations before main is asked to store them).

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
/// The directory of certificate bundles.
const CERTS_DIR: &str = "certs";
/// The temporary name a bundle is written under before it is renamed into place (a
/// fixed one, so a long bundle name still fits).
const TEMPORARY_CERTIFICATE: &str = ".certificate.tmp";
/// How many temporary names a store tries before it gives up.
const TEMPORARY_ATTEMPTS: u32 = 100;

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
        for (subdir, what) in [(CERTS_DIR, "certificates"), ("scripts", "scripts")] {
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

    /// The directory of certificate bundles, `certs/`.
    pub fn certs_dir(&self) -> PathBuf {
        self.path.join(CERTS_DIR)
    }

    /// Every stored certificate bundle, name and bytes, sorted by name: each regular
    /// file of `certs/` (symbolic links followed). One that cannot be read, or whose
    /// name is not UTF-8, is logged and left out, as Unit leaves out what it cannot
    /// open.
    pub fn load_certificates(&self) -> Vec<(String, Vec<u8>)> {
        let dir = self.certs_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) => {
                tracing::error!(
                    "opendir(\"{}\") failed{}",
                    dir.display(),
                    unit_log::os_error_suffix(&error)
                );
                return Vec::new();
            }
        };
        let mut certificates = Vec::new();
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(error) => {
                    tracing::error!(
                        "readdir(\"{}\") failed{}",
                        dir.display(),
                        unit_log::os_error_suffix(&error)
                    );
                    break;
                }
            };
            let path = entry.path();
            if !fs::metadata(&path).is_ok_and(|metadata| metadata.is_file()) {
                continue;
            }
            let Ok(name) = entry.file_name().into_string() else {
                tracing::warn!(
                    "skipping the certificate file {}: its name is not UTF-8",
                    path.display()
                );
                continue;
            };
            match fs::read(&path) {
                Ok(pem) => certificates.push((name, pem)),
                Err(error) => tracing::error!(
                    "open(\"{}\") failed{}",
                    path.display(),
                    unit_log::os_error_suffix(&error)
                ),
            }
        }
        certificates.sort();
        certificates
    }

    /// Stores a certificate bundle as `certs/<name>` (mode 0600), replacing any file of
    /// that name whole. `name` must be a plain file name.
    pub fn store_certificate(&self, name: &str, pem: &[u8]) -> Result<(), RuntimeError> {
        let path = self.certificate_path(name)?;
        let (temporary, file) = create_temporary(&path)?;
        replace_with(&temporary, file, &path, pem)
    }

    /// Removes the certificate bundle `certs/<name>`; one already gone is no error.
    pub fn delete_certificate(&self, name: &str) -> Result<(), RuntimeError> {
        let path = self.certificate_path(name)?;
        match fs::remove_file(&path) {
            Ok(()) => sync_directory(&self.certs_dir()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(RuntimeError::path("unlink", path, source)),
        }
    }

    /// Opens the certificate bundle `certs/<name>` for reading.
    pub fn open_certificate(&self, name: &str) -> Result<File, RuntimeError> {
        let path = self.certificate_path(name)?;
        let file = File::open(&path).map_err(|source| RuntimeError::path("open", &path, source))?;
        let is_file = file
            .metadata()
            .map_err(|source| RuntimeError::path("fstat", &path, source))?
            .is_file();
        if !is_file {
            let not_a_file = io::Error::from_raw_os_error(nix::libc::EINVAL);
            return Err(RuntimeError::path("open", path, not_a_file));
        }
        Ok(file)
    }

    /// The path of the bundle `name`, refused unless `name` is a plain file name.
    fn certificate_path(&self, name: &str) -> Result<PathBuf, RuntimeError> {
        if !is_plain_file_name(name) {
            return Err(RuntimeError::CertificateName(name.to_owned()));
        }
        Ok(self.certs_dir().join(name))
    }
}

/// Whether `name` names a file directly inside a directory: not empty, not `.` or `..`,
/// and without `/` or NUL. Certificate names reach main from the controller, which
/// checks them too; main checks again because it writes as root.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

/// Replaces `path` with `contents` (mode 0600) so that a crash at any point leaves either
/// the old file or the new one: write `<path>.tmp`, fsync it, rename it over `path`,
/// fsync the directory.
pub fn atomic_write(path: &Path, contents: &[u8]) -> Result<(), RuntimeError> {
    let mut temporary_os = path.as_os_str().to_owned();
    temporary_os.push(".tmp");
    let temporary = PathBuf::from(temporary_os);
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(|source| RuntimeError::path("open", &temporary, source))?;
    replace_with(&temporary, file, path, contents)
}

/// Creates a new temporary file (mode 0600) beside `path`; never one that exists
/// already, which may be a bundle of that name.
fn create_temporary(path: &Path) -> Result<(PathBuf, File), RuntimeError> {
    let directory = parent_directory(path);
    let mut attempt = 0;
    loop {
        let temporary = directory.join(match attempt {
            0 => TEMPORARY_CERTIFICATE.to_owned(),
            _ => format!("{TEMPORARY_CERTIFICATE}.{attempt}"),
        });
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)
        {
            Ok(file) => return Ok((temporary, file)),
            Err(error)
                if error.kind() == io::ErrorKind::AlreadyExists
                    && attempt + 1 < TEMPORARY_ATTEMPTS =>
            {
                attempt += 1;
            }
            Err(source) => return Err(RuntimeError::path("open", temporary, source)),
        }
    }
}

/// Writes `contents` to `file` (open at `temporary`), syncs it, renames it over `path`
/// and syncs the directory; the temporary file is removed if any step before the rename
/// fails.
fn replace_with(
    temporary: &Path,
    mut file: File,
    path: &Path,
    contents: &[u8],
) -> Result<(), RuntimeError> {
    let result = file
        .write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|source| RuntimeError::path("write", temporary, source))
        .and_then(|()| {
            fs::rename(temporary, path)
                .map_err(|source| RuntimeError::path("rename", temporary, source))
        });
    if result.is_err() {
        let _ = fs::remove_file(temporary);
        return result;
    }
    sync_directory(parent_directory(path))
}

/// The directory `path` is in.
fn parent_directory(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Makes the directory's entries (a rename, an unlink) durable.
fn sync_directory(directory: &Path) -> Result<(), RuntimeError> {
    File::open(directory)
        .and_then(|dir| dir.sync_all())
        .map_err(|source| RuntimeError::path("fsync", directory, source))
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

    fn mode(path: &Path) -> Option<u32> {
        fs::metadata(path)
            .map(|metadata| metadata.permissions().mode() & 0o777)
            .ok()
    }

    #[test]
    fn certificates_are_stored_loaded_opened_and_deleted() -> Result<(), RuntimeError> {
        let dir = temp_dir("certs");
        let state = StateDir::new(dir.clone());
        state.prepare()?;
        let certs = dir.join("certs");
        assert_eq!(mode(&certs), Some(0o700));
        assert_eq!(state.load_certificates(), Vec::<(String, Vec<u8>)>::new());

        state.store_certificate("default", b"first")?;
        state.store_certificate("default", b"second")?;
        // A bundle named like the temporary file is not overwritten by another's store.
        state.store_certificate(".certificate.tmp", b"dotted")?;
        state.store_certificate("b", b"bee")?;
        assert_eq!(mode(&certs.join("default")), Some(0o600));
        // Directories in certs/ are not bundles.
        fs::create_dir(certs.join("a-directory"))
            .map_err(|source| RuntimeError::path("mkdir", certs.join("a-directory"), source))?;
        assert_eq!(
            state.load_certificates(),
            vec![
                (".certificate.tmp".to_owned(), b"dotted".to_vec()),
                ("b".to_owned(), b"bee".to_vec()),
                ("default".to_owned(), b"second".to_vec()),
            ]
        );
        let mut opened = String::new();
        std::io::Read::read_to_string(&mut state.open_certificate("default")?, &mut opened)
            .map_err(|source| RuntimeError::path("read", certs.join("default"), source))?;
        assert_eq!(opened, "second");
        assert!(state.open_certificate("missing").is_err());
        assert!(state.open_certificate("a-directory").is_err());

        state.delete_certificate("default")?;
        state.delete_certificate("default")?;
        assert!(!certs.join("default").exists());
        for name in ["", ".", "..", "a/b", "../conf.json", "nul\0byte"] {
            assert!(
                matches!(
                    state.store_certificate(name, b"x"),
                    Err(RuntimeError::CertificateName(_))
                ),
                "{name:?} was taken"
            );
            assert!(state.delete_certificate(name).is_err(), "{name:?}");
            assert!(state.open_certificate(name).is_err(), "{name:?}");
        }
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
