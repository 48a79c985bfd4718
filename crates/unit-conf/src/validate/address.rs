//! Socket address syntaxes of the configuration: listener keys, address patterns of the
//! `source`/`destination` conditions and `forwarded` sources, upstream server keys and
//! `proxy` targets.
//!
//! The parsers only check and decode text; nothing is bound, connected or resolved, and
//! host names are never accepted.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;

use super::ValidationError;

/// The longest unix socket path or abstract name: `sun_path` holds 108 bytes including
/// the terminating (or, for abstract names, leading) NUL.
const MAX_UNIX_PATH: usize = 107;

// === impl ListenerAddress ===

/// Where a listener listens, decoded from its key in `listeners`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenerAddress {
    /// `*:port` (as `0.0.0.0:port`), `IPv4:port` or `[IPv6]:port`.
    Inet(SocketAddr),
    /// `unix:/absolute/path`: a unix socket file.
    Unix(PathBuf),
    /// `unix:@name`: a Linux abstract unix socket; the name excludes the `@`.
    Abstract(String),
}

impl fmt::Display for ListenerAddress {
    /// Writes the address in a form [`parse_listener_address`] accepts: IP addresses as
    /// `IPv4:port` / `[IPv6]:port` (so `*:80` comes back as `0.0.0.0:80`), unix sockets
    /// as `unix:/path` or `unix:@name`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenerAddress::Inet(socket_addr) => write!(formatter, "{socket_addr}"),
            ListenerAddress::Unix(path) => write!(formatter, "unix:{}", path.display()),
            ListenerAddress::Abstract(name) => write!(formatter, "unix:@{name}"),
        }
    }
}

/// Parses a listener key: `*:port`, `IPv4:port`, `[IPv6]:port` (port 1 to 65535),
/// `unix:/abs/path` or `unix:@name`. Returns `None` for anything else.
pub fn parse_listener_address(text: &str) -> Option<ListenerAddress> {
    if let Some(unix_address) = text.strip_prefix("unix:") {
        return parse_unix_address(unix_address);
    }
    if let Some(port) = text.strip_prefix("*:") {
        let port = parse_port(port).filter(|port| *port != 0)?;
        return Some(ListenerAddress::Inet(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port,
        )));
    }
    parse_socket_address(text).map(ListenerAddress::Inet)
}

/// Parses what follows `unix:` in a listener key.
pub(crate) fn parse_unix_address(unix_address: &str) -> Option<ListenerAddress> {
    if unix_address.is_empty() || unix_address.len() > MAX_UNIX_PATH || unix_address.contains('\0')
    {
        return None;
    }
    if let Some(name) = unix_address.strip_prefix('@') {
        return (!name.is_empty()).then(|| ListenerAddress::Abstract(name.to_owned()));
    }
    unix_address
        .starts_with('/')
        .then(|| ListenerAddress::Unix(PathBuf::from(unix_address)))
}

/// Parses `IPv4:port` or `[IPv6]:port` with a port from 1 to 65535, as used by listener
/// keys, upstream servers and proxy targets.
pub(crate) fn parse_socket_address(text: &str) -> Option<SocketAddr> {
    let (ip, port) = if let Some(bracketed) = text.strip_prefix('[') {
        let (ip, port) = bracketed.split_once("]:")?;
        (IpAddr::V6(ip.parse().ok()?), port)
    } else {
        let (ip, port) = text.split_once(':')?;
        (IpAddr::V4(ip.parse().ok()?), port)
    };
    let port = parse_port(port).filter(|port| *port != 0)?;
    Some(SocketAddr::new(ip, port))
}

/// Whether `text` is a valid `proxy` target: `http://` followed by `IPv4:port`,
/// `[IPv6]:port` or `unix:` and a socket path (`/path` or `@name`).
pub(super) fn is_valid_proxy_address(text: &str) -> bool {
    let Some(target) = text.strip_prefix("http://") else {
        return false;
    };
    if let Some(unix_address) = target.strip_prefix("unix:") {
        return parse_unix_address(unix_address).is_some();
    }
    parse_socket_address(target).is_some()
}

