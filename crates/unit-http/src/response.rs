//! Writing response heads: the status line with its reason phrase, then the
//! header fields.
//!
//! The writer always speaks HTTP/1.1 (a server sends its own version, RFC
//! 9110 section 6.2). It never emits a line break a header value smuggled in:
//! values come from configuration templates that may expand decoded request
//! data, so control characters are replaced with spaces and fields whose name
//! is not a token are left out. Adding `Date`, `Server`, `Content-Length`
//! and the like is the caller's job.

/// The standard reason phrase of `status`, or `""` for codes without one.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        208 => "Already Reported",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        510 => "Not Extended",
        511 => "Network Authentication Required",
        _ => "",
    }
}

/// A response head to serialize: a status and header fields in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The status code, normally 100-999.
    pub status: u16,
    /// Header fields in the order they are written.
    pub headers: Vec<(String, String)>,
}

// === impl ResponseHead ===

impl ResponseHead {
    /// A head with `status` and no fields.
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
        }
    }

    /// Adds a field, builder style.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.push(name, value);
        self
    }

    /// Adds a field.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.headers.push((name.into(), value.into()));
    }

    /// Appends `HTTP/1.1 <status> <reason>`, the fields and the empty line to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let fields_len: usize = self
            .headers
            .iter()
            .map(|(name, value)| name.len() + value.len() + 4)
            .sum();
        out.reserve(48 + fields_len);
        let mut head = HeadWriter::start(out, self.status);
        for (name, value) in &self.headers {
            head.field(name, value.as_bytes());
        }
        head.finish();
    }
}

// === impl HeadWriter ===

/// Writes a response head into a buffer, field by field, with no allocation, under one
/// rule for everything written: a field whose name is not a token is left out, and in a
/// value every control byte but the tab (CR and LF included) becomes a space, so no
/// value can end the head early or smuggle a field in, wherever it came from (the
/// configuration, a file, or an upstream).
#[derive(Debug)]
pub struct HeadWriter<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> HeadWriter<'a> {
    /// Writes the status line `HTTP/1.1 <status> <reason>` (three digits, a status
    /// above 999 as written).
    pub fn start(out: &'a mut Vec<u8>, status: u16) -> HeadWriter<'a> {
        out.extend_from_slice(b"HTTP/1.1 ");
        if status < 1000 {
            out.extend_from_slice(&[
                b'0' + (status / 100) as u8,
                b'0' + (status / 10 % 10) as u8,
                b'0' + (status % 10) as u8,
            ]);
        } else {
            push_decimal(out, u64::from(status));
        }
        out.push(b' ');
        out.extend_from_slice(reason_phrase(status).as_bytes());
        out.extend_from_slice(b"\r\n");
        HeadWriter { out }
    }

    /// Writes `name: value`.
    pub fn field(&mut self, name: &str, value: &[u8]) {
        if !is_token(name) {
            return;
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b": ");
        self.out
            .extend(value.iter().map(|&byte| safe_value_byte(byte)));
        self.out.extend_from_slice(b"\r\n");
    }

    /// Writes `name: <value in decimal>`.
    pub fn decimal_field(&mut self, name: &str, value: u64) {
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b": ");
        push_decimal(self.out, value);
        self.out.extend_from_slice(b"\r\n");
    }

    /// Ends the head with the empty line.
    pub fn finish(self) {
        self.out.extend_from_slice(b"\r\n");
    }
}

/// The byte written for `byte` of a field value: itself, or a space for a control byte
/// other than the tab.
fn safe_value_byte(byte: u8) -> u8 {
    if byte == b'\t' || !byte.is_ascii_control() {
        byte
    } else {
        b' '
    }
}

/// Appends `value` in decimal (what `write!` does, without its formatting machinery).
pub fn push_decimal(output: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    output.extend_from_slice(&digits[start..]);
}

