//! The control socket address: a unix socket path, a Linux abstract socket name, or an IP
//! address with a port.
//!
//! Parsing only checks the syntax; nothing here binds or resolves anything. Host names
//! are not accepted, matching `unitd`.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use crate::error::AddressError;

/// Where the control API listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlAddress {
    /// `unix:/absolute/path`: a unix socket file.
    Unix(PathBuf),
    /// `unix:@name`: a Linux abstract unix socket; the name excludes the `@`.
    Abstract(String),
    /// `IPv4:port`, `*:port` (all IPv4 interfaces) or `[IPv6]:port`.
    Inet(SocketAddr),
}

impl ControlAddress {
    /// Parses one of `unix:/abs/path`, `unix:@name`, `IPv4:port`, `*:port` or
    /// `[IPv6]:port`. A port is mandatory for IP addresses and must be 1 to 65535.
    pub fn parse(text: &str) -> Result<ControlAddress, AddressError> {
        if let Some(unix_address) = text.strip_prefix("unix:") {
            return parse_unix(text, unix_address);
        }
        parse_inet(text).map(ControlAddress::Inet)
    }
}

impl FromStr for ControlAddress {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<ControlAddress, AddressError> {
        ControlAddress::parse(text)
    }
}

impl fmt::Display for ControlAddress {
    /// Writes the address back in the form [`ControlAddress::parse`] accepts; `*:port`
    /// comes back as `0.0.0.0:port`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ControlAddress::Unix(path) => write!(formatter, "unix:{}", path.display()),
            ControlAddress::Abstract(name) => write!(formatter, "unix:@{name}"),
            ControlAddress::Inet(socket_addr) => write!(formatter, "{socket_addr}"),
        }
    }
}

fn parse_unix(text: &str, unix_address: &str) -> Result<ControlAddress, AddressError> {
    if let Some(name) = unix_address.strip_prefix('@') {
        if name.is_empty() {
            return Err(AddressError::EmptyAbstractName(text.to_owned()));
        }
        return Ok(ControlAddress::Abstract(name.to_owned()));
    }
    if !unix_address.starts_with('/') {
        return Err(AddressError::RelativeUnixPath(text.to_owned()));
    }
    Ok(ControlAddress::Unix(PathBuf::from(unix_address)))
}

fn parse_inet(text: &str) -> Result<SocketAddr, AddressError> {
    if let Some(bracketed) = text.strip_prefix('[') {
        let Some((host, after_host)) = bracketed.split_once(']') else {
            return Err(AddressError::InvalidHost(text.to_owned()));
        };
        let ip =
            Ipv6Addr::from_str(host).map_err(|_| AddressError::InvalidHost(text.to_owned()))?;
        if after_host.is_empty() {
            return Err(AddressError::MissingPort(text.to_owned()));
        }
        let Some(port_text) = after_host.strip_prefix(':') else {
            return Err(AddressError::InvalidHost(text.to_owned()));
        };
        let port = parse_port(text, port_text)?;
        return Ok(SocketAddr::from((ip, port)));
    }

    let Some((host, port_text)) = text.rsplit_once(':') else {
        return Err(if text == "*" || Ipv4Addr::from_str(text).is_ok() {
            AddressError::MissingPort(text.to_owned())
        } else {
            AddressError::InvalidHost(text.to_owned())
        });
    };
    let ip = if host == "*" {
        Ipv4Addr::UNSPECIFIED
    } else {
        Ipv4Addr::from_str(host).map_err(|_| AddressError::InvalidHost(text.to_owned()))?
    };
    let port = parse_port(text, port_text)?;
    Ok(SocketAddr::from((ip, port)))
}

/// Accepts only plain decimal digits (no sign, no spaces) naming a port from 1 to 65535.
fn parse_port(text: &str, port_text: &str) -> Result<u16, AddressError> {
    if port_text.is_empty() {
        return Err(AddressError::MissingPort(text.to_owned()));
    }
    if !port_text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(AddressError::InvalidPort(text.to_owned()));
    }
    match port_text.parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(AddressError::InvalidPort(text.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Result<&str, &str>) {
        let parsed = ControlAddress::parse(text);
        match (parsed, expected) {
            (Ok(address), Ok(shown)) => {
                assert_eq!(address.to_string(), shown, "display of {text:?}");
                assert_eq!(
                    ControlAddress::parse(shown).as_ref(),
                    Ok(&address),
                    "round trip of {text:?}"
                );
            }
            (Err(error), Err(message)) => assert_eq!(error.to_string(), message, "{text:?}"),
            (got, expected) => panic!("{text:?}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn address_forms() {
        let unix_relative = |text: &str| {
            format!(
                "invalid control socket address \"{text}\": a unix socket path must be absolute"
            )
        };
        let missing_port =
            |text: &str| format!("invalid control socket address \"{text}\": a port is required");
        let bad_port = |text: &str| {
            format!(
                "invalid control socket address \"{text}\": the port must be a number from 1 to 65535"
            )
        };
        let bad_host = |text: &str| {
            format!(
                "invalid control socket address \"{text}\": expected unix:/path, unix:@name, IPv4:port, *:port or [IPv6]:port"
            )
        };

        check(
            "unix:/run/unit/control.sock",
            Ok("unix:/run/unit/control.sock"),
        );
        check("unix:/", Ok("unix:/"));
        check("unix:@unit-control", Ok("unix:@unit-control"));
        check("127.0.0.1:8080", Ok("127.0.0.1:8080"));
        check("*:8080", Ok("0.0.0.0:8080"));
        check("0.0.0.0:1", Ok("0.0.0.0:1"));
        check("[::1]:8080", Ok("[::1]:8080"));
        check("[::]:65535", Ok("[::]:65535"));
        check("[2001:db8::7]:443", Ok("[2001:db8::7]:443"));

        check(
            "unix:run/control.sock",
            Err(&unix_relative("unix:run/control.sock")),
        );
        check("unix:", Err(&unix_relative("unix:")));
        check(
            "unix:@",
            Err("invalid control socket address \"unix:@\": the abstract socket name is empty"),
        );
        check("127.0.0.1", Err(&missing_port("127.0.0.1")));
        check("127.0.0.1:", Err(&missing_port("127.0.0.1:")));
        check("*", Err(&missing_port("*")));
        check("[::1]", Err(&missing_port("[::1]")));
        check("127.0.0.1:0", Err(&bad_port("127.0.0.1:0")));
        check("127.0.0.1:65536", Err(&bad_port("127.0.0.1:65536")));
        check("127.0.0.1:+80", Err(&bad_port("127.0.0.1:+80")));
        check("127.0.0.1:http", Err(&bad_port("127.0.0.1:http")));
        check("[::1]:0", Err(&bad_port("[::1]:0")));
        check("localhost:8080", Err(&bad_host("localhost:8080")));
        check("localhost", Err(&bad_host("localhost")));
        check("::1:8080", Err(&bad_host("::1:8080")));
        check("[::1:8080", Err(&bad_host("[::1:8080")));
        check("[::1]8080", Err(&bad_host("[::1]8080")));
        check("[127.0.0.1]:80", Err(&bad_host("[127.0.0.1]:80")));
        check("300.0.0.1:80", Err(&bad_host("300.0.0.1:80")));
        check("", Err(&bad_host("")));
        check("/run/control.sock", Err(&bad_host("/run/control.sock")));
    }
}
