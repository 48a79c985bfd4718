//! Request head parsing with the framing checks of RFC 9112.
//!
//! `parse_request_head` runs `httparse` over at most `max_head_bytes` of the
//! buffer, then applies what `httparse` leaves to its users: the form of the
//! request-target, Host checks, and the Content-Length / Transfer-Encoding
//! rules whose lax handling enables request smuggling. The parsed head owns
//! its bytes, so the caller may reuse its read buffer; the body is not read
//! here (see `ChunkedDecoder` for chunked bodies).
//!
//! [`HeaderBuffers`] adds Unit's finer limit: how a head fits its header
//! buffers line by line.
//!
//! Deliberately not enforced: a Host header in HTTP/1.1 requests (its absence
//! is the router's business) and methods from a fixed list.

use std::mem::MaybeUninit;
use std::str;

use crate::HttpError;
use crate::fields::validate_host;
use crate::framing::{Framing, TransferCoding};
use crate::target::split_absolute_form;

/// How many header slots live on the stack before falling back to the heap. They are
/// left uninitialised (httparse fills what it uses), so a large count costs nothing.
const STACK_HEADER_SLOTS: usize = 256;

/// Limits applied while parsing a message head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    /// The whole head, start line and final empty line included, must fit in this many bytes.
    pub max_head_bytes: usize,
    /// The head may carry at most this many header fields.
    pub max_headers: usize,
}

// === impl HeadLimits ===

impl Default for HeadLimits {
    /// 8 KiB and 100 fields, in line with the router's `large_header_buffer_size`.
    fn default() -> Self {
        Self {
            max_head_bytes: 8192,
            max_headers: 100,
        }
    }
}

/// The buffers Unit reads a request head into (`settings.http`
/// `large_header_buffer_size` and `large_header_buffers`, UNIT-COMPAT 3.7).
///
/// A head starts in a buffer of `first_size` bytes. A line (the request line or a
/// field, CRLF included) that does not end inside the current buffer moves whole to
/// a new buffer of `large_size` bytes and must end inside that one; a head may use at
/// most `n_large` of those. So a line past the first buffer takes at most `large_size`
/// bytes, and a head somewhat less than `first_size + n_large * large_size`. A head
/// that does not fit is answered with 431, as [`HttpError::HeadTooLarge`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderBuffers {
    /// The size of the buffer every head starts in (Unit's `header_buffer_size`).
    pub first_size: usize,
    /// The size of each further buffer.
    pub large_size: usize,
    /// How many further buffers one head may use.
    pub n_large: usize,
}

// === impl HeaderBuffers ===

impl HeaderBuffers {
    /// The bytes of all the buffers together: no head that fits is longer, so this is
    /// the `max_head_bytes` to parse with.
    pub fn max_head_bytes(&self) -> usize {
        self.large_size
            .saturating_mul(self.n_large)
            .saturating_add(self.first_size)
    }

    /// Whether `head`, a complete head or the start of one, fits the buffers. A start
    /// that fits may still outgrow them once more arrives; one that does not never fits.
    pub fn fits(&self, head: &[u8]) -> bool {
        if head.len() <= self.first_size {
            return true;
        }
        let mut capacity = self.first_size;
        let mut used = 0;
        let mut n_large_used = 0;
        let mut before_request_line = true;
        for line in head.split_inclusive(|&byte| byte == b'\n') {
            // Empty lines before the request line are skipped, as httparse skips them.
            let is_request_line = before_request_line && !is_blank_line(line);
            before_request_line &= !is_request_line;
            if used + line.len() <= capacity {
                used += line.len();
                continue;
            }
            n_large_used += 1;
            if n_large_used > self.n_large || carried_len(line, is_request_line) > self.large_size {
                return false;
            }
            capacity = self.large_size;
            used = line.len();
        }
        true
    }
}

/// Whether `line` holds nothing but its line ending.
fn is_blank_line(line: &[u8]) -> bool {
    line.iter().all(|&byte| byte == b'\r' || byte == b'\n')
}