/// Parses a decimal port from 0 to 65535, digits only.
fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

// === impl AddressPattern ===

/// A parsed address pattern of the `source` and `destination` match conditions and of
/// the `source` of `forwarded` and `client_ip`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressPattern {
    /// `unix`: any unix socket peer.
    Unix {
        /// Whether the pattern began with `!`.
        negative: bool,
    },
    /// An IP address set with a port range.
    Inet {
        /// Whether the pattern began with `!`.
        negative: bool,
        /// The addresses the pattern covers.
        addresses: AddressRange,
        /// The ports the pattern covers; `0..=65535` when no port was given.
        ports: RangeInclusive<u16>,
    },
}

/// The IP addresses of an [`AddressPattern::Inet`]. A CIDR block becomes the range from
/// its first to its last address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressRange {
    /// `*`: every address of both families.
    Any,
    /// IPv4 addresses from the first to the last, inclusive.
    V4(RangeInclusive<Ipv4Addr>),
    /// IPv6 addresses from the first to the last, inclusive.
    V6(RangeInclusive<Ipv6Addr>),
}

impl AddressPattern {
    /// Whether the pattern began with `!`. [`matches`](Self::matches) and
    /// [`matches_unix`](Self::matches_unix) ignore the sign: the router combines negative
    /// and positive patterns by the array rules of UNIT-COMPAT 3.3.
    pub fn is_negative(&self) -> bool {
        match self {
            AddressPattern::Unix { negative } | AddressPattern::Inet { negative, .. } => *negative,
        }
    }

    /// Whether an IP socket address falls in the pattern, ignoring the `!`. An IPv4
    /// pattern never matches an IPv6 address and vice versa; `*:port` matches both.
    pub fn matches(&self, addr: &SocketAddr) -> bool {
        let AddressPattern::Inet {
            addresses, ports, ..
        } = self
        else {
            return false;
        };
        let address_matches = match (addresses, addr.ip()) {
            (AddressRange::Any, _) => true,
            (AddressRange::V4(range), IpAddr::V4(ip)) => range.contains(&ip),
            (AddressRange::V6(range), IpAddr::V6(ip)) => range.contains(&ip),
            _ => false,
        };
        address_matches && ports.contains(&addr.port())
    }

    /// Whether a unix socket peer falls in the pattern, ignoring the `!`: true only for
    /// `unix`.
    pub fn matches_unix(&self) -> bool {
        matches!(self, AddressPattern::Unix { .. })
    }
}

/// Why an address pattern is rejected; `Display` is the validator's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum PatternError {
    #[error("The \"address\" format is invalid.")]
    Format,
    #[error("The \"address\" has an invalid CIDR prefix.")]
    CidrPrefix,
    #[error("The \"address\" range must not end before it starts.")]
    ReversedRange,
    #[error("The \"address\" port or port range is invalid.")]
    Port,
}

/// Parses an address pattern: an optional `!`, then `unix`, `*:port`, or an IPv4 or
/// IPv6 address, CIDR block (`10.0.0.0/8`, `[2001:db8::/32]`) or range
/// (`10.0.0.1-10.0.0.9`), optionally followed by `:port` or `:lo-hi`. An IPv6 part is
/// written in brackets when a port follows and may be bare otherwise.
pub fn parse_address_pattern(text: &str) -> Result<AddressPattern, ValidationError> {
    parse_pattern(text).map_err(|pattern_error| ValidationError::new(pattern_error.to_string()))
}

