//! The control API socket, created by main (UNIT-COMPAT 1.6) and handed to the controller.

use std::fs::{self, DirBuilder, Permissions};
use std::io;
use std::net::TcpListener;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, UnixAddr, bind, connect, listen, socket,
};
use nix::unistd::{Group, User, chown};
use unit_conf::{ControlAddress, Settings};

use crate::error::RuntimeError;

/// How many connections may wait to be accepted.
const BACKLOG: i32 = 511;

/// The listening control socket; dropping it removes a unix socket file.
#[derive(Debug)]
pub(crate) struct ControlSocket {
    listener: OwnedFd,
    path_to_remove: Option<PathBuf>,
}

impl ControlSocket {
    /// Creates and listens on the control socket `settings.control`. A unix path is bound
    /// under a temporary name, given its mode and owner, probed for another live daemon,
    /// and only then renamed into place, so a running unitd's socket is never replaced.
    pub(crate) fn create(settings: &Settings) -> Result<ControlSocket, RuntimeError> {
        match &settings.control {
            ControlAddress::Unix(path) => create_unix(settings, path),
            ControlAddress::Abstract(name) => {
                let address = settings.control.to_string();
                let listener = unix_socket(&address)?;
                let unix_addr = UnixAddr::new_abstract(name.as_bytes())
                    .map_err(|errno| RuntimeError::socket("bind", &address, errno))?;
                bind(listener.as_raw_fd(), &unix_addr)
                    .map_err(|errno| RuntimeError::socket("bind", &address, errno))?;
                listen_on(&listener, &address)?;
                Ok(ControlSocket {
                    listener,
                    path_to_remove: None,
                })
            }
            ControlAddress::Inet(socket_addr) => {
                // std sets SO_REUSEADDR and close-on-exec on listeners.
                let listener = TcpListener::bind(socket_addr)
                    .map_err(|source| RuntimeError::socket("bind", socket_addr, source))?;
                Ok(ControlSocket {
                    listener: OwnedFd::from(listener),
                    path_to_remove: None,
                })
            }
        }
    }
}

impl AsFd for ControlSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        if let Some(path) = &self.path_to_remove
            && let Err(error) = fs::remove_file(path)
        {
            tracing::warn!(
                "removing control socket \"{}\" failed: {error}",
                path.display()
            );
        }
    }
}

/// Removes the temporary socket name unless start-up got as far as renaming it.
struct TemporaryPath(Option<PathBuf>);

impl Drop for TemporaryPath {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = fs::remove_file(path);
        }
    }
}

fn create_unix(settings: &Settings, path: &Path) -> Result<ControlSocket, RuntimeError> {
    let address = settings.control.to_string();
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
    let mut temporary_os = path.as_os_str().to_owned();
    temporary_os.push(".tmp");
    let temporary = PathBuf::from(temporary_os);
    match fs::remove_file(&temporary) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(source) => return Err(RuntimeError::path("unlink", &temporary, source)),
    }

    let listener = unix_socket(&address)?;
    let temporary_addr =
        UnixAddr::new(&temporary).map_err(|errno| RuntimeError::socket("bind", &address, errno))?;
    bind(listener.as_raw_fd(), &temporary_addr)
        .map_err(|errno| RuntimeError::socket("bind", temporary.display(), errno))?;
    let mut temporary_guard = TemporaryPath(Some(temporary.clone()));

    fs::set_permissions(&temporary, Permissions::from_mode(settings.control_mode))
        .map_err(|source| RuntimeError::path("chmod", &temporary, source))?;
    set_owner(settings, &temporary)?;
    listen_on(&listener, &address)?;

    let probe = unix_socket(&address)?;
    let real_addr =
        UnixAddr::new(path).map_err(|errno| RuntimeError::socket("connect", &address, errno))?;
    match connect(probe.as_raw_fd(), &real_addr) {
        Ok(()) => {
            return Err(RuntimeError::ControlInUse {
                fd: probe.as_raw_fd(),
                address,
            });
        }
        Err(Errno::ENOENT | Errno::ECONNREFUSED) => {}
        // Anything else (a stale non-socket file, say) is replaced by the rename below.
        Err(_) => {}
    }
    drop(probe);

    fs::rename(&temporary, path)
        .map_err(|source| RuntimeError::path("rename", &temporary, source))?;
    temporary_guard.0 = None;
    Ok(ControlSocket {
        listener,
        path_to_remove: Some(path.to_owned()),
    })
}

fn unix_socket(address: &str) -> Result<OwnedFd, RuntimeError> {
    socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|errno| RuntimeError::socket("socket", address, errno))
}

fn listen_on(listener: &OwnedFd, address: &str) -> Result<(), RuntimeError> {
    let backlog =
        Backlog::new(BACKLOG).map_err(|errno| RuntimeError::socket("listen", address, errno))?;
    listen(listener, backlog).map_err(|errno| RuntimeError::socket("listen", address, errno))
}

/// Applies `--control-user` and `--control-group` to the socket file.
fn set_owner(settings: &Settings, path: &Path) -> Result<(), RuntimeError> {
    let not_found = |what: &str, name: &str| {
        RuntimeError::path(
            "chown",
            path,
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{what} \"{name}\" not found"),
            ),
        )
    };
    let uid = match &settings.control_user {
        Some(name) => Some(
            User::from_name(name)
                .ok()
                .flatten()
                .ok_or_else(|| not_found("user", name))?
                .uid,
        ),
        None => None,
    };
    let gid = match &settings.control_group {
        Some(name) => Some(
            Group::from_name(name)
                .ok()
                .flatten()
                .ok_or_else(|| not_found("group", name))?
                .gid,
        ),
        None => None,
    };
    if uid.is_some() || gid.is_some() {
        chown(path, uid, gid).map_err(|errno| RuntimeError::path("chown", path, errno.into()))?;
    }
    Ok(())
}