/// How much of a line that does not fit where it started must fit in a large buffer, as
/// Unit's parser moves it: the request line whole, a header field from its value on
/// (the name and the colon are parsed already), up to the `\r` that ends it.
///
/// A field line that has not ended and has no colon yet counts nothing: its value, the
/// part that moves, has not begun. So the start of a head never counts more than the
/// whole head will, and a start that does not fit never becomes a head that does.
fn carried_len(line: &[u8], is_request_line: bool) -> usize {
    let line_end = line.len() - usize::from(line.ends_with(b"\n"));
    if is_request_line {
        return line_end;
    }
    let Some(colon) = line.iter().position(|&byte| byte == b':') else {
        let complete = line.ends_with(b"\n");
        return if complete { line_end } else { 0 };
    };
    let value_start = colon
        + 1
        + line[colon + 1..]
            .iter()
            .take_while(|&&byte| byte == b' ' || byte == b'\t')
            .count();
    line_end.saturating_sub(value_start)
}

/// How the body of a request is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body follows the head.
    None,
    /// Exactly this many bytes follow (possibly zero).
    Length(u64),
    /// A chunked body follows; decode it with `ChunkedDecoder`.
    Chunked,
}

/// A parsed request head that owns its bytes.
///
/// [`parse_request_head_into`] refills one in place, reusing its allocations, so a
/// connection that keeps one parses request after request without allocating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// The method, case preserved (methods are case-sensitive).
    pub method: String,
    /// The raw request-target: origin-form, absolute-form or `*`.
    pub target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version_minor: u8,
    /// The header fields in order, names as sent, values without surrounding whitespace.
    pub headers: Vec<(String, Vec<u8>)>,
    /// How many bytes of the buffer the head used; the body or the next request starts there.
    pub head_len: usize,
    /// How the body is delimited.
    pub body: BodyKind,
    /// Whether the connection may carry another request after this one.
    pub keep_alive: bool,
    /// The client (HTTP/1.1 only) waits for `100 Continue` before sending the body.
    pub expect_continue: bool,
}

// === impl RequestHead ===

impl Default for RequestHead {
    /// An empty head, to be filled by [`parse_request_head_into`].
    fn default() -> Self {
        Self {
            method: String::new(),
            target: String::new(),
            version_minor: 1,
            headers: Vec::new(),
            head_len: 0,
            body: BodyKind::None,
            keep_alive: true,
            expect_continue: false,
        }
    }
}

impl RequestHead {
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

    /// The host the request is for, port included, as sent.
    ///
    /// An absolute-form target's authority wins over the Host header, as
    /// RFC 9112 section 3.2.2 requires. Both were validated while parsing.
    pub fn host(&self) -> Option<&str> {
        if let Some((authority, _)) = split_absolute_form(&self.target) {
            return Some(authority);
        }
        self.header("host")
            .and_then(|value| str::from_utf8(value).ok())
    }

    /// The request line as `$request_line` shows it, e.g. `GET /x HTTP/1.1`.
    pub fn request_line(&self) -> String {
        format!(
            "{} {} HTTP/1.{}",
            self.method, self.target, self.version_minor
        )
    }
}

/// Parses a request head from the start of `buf`.
///
/// Returns `Ok(None)` while the head is incomplete and still within
/// `limits`; once `buf` holds `max_head_bytes` or more without a complete
/// head, the result is `HeadTooLarge`. Bytes after the head are not looked
/// at: `head_len` tells where the body or a pipelined request begins.
pub fn parse_request_head(
    buf: &[u8],
    limits: &HeadLimits,
) -> Result<Option<RequestHead>, HttpError> {
    let mut head = RequestHead::default();
    Ok(parse_request_head_into(buf, limits, &mut head)?.then_some(head))
}

/// Like [`parse_request_head`], filling `head` in place: `Ok(true)` once a complete
/// head is in it. Its strings and field list are reused, so parsing allocates only
/// when a request is larger than the ones before it. On `Ok(false)` and errors the
/// contents of `head` are unspecified.
pub fn parse_request_head_into(
    buf: &[u8],
    limits: &HeadLimits,
    head: &mut RequestHead,
) -> Result<bool, HttpError> {
    let window = &buf[..buf.len().min(limits.max_head_bytes)];
    match parse_window(window, buf.len(), limits, head) {
        Err(error @ (HttpError::BadRequestLine | HttpError::UnsupportedVersion)) => {
            // Unit takes spaces inside a target (`GET /a b HTTP/1.1`); httparse does
            // not, so such a head is parsed again with them masked.
            match spaced_target(window) {
                SpacedTarget::No => Err(error),
                SpacedTarget::LineIncomplete if buf.len() >= limits.max_head_bytes => {
                    Err(HttpError::HeadTooLarge)
                }
                SpacedTarget::LineIncomplete => Ok(false),
                SpacedTarget::Masked {
                    window,
                    spaces,
                    n_dropped,
                } => {
                    let complete = parse_window(&window, buf.len(), limits, head)?;
                    if complete {
                        head.head_len += n_dropped;
                        let mut target = std::mem::take(&mut head.target).into_bytes();
                        for space_idx in spaces {
                            target[space_idx] = b' ';
                        }
                        // Only ASCII bytes were swapped, so the text stays UTF-8.
                        head.target = String::from_utf8_lossy(&target).into_owned();
                    }
                    Ok(complete)
                }
            }
        }
        other => other,
    }
}