fn parse_pattern(text: &str) -> Result<AddressPattern, PatternError> {
    let (negative, body) = match text.strip_prefix('!') {
        Some(body) => (true, body),
        None => (false, text),
    };
    if body == "unix" {
        return Ok(AddressPattern::Unix { negative });
    }
    let (addresses, port_text) = if let Some(port_text) = body.strip_prefix("*:") {
        (AddressRange::Any, Some(port_text))
    } else if let Some(bracketed) = body.strip_prefix('[') {
        let (inside, port_text) = match bracketed.rsplit_once("]:") {
            Some((inside, port_text)) => (inside, Some(port_text)),
            None => (
                bracketed.strip_suffix(']').ok_or(PatternError::Format)?,
                None,
            ),
        };
        (parse_v6_set(inside)?, port_text)
    } else if body.matches(':').count() >= 2 {
        (parse_v6_set(body)?, None)
    } else {
        let (address_text, port_text) = match body.split_once(':') {
            Some((address_text, port_text)) => (address_text, Some(port_text)),
            None => (body, None),
        };
        (parse_v4_set(address_text)?, port_text)
    };
    let ports = match port_text {
        None => 0..=u16::MAX,
        Some(port_text) => parse_port_range(port_text)?,
    };
    Ok(AddressPattern::Inet {
        negative,
        addresses,
        ports,
    })
}

/// Parses an IPv4 address, CIDR block or range.
fn parse_v4_set(text: &str) -> Result<AddressRange, PatternError> {
    let parse = |address: &str| {
        address
            .parse::<Ipv4Addr>()
            .map_err(|_| PatternError::Format)
    };
    if let Some((first, last)) = text.split_once('-') {
        let (first, last) = (parse(first)?, parse(last)?);
        if first > last {
            return Err(PatternError::ReversedRange);
        }
        return Ok(AddressRange::V4(first..=last));
    }
    if let Some((address, prefix)) = text.split_once('/') {
        let prefix = parse_prefix(prefix, 32)?;
        let address = u32::from(parse(address)?);
        let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
        let first = address & mask;
        return Ok(AddressRange::V4(
            Ipv4Addr::from(first)..=Ipv4Addr::from(first | !mask),
        ));
    }
    let address = parse(text)?;
    Ok(AddressRange::V4(address..=address))
}

/// Parses an IPv6 address, CIDR block or range (without brackets).
fn parse_v6_set(text: &str) -> Result<AddressRange, PatternError> {
    let parse = |address: &str| {
        address
            .parse::<Ipv6Addr>()
            .map_err(|_| PatternError::Format)
    };
    if let Some((first, last)) = text.split_once('-') {
        let (first, last) = (parse(first)?, parse(last)?);
        if first > last {
            return Err(PatternError::ReversedRange);
        }
        return Ok(AddressRange::V6(first..=last));
    }
    if let Some((address, prefix)) = text.split_once('/') {
        let prefix = parse_prefix(prefix, 128)?;
        let address = u128::from(parse(address)?);
        let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
        let first = address & mask;
        return Ok(AddressRange::V6(
            Ipv6Addr::from(first)..=Ipv6Addr::from(first | !mask),
        ));
    }
    let address = parse(text)?;
    Ok(AddressRange::V6(address..=address))
}

/// Parses a CIDR prefix length from 0 to `max_bits`.
fn parse_prefix(text: &str, max_bits: u32) -> Result<u32, PatternError> {
    if text.is_empty() || text.len() > 3 || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(PatternError::CidrPrefix);
    }
    text.parse::<u32>()
        .ok()
        .filter(|prefix| *prefix <= max_bits)
        .ok_or(PatternError::CidrPrefix)
}

