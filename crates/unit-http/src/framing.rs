//! Framing facts gathered from header fields, shared by both head parsers.
//!
//! One pass over the fields collects what decides where a body ends and
//! whether the connection stays open: Content-Length (validated, repeated
//! values reconciled), the Transfer-Encoding codings, Connection tokens,
//! `Expect: 100-continue` and the Host fields. Content-Length syntax errors
//! are refused here because they are errors for requests and responses alike;
//! everything else is policy and stays with the request and response parsers.

use crate::HttpError;

/// What the fields of one head say about framing and persistence.
#[derive(Debug, Default)]
pub(crate) struct Framing<'buf> {
    /// The agreed Content-Length, if any field carried one.
    pub(crate) content_length: Option<u64>,
    /// The summary of all Transfer-Encoding fields, if any were present.
    pub(crate) transfer_coding: Option<TransferCoding>,
    /// A Connection field listed `close`.
    pub(crate) connection_close: bool,
    /// A Connection field listed `keep-alive`.
    pub(crate) connection_keep_alive: bool,
    /// An Expect field asked for `100-continue`.
    pub(crate) expect_continue: bool,
    /// The value of the first Host field.
    pub(crate) host: Option<&'buf [u8]>,
    /// How many Host fields were present.
    pub(crate) n_hosts: usize,
    /// How many Transfer-Encoding fields were present.
    pub(crate) n_transfer_encodings: usize,
}

/// The shape of the transfer codings listed across all Transfer-Encoding fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransferCoding {
    /// Exactly one coding, `chunked`.
    Chunked,
    /// Several codings (or a repeated `chunked`) ending in `chunked`.
    ChunkedAfterOthers,
    /// The final coding is not `chunked`, or there is no coding at all.
    NotChunked,
}

// === impl Framing ===

impl<'buf> Framing<'buf> {
    /// Scans `headers` once; fails only on an invalid or inconsistent Content-Length.
    pub(crate) fn scan(headers: &[httparse::Header<'buf>]) -> Result<Self, HttpError> {
        let mut framing = Framing::default();
        let mut n_codings = 0usize;
        let mut last_is_chunked = false;
        for header in headers {
            let name = header.name;
            if name.eq_ignore_ascii_case("content-length") {
                framing.merge_content_length(header.value)?;
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                framing.n_transfer_encodings += 1;
                for coding in list_elements(header.value) {
                    n_codings += 1;
                    last_is_chunked = coding.eq_ignore_ascii_case(b"chunked");
                }
                framing.transfer_coding = Some(match (n_codings, last_is_chunked) {
                    (1, true) => TransferCoding::Chunked,
                    (_, true) => TransferCoding::ChunkedAfterOthers,
                    (_, false) => TransferCoding::NotChunked,
                });
            } else if name.eq_ignore_ascii_case("connection") {
                for token in list_elements(header.value) {
                    if token.eq_ignore_ascii_case(b"close") {
                        framing.connection_close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        framing.connection_keep_alive = true;
                    }
                }
            } else if name.eq_ignore_ascii_case("expect") {
                if header
                    .value
                    .trim_ascii()
                    .eq_ignore_ascii_case(b"100-continue")
                {
                    framing.expect_continue = true;
                }
            } else if name.eq_ignore_ascii_case("host") {
                framing.n_hosts += 1;
                if framing.host.is_none() {
                    framing.host = Some(header.value);
                }
            }
        }
        Ok(framing)
    }

    /// Whether the connection persists after this message (RFC 9112 section 9.3).
    pub(crate) fn keep_alive(&self, version_minor: u8) -> bool {
        if self.connection_close {
            false
        } else if version_minor >= 1 {
            true
        } else {
            self.connection_keep_alive
        }
    }

    /// Folds one Content-Length value (possibly a comma list) into the agreed length.
    fn merge_content_length(&mut self, value: &[u8]) -> Result<(), HttpError> {
        for element in value.split(|&byte| byte == b',') {
            let length = parse_decimal(element.trim_ascii()).ok_or(HttpError::BadContentLength)?;
            match self.content_length {
                Some(agreed) if agreed != length => return Err(HttpError::DuplicateLength),
                _ => self.content_length = Some(length),
            }
        }
        Ok(())
    }
}

/// The non-empty, whitespace-trimmed elements of a comma-separated field value.
pub(crate) fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&byte| byte == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|element| !element.is_empty())
}

