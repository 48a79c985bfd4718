//! The one error type of this crate, shared by every parser in it.
//!
//! Each variant names one reason a head, a chunk, a path or a
//! percent-encoded component was refused; none carries data, so callers can
//! match and compare them cheaply. `HttpError::status` maps a variant to the
//! status code a server answers a client with; what a proxy answers when an
//! upstream sends garbage (usually 502) is the router's decision, not ours.

use thiserror::Error;

/// Why a message, a chunk or a request-target component was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
#[non_exhaustive]
pub enum HttpError {
    /// An application request frame is truncated, oversized or has an unknown kind.
    #[error("malformed application request frame")]
    BadAppFrame,
    /// The head did not end within `HeadLimits::max_head_bytes`.
    #[error("message head is too large")]
    HeadTooLarge,
    /// The head holds more fields than `HeadLimits::max_headers`.
    #[error("too many header fields")]
    TooManyHeaders,
    /// The request line is not `method SP request-target SP HTTP-version`,
    /// or its target has a form this server does not accept.
    #[error("malformed request line")]
    BadRequestLine,
    /// The status line of a response is malformed.
    #[error("malformed status line")]
    BadStatusLine,
    /// A header field line is malformed (for example a space before the colon).
    #[error("malformed header field")]
    BadHeader,
    /// A header line starts with whitespace (obsolete line folding).
    #[error("obsolete line folding in header section")]
    ObsoleteLineFolding,
    /// The Host header (or the authority of an absolute-form target) is invalid.
    #[error("invalid host")]
    BadHost,
    /// The request carries more than one Host header field.
    #[error("more than one host header field")]
    DuplicateHost,
    /// Both Content-Length and Transfer-Encoding are present.
    #[error("both content-length and transfer-encoding are present")]
    ConflictingLength,
    /// Content-Length values disagree.
    #[error("content-length values differ")]
    DuplicateLength,
    /// A Content-Length value is not a plain decimal number that fits in 64 bits.
    #[error("invalid content-length")]
    BadContentLength,
    /// Transfer-Encoding lists something other than a single `chunked`.
    #[error("unsupported transfer coding")]
    UnsupportedTransferEncoding,
    /// The request carries more than one Transfer-Encoding field (Unit refuses it: 400).
    #[error("more than one transfer-encoding header field")]
    DuplicateTransferEncoding,
    /// Transfer-Encoding appears in an HTTP/1.0 message.
    #[error("transfer-encoding in an http/1.0 message")]
    TransferEncodingInHttp10,
    /// The protocol version is well formed but is not HTTP/1.0 or HTTP/1.1.
    #[error("unsupported http version")]
    UnsupportedVersion,
    /// Chunked framing is malformed.
    #[error("malformed chunk")]
    BadChunk,
    /// A chunk size does not fit in 64 bits.
    #[error("chunk size is too large")]
    ChunkSizeTooLarge,
    /// The trailer section of a chunked body is longer than the decoder allows.
    #[error("trailer section is too large")]
    TrailersTooLarge,
    /// A `%` is not followed by two hexadecimal digits.
    #[error("invalid percent-encoding")]
    BadPercentEncoding,
    /// A path decodes to a NUL byte.
    #[error("path contains a nul byte")]
    NulInPath,
    /// A `..` segment climbs above the root.
    #[error("path climbs above the root")]
    PathEscapesRoot,
    /// A path to normalize does not start with `/`.
    #[error("path does not start with a slash")]
    BadPath,
    /// The connection closed before the body it framed had all arrived.
    #[error("body cut short by the close")]
    BodyCutShort,
}

// === impl HttpError ===

impl HttpError {
    /// The status code a server sends when a client's request fails this way.
    ///
    /// 431 for oversized heads, 501 for transfer codings we cannot decode,
    /// 505 for other protocol versions, 400 for everything else.
    pub fn status(&self) -> u16 {
        match self {
            Self::HeadTooLarge | Self::TooManyHeaders => 431,
            Self::UnsupportedTransferEncoding => 501,
            Self::UnsupportedVersion => 505,
            _ => 400,
        }
    }
}

#[cfg(test)]
mod tests {
    //! Status mapping of the error variants.

    use super::HttpError;

    fn check(error: HttpError, expected: u16) {
        assert_eq!(error.status(), expected, "{error:?}");
    }

    #[test]
    fn status_codes() {
        check(HttpError::HeadTooLarge, 431);
        check(HttpError::TooManyHeaders, 431);
        check(HttpError::UnsupportedTransferEncoding, 501);
        check(HttpError::UnsupportedVersion, 505);
        check(HttpError::BadRequestLine, 400);
        check(HttpError::ConflictingLength, 400);
        check(HttpError::TransferEncodingInHttp10, 400);
        check(HttpError::PathEscapesRoot, 400);
    }

    #[test]
    fn messages_are_lowercase_without_period() {
        let errors = [
            HttpError::HeadTooLarge,
            HttpError::ObsoleteLineFolding,
            HttpError::TransferEncodingInHttp10,
            HttpError::BadPercentEncoding,
        ];
        for error in errors {
            let message = error.to_string();
            assert!(!message.ends_with('.'), "{message}");
            assert_eq!(message, message.to_lowercase());
        }
    }
}