/// Parses `port` or `lo-hi` (ports 0 to 65535, `lo <= hi`).
fn parse_port_range(text: &str) -> Result<RangeInclusive<u16>, PatternError> {
    if text.is_empty() {
        return Err(PatternError::Format);
    }
    let (low, high) = match text.split_once('-') {
        Some((low, high)) => (low, high),
        None => (text, text),
    };
    let low = parse_port(low).ok_or(PatternError::Port)?;
    let high = parse_port(high).ok_or(PatternError::Port)?;
    if low > high {
        return Err(PatternError::Port);
    }
    Ok(low..=high)
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::path::PathBuf;

    use super::{
        AddressPattern, ListenerAddress, is_valid_proxy_address, parse_address_pattern,
        parse_listener_address, parse_socket_address,
    };

    fn socket(text: &str) -> SocketAddr {
        text.parse().expect("a test socket address")
    }

    /// Parses `pattern` and checks it against every address in `hits` (must match) and
    /// `misses` (must not).
    fn check_pattern(pattern: &str, negative: bool, hits: &[&str], misses: &[&str]) {
        let parsed = parse_address_pattern(pattern).expect("a valid test pattern");
        assert_eq!(parsed.is_negative(), negative, "pattern {pattern}");
        assert!(!parsed.matches_unix(), "pattern {pattern}");
        for hit in hits {
            assert!(parsed.matches(&socket(hit)), "{pattern} should match {hit}");
        }
        for miss in misses {
            assert!(
                !parsed.matches(&socket(miss)),
                "{pattern} should not match {miss}"
            );
        }
    }

    #[test]
    fn pattern_matching() {
        check_pattern(
            "127.0.0.1",
            false,
            &["127.0.0.1:80", "127.0.0.1:0"],
            &["127.0.0.2:80", "[::1]:80"],
        );
        check_pattern(
            "!10.0.0.0/8",
            true,
            &["10.0.0.0:1", "10.255.255.255:65535"],
            &["11.0.0.0:1", "9.255.255.255:1"],
        );
        check_pattern(
            "10.1.2.3/16:8080",
            false,
            &["10.1.0.0:8080", "10.1.255.1:8080"],
            &["10.1.0.0:8081", "10.2.0.0:8080"],
        );
        check_pattern(
            "0.0.0.0/0",
            false,
            &["1.2.3.4:5", "255.255.255.255:1"],
            &["[::]:5"],
        );
        check_pattern(
            "192.168.0.0-192.168.1.101:8080-8090",
            false,
            &[
                "192.168.0.0:8080",
                "192.168.1.101:8090",
                "192.168.0.200:8085",
            ],
            &["192.168.1.102:8080", "192.168.0.5:8091", "192.168.0.5:8079"],
        );
        check_pattern(
            "*:8000",
            false,
            &["1.1.1.1:8000", "[::1]:8000"],
            &["1.1.1.1:8001"],
        );
        check_pattern("*:0-65535", false, &["1.1.1.1:0", "[::1]:65535"], &[]);
        check_pattern(
            "[2002::]:8000",
            false,
            &["[2002::]:8000"],
            &["[2002::1]:8000", "[2002::]:80", "0.0.0.0:8000"],
        );
        check_pattern(
            "[0ff::/64]:8000",
            false,
            &["[ff::1234]:8000", "[ff::ffff:ffff:ffff:ffff]:8000"],
            &["[ff:0:0:1::]:8000", "[ff::1]:80"],
        );
        check_pattern(
            "[fe08::-feff::]",
            false,
            &["[fe08::]:1", "[fe80::1]:2", "[feff::]:3"],
            &["[feff::1]:1", "[fe07::]:1"],
        );
        check_pattern(
            "::1",
            false,
            &["[::1]:443"],
            &["[::2]:443", "127.0.0.1:443"],
        );
        check_pattern(
            "!2001:db8::/32",
            true,
            &["[2001:db8:1::1]:1"],
            &["[2001:db9::]:1"],
        );
    }

    #[test]
    fn unix_pattern() {
        let pattern = parse_address_pattern("!unix").expect("a valid pattern");
        assert!(pattern.is_negative());
        assert!(pattern.matches_unix());
        assert!(!pattern.matches(&socket("127.0.0.1:80")));
        assert_eq!(
            parse_address_pattern("unix"),
            Ok(AddressPattern::Unix { negative: false })
        );
    }

    #[test]
    fn pattern_errors() {
        let format = "The \"address\" format is invalid.";
        let cidr = "The \"address\" has an invalid CIDR prefix.";
        let reversed = "The \"address\" range must not end before it starts.";
        let port = "The \"address\" port or port range is invalid.";
        for (pattern, expected) in [
            ("", format),
            ("!", format),
            ("*", format),
            ("*:", format),
            ("localhost", format),
            ("1.2.3", format),
            ("1.2.3.4:", format),
            ("[::1", format),
            ("[::1]80", format),
            ("[::g]:80", format),
            ("1.2.3.4/33", cidr),
            ("1.2.3.4/", cidr),
            ("1.2.3.4/x", cidr),
            ("[::/129]:80", cidr),
            ("10.0.0.9-10.0.0.1", reversed),
            ("[::2-::1]:1", reversed),
            ("1.2.3.4:65536", port),
            ("*:80-70", port),
            ("*:a", port),
            ("1.2.3.4:1-", port),
        ] {
            assert_eq!(
                parse_address_pattern(pattern).map_err(|error| error.detail),
                Err(expected.to_owned()),
                "pattern {pattern:?}"
            );
        }
    }

    #[test]
    fn listener_addresses() {
        let inet = |text: &str| Some(ListenerAddress::Inet(socket(text)));
        for (text, expected) in [
            ("*:80", inet("0.0.0.0:80")),
            ("127.0.0.1:8080", inet("127.0.0.1:8080")),
            ("[::]:443", inet("[::]:443")),
            ("[::1]:65535", inet("[::1]:65535")),
            (
                "unix:/run/unit.sock",
                Some(ListenerAddress::Unix(PathBuf::from("/run/unit.sock"))),
            ),
            (
                "unix:@unit",
                Some(ListenerAddress::Abstract("unit".to_owned())),
            ),
            ("*:0", None),
            ("*:65536", None),
            ("*:+80", None),
            ("80", None),
            ("127.0.0.1", None),
            ("localhost:80", None),
            ("::1:80", None),
            ("[::1]", None),
            ("unix:relative.sock", None),
            ("unix:@", None),
            ("unix:", None),
            ("", None),
        ] {
            assert_eq!(parse_listener_address(text), expected, "listener {text:?}");
        }
        let long_path = format!("unix:/{}", "a".repeat(107));
        assert_eq!(parse_listener_address(&long_path), None);
    }

    #[test]
    fn listener_address_display() {
        for (text, display) in [
            ("*:80", "0.0.0.0:80"),
            ("[::1]:8080", "[::1]:8080"),
            ("unix:/tmp/a.sock", "unix:/tmp/a.sock"),
            ("unix:@abstract", "unix:@abstract"),
        ] {
            let address = parse_listener_address(text).expect("a valid listener address");
            assert_eq!(address.to_string(), display);
            assert_eq!(parse_listener_address(display), Some(address));
        }
    }

    #[test]
    fn servers_and_proxies() {
        assert_eq!(
            parse_socket_address("10.0.0.1:80"),
            Some(socket("10.0.0.1:80"))
        );
        assert_eq!(parse_socket_address("[::1]:80"), Some(socket("[::1]:80")));
        assert_eq!(parse_socket_address("*:80"), None);
        assert_eq!(parse_socket_address("10.0.0.1"), None);
        for (proxy, valid) in [
            ("http://127.0.0.1:8080", true),
            ("http://[::1]:8080", true),
            ("http://unix:/run/app.sock", true),
            ("http://unix:@app", true),
            ("http://127.0.0.1", false),
            ("http://127.0.0.1:8080/", false),
            ("https://127.0.0.1:8080", false),
            ("http://example.com:80", false),
            ("http://unix:", false),
        ] {
            assert_eq!(is_valid_proxy_address(proxy), valid, "proxy {proxy}");
        }
    }
}
