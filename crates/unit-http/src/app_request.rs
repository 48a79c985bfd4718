//! The request head the router sends to a language runner's process: the request as
//! HTTP/1.1 says it, plus what the connection knows (addresses, TLS, the request target
//! before a `rewrite`) and the application target, in one length-prefixed binary
//! frame, so the runner parses no text and trusts no client-supplied field for them.
//!
//! The body follows the frame as it would follow an HTTP head: `Length` bytes, or
//! chunked coding. The runner answers with a response head frame of the same kind
//! ([`AppResponseHead`]), its fields kept byte for byte, then the body in HTTP/1.1
//! framing (a length, or chunks).
//!
//! Layout, integers little-endian: `u32` length of the rest of the frame; `u8` HTTP
//! minor version; `u8` flags ([`FLAG_TLS`], [`FLAG_UPGRADE`]); `u8` body kind (0 none,
//! 1 length, 2 chunked); `u64` body length; `u16` local port; `u16` remote port; the
//! WebSocket limits (`u64` largest frame, `u32` read timeout and `u32` keep-alive
//! interval in milliseconds); then
//! the texts, each a `u32` length and its bytes: method, target, path, query, remote
//! address, local address, server name, application target; then a `u32` field count
//! and each field as two texts, name and value.

use crate::{HttpError, ResponseBody, ResponseHeadParsed};

/// The connection is TLS.
pub const FLAG_TLS: u8 = 1;
/// The client asks to switch protocols (`Upgrade` with `Connection: upgrade`).
pub const FLAG_UPGRADE: u8 = 2;

/// The largest frame accepted: heads are bounded by the router's header buffers long
/// before this.
pub const MAX_FRAME: usize = 1 << 20;

/// How the body after the frame is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppBody {
    /// No body.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked coding, to its last chunk.
    Chunked,
}

/// What a runner enforces on an upgraded WebSocket connection (`settings.http.websocket`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebSocketLimits {
    /// The largest frame accepted, header included, in bytes.
    pub max_frame_size: u64,
    /// How long the client may stay silent, in milliseconds.
    pub read_timeout_ms: u32,
    /// How long an idle connection waits before it is pinged, in milliseconds; 0 for
    /// never.
    pub keepalive_interval_ms: u32,
}

/// A request head to encode; the fields are borrowed from the router's request.
#[derive(Debug, Clone, Copy)]
pub struct AppRequestHead<'a> {
    /// The method as sent.
    pub method: &'a str,
    /// The request target as the client sent it (`REQUEST_URI`).
    pub target: &'a str,
    /// The decoded path, after any `rewrite` (`PATH_INFO` before the prefix is split).
    pub path: &'a str,
    /// The query string without `?`.
    pub query: &'a str,
    /// `1` for HTTP/1.1, `0` for HTTP/1.0.
    pub version_minor: u8,
    /// [`FLAG_TLS`] and [`FLAG_UPGRADE`].
    pub flags: u8,
    /// The body that follows.
    pub body: AppBody,
    /// The client's address as text (empty on a unix listener) and port.
    pub remote_addr: &'a str,
    /// See `remote_addr`.
    pub remote_port: u16,
    /// The listener's address as text and port.
    pub local_addr: &'a str,
    /// See `local_addr`.
    pub local_port: u16,
    /// The host the request names (`SERVER_NAME`).
    pub server_name: &'a str,
    /// The application target of a `pass` to `applications/<name>/<target>`; empty
    /// for none.
    pub app_target: &'a str,
    /// The limits of an upgraded connection.
    pub websocket: WebSocketLimits,
}

impl AppRequestHead<'_> {
    /// Appends the frame with `fields` (name, value) to `out`.
    pub fn encode<'f>(&self, fields: impl Iterator<Item = (&'f str, &'f [u8])>, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        out.push(self.version_minor);
        out.push(self.flags);
        let (kind, length) = match self.body {
            AppBody::None => (0, 0),
            AppBody::Length(length) => (1, length),
            AppBody::Chunked => (2, 0),
        };
        out.push(kind);
        out.extend_from_slice(&length.to_le_bytes());
        out.extend_from_slice(&self.local_port.to_le_bytes());
        out.extend_from_slice(&self.remote_port.to_le_bytes());
        out.extend_from_slice(&self.websocket.max_frame_size.to_le_bytes());
        out.extend_from_slice(&self.websocket.read_timeout_ms.to_le_bytes());
        out.extend_from_slice(&self.websocket.keepalive_interval_ms.to_le_bytes());
        for text in [
            self.method,
            self.target,
            self.path,
            self.query,
            self.remote_addr,
            self.local_addr,
            self.server_name,
            self.app_target,
        ] {
            push_text(out, text.as_bytes());
        }
        let count_at = out.len();
        out.extend_from_slice(&[0; 4]);
        let mut count: u32 = 0;
        for (name, value) in fields {
            push_text(out, name.as_bytes());
            push_text(out, value);
            count += 1;
        }
        out[count_at..count_at + 4].copy_from_slice(&count.to_le_bytes());
        let length = (out.len() - start - 4) as u32;
        out[start..start + 4].copy_from_slice(&length.to_le_bytes());
    }
}

