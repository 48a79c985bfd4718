//! Listen sockets inherited at start (UNIT-COMPAT 1.5): from a running server handing
//! over (`NGINX="3;4;"`) or from systemd socket activation (`LISTEN_FDS`, `LISTEN_PID`).
//! Each is kept with its address so a listener configured on the same address adopts it
//! instead of binding.

use std::fmt;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use nix::sys::socket::{SockType, SockaddrLike, SockaddrStorage, getsockname, getsockopt, sockopt};
use nix::unistd::getpid;
use unit_process::adopt_inherited_fd;

use crate::error::RuntimeError;

/// The nginx binary-upgrade variable.
pub(crate) const NGINX_ENV: &str = "NGINX";
/// systemd's descriptor count.
pub(crate) const LISTEN_FDS_ENV: &str = "LISTEN_FDS";
/// systemd's target pid.
pub(crate) const LISTEN_PID_ENV: &str = "LISTEN_PID";
/// Where systemd's descriptors start.
const SD_LISTEN_FDS_START: i32 = 3;

/// A socket's local address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketAddress {
    /// IPv4 or IPv6 with a port.
    Inet(SocketAddr),
    /// A unix socket file.
    Unix(PathBuf),
    /// A Linux abstract unix socket name (without the leading NUL).
    Abstract(Vec<u8>),
    /// A socket with no name.
    Unnamed,
}

impl fmt::Display for SocketAddress {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketAddress::Inet(socket_addr) => write!(formatter, "{socket_addr}"),
            SocketAddress::Unix(path) => write!(formatter, "unix:{}", path.display()),
            SocketAddress::Abstract(name) => {
                write!(formatter, "unix:@{}", String::from_utf8_lossy(name))
            }
            SocketAddress::Unnamed => formatter.write_str("unnamed"),
        }
    }
}

/// A listen socket handed to us at start.
#[derive(Debug)]
pub struct InheritedSocket {
    /// The socket, close-on-exec now.
    pub fd: OwnedFd,
    /// Its local address.
    pub address: SocketAddress,
    /// Stream, datagram, ...
    pub sock_type: SockType,
}

/// Where inherited sockets came from, for the log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InheritSource {
    /// `NGINX`, with its value.
    Nginx(String),
    /// systemd, with the count.
    Systemd(usize),
}

/// Whether this process was handed listen sockets (which keeps unitd in the foreground).
pub(crate) fn sockets_inherited() -> bool {
    std::env::var_os(NGINX_ENV).is_some() || systemd_fd_count().is_some()
}

/// Adopts the inherited sockets, if any. A malformed `NGINX` value or a descriptor that is
/// not a socket is an error: start-up stops.
pub(crate) fn take_inherited_sockets()
-> Result<Option<(InheritSource, Vec<InheritedSocket>)>, RuntimeError> {
    if let Some(value) = std::env::var_os(NGINX_ENV) {
        let value = value.to_string_lossy().into_owned();
        let numbers = parse_nginx_value(&value)?;
        let sockets = numbers
            .into_iter()
            .map(inspect)
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Some((InheritSource::Nginx(value), sockets)));
    }
    let Some(count) = systemd_fd_count() else {
        return Ok(None);
    };
    let sockets = (SD_LISTEN_FDS_START..SD_LISTEN_FDS_START + count as i32)
        .map(inspect)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some((InheritSource::Systemd(count), sockets)))
}

/// The descriptor numbers in an `NGINX` value: each terminated by `;`, a tail without
/// one ignored.
fn parse_nginx_value(value: &str) -> Result<Vec<i32>, RuntimeError> {
    let Some((terminated, _tail)) = value.rsplit_once(';') else {
        return Ok(Vec::new());
    };
    terminated
        .split(';')
        .map(|entry| {
            entry
                .parse::<i32>()
                .ok()
                .filter(|fd| *fd >= 0)
                .ok_or_else(|| RuntimeError::BadNginxValue(entry.to_owned()))
        })
        .collect()
}

/// `LISTEN_FDS` when `LISTEN_PID` names this process.
fn systemd_fd_count() -> Option<usize> {
    let pid: i32 = std::env::var(LISTEN_PID_ENV).ok()?.parse().ok()?;
    if pid != getpid().as_raw() {
        return None;
    }
    std::env::var(LISTEN_FDS_ENV)
        .ok()?
        .parse()
        .ok()
        .filter(|count| *count > 0)
}

fn inspect(raw_fd: i32) -> Result<InheritedSocket, RuntimeError> {
    let unusable = |source: std::io::Error| RuntimeError::BadInheritedSocket {
        fd: raw_fd,
        error: source,
    };
    let fd = adopt_inherited_fd(raw_fd).ok_or_else(|| unusable(nix::errno::Errno::EBADF.into()))?;
    let sock_type = getsockopt(&fd, sockopt::SockType).map_err(|errno| unusable(errno.into()))?;
    let storage: SockaddrStorage =
        getsockname(fd.as_raw_fd()).map_err(|errno| unusable(errno.into()))?;
    Ok(InheritedSocket {
        fd,
        address: socket_address(&storage),
        sock_type,
    })
}

fn socket_address(storage: &SockaddrStorage) -> SocketAddress {
    if let Some(v4) = storage.as_sockaddr_in() {
        return SocketAddress::Inet(SocketAddr::from((v4.ip(), v4.port())));
    }
    if let Some(v6) = storage.as_sockaddr_in6() {
        return SocketAddress::Inet(SocketAddr::from((v6.ip(), v6.port())));
    }
    if let Some(unix) = storage.as_unix_addr() {
        if let Some(path) = unix.path() {
            return SocketAddress::Unix(path.to_owned());
        }
        if let Some(name) = unix.as_abstract() {
            return SocketAddress::Abstract(name.to_vec());
        }
    }
    let _ = storage.family();
    SocketAddress::Unnamed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(value: &str, expected: Result<Vec<i32>, &str>) {
        let got = parse_nginx_value(value).map_err(|error| error.to_string());
        let expected = expected.map_err(|bad| {
            format!("invalid socket number \"{bad}\" in NGINX environment variable, ignoring the rest of the variable")
        });
        assert_eq!(got, expected, "NGINX={value:?}");
    }

    #[test]
    fn nginx_values() {
        check("3;4;", Ok(vec![3, 4]));
        check("3;", Ok(vec![3]));
        check("3;4", Ok(vec![3]));
        check("3", Ok(vec![]));
        check("", Ok(vec![]));
        check("x;", Err("x"));
        check("3;y;4;", Err("y"));
        check(";", Err(""));
        check("-1;", Err("-1"));
    }
}
