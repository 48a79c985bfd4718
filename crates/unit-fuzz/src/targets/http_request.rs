//! `http-request`: request heads as a connection reads them.
//!
//! The first byte picks the header buffers (the router's defaults, or small ones so the
//! line-by-line rule is reached with short inputs); the rest is what the client sent.
//! Checked, whatever the bytes: parsing into a head that held another request gives
//! the same result as parsing into a fresh one; a head that parses also parses from
//! exactly its own bytes, and every shorter prefix of it is "incomplete", never an
//! error (a request split across reads is the same request); a start that does not fit
//! the buffers never fits once more arrives; and what the router does next with a
//! parsed head (splitting the target, normalising its path, the host) does not panic.

use unit_http::{
    BodyKind, HeadLimits, HeaderBuffers, HttpError, RequestHead, host_name, normalize_host,
    normalize_path, parse_request_head, parse_request_head_into, split_target,
};

use super::{bucket, outcome};

/// Tokens of request heads.
pub(super) const DICTIONARY: &[&[u8]] = &[
    b"\r\n",
    b"\r\n\r\n",
    b"\n",
    b" HTTP/1.1\r\n",
    b" HTTP/1.0\r\n",
    b"HTTP/2.0",
    b"GET ",
    b"POST ",
    b"OPTIONS * HTTP/1.1\r\n",
    b"CONNECT ",
    b"http://",
    b"Host: ",
    b"Host: example.com:8080\r\n",
    b"Content-Length: ",
    b"Content-Length: 0\r\n",
    b"Content-Length: 5, 5\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: gzip, chunked\r\n",
    b"Connection: close\r\n",
    b"Connection: keep-alive, Upgrade\r\n",
    b"Upgrade: websocket\r\n",
    b"Expect: 100-continue\r\n",
    b": ",
    b" \t",
    b"%2e",
    b"%00",
    b"..",
    b"/../",
    b"?a=b",
    b"#frag",
    b"@",
    b"[::1]",
    b"\x80\xff",
];

/// A request that fills every part of a head, parsed into the head that is then
/// reused, so stale contents would show.
const OTHER_REQUEST: &[u8] = b"POST /other/path?q=1 HTTP/1.0\r\nHost: other.example\r\n\
    Content-Length: 5\r\nConnection: keep-alive\r\nX-One: 1\r\nX-Two: 2\r\nX-Three: 3\r\n\r\n";

/// Runs one input.
pub(super) fn run(input: &[u8]) -> u64 {
    let Some((&selector, client)) = input.split_first() else {
        return 0;
    };
    let buffers = header_buffers(selector);
    let limits = HeadLimits {
        max_head_bytes: buffers.max_head_bytes(),
        max_headers: 256,
    };

    let mut fresh = RequestHead::default();
    let parsed = parse_request_head_into(client, &limits, &mut fresh);

    let mut reused = RequestHead::default();
    let other = parse_request_head_into(OTHER_REQUEST, &HeadLimits::default(), &mut reused);
    assert_eq!(other, Ok(true), "the other request parses");
    let reparsed = parse_request_head_into(client, &limits, &mut reused);
    assert_eq!(parsed, reparsed, "a reused head parses differently");
    if parsed == Ok(true) {
        assert_eq!(fresh, reused, "a reused head keeps stale contents");
    }
    let owned = parse_request_head(client, &limits);
    assert_eq!(
        owned.as_ref().map(Option::is_some),
        parsed.as_ref().copied(),
        "parse_request_head and parse_request_head_into disagree"
    );

    let fits_all = buffers.fits(client);
    match parsed {
        Ok(true) => check_complete(client, &limits, &buffers, &fresh, selector),
        Ok(false) => {
            assert!(
                client.len() < limits.max_head_bytes,
                "an incomplete head of {} bytes is past the {}-byte limit",
                client.len(),
                limits.max_head_bytes
            );
        }
        Err(error) => {
            assert!(
                (400..=505).contains(&error.status()),
                "{error:?} answers {}",
                error.status()
            );
        }
    }
    outcome((
        parsed.map_err(|error: HttpError| error),
        parsed.is_ok_and(|complete| complete).then(|| {
            (
                body_shape(fresh.body),
                fresh.version_minor,
                fresh.keep_alive,
                fresh.expect_continue,
                bucket(fresh.headers.len()),
            )
        }),
        fits_all,
        selector & 3,
    ))
}

/// The buffers picked by the input's first byte: the router's defaults for 0, else a
/// small first buffer and small large ones, so a head outgrows them quickly.
fn header_buffers(selector: u8) -> HeaderBuffers {
    if selector & 3 == 0 {
        return HeaderBuffers {
            first_size: 2048,
            large_size: 8192,
            n_large: 4,
        };
    }
    HeaderBuffers {
        first_size: [0, 16, 64, 256][usize::from(selector & 3)],
        large_size: 8 << ((selector >> 2) & 7),
        n_large: usize::from(selector >> 5),
    }
}

/// What must hold of a head that parsed whole from `client`.
fn check_complete(
    client: &[u8],
    limits: &HeadLimits,
    buffers: &HeaderBuffers,
    head: &RequestHead,
    selector: u8,
) {
    let head_len = head.head_len;
    assert!(
        head_len > 0 && head_len <= client.len(),
        "head_len {head_len} of {} bytes",
        client.len()
    );
    assert!(!head.method.is_empty(), "an empty method");
    assert!(head.version_minor <= 1, "version 1.{}", head.version_minor);
    if head.body == BodyKind::Chunked {
        assert_eq!(head.version_minor, 1, "a chunked HTTP/1.0 request");
    }
    if head.expect_continue {
        assert_eq!(head.version_minor, 1, "100-continue for HTTP/1.0");
    }

    // The bytes after the head are not looked at.
    let mut exact = RequestHead::default();
    assert_eq!(
        parse_request_head_into(&client[..head_len], limits, &mut exact),
        Ok(true),
        "the head does not parse from its own bytes"
    );
    assert_eq!(
        &exact, head,
        "the head parses differently from its own bytes"
    );

    // A prefix is a head still arriving. One prefix per input keeps the target fast;
    // which one comes from the input, so a failure reproduces.
    let prefix_len = (usize::from(selector) * 7919 + client.len()) % head_len;
    let mut partial = RequestHead::default();
    let prefix = &client[..prefix_len];
    assert_eq!(
        parse_request_head_into(prefix, limits, &mut partial),
        Ok(false),
        "the first {prefix_len} bytes of a {head_len}-byte head are not incomplete"
    );
    if !buffers.fits(prefix) {
        assert!(
            !buffers.fits(&client[..head_len]),
            "a start of {prefix_len} bytes does not fit the buffers, the whole head does"
        );
    }

    // What the router does next with it.
    let (path, query) = split_target(&head.target);
    assert!(!path.is_empty(), "an empty path from {:?}", head.target);
    if let Some(query) = query {
        assert!(!query.contains('#'), "a fragment in the query {query:?}");
    }
    if path.starts_with('/') {
        let _ = normalize_path(path.as_bytes());
    }
    if let Some(host) = head.host() {
        let _ = normalize_host(host_name(host));
    }
    assert!(head.request_line().starts_with(&head.method));
}

/// The body framing without the length, for the outcome.
fn body_shape(body: BodyKind) -> u8 {
    match body {
        BodyKind::None => 0,
        BodyKind::Length(0) => 1,
        BodyKind::Length(_) => 2,
        BodyKind::Chunked => 3,
    }
}
