//! Listen sockets for the router: main binds them (it may be privileged), hands over an
//! inherited socket whose address matches instead of binding, creates unix listener files
//! (0666) and removes them when the router lets go of them or at exit.

use std::fs::{self, OpenOptions};
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrIn, SockaddrIn6, UnixAddr, bind, connect,
    listen, setsockopt, socket, sockopt,
};
use unit_conf::{ListenerAddress, parse_listener_address};
use unit_engine::HashSet;

use crate::inherited::{InheritedSocket, SocketAddress};

/// The backlog when a listener sets none (or -1), as Unit uses on Linux.
const DEFAULT_BACKLOG: i32 = 511;

/// Why a listen socket could not be had; the text is Unit's alert line.
#[derive(Debug)]
pub(crate) struct ListenError(pub(crate) String);

/// The sockets main has handed to the router, and the files it must clean up.
#[derive(Debug, Default)]
pub(crate) struct ListenSockets {
    inherited: Vec<InheritedSocket>,
    unix_files: HashSet<PathBuf>,
}

impl ListenSockets {
    pub(crate) fn new(inherited: Vec<InheritedSocket>) -> ListenSockets {
        ListenSockets {
            inherited,
            unix_files: HashSet::default(),
        }
    }

    /// A listening socket for `address` (a listener key such as `127.0.0.1:8080`,
    /// `*:80`, `[::1]:80`, `unix:/path`, `unix:@name`) with `backlog` (-1: the default).
    pub(crate) fn open(&mut self, address: &str, backlog: i32) -> Result<OwnedFd, ListenError> {
        let failed = |error: io::Error| {
            ListenError(format!(
                "bind(\\\"{address}\\\") failed{}",
                unit_log::os_error_suffix(&error)
            ))
        };
        let listener_address = parse_listener_address(address)
            .ok_or_else(|| failed(io::Error::from(io::ErrorKind::InvalidInput)))?;
        if let Some(inherited) = self
            .inherited
            .iter()
            .find(|socket| same_address(&socket.address, &listener_address))
        {
            return inherited.fd.try_clone().map_err(failed);
        }
        let backlog = if backlog < 0 {
            DEFAULT_BACKLOG
        } else {
            backlog
        };
        let backlog = Backlog::new(backlog).map_err(|errno| failed(errno.into()))?;
        match &listener_address {
            ListenerAddress::Inet(socket_addr) => bind_inet(*socket_addr, backlog).map_err(failed),
            ListenerAddress::Unix(path) => {
                let fd = bind_unix_path(path, backlog).map_err(failed)?;
                self.unix_files.insert(path.clone());
                Ok(fd)
            }
            ListenerAddress::Abstract(name) => {
                let fd = unix_socket().map_err(failed)?;
                let unix_addr = UnixAddr::new_abstract(name.as_bytes())
                    .map_err(|errno| failed(errno.into()))?;
                bind(fd.as_raw_fd(), &unix_addr).map_err(|errno| failed(errno.into()))?;
                listen(&fd, backlog).map_err(|errno| failed(errno.into()))?;
                Ok(fd)
            }
        }
    }

    /// The router no longer listens on `address`: remove its unix file if main made it.
    pub(crate) fn release(&mut self, address: &str) {
        if let Some(ListenerAddress::Unix(path)) = parse_listener_address(address)
            && self.unix_files.remove(&path)
        {
            remove_socket_file(&path);
        }
    }
}

impl Drop for ListenSockets {
    fn drop(&mut self) {
        for path in self.unix_files.drain() {
            remove_socket_file(&path);
        }
    }
}

fn remove_socket_file(path: &Path) {
    if let Err(error) = fs::remove_file(path)
        && error.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!(
            "removing listener socket \"{}\" failed: {error}",
            path.display()
        );
    }
}

fn same_address(inherited: &SocketAddress, wanted: &ListenerAddress) -> bool {
    match (inherited, wanted) {
        (SocketAddress::Inet(have), ListenerAddress::Inet(want)) => have == want,
        (SocketAddress::Unix(have), ListenerAddress::Unix(want)) => have == want,
        (SocketAddress::Abstract(have), ListenerAddress::Abstract(want)) => have == want.as_bytes(),
        _ => false,
    }
}

fn bind_inet(socket_addr: SocketAddr, backlog: Backlog) -> io::Result<OwnedFd> {
    let family = if socket_addr.is_ipv6() {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    let fd = socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    match socket_addr {
        SocketAddr::V4(v4) => bind(fd.as_raw_fd(), &SockaddrIn::from(v4))?,
        SocketAddr::V6(v6) => {
            // `[::]:port` means IPv6 only, as in Unit; `*:port` is the IPv4 wildcard.
            setsockopt(&fd, sockopt::Ipv6V6Only, &true)?;
            bind(fd.as_raw_fd(), &SockaddrIn6::from(v6))?;
        }
    }
    listen(&fd, backlog)?;
    // Checked conversion through std keeps the type honest about what it holds.
    let listener = TcpListener::from(fd);
    Ok(OwnedFd::from(listener))
}

fn unix_socket() -> io::Result<OwnedFd> {
    Ok(socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?)
}

/// Binds a unix listener file, replacing a stale socket file nobody answers on.
fn bind_unix_path(path: &Path, backlog: Backlog) -> io::Result<OwnedFd> {
    let unix_addr = UnixAddr::new(path)?;
    if let Ok(metadata) = fs::symlink_metadata(path)
        && metadata.file_type().is_socket()
    {
        let probe = unix_socket()?;
        if connect(probe.as_raw_fd(), &unix_addr).is_ok() {
            return Err(io::Error::from(io::ErrorKind::AddrInUse));
        }
        fs::remove_file(path)?;
    }
    let fd = unix_socket()?;
    bind(fd.as_raw_fd(), &unix_addr)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o666))?;
    listen(&fd, backlog)?;
    Ok(fd)
}

/// Opens an access log the way main opens its own: append, create, 0600.
pub(crate) fn open_access_log(path: &str) -> io::Result<std::fs::File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_CLOEXEC)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_and_refuses_a_taken_address() -> io::Result<()> {
        let mut sockets = ListenSockets::new(Vec::new());
        let free = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        assert!(sockets.open(&free.to_string(), -1).is_ok());
        let holder = TcpListener::bind("127.0.0.1:0")?;
        let held = holder.local_addr()?;
        let error = sockets
            .open(&held.to_string(), -1)
            .err()
            .map(|error| error.0);
        let expected = format!("bind(\\\"{held}\\\") failed (98: Address already in use)");
        assert_eq!(error.as_deref(), Some(expected.as_str()));
        Ok(())
    }

    #[test]
    fn unix_files_are_created_open_to_all_and_removed() {
        let dir = std::env::temp_dir().join(format!("unit-listen-{}", std::process::id()));
        let _ = fs::create_dir_all(&dir);
        let path = dir.join("app.sock");
        let address = format!("unix:{}", path.display());
        let mut sockets = ListenSockets::new(Vec::new());
        assert!(sockets.open(&address, 16).is_ok());
        let mode = fs::metadata(&path)
            .map(|m| m.permissions().mode() & 0o777)
            .ok();
        assert_eq!(mode, Some(0o666));
        sockets.release(&address);
        assert!(!path.exists());
        assert!(sockets.open(&address, 16).is_ok());
        drop(sockets);
        assert!(!path.exists(), "removed at exit");
        let _ = fs::remove_dir_all(dir);
    }
}