fn push_text(out: &mut Vec<u8>, text: &[u8]) {
    out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    out.extend_from_slice(text);
}

/// A decoded request head, its texts borrowed from the frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRequest<'a> {
    /// See [`AppRequestHead`].
    pub method: &'a [u8],
    /// See [`AppRequestHead`].
    pub target: &'a [u8],
    /// See [`AppRequestHead`].
    pub path: &'a [u8],
    /// See [`AppRequestHead`].
    pub query: &'a [u8],
    /// See [`AppRequestHead`].
    pub version_minor: u8,
    /// See [`AppRequestHead`].
    pub flags: u8,
    /// See [`AppRequestHead`].
    pub body: AppBody,
    /// See [`AppRequestHead`].
    pub remote_addr: &'a [u8],
    /// See [`AppRequestHead`].
    pub remote_port: u16,
    /// See [`AppRequestHead`].
    pub local_addr: &'a [u8],
    /// See [`AppRequestHead`].
    pub local_port: u16,
    /// See [`AppRequestHead`].
    pub server_name: &'a [u8],
    /// See [`AppRequestHead`].
    pub app_target: &'a [u8],
    /// See [`AppRequestHead`].
    pub websocket: WebSocketLimits,
    /// The header fields, name and value, in order.
    pub fields: Vec<(&'a [u8], &'a [u8])>,
}

/// Decodes the frame at the start of `input`: `Ok(None)` while it is incomplete, the
/// request and the frame's length otherwise.
pub fn decode_app_request(input: &[u8]) -> Result<Option<(AppRequest<'_>, usize)>, HttpError> {
    let Some(length) = input.get(..4) else {
        return Ok(None);
    };
    let length = u32::from_le_bytes([length[0], length[1], length[2], length[3]]) as usize;
    if length > MAX_FRAME {
        return Err(HttpError::BadAppFrame);
    }
    let Some(frame) = input.get(4..4 + length) else {
        return Ok(None);
    };
    let mut reader = Reader { rest: frame };
    let version_minor = reader.byte()?;
    let flags = reader.byte()?;
    let kind = reader.byte()?;
    let length_field = u64::from_le_bytes(reader.array()?);
    let body = match kind {
        0 => AppBody::None,
        1 => AppBody::Length(length_field),
        2 => AppBody::Chunked,
        _ => return Err(HttpError::BadAppFrame),
    };
    let local_port = u16::from_le_bytes(reader.array()?);
    let remote_port = u16::from_le_bytes(reader.array()?);
    let websocket = WebSocketLimits {
        max_frame_size: u64::from_le_bytes(reader.array()?),
        read_timeout_ms: u32::from_le_bytes(reader.array()?),
        keepalive_interval_ms: u32::from_le_bytes(reader.array()?),
    };
    let method = reader.text()?;
    let target = reader.text()?;
    let path = reader.text()?;
    let query = reader.text()?;
    let remote_addr = reader.text()?;
    let local_addr = reader.text()?;
    let server_name = reader.text()?;
    let app_target = reader.text()?;
    let count = u32::from_le_bytes(reader.array()?) as usize;
    // Every field takes at least eight bytes, which bounds what a count can claim.
    let mut fields = Vec::with_capacity(count.min(reader.rest.len() / 8));
    for _ in 0..count {
        fields.push((reader.text()?, reader.text()?));
    }
    if !reader.rest.is_empty() {
        return Err(HttpError::BadAppFrame);
    }
    let request = AppRequest {
        method,
        target,
        path,
        query,
        version_minor,
        flags,
        body,
        remote_addr,
        remote_port,
        local_addr,
        local_port,
        server_name,
        app_target,
        websocket,
        fields,
    };
    Ok(Some((request, 4 + length)))
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Result<&'a [u8], HttpError> {
        if self.rest.len() < count {
            return Err(HttpError::BadAppFrame);
        }
        let (taken, rest) = self.rest.split_at(count);
        self.rest = rest;
        Ok(taken)
    }

    fn byte(&mut self) -> Result<u8, HttpError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], HttpError> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    fn text(&mut self) -> Result<&'a [u8], HttpError> {
        let length = u32::from_le_bytes(self.array()?) as usize;
        self.take(length)
    }
}