/// Parses one or more ASCII digits, nothing else, into a `u64`.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |value, &byte| {
        if byte.is_ascii_digit() {
            value.checked_mul(10)?.checked_add(u64::from(byte - b'0'))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    //! Content-Length reconciliation and list splitting.

    use super::{Framing, TransferCoding, list_elements, parse_decimal};
    use crate::HttpError;

    fn scan(fields: &[(&'static str, &'static str)]) -> Result<Framing<'static>, HttpError> {
        let headers: Vec<httparse::Header<'static>> = fields
            .iter()
            .map(|&(name, value)| httparse::Header {
                name,
                value: value.as_bytes(),
            })
            .collect();
        Framing::scan(&headers)
    }

    fn check_length(
        fields: &[(&'static str, &'static str)],
        expected: Result<Option<u64>, HttpError>,
    ) {
        let actual = scan(fields).map(|framing| framing.content_length);
        assert_eq!(actual, expected, "{fields:?}");
    }

    #[test]
    fn content_length() {
        check_length(&[], Ok(None));
        check_length(&[("Content-Length", "0")], Ok(Some(0)));
        check_length(&[("content-length", "0042")], Ok(Some(42)));
        check_length(&[("Content-Length", "5, 5")], Ok(Some(5)));
        check_length(
            &[("Content-Length", "5"), ("content-length", "5")],
            Ok(Some(5)),
        );
        check_length(
            &[("Content-Length", "18446744073709551615")],
            Ok(Some(u64::MAX)),
        );
        check_length(
            &[("Content-Length", "5, 6")],
            Err(HttpError::DuplicateLength),
        );
        check_length(
            &[("Content-Length", "5"), ("Content-Length", "6")],
            Err(HttpError::DuplicateLength),
        );
        check_length(
            &[("Content-Length", "+5")],
            Err(HttpError::BadContentLength),
        );
        check_length(
            &[("Content-Length", "-5")],
            Err(HttpError::BadContentLength),
        );
        check_length(&[("Content-Length", "")], Err(HttpError::BadContentLength));
        check_length(
            &[("Content-Length", "5,")],
            Err(HttpError::BadContentLength),
        );
        check_length(
            &[("Content-Length", "0x10")],
            Err(HttpError::BadContentLength),
        );
        check_length(
            &[("Content-Length", "1 2")],
            Err(HttpError::BadContentLength),
        );
        check_length(
            &[("Content-Length", "18446744073709551616")],
            Err(HttpError::BadContentLength),
        );
    }

    fn check_coding(values: &[&'static str], expected: Option<TransferCoding>) {
        let fields: Vec<_> = values
            .iter()
            .map(|&value| ("Transfer-Encoding", value))
            .collect();
        let actual = scan(&fields).map(|framing| framing.transfer_coding);
        assert_eq!(actual, Ok(expected), "{values:?}");
    }

    #[test]
    fn transfer_codings() {
        check_coding(&[], None);
        check_coding(&["chunked"], Some(TransferCoding::Chunked));
        check_coding(&["CHUNKED"], Some(TransferCoding::Chunked));
        check_coding(&[", chunked ,"], Some(TransferCoding::Chunked));
        check_coding(&["gzip, chunked"], Some(TransferCoding::ChunkedAfterOthers));
        check_coding(
            &["gzip", "chunked"],
            Some(TransferCoding::ChunkedAfterOthers),
        );
        check_coding(
            &["chunked", "chunked"],
            Some(TransferCoding::ChunkedAfterOthers),
        );
        check_coding(&["chunked, gzip"], Some(TransferCoding::NotChunked));
        check_coding(&["xchunked"], Some(TransferCoding::NotChunked));
        check_coding(&["chunked;q=1"], Some(TransferCoding::NotChunked));
        check_coding(&[""], Some(TransferCoding::NotChunked));
    }

    #[test]
    fn list_and_decimal_helpers() {
        let elements: Vec<&[u8]> = list_elements(b" a ,, b\t,").collect();
        assert_eq!(elements, [&b"a"[..], &b"b"[..]]);
        assert_eq!(parse_decimal(b"007"), Some(7));
        assert_eq!(parse_decimal(b""), None);
        assert_eq!(parse_decimal(b"1a"), None);
    }
}
