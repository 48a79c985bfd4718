//! Response head parsing for the router's proxy client (RFC 9112 section 6.3).
//!
//! The rules mirror the request side but decide the body differently: HEAD
//! requests and 1xx, 204 and 304 responses have none, and a response without
//! framing fields runs until the upstream closes. Framing that could split a
//! response differently in two parsers (both Content-Length and
//! Transfer-Encoding, differing lengths, folded lines) is refused, so the
//! router answers 502 rather than forwarding something ambiguous.
//!
//! A 1xx response is returned like any other; the caller keeps reading for
//! the final response (or switches protocols after 101).

use crate::framing::{Framing, TransferCoding};
use crate::request::{StartLine, copy_fields, head_length, with_header_slots};
use crate::{HeadLimits, HttpError};

/// How the body of an upstream response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseBody {
    /// No body: a response to HEAD, or a 1xx, 204 or 304 status.
    None,
    /// Exactly this many bytes follow.
    Length(u64),
    /// A chunked body follows; decode it with `ChunkedDecoder`.
    Chunked,
    /// The body runs until the upstream closes the connection.
    UntilClose,
}

/// A parsed upstream response head that owns its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHeadParsed {
    /// The status code, 100-999.
    pub status: u16,
    /// The reason phrase as sent; empty if absent or not plain ASCII.
    pub reason: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version_minor: u8,
    /// The header fields in order, names as sent, values without surrounding whitespace.
    pub headers: Vec<(String, Vec<u8>)>,
    /// How many bytes of the buffer the head used; the body starts there.
    pub head_len: usize,
    /// How the body is delimited.
    pub body: ResponseBody,
    /// Whether the upstream connection may be reused after this response.
    pub keep_alive: bool,
}

// === impl ResponseHeadParsed ===

impl Default for ResponseHeadParsed {
    /// An empty head, to be filled by [`parse_response_head_into`].
    fn default() -> Self {
        Self {
            status: 0,
            reason: String::new(),
            version_minor: 1,
            headers: Vec::new(),
            head_len: 0,
            body: ResponseBody::None,
            keep_alive: false,
        }
    }
}

impl ResponseHeadParsed {
    /// The value of the first field called `name` (compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(field_name, _)| field_name.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_slice())
    }

    /// The values of every field called `name` (compared case-insensitively), in order.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers
            .iter()
            .filter(move |(field_name, _)| field_name.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_slice())
    }
}

/// Parses a response head from the start of `buf`.
///
/// `request_was_head` tells whether the request was HEAD, whose response
/// has no body whatever its fields say. Returns `Ok(None)` while the head is
/// incomplete and within `limits`, like `parse_request_head`.
pub fn parse_response_head(
    buf: &[u8],
    limits: &HeadLimits,
    request_was_head: bool,
) -> Result<Option<ResponseHeadParsed>, HttpError> {
    let mut head = ResponseHeadParsed::default();
    Ok(parse_response_head_into(buf, limits, request_was_head, &mut head)?.then_some(head))
}

/// Like [`parse_response_head`], filling `head` in place and reusing its allocations:
/// `Ok(true)` once a complete head is in it. On `Ok(false)` and errors the contents
/// of `head` are unspecified.
pub fn parse_response_head_into(
    buf: &[u8],
    limits: &HeadLimits,
    request_was_head: bool,
    head: &mut ResponseHeadParsed,
) -> Result<bool, HttpError> {
    let window = &buf[..buf.len().min(limits.max_head_bytes)];
    with_header_slots(limits.max_headers, |slots| {
        let mut response = httparse::Response::new(&mut []);
        let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
            &mut response,
            window,
            slots,
        );
        let Some(head_len) = head_length(parsed, buf.len(), window, limits, StartLine::Status)?
        else {
            return Ok(false);
        };
        finish_response(&response, head_len, request_was_head, head).map(|()| true)
    })
}

/// Applies the framing rules and copies the head into `head`.
fn finish_response(
    response: &httparse::Response<'_, '_>,
    head_len: usize,
    request_was_head: bool,
    head: &mut ResponseHeadParsed,
) -> Result<(), HttpError> {
    let status = response.code.ok_or(HttpError::BadStatusLine)?;
    let version_minor = response.version.ok_or(HttpError::BadStatusLine)?;
    if status < 100 {
        return Err(HttpError::BadStatusLine);
    }

    let framing = Framing::scan(&response.headers[..])?;
    let framed_body = match (framing.transfer_coding, framing.content_length) {
        (Some(_), _) if version_minor == 0 => return Err(HttpError::TransferEncodingInHttp10),
        (Some(_), Some(_)) => return Err(HttpError::ConflictingLength),
        (Some(TransferCoding::Chunked), None) => ResponseBody::Chunked,
        (Some(TransferCoding::ChunkedAfterOthers), None) => {
            return Err(HttpError::UnsupportedTransferEncoding);
        }
        (Some(TransferCoding::NotChunked), None) => ResponseBody::UntilClose,
        (None, Some(length)) => ResponseBody::Length(length),
        (None, None) => ResponseBody::UntilClose,
    };
    let body = if request_was_head || status < 200 || status == 204 || status == 304 {
        ResponseBody::None
    } else {
        framed_body
    };

    head.status = status;
    head.reason.clear();
    head.reason.push_str(response.reason.unwrap_or_default());
    head.version_minor = version_minor;
    copy_fields(response.headers, &mut head.headers);
    head.head_len = head_len;
    head.body = body;
    head.keep_alive = body != ResponseBody::UntilClose && framing.keep_alive(version_minor);
    Ok(())
}

#[cfg(test)]
mod tests;