/// Flag of a response head: the runner closes the connection after this answer.
pub const RESPONSE_CLOSE: u8 = 1;

/// A response head a runner encodes: status, how the body is framed, the fields.
///
/// Layout, integers little-endian: `u32` length of the rest; `u16` status; `u8` body
/// kind (0 none, 1 length, 2 chunked); `u8` flags ([`RESPONSE_CLOSE`]); `u64` body
/// length; `u32` field count; each field as two texts (`u32` length and bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppResponseHead {
    /// The status code, 100 to 999.
    pub status: u16,
    /// How the body that follows is delimited.
    pub body: AppBody,
    /// [`RESPONSE_CLOSE`].
    pub flags: u8,
}

impl AppResponseHead {
    /// Appends the frame with `fields` (name, value) to `out`.
    pub fn encode<'f>(
        &self,
        fields: impl Iterator<Item = (&'f [u8], &'f [u8])>,
        out: &mut Vec<u8>,
    ) {
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&self.status.to_le_bytes());
        let (kind, length) = match self.body {
            AppBody::None => (0, 0),
            AppBody::Length(length) => (1, length),
            AppBody::Chunked => (2, 0),
        };
        out.push(kind);
        out.push(self.flags);
        out.extend_from_slice(&length.to_le_bytes());
        let count_at = out.len();
        out.extend_from_slice(&[0; 4]);
        let mut count: u32 = 0;
        for (name, value) in fields {
            push_text(out, name);
            push_text(out, value);
            count += 1;
        }
        out[count_at..count_at + 4].copy_from_slice(&count.to_le_bytes());
        let length = (out.len() - start - 4) as u32;
        out[start..start + 4].copy_from_slice(&length.to_le_bytes());
    }
}