/// What [`spaced_target`] found.
enum SpacedTarget {
    /// The request line has no target with spaces in it.
    No,
    /// The request line may hold one but has not ended yet.
    LineIncomplete,
    /// A copy of the window with the target's spaces masked, where they were in the
    /// target, and how many surplus spaces before the version the copy dropped.
    Masked {
        window: Vec<u8>,
        spaces: Vec<usize>,
        n_dropped: usize,
    },
}

/// The byte that stands for a space of the target while httparse reads it.
const SPACE_MASK: u8 = b'_';

/// Looks for `method SP target-with-spaces SP HTTP/...` at the start of `window`: the
/// version begins after the last space of the line.
fn spaced_target(window: &[u8]) -> SpacedTarget {
    let start = window
        .iter()
        .position(|&byte| byte != b'\r' && byte != b'\n')
        .unwrap_or(window.len());
    let (line, complete) = first_line(window);
    let Some(method_end) = line.iter().position(|&byte| byte == b' ') else {
        return SpacedTarget::No;
    };
    if !complete {
        // More may come: `GET /a b` can still become `GET /a b HTTP/1.1`, and so can
        // `GET / HTTP/3` become `GET / HTTP/3 HTTP/1.1` (a target of `/ HTTP/3`). Only
        // a line no target can be read from (a space or a control byte where the target
        // goes) is refused before it ends, so a request is never refused or taken
        // depending on how its line was split into reads.
        let rest = &line[method_end + 1..];
        // A CR at the end may be the start of the line's CRLF.
        let text = rest.strip_suffix(b"\r").unwrap_or(rest);
        let never_a_target =
            rest.starts_with(b" ") || text.iter().any(|&byte| byte < b' ' || byte == 0x7f);
        return if never_a_target {
            SpacedTarget::No
        } else {
            SpacedTarget::LineIncomplete
        };
    }
    let Some(version_start) = line
        .iter()
        .rposition(|&byte| byte == b' ')
        .filter(|&version_start| version_start > method_end)
    else {
        return SpacedTarget::No;
    };
    let target_start = method_end + 1;
    // Spaces before the version are surplus, not part of the target. Only spaces: a tab
    // or a bare CR stays in the target, which refuses it.
    let target = &line[target_start..version_start];
    let target = &target[..target.len()
        - target
            .iter()
            .rev()
            .take_while(|&&byte| byte == b' ')
            .count()];
    if target.is_empty()
        || target.starts_with(b" ")
        || !target.contains(&b' ')
        || !line[version_start + 1..].starts_with(b"HTTP/")
    {
        return SpacedTarget::No;
    }
    let spaces: Vec<usize> = target
        .iter()
        .enumerate()
        .filter_map(|(idx, &byte)| (byte == b' ').then_some(idx))
        .collect();
    let mut masked = window.to_vec();
    for space_idx in &spaces {
        masked[start + target_start + space_idx] = SPACE_MASK;
    }
    // The surplus spaces between the target and the version become one.
    let surplus = &line[target_start + target.len()..version_start];
    if !surplus.is_empty() {
        let from = start + target_start + target.len();
        masked.drain(from..from + surplus.len());
    }
    SpacedTarget::Masked {
        window: masked,
        spaces,
        n_dropped: surplus.len(),
    }
}

