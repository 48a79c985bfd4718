//! Request-target helpers: splitting, percent-decoding, path normalization and
//! query arguments.
//!
//! The router matches routes against the decoded, normalized path (`$uri`)
//! and the decoded arguments; the controller does the same with its URL space
//! but keeps `%2F` and `%25` encoded (`normalize_path_keeping`). Nothing here
//! touches the file system: a normalized path is safe to append to a
//! directory only because `..` can never climb above its root.

use crate::HttpError;

/// Splits a request-target into its path and query at the first `?`, without the
/// fragment from the first `#`.
///
/// For an absolute-form target (`http://host/p?q`) the scheme and authority
/// are dropped first; an empty path there means `/`. The `*` of
/// `OPTIONS *` comes back as the path `*`.
pub fn split_target(target: &str) -> (&str, Option<&str>) {
    let path_and_query = match split_absolute_form(target) {
        Some((_, rest)) => rest,
        None => target,
    };
    // A fragment is the client's business (Unit drops it from the path and the query).
    let path_and_query = path_and_query
        .split_once('#')
        .map_or(path_and_query, |(before, _)| before);
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };
    if path.is_empty() {
        ("/", query)
    } else {
        (path, query)
    }
}

/// Percent-decodes `input`; with `plus_as_space`, `+` becomes a space.
///
/// Every `%` must be followed by two hexadecimal digits. Decoded bytes are
/// returned as they are, NUL included.
pub fn percent_decode(input: &[u8], plus_as_space: bool) -> Result<Vec<u8>, HttpError> {
    let mut decoded = Vec::with_capacity(input.len());
    let mut byte_idx = 0;
    while let Some(&byte) = input.get(byte_idx) {
        match byte {
            b'%' => {
                decoded.push(decode_escape(input, byte_idx)?);
                byte_idx += 3;
            }
            b'+' if plus_as_space => {
                decoded.push(b' ');
                byte_idx += 1;
            }
            _ => {
                decoded.push(byte);
                byte_idx += 1;
            }
        }
    }
    Ok(decoded)
}

/// Decodes a path and resolves its dot-segments, the way `$uri` is built.
///
/// `%XX` escapes are decoded first (so `%2e%2e` is `..` and `%2F` is a
/// separator), then empty segments collapse (`//` is `/`), `.` segments
/// vanish and `..` removes the segment before it. A trailing `/`, `/.` or
/// `/..` leaves a trailing slash. Fails on a path without a leading `/`, on
/// an invalid escape, on a decoded NUL and on `..` above the root.
pub fn normalize_path(raw_path: &[u8]) -> Result<Vec<u8>, HttpError> {
    normalize_path_keeping(raw_path, &[])
}

/// Whether `normalize_path` would return `raw_path` unchanged: it starts with `/`
/// and has no escapes, NULs, empty segments or dot-segments. Lets the common path
/// skip the copy that normalizing makes.
pub fn is_normal_path(raw_path: &[u8]) -> bool {
    raw_path.first() == Some(&b'/')
        && !raw_path.contains(&b'%')
        && !raw_path.contains(&0)
        && !raw_path
            .windows(2)
            .any(|pair| pair == b"//" || pair == b"/.")
}

/// Like `normalize_path`, but the bytes in `keep_encoded` stay escaped.
///
/// Their escapes are written back as `%` and two uppercase hex digits and
/// take no part in splitting, so the controller can pass `b"/%"` and decode
/// each segment of `/config/listeners/127.0.0.1%3A80` later.
pub fn normalize_path_keeping(raw_path: &[u8], keep_encoded: &[u8]) -> Result<Vec<u8>, HttpError> {
    if raw_path.first() != Some(&b'/') {
        return Err(HttpError::BadPath);
    }
    let decoded = decode_path(raw_path, keep_encoded)?;

    let mut normalized = Vec::with_capacity(decoded.len());
    // Where each segment now in `normalized` starts (at its slash).
    let mut segment_starts = Vec::new();
    let mut trailing_slash = false;
    for segment in decoded[1..].split(|&byte| byte == b'/') {
        trailing_slash = false;
        match segment {
            b"" | b"." => trailing_slash = true,
            b".." => {
                let start = segment_starts.pop().ok_or(HttpError::PathEscapesRoot)?;
                normalized.truncate(start);
                trailing_slash = true;
            }
            _ => {
                segment_starts.push(normalized.len());
                normalized.push(b'/');
                normalized.extend_from_slice(segment);
            }
        }
    }
    if trailing_slash || normalized.is_empty() {
        normalized.push(b'/');
    }
    Ok(normalized)
}

/// Percent-encodes `text` into `push`, byte by byte: a byte `keep` accepts goes as it
/// is, any other as `%` and two uppercase hex digits.
pub fn percent_encode(text: &[u8], keep: fn(u8) -> bool, mut push: impl FnMut(u8)) {
    for &byte in text {
        if keep(byte) {
            push(byte);
        } else {
            push(b'%');
            push(HEX_UPPER[usize::from(byte >> 4)]);
            push(HEX_UPPER[usize::from(byte & 0xf)]);
        }
    }
}

/// Whether a byte of a decoded path may stand unencoded in a request line or a
/// `Location`: the unreserved characters, the sub-delimiters, `:`, `@` and `/`. So a
/// space, `%`, `?`, `#` or a line break in a path cannot change the request.
pub fn is_path_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"/-._~!$&'()*+,;=:@".contains(&byte)
}