/// Decodes a response head frame at the start of `input` into `head`, as
/// `parse_response_head_into` parses an HTTP one: `Ok(false)` while it is incomplete.
/// A field name that is not UTF-8 is refused; values are kept as sent. On an error the
/// contents of `head` are unspecified.
pub fn decode_app_response_into(
    input: &[u8],
    request_was_head: bool,
    head: &mut ResponseHeadParsed,
) -> Result<bool, HttpError> {
    let Some(length) = input.get(..4) else {
        return Ok(false);
    };
    let length = u32::from_le_bytes([length[0], length[1], length[2], length[3]]) as usize;
    if length > MAX_FRAME {
        return Err(HttpError::BadAppFrame);
    }
    let Some(frame) = input.get(4..4 + length) else {
        return Ok(false);
    };
    let mut reader = Reader { rest: frame };
    let status = u16::from_le_bytes(reader.array()?);
    if !(100..1000).contains(&status) {
        return Err(HttpError::BadStatusLine);
    }
    let kind = reader.byte()?;
    let flags = reader.byte()?;
    let body_length = u64::from_le_bytes(reader.array()?);
    let count = u32::from_le_bytes(reader.array()?) as usize;
    // The fields go into the entries the last head left, so a head of as many fields
    // or fewer allocates nothing.
    for slot in 0..count {
        let name = std::str::from_utf8(reader.text()?).map_err(|_| HttpError::BadAppFrame)?;
        let value = reader.text()?;
        crate::request::set_field(&mut head.headers, slot, name, value);
    }
    head.headers.truncate(count);
    if !reader.rest.is_empty() {
        return Err(HttpError::BadAppFrame);
    }
    let framed = match kind {
        0 => ResponseBody::None,
        1 => ResponseBody::Length(body_length),
        2 => ResponseBody::Chunked,
        _ => return Err(HttpError::BadAppFrame),
    };
    head.status = status;
    head.reason.clear();
    head.version_minor = 1;
    head.head_len = 4 + length;
    head.body = if request_was_head || status < 200 || status == 204 || status == 304 {
        ResponseBody::None
    } else {
        framed
    };
    head.keep_alive = flags & RESPONSE_CLOSE == 0;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head() -> AppRequestHead<'static> {
        AppRequestHead {
            method: "POST",
            target: "/a%20b?x=1",
            path: "/a b",
            query: "x=1",
            version_minor: 1,
            flags: FLAG_TLS,
            body: AppBody::Length(5),
            remote_addr: "127.0.0.1",
            remote_port: 40000,
            local_addr: "127.0.0.1",
            local_port: 8080,
            server_name: "localhost",
            app_target: "",
            websocket: WebSocketLimits {
                max_frame_size: 1 << 20,
                read_timeout_ms: 60_000,
                keepalive_interval_ms: 30_000,
            },
        }
    }

    #[test]
    fn a_frame_decodes_to_what_was_encoded() {
        let mut frame = Vec::new();
        let fields = [("Host", &b"localhost"[..]), ("X-A", &b""[..])];
        head().encode(fields.iter().copied(), &mut frame);
        frame.extend_from_slice(b"hello");
        let (request, length) = decode_app_request(&frame)
            .expect("valid frame")
            .expect("complete frame");
        assert_eq!(&frame[length..], b"hello");
        assert_eq!(request.method, b"POST");
        assert_eq!(request.target, b"/a%20b?x=1");
        assert_eq!(request.path, b"/a b");
        assert_eq!(request.query, b"x=1");
        assert_eq!(request.body, AppBody::Length(5));
        assert_eq!(request.flags, FLAG_TLS);
        assert_eq!((request.local_port, request.remote_port), (8080, 40000));
        assert_eq!(request.server_name, b"localhost");
        assert_eq!(request.websocket, head().websocket);
        assert_eq!(
            request.fields,
            vec![(&b"Host"[..], &b"localhost"[..]), (&b"X-A"[..], &b""[..])]
        );
    }

    #[test]
    fn a_response_head_decodes_with_its_fields_as_sent() {
        let mut frame = Vec::new();
        let head = AppResponseHead {
            status: 200,
            body: AppBody::Length(3),
            flags: 0,
        };
        let fields = [
            (&b"query-string"[..], &b" a= b "[..]),
            (&b"X"[..], &b""[..]),
        ];
        head.encode(fields.iter().copied(), &mut frame);
        frame.extend_from_slice(b"abc");
        let mut parsed = ResponseHeadParsed::default();
        for end in 0..frame.len() - 3 {
            assert_eq!(
                decode_app_response_into(&frame[..end], false, &mut parsed),
                Ok(false)
            );
        }
        assert_eq!(
            decode_app_response_into(&frame, false, &mut parsed),
            Ok(true)
        );
        assert_eq!(parsed.status, 200);
        assert_eq!(parsed.body, ResponseBody::Length(3));
        assert!(parsed.keep_alive);
        assert_eq!(&frame[parsed.head_len..], b"abc");
        assert_eq!(
            parsed.headers,
            vec![
                ("query-string".to_owned(), b" a= b ".to_vec()),
                ("X".to_owned(), Vec::new())
            ]
        );
        // A HEAD request's answer has no body; a closing one says so.
        let mut closing = Vec::new();
        AppResponseHead {
            status: 204,
            body: AppBody::None,
            flags: RESPONSE_CLOSE,
        }
        .encode(std::iter::empty(), &mut closing);
        assert_eq!(
            decode_app_response_into(&closing, true, &mut parsed),
            Ok(true)
        );
        assert_eq!(parsed.body, ResponseBody::None);
        assert!(!parsed.keep_alive);
        assert!(parsed.headers.is_empty(), "the last head's fields are gone");
        // A head decoded into one that had more fields keeps only its own.
        let mut one_field = Vec::new();
        head.encode([(&b"Server"[..], &b"u"[..])].into_iter(), &mut one_field);
        assert_eq!(
            decode_app_response_into(&frame, false, &mut parsed),
            Ok(true)
        );
        assert_eq!(
            decode_app_response_into(&one_field, false, &mut parsed),
            Ok(true)
        );
        assert_eq!(parsed.headers, vec![("Server".to_owned(), b"u".to_vec())]);
        let mut bad = closing.clone();
        bad[4..6].copy_from_slice(&42u16.to_le_bytes());
        assert!(decode_app_response_into(&bad, false, &mut parsed).is_err());
    }

    #[test]
    fn a_partial_frame_waits_and_a_malformed_one_is_refused() {
        let mut frame = Vec::new();
        head().encode(std::iter::empty(), &mut frame);
        for end in 0..frame.len() {
            assert_eq!(decode_app_request(&frame[..end]), Ok(None), "prefix {end}");
        }
        let mut bad_kind = frame.clone();
        bad_kind[6] = 9;
        assert!(decode_app_request(&bad_kind).is_err());
        let mut short = frame.clone();
        short[0] -= 1;
        assert!(decode_app_request(&short).is_err());
        let mut huge = frame;
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_app_request(&huge).is_err());
    }
}