/// Parses the head in `window`, the first bytes of a `buf_len`-byte buffer.
fn parse_window(
    window: &[u8],
    buf_len: usize,
    limits: &HeadLimits,
    head: &mut RequestHead,
) -> Result<bool, HttpError> {
    with_header_slots(limits.max_headers, |slots| {
        let mut request = httparse::Request::new(&mut []);
        let parsed = httparse::ParserConfig::default().parse_request_with_uninit_headers(
            &mut request,
            window,
            slots,
        );
        let Some(head_len) = head_length(parsed, buf_len, window, limits, StartLine::Request)?
        else {
            return Ok(false);
        };
        finish_request(&request, head_len, head).map(|()| true)
    })
}

/// Applies the checks `httparse` leaves to us and copies the head into `head`.
fn finish_request(
    request: &httparse::Request<'_, '_>,
    head_len: usize,
    head: &mut RequestHead,
) -> Result<(), HttpError> {
    let method = request.method.ok_or(HttpError::BadRequestLine)?;
    let target = request.path.ok_or(HttpError::BadRequestLine)?;
    let version_minor = request.version.ok_or(HttpError::BadRequestLine)?;
    check_target(method, target)?;

    let framing = Framing::scan(&request.headers[..])?;
    if framing.n_hosts > 1 {
        return Err(HttpError::DuplicateHost);
    }
    if framing.n_transfer_encodings > 1 {
        return Err(HttpError::DuplicateTransferEncoding);
    }
    if let Some(host) = framing.host {
        validate_host(host)?;
    }
    let body = match (framing.transfer_coding, framing.content_length) {
        (Some(_), _) if version_minor == 0 => return Err(HttpError::TransferEncodingInHttp10),
        (Some(_), Some(_)) => return Err(HttpError::ConflictingLength),
        (Some(TransferCoding::Chunked), None) => BodyKind::Chunked,
        (Some(_), None) => return Err(HttpError::UnsupportedTransferEncoding),
        (None, Some(length)) => BodyKind::Length(length),
        (None, None) => BodyKind::None,
    };

    replace_string(&mut head.method, method);
    replace_string(&mut head.target, target);
    head.version_minor = version_minor;
    copy_fields(request.headers, &mut head.headers);
    head.head_len = head_len;
    head.body = body;
    head.keep_alive = framing.keep_alive(version_minor);
    head.expect_continue = version_minor >= 1 && framing.expect_continue;
    Ok(())
}