/// Encodes a `Location` value as Unit does. A value that is already encoded (its only
/// bytes outside the URI characters are valid `%XX` escapes, one `?` and one `#` after
/// it) is kept as it is. Otherwise every such byte is escaped, `%` included, except
/// the first `?` (query) and the first `#` (fragment) that follows it or stands alone.
pub fn encode_location(text: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if is_encoded_location(text) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut encoded = Vec::with_capacity(text.len() + 16);
    let mut delimiters = LocationDelimiters::Both;
    for &byte in text {
        if !needs_escape(byte) || delimiters.take(byte) {
            encoded.push(byte);
        } else {
            encoded.extend_from_slice(&[
                b'%',
                HEX_UPPER[usize::from(byte >> 4)],
                HEX_UPPER[usize::from(byte & 0xf)],
            ]);
        }
    }
    std::borrow::Cow::Owned(encoded)
}

/// Which of a `Location`'s delimiters may still stand unencoded.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LocationDelimiters {
    /// The query's `?` and the fragment's `#`.
    Both,
    /// Only the fragment's `#` (a `?` was seen).
    Fragment,
    /// Neither (a `#` was seen).
    None,
}

impl LocationDelimiters {
    /// Whether `byte` is a delimiter that may stand as it is here; takes it if so.
    fn take(&mut self, byte: u8) -> bool {
        match (*self, byte) {
            (LocationDelimiters::Both, b'?') => *self = LocationDelimiters::Fragment,
            (LocationDelimiters::Both | LocationDelimiters::Fragment, b'#') => {
                *self = LocationDelimiters::None
            }
            _ => return false,
        }
        true
    }
}

/// Whether a `Location` needs no encoding: see [`encode_location`].
fn is_encoded_location(text: &[u8]) -> bool {
    let mut delimiters = LocationDelimiters::Both;
    let mut byte_idx = 0;
    while let Some(&byte) = text.get(byte_idx) {
        if byte == b'%' {
            if decode_escape(text, byte_idx).is_err() {
                return false;
            }
            byte_idx += 3;
            continue;
        }
        if needs_escape(byte) && !delimiters.take(byte) {
            return false;
        }
        byte_idx += 1;
    }
    true
}

/// The bytes Unit escapes in a URI: controls, space, `"#%<>?\^` and backtick, `{|}`,
/// DEL and every byte above it.
fn needs_escape(byte: u8) -> bool {
    byte <= b' ' || byte >= 0x7f || b"\"#%<>?\\^`{|}".contains(&byte)
}

/// Parses a query string into decoded `(name, value)` pairs, in order, as Unit does.
///
/// Pairs are split at `&` and a pair's name from its value at the first `=`; `+` means
/// a space and a valid `%XX` escape its byte, while an invalid escape stays as sent. A
/// pair without `=` is a name with an empty value; empty pairs (and a bare `=`) are
/// skipped, but an empty name with a value is kept. Bytes that do not decode to UTF-8 are replaced
/// with U+FFFD.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    let decode = |component: &str| {
        String::from_utf8_lossy(&decode_query_lenient(component.as_bytes())).into_owned()
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (!name.is_empty() || !value.is_empty()).then(|| (decode(name), decode(value)))
        })
        .collect()
}

/// Decodes query text as Unit does: `+` is a space, a valid `%XX` escape its byte,
/// and an invalid or cut-short escape stays as it is.
pub fn decode_query_lenient(text: &[u8]) -> Vec<u8> {
    let mut decoded = Vec::with_capacity(text.len());
    let mut byte_idx = 0;
    while let Some(&byte) = text.get(byte_idx) {
        match byte {
            b'%' => match decode_escape(text, byte_idx) {
                Ok(value) => {
                    decoded.push(value);
                    byte_idx += 3;
                    continue;
                }
                Err(_) => decoded.push(b'%'),
            },
            b'+' => decoded.push(b' '),
            other => decoded.push(other),
        }
        byte_idx += 1;
    }
    decoded
}

/// For an `http://` or `https://` target (scheme in any case), the authority
/// and what follows it; `None` for every other form.
pub(crate) fn split_absolute_form(target: &str) -> Option<(&str, &str)> {
    let after_scheme = strip_prefix_ignore_case(target, "http://")
        .or_else(|| strip_prefix_ignore_case(target, "https://"))?;
    let authority_end = after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len());
    Some(after_scheme.split_at(authority_end))
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// Decodes every escape of a path except those of `keep_encoded`; refuses NUL.
fn decode_path(raw_path: &[u8], keep_encoded: &[u8]) -> Result<Vec<u8>, HttpError> {
    let mut decoded = Vec::with_capacity(raw_path.len());
    let mut byte_idx = 0;
    while let Some(&byte) = raw_path.get(byte_idx) {
        if byte != b'%' {
            decoded.push(byte);
            byte_idx += 1;
            continue;
        }
        let value = decode_escape(raw_path, byte_idx)?;
        if keep_encoded.contains(&value) {
            decoded.extend_from_slice(&[
                b'%',
                HEX_UPPER[usize::from(value >> 4)],
                HEX_UPPER[usize::from(value & 0xf)],
            ]);
        } else {
            decoded.push(value);
        }
        byte_idx += 3;
    }
    if decoded.contains(&0) {
        return Err(HttpError::NulInPath);
    }
    Ok(decoded)
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Decodes the escape whose `%` sits at `percent_idx`.
fn decode_escape(input: &[u8], percent_idx: usize) -> Result<u8, HttpError> {
    let high = input.get(percent_idx + 1).copied().and_then(hex_value);
    let low = input.get(percent_idx + 2).copied().and_then(hex_value);
    match (high, low) {
        (Some(high), Some(low)) => Ok(high << 4 | low),
        _ => Err(HttpError::BadPercentEncoding),
    }
}

/// The value of one hexadecimal digit, either case.
pub(crate) fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
