//! The router's view of a request and a response, shared by routing, actions and the
//! connection code.

use std::fs::File;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// What a request knows of its connection's TLS session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsDetails {
    /// `TLSv1.2` or `TLSv1.3`.
    pub(crate) protocol: &'static str,
    /// The server name the client sent (SNI).
    pub(crate) server_name: Option<Arc<str>>,
}

/// A peer or local address of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConnAddr {
    /// A TCP connection's address.
    Inet(SocketAddr),
    /// A unix socket connection (no address to speak of).
    Unix,
}

/// An address as text, as `inet_ntop` prints it (and so Unit): an IPv6 address whose
/// first 96 bits are zero and whose next 16 are not is printed with its last 32 bits in
/// dotted form (`::11.22.33.44`), where the standard library prints hexadecimal. The
/// text is held inline: writing an address costs no allocation.
pub(crate) struct IpText {
    /// Room for the longest, `ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`.
    bytes: [u8; 46],
    len: usize,
}

impl IpText {
    /// No address (a unix socket's).
    pub(crate) fn empty() -> IpText {
        IpText {
            bytes: [0; 46],
            len: 0,
        }
    }

    pub(crate) fn new(ip: std::net::IpAddr) -> IpText {
        let mut text = IpText::empty();
        match ip {
            std::net::IpAddr::V4(v4) => text.push_dotted(v4.octets()),
            std::net::IpAddr::V6(v6) => {
                let segments = v6.segments();
                if segments[..6].iter().all(|segment| *segment == 0) && segments[6] != 0 {
                    let [.., a, b, c, d] = v6.octets();
                    text.push(b"::");
                    text.push_dotted([a, b, c, d]);
                } else {
                    // The room fits any address, so the write cannot fall short.
                    let _ = std::fmt::Write::write_fmt(&mut text, format_args!("{v6}"));
                }
            }
        }
        text
    }

    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }

    fn push(&mut self, bytes: &[u8]) -> bool {
        let Some(room) = self.bytes.get_mut(self.len..self.len + bytes.len()) else {
            return false;
        };
        room.copy_from_slice(bytes);
        self.len += bytes.len();
        true
    }

    fn push_dotted(&mut self, octets: [u8; 4]) {
        for (index, octet) in octets.into_iter().enumerate() {
            if index > 0 {
                self.push(b".");
            }
            let digits = [
                b'0' + octet / 100,
                b'0' + octet / 10 % 10,
                b'0' + octet % 10,
            ];
            let skip = if octet >= 100 {
                0
            } else if octet >= 10 {
                1
            } else {
                2
            };
            self.push(&digits[skip..]);
        }
    }
}

impl std::fmt::Write for IpText {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        if self.push(text.as_bytes()) {
            Ok(())
        } else {
            Err(std::fmt::Error)
        }
    }
}

/// A parsed request, as routing and actions see it.
#[derive(Debug, Clone)]
pub(crate) struct HttpRequest {
    /// The method as sent (`GET`).
    pub(crate) method: String,
    /// The raw request target, query included (`$request_uri`).
    pub(crate) target: String,
    /// The decoded, normalized path (`$uri`); `rewrite` changes it.
    pub(crate) uri: String,
    /// The raw query string after `?` (empty when there is none).
    pub(crate) query: String,
    /// `1` for HTTP/1.1, `0` for HTTP/1.0.
    pub(crate) version_minor: u8,
    /// Header fields in order; names as sent, lookups are case-insensitive.
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    /// The Host header (or absolute-form authority), lowercased, without port or
    /// trailing dot (`$host`); empty when absent.
    pub(crate) host: String,
    /// Whether the request counts as secure (`scheme` match): the connection is TLS, or
    /// a trusted `forwarded.protocol` header says so.
    pub(crate) https: bool,
    /// The connection's TLS session, for `$tls_protocol` and `$tls_server_name`.
    pub(crate) tls: Option<TlsDetails>,
    /// The client (`source`, `$remote_addr`).
    pub(crate) remote: ConnAddr,
    /// The listener's local address (`destination`).
    pub(crate) local: ConnAddr,
    /// The request line (`$request_line`).
    pub(crate) request_line: String,
    /// Whether a `rewrite` changed `uri` (a proxied request then uses it as the target).
    pub(crate) rewritten: bool,
    /// The request's identifier (`$request_id`, as 32 hex digits).
    pub(crate) id: u128,
    /// When the request's head arrived (the time of the worker's turn).
    pub(crate) arrived: Instant,
}

/// Hands out request identifiers: a random per-worker prefix and a counter, so ids are
/// unique and not guessable from one another's position.
#[derive(Debug)]
pub(crate) struct RequestIds {
    prefix: u64,
    counter: u64,
}

impl RequestIds {
    pub(crate) fn new() -> RequestIds {
        use std::hash::BuildHasher;
        let seed = (
            std::process::id(),
            std::time::SystemTime::now(),
            std::thread::current().id(),
        );
        RequestIds {
            prefix: std::collections::hash_map::RandomState::new().hash_one(seed),
            counter: 0,
        }
    }

    pub(crate) fn next_id(&mut self) -> u128 {
        self.counter = self.counter.wrapping_add(1);
        u128::from(self.prefix) << 64 | u128::from(self.counter)
    }
}