/// Makes `into` hold the parsed `fields`, reusing the strings it already has.
pub(crate) fn copy_fields(fields: &[httparse::Header<'_>], into: &mut Vec<(String, Vec<u8>)>) {
    for (slot, field) in fields.iter().enumerate() {
        set_field(into, slot, field.name, field.value);
    }
    into.truncate(fields.len());
}

/// Makes entry `slot` of `into` (at most its length) hold a field, in the allocations
/// an entry there has.
pub(crate) fn set_field(into: &mut Vec<(String, Vec<u8>)>, slot: usize, name: &str, value: &[u8]) {
    match into.get_mut(slot) {
        Some((old_name, old_value)) => {
            replace_string(old_name, name);
            old_value.clear();
            old_value.extend_from_slice(value);
        }
        None => into.push((name.to_owned(), value.to_vec())),
    }
}

/// Makes `into` hold `text`, in the allocation it has when that is large enough.
fn replace_string(into: &mut String, text: &str) {
    into.clear();
    into.push_str(text);
}

/// Runs `parse` with `max_headers` uninitialised header slots, on the stack when few.
pub(crate) fn with_header_slots<'buf, R>(
    max_headers: usize,
    parse: impl FnOnce(&mut [MaybeUninit<httparse::Header<'buf>>]) -> R,
) -> R {
    if max_headers <= STACK_HEADER_SLOTS {
        let mut slots = [const { MaybeUninit::uninit() }; STACK_HEADER_SLOTS];
        parse(&mut slots[..max_headers])
    } else {
        let mut slots = Vec::with_capacity(max_headers);
        parse(&mut slots.spare_capacity_mut()[..max_headers])
    }
}

/// What a parse of `window` (the first bytes of a `buf_len`-byte buffer) came to: the
/// head's length once complete, `None` while it is partial and may still fit `limits`.
pub(crate) fn head_length(
    parsed: httparse::Result<usize>,
    buf_len: usize,
    window: &[u8],
    limits: &HeadLimits,
    kind: StartLine,
) -> Result<Option<usize>, HttpError> {
    match parsed {
        Ok(httparse::Status::Complete(head_len)) => Ok(Some(head_len)),
        Ok(httparse::Status::Partial) if buf_len >= limits.max_head_bytes => {
            Err(HttpError::HeadTooLarge)
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(error) => Err(classify_error(error, window, kind)),
    }
}

/// Which kind of start line a head begins with, for error classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StartLine {
    /// `method SP target SP version`.
    Request,
    /// `version SP status SP reason`.
    Status,
}

/// Turns an `httparse` error into ours, looking at the bytes for detail
/// `httparse` does not report (obsolete line folding, other versions).
pub(crate) fn classify_error(error: httparse::Error, window: &[u8], kind: StartLine) -> HttpError {
    let (first_line, first_line_complete) = first_line(window);
    let start_line_error = match kind {
        StartLine::Request => HttpError::BadRequestLine,
        StartLine::Status => HttpError::BadStatusLine,
    };
    let header_error = || {
        if has_folded_line(window) {
            HttpError::ObsoleteLineFolding
        } else {
            HttpError::BadHeader
        }
    };
    match error {
        httparse::Error::TooManyHeaders => HttpError::TooManyHeaders,
        httparse::Error::HeaderName | httparse::Error::HeaderValue => header_error(),
        httparse::Error::NewLine => {
            let ends_in_version = match kind {
                StartLine::Request => {
                    first_line.ends_with(b" HTTP/1.1") || first_line.ends_with(b" HTTP/1.0")
                }
                StartLine::Status => false,
            };
            if first_line_complete && ends_in_version {
                header_error()
            } else {
                start_line_error
            }
        }
        httparse::Error::Version => {
            let version = match kind {
                StartLine::Request => first_line.splitn(3, |&byte| byte == b' ').nth(2),
                StartLine::Status => first_line.split(|&byte| byte == b' ').next(),
            };
            if version.is_some_and(is_other_version) {
                HttpError::UnsupportedVersion
            } else {
                start_line_error
            }
        }
        _ => start_line_error,
    }
}

/// Checks the request-target form against the method (RFC 9112 section 3.2).
fn check_target(method: &str, target: &str) -> Result<(), HttpError> {
    if target.starts_with('/') {
        return Ok(());
    }
    if target == "*" {
        return if method == "OPTIONS" {
            Ok(())
        } else {
            Err(HttpError::BadRequestLine)
        };
    }
    match split_absolute_form(target) {
        Some(("", _)) | None => Err(HttpError::BadRequestLine),
        // Userinfo in a target is refused (RFC 9110 section 4.2.4).
        Some((authority, _)) if authority.contains('@') => Err(HttpError::BadHost),
        Some((authority, _)) => validate_host(authority.as_bytes()),
    }
}

/// The first non-empty line of `window` without its line ending, and whether it ended.
fn first_line(window: &[u8]) -> (&[u8], bool) {
    let start = window
        .iter()
        .position(|&byte| byte != b'\r' && byte != b'\n')
        .unwrap_or(window.len());
    let rest = &window[start..];
    match rest.iter().position(|&byte| byte == b'\n') {
        Some(newline_idx) => {
            let line = &rest[..newline_idx];
            (line.strip_suffix(b"\r").unwrap_or(line), true)
        }
        None => (rest, false),
    }
}

/// Whether a header line of `window` (before the empty line) starts with whitespace.
fn has_folded_line(window: &[u8]) -> bool {
    let start = window
        .iter()
        .position(|&byte| byte != b'\r' && byte != b'\n')
        .unwrap_or(window.len());
    let mut lines = window[start..].split(|&byte| byte == b'\n');
    lines.next();
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match line.first() {
            None => return false,
            Some(b' ' | b'\t') => return true,
            Some(_) => {}
        }
    }
    false
}

/// Whether `token` is (a prefix of) `HTTP/<digit>.<digit>`, i.e. a version we
/// recognise but do not speak, as opposed to garbage or a supported one.
fn is_other_version(token: &[u8]) -> bool {
    let Some(number) = token.strip_prefix(b"HTTP/") else {
        return false;
    };
    match number {
        b"1.0" | b"1.1" => false,
        [major] | [major, b'.'] => major.is_ascii_digit(),
        [major, b'.', minor] => major.is_ascii_digit() && minor.is_ascii_digit(),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