/// Whether `name` is a non-empty token (RFC 9110 section 5.6.2).
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|byte| {
            byte.is_ascii_alphanumeric()
                || matches!(
                    byte,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

#[cfg(test)]
mod tests {
    //! Reason phrases and serialized heads.

    use super::{HeadWriter, ResponseHead, push_decimal, reason_phrase, safe_value_byte};

    fn check_reason(status: u16, expected: &str) {
        assert_eq!(reason_phrase(status), expected, "{status}");
    }

    #[test]
    fn reason_phrases() {
        check_reason(100, "Continue");
        check_reason(200, "OK");
        check_reason(204, "No Content");
        check_reason(301, "Moved Permanently");
        check_reason(304, "Not Modified");
        check_reason(404, "Not Found");
        check_reason(413, "Content Too Large");
        check_reason(431, "Request Header Fields Too Large");
        check_reason(500, "Internal Server Error");
        check_reason(505, "HTTP Version Not Supported");
        check_reason(511, "Network Authentication Required");
        check_reason(0, "");
        check_reason(299, "");
        check_reason(999, "");
    }

    #[test]
    fn every_listed_phrase_is_plain_text() {
        for status in 100..=599 {
            let reason = reason_phrase(status);
            assert!(
                reason
                    .bytes()
                    .all(|byte| byte == b' ' || byte.is_ascii_graphic()),
                "{status}"
            );
        }
    }

    fn check(head: ResponseHead, expected: &str) {
        let mut out = b"prefix|".to_vec();
        head.write_to(&mut out);
        assert_eq!(String::from_utf8_lossy(&out), format!("prefix|{expected}"));
    }

    #[test]
    fn written_heads() {
        check(ResponseHead::new(200), "HTTP/1.1 200 OK\r\n\r\n");
        check(
            ResponseHead::new(404)
                .header("Content-Length", "0")
                .header("Server", "Unit"),
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nServer: Unit\r\n\r\n",
        );
        check(ResponseHead::new(299), "HTTP/1.1 299 \r\n\r\n");
        check(ResponseHead::new(7), "HTTP/1.1 007 \r\n\r\n");
        check(ResponseHead::new(1000), "HTTP/1.1 1000 \r\n\r\n");
        check(
            ResponseHead::new(200).header("X", ""),
            "HTTP/1.1 200 OK\r\nX: \r\n\r\n",
        );
        check(
            ResponseHead::new(302).header("Location", "/a\r\nSet-Cookie: evil\0"),
            "HTTP/1.1 302 Found\r\nLocation: /a  Set-Cookie: evil \r\n\r\n",
        );
        check(
            ResponseHead::new(200).header("X", "a\tb é"),
            "HTTP/1.1 200 OK\r\nX: a\tb é\r\n\r\n",
        );
        check(
            ResponseHead::new(200)
                .header("Bad Name", "1")
                .header("", "2")
                .header("Ok", "3"),
            "HTTP/1.1 200 OK\r\nOk: 3\r\n\r\n",
        );
    }

    #[test]
    fn one_rule_for_unsafe_bytes() {
        // Every byte, as the value of one field: controls but the tab become spaces,
        // everything else (obs-text included) is kept.
        for byte in 0..=u8::MAX {
            let expected = match byte {
                b'\t' => b'\t',
                0x00..=0x1f | 0x7f => b' ',
                other => other,
            };
            assert_eq!(safe_value_byte(byte), expected, "{byte:#04x}");
            let mut out = Vec::new();
            let mut head = HeadWriter::start(&mut out, 200);
            head.field("X", &[b'a', byte, b'b']);
            head.finish();
            let field = [b"X: a".as_slice(), &[expected], b"b\r\n"].concat();
            assert!(
                out.windows(field.len()).any(|window| window == field),
                "{byte:#04x}"
            );
            assert_eq!(
                out.iter().filter(|&&b| b == b'\n').count(),
                3,
                "{byte:#04x}"
            );
        }
    }

    #[test]
    fn decimals() {
        for value in [0, 7, 10, 200, 1_048_576, u64::MAX] {
            let mut output = b"x".to_vec();
            push_decimal(&mut output, value);
            assert_eq!(output, format!("x{value}").into_bytes());
        }
        let mut out = Vec::new();
        let mut head = HeadWriter::start(&mut out, 204);
        head.decimal_field("Content-Length", 0);
        head.finish();
        assert_eq!(out, b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n");
    }

    #[test]
    fn push_appends_in_order() {
        let mut head = ResponseHead::new(201);
        head.push("A", "1");
        head.push(String::from("B"), String::from("2"));
        assert_eq!(
            head.headers,
            [
                ("A".to_owned(), "1".to_owned()),
                ("B".to_owned(), "2".to_owned())
            ]
        );
    }
}