impl HttpRequest {
    /// A request with nothing in it yet, for a connection between these addresses.
    pub(crate) fn empty(remote: ConnAddr, local: ConnAddr, arrived: Instant) -> HttpRequest {
        HttpRequest {
            method: String::new(),
            target: String::new(),
            uri: String::new(),
            query: String::new(),
            version_minor: 1,
            headers: Vec::new(),
            host: String::new(),
            https: false,
            tls: None,
            remote,
            local,
            request_line: String::new(),
            rewritten: false,
            id: 0,
            arrived,
        }
    }

    /// The first header with this name (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(header_name, _)| header_name.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_slice())
    }

    /// Whether the request asks to switch protocols: an `Upgrade` field, and `upgrade`
    /// among the `Connection` tokens.
    pub(crate) fn wants_upgrade(&self) -> bool {
        self.header("Upgrade").is_some()
            && self.headers_named("Connection").any(|value| {
                value
                    .split(|&byte| byte == b',')
                    .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"upgrade"))
            })
    }

    /// The status Unit refuses a WebSocket handshake with (`Upgrade: websocket` and
    /// `upgrade` among the `Connection` tokens): 400 unless it is a GET over HTTP/1.1
    /// with a 24-character `Sec-WebSocket-Key`, then 426 unless
    /// `Sec-WebSocket-Version` is 13. `None` for anything else.
    pub(crate) fn refused_websocket_handshake(&self) -> Option<u16> {
        let websocket = self
            .header("upgrade")
            .is_some_and(|upgrade| upgrade.eq_ignore_ascii_case(b"websocket"));
        if !websocket || !self.wants_upgrade() {
            return None;
        }
        let key_ok = self
            .header("sec-websocket-key")
            .is_some_and(|key| key.len() == 24);
        if self.method != "GET" || self.version_minor != 1 || !key_ok {
            tracing::info!("h1p upgrade: bad method, protocol version or websocket key");
            return Some(400);
        }
        if self.header("sec-websocket-version") != Some(&b"13"[..]) {
            tracing::info!("h1p upgrade: bad or absent websocket version");
            return Some(426);
        }
        None
    }

    /// Every header with this name, in order.
    pub(crate) fn headers_named<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers
            .iter()
            .filter(move |(header_name, _)| header_name.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_slice())
    }
}

/// The text of a response field name or value: fixed, shared with a cache, or made
/// for this response. Common answers (files, errors) so build their fields without
/// copying a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Text {
    Static(&'static str),
    Shared(Arc<str>),
    Owned(String),
}

impl std::ops::Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            Text::Static(text) => text,
            Text::Shared(text) => text,
            Text::Owned(text) => text,
        }
    }
}

impl From<&'static str> for Text {
    fn from(text: &'static str) -> Text {
        Text::Static(text)
    }
}

impl From<String> for Text {
    fn from(text: String) -> Text {
        Text::Owned(text)
    }
}

impl From<&Arc<str>> for Text {
    fn from(text: &Arc<str>) -> Text {
        Text::Shared(Arc::clone(text))
    }
}

/// A response header field.
pub(crate) type Field = (Text, Text);

/// What a response body is.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    /// No body bytes (HEAD, 204, 304, or an empty answer).
    Empty,
    /// Bytes in memory.
    Bytes(Arc<[u8]>),
    /// A byte range of an open file, sent with sendfile.
    File {
        /// The open file.
        file: Arc<File>,
        /// Where to start.
        offset: u64,
        /// How many bytes.
        len: u64,
    },
}

impl Body {
    /// The body's length in bytes.
    pub(crate) fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(bytes) => bytes.len() as u64,
            Body::File { len, .. } => *len,
        }
    }
}

/// A response the connection code writes (it adds `Date`, `Server`, `Content-Length`
/// and `Connection`).
#[derive(Debug, Clone)]
pub(crate) struct HttpResponse {
    /// The status code.
    pub(crate) status: u16,
    /// Header fields besides the ones the connection adds.
    pub(crate) headers: Vec<Field>,
    /// The body.
    pub(crate) body: Body,
}

impl HttpResponse {
    /// A response with no extra headers and no body.
    pub(crate) fn empty(status: u16) -> HttpResponse {
        HttpResponse {
            status,
            headers: Vec::new(),
            body: Body::Empty,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::IpText;

    #[test]
    fn addresses_print_as_inet_ntop_prints_them() {
        let text = |address: &str| {
            IpText::new(address.parse().expect("an address"))
                .as_str()
                .to_owned()
        };
        assert_eq!(text("127.0.0.1"), "127.0.0.1");
        assert_eq!(text("0.9.10.255"), "0.9.10.255");
        assert_eq!(text("100.99.1.200"), "100.99.1.200");
        assert_eq!(
            text("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
        );
        assert_eq!(text("::11.22.33.44"), "::11.22.33.44");
        assert_eq!(text("::ffff:1.2.3.4"), "::ffff:1.2.3.4");
        assert_eq!(text("::1"), "::1");
        assert_eq!(text("::"), "::");
        assert_eq!(text("2001:db8::1"), "2001:db8::1");
    }
}
