//! Tables for `parse_response_head`: body rules, persistence, malformed and
//! ambiguous upstream responses.

use super::{ResponseHeadParsed, parse_response_head, parse_response_head_into};
use crate::{HeadLimits, HttpError};

fn render(result: Result<Option<ResponseHeadParsed>, HttpError>) -> String {
    match result {
        Err(error) => format!("error {error:?}"),
        Ok(None) => "partial".to_owned(),
        Ok(Some(head)) => {
            let persistence = if head.keep_alive {
                "keep-alive"
            } else {
                "close"
            };
            format!(
                "1.{} {} {:?} len={} {:?} {persistence}",
                head.version_minor, head.status, head.reason, head.head_len, head.body
            )
        }
    }
}

fn check_with(input: &str, request_was_head: bool, expected: &str) {
    let result = parse_response_head(input.as_bytes(), &HeadLimits::default(), request_was_head);
    assert_eq!(render(result), expected, "input: {input:?}");
}

fn check(input: &str, expected: &str) {
    check_with(input, false, expected);
}

#[test]
fn body_rules() {
    let cases = [
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            "1.1 200 \"OK\" len=38 Length(5) keep-alive",
        ),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            "1.1 200 \"OK\" len=47 Chunked keep-alive",
        ),
        (
            "HTTP/1.1 200 OK\r\n\r\n",
            "1.1 200 \"OK\" len=19 UntilClose close",
        ),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            "1.1 200 \"OK\" len=44 UntilClose close",
        ),
        (
            "HTTP/1.1 204 No Content\r\n\r\n",
            "1.1 204 \"No Content\" len=27 None keep-alive",
        ),
        (
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
            "1.1 304 \"Not Modified\" len=49 None keep-alive",
        ),
        (
            "HTTP/1.1 100 Continue\r\n\r\n",
            "1.1 100 \"Continue\" len=25 None keep-alive",
        ),
        (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            "1.1 101 \"Switching Protocols\" len=77 None keep-alive",
        ),
        (
            "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n",
            "1.0 200 \"OK\" len=38 Length(2) close",
        ),
        (
            "HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n",
            "1.0 200 \"OK\" len=62 Length(2) keep-alive",
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n",
            "1.1 200 \"OK\" len=57 Length(2) close",
        ),
        (
            "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
            "1.1 200 \"\" len=35 Length(0) keep-alive",
        ),
        (
            "HTTP/1.1 599 Custom Thing\r\n\r\n",
            "1.1 599 \"Custom Thing\" len=29 UntilClose close",
        ),
        (
            "HTTP/1.1 200 é\r\n\r\n",
            "1.1 200 \"\" len=19 UntilClose close",
        ),
        (
            "HTTP/1.1 200 OK\nContent-Length: 1\n\n",
            "1.1 200 \"OK\" len=35 Length(1) keep-alive",
        ),
    ];
    for (input, expected) in cases {
        check(input, expected);
    }
}

#[test]
fn head_requests_have_no_body() {
    check_with(
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
        true,
        "1.1 200 \"OK\" len=38 None keep-alive",
    );
    check_with(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        true,
        "1.1 200 \"OK\" len=47 None keep-alive",
    );
    check_with(
        "HTTP/1.1 200 OK\r\n\r\n",
        true,
        "1.1 200 \"OK\" len=19 None keep-alive",
    );
}

#[test]
fn refused_responses() {
    let cases = [
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            "error ConflictingLength",
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n",
            "error DuplicateLength",
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
            "error BadContentLength",
        ),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "error UnsupportedTransferEncoding",
        ),
        (
            "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            "error TransferEncodingInHttp10",
        ),
        (
            "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
            "error ObsoleteLineFolding",
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n",
            "error BadHeader",
        ),
        ("HTTP/1.1 099 Odd\r\n\r\n", "error BadStatusLine"),
        ("HTTP/1.1 20 OK\r\n\r\n", "error BadStatusLine"),
        ("HTTP/1.1 2000 OK\r\n\r\n", "error BadStatusLine"),
        ("HTTP/1.1 200 O\x01K\r\n\r\n", "error BadStatusLine"),
        ("HTTP/1.1\r\n\r\n", "error BadStatusLine"),
        ("HTTP/2 200\r\n\r\n", "error UnsupportedVersion"),
        ("HTTP/2.0 200 OK\r\n\r\n", "error UnsupportedVersion"),
        ("HTTX/1.1 200 OK\r\n\r\n", "error BadStatusLine"),
        ("<html>", "error BadStatusLine"),
    ];
    for (input, expected) in cases {
        check(input, expected);
    }
}

#[test]
fn partial_and_limits() {
    check("", "partial");
    check("HTTP/1.1 200 OK\r\n", "partial");
    check("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", "partial");
    let small = HeadLimits {
        max_head_bytes: 20,
        max_headers: 1,
    };
    let parse = |input: &str| render(parse_response_head(input.as_bytes(), &small, false));
    assert_eq!(
        parse("HTTP/1.1 200 OK\r\n\r\n"),
        "1.1 200 \"OK\" len=19 UntilClose close"
    );
    assert_eq!(
        parse("HTTP/1.1 200 OK\r\nX: 1\r\n\r\n"),
        "error HeadTooLarge"
    );
    assert_eq!(parse("HTTP/1.1 200 OK\r\nX"), "partial");
    let few = HeadLimits {
        max_head_bytes: 1024,
        max_headers: 1,
    };
    let result = parse_response_head(b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n", &few, false);
    assert_eq!(render(result), "error TooManyHeaders");
}

#[test]
fn header_lookup_and_pipelining() {
    let input = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nSet-Cookie: a\r\nset-cookie: b\r\n\r\nokHTTP/1.1 204 No Content\r\n\r\n";
    let first = match parse_response_head(input, &HeadLimits::default(), false) {
        Ok(Some(head)) => head,
        other => panic!("expected a head, got {other:?}"),
    };
    assert_eq!(first.header("content-length"), Some(&b"2"[..]));
    let cookies: Vec<&[u8]> = first.headers_named("SET-COOKIE").collect();
    assert_eq!(cookies, [&b"a"[..], &b"b"[..]]);
    let next = first.head_len + 2;
    let second = parse_response_head(&input[next..], &HeadLimits::default(), false);
    assert_eq!(
        render(second),
        "1.1 204 \"No Content\" len=27 None keep-alive"
    );
}

#[test]
fn a_response_head_is_refilled_in_place() {
    let limits = HeadLimits::default();
    let mut head = ResponseHeadParsed::default();
    let first = b"HTTP/1.1 200 OK\r\nServer: s\r\nDate: d\r\nContent-Length: 2\r\n\r\nok";
    assert_eq!(
        parse_response_head_into(first, &limits, false, &mut head),
        Ok(true)
    );
    assert_eq!(
        Some(&head),
        parse_response_head(first, &limits, false)
            .ok()
            .flatten()
            .as_ref()
    );
    let second = b"HTTP/1.0 404 Not Found\r\nX: y\r\n\r\n";
    assert_eq!(
        parse_response_head_into(second, &limits, true, &mut head),
        Ok(true)
    );
    assert_eq!(
        Some(&head),
        parse_response_head(second, &limits, true)
            .ok()
            .flatten()
            .as_ref()
    );
    assert_eq!(head.headers.len(), 1, "nothing of the first head is left");
    assert_eq!(
        parse_response_head_into(b"HTTP/1.1 200", &limits, false, &mut head),
        Ok(false)
    );
}
