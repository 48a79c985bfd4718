//! `proxy-framing`, a differential target: where a request ends for the router, and
//! for the upstream its proxy forwards it to.
//!
//! The input is what a client sends on a connection of a `proxy` listener; the first
//! byte picks how its bytes arrive (in pieces of 1 to 128 bytes, or whole) and whether
//! a `rewrite` changes the path first. The router reads the head with the header-buffer
//! rules and the body with its own framing (Content-Length, or the chunked decoder over
//! the bytes as they are), exactly as a connection that answers the request itself
//! does. Its proxy (`unit_router::fuzzing::proxy_request`, the exchange's own head
//! writer and body forwarding) makes the bytes the upstream gets, which are then read
//! as an upstream server reads them: strictly by httparse, and by unit-http's parser
//! with its framing rules.
//!
//! Checked, so that no request can be smuggled past the router: the proxy takes as the
//! body exactly the bytes the router's framing says the body has, so the next request
//! on the connection starts at the same byte for both; the upstream finds one head,
//! whose framing gives exactly the router's body bytes, and nothing after it (when the
//! body is whole); a body cut short stays cut short, never becoming a complete request
//! and the start of another; and the method and target the upstream reads are the ones
//! the router routed (spaces in the target encoded).

use unit_http::{BodyKind, ChunkedDecoder, HeadLimits, parse_request_head};
use unit_router::fuzzing::{ProxiedRequest, proxy_request};

use super::{bucket, outcome};

/// Tokens of requests with bodies.
pub(super) const DICTIONARY: &[&[u8]] = &[
    b"\r\n",
    b"\r\n\r\n",
    b"\n",
    b" HTTP/1.1\r\n",
    b" HTTP/1.0\r\n",
    b"POST / HTTP/1.1\r\n",
    b"Host: a\r\n",
    b"Content-Length: ",
    b"Content-Length: 5\r\n",
    b"Content-Length: 0\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: identity\r\n",
    b"Connection: Upgrade\r\n",
    b"Upgrade: websocket\r\n",
    b"Connection: close\r\n",
    b"Expect: 100-continue\r\n",
    b"0\r\n\r\n",
    b"5\r\nhello\r\n",
    b";ext",
    b"GET / HTTP/1.1\r\n\r\n",
    b"%20",
    b"%0d%0a",
    b"?",
    b" ",
    b"\t",
    b"_",
    b"http://",
];

/// How an upstream server reads the bytes the proxy sends: generous limits, since the
/// router's own already applied.
const UPSTREAM_LIMITS: HeadLimits = HeadLimits {
    max_head_bytes: 1024 * 1024,
    max_headers: 1024,
};

/// Runs one input.
pub(super) fn run(input: &[u8]) -> u64 {
    let Some((&selector, client)) = input.split_first() else {
        return 0;
    };
    let piece_len = if selector & 7 == 0 {
        client.len()
    } else {
        1 << (selector & 7)
    };
    let rewrite = (selector & 8 != 0).then_some("/rewritten path/é?");
    let proxied = proxy_request(client, rewrite, piece_len);
    let ProxiedRequest::Forwarded {
        head_len,
        body_consumed,
        body_done,
        malformed,
        upstream_bytes,
        uri,
    } = proxied
    else {
        return match proxied {
            ProxiedRequest::Refused(status) => outcome(("refused", status)),
            _ => outcome("incomplete"),
        };
    };

    // The router's own reading of the request: the same head, the body by its framing.
    let router_head = match parse_request_head(client, &router_limits()) {
        Ok(Some(head)) => head,
        other => panic!("the router forwarded a request its parser reads as {other:?}"),
    };
    assert_eq!(router_head.head_len, head_len);
    let router_body = read_body(router_head.body, &client[head_len..]);
    if malformed {
        assert!(
            router_body.error,
            "the proxy found a bad chunk the router did not"
        );
    } else {
        assert!(
            !router_body.error,
            "the router found a bad chunk the proxy forwarded"
        );
        assert_eq!(
            body_consumed, router_body.consumed,
            "the proxy takes {body_consumed} body bytes, the router's framing {}",
            router_body.consumed
        );
        assert_eq!(
            body_done, router_body.done,
            "the body ends for one and not the other"
        );
    }

    // The upstream's reading of what the proxy sent.
    let strict_head_len = strict_head_len(&upstream_bytes);
    let upstream_head = match parse_request_head(&upstream_bytes, &UPSTREAM_LIMITS) {
        Ok(Some(head)) => head,
        other => panic!(
            "the upstream reads the forwarded head as {other:?}:\n{}",
            String::from_utf8_lossy(&upstream_bytes)
        ),
    };
    assert_eq!(
        strict_head_len,
        Some(upstream_head.head_len),
        "a strict parser finds another head in:\n{}",
        String::from_utf8_lossy(&upstream_bytes)
    );
    assert_eq!(
        upstream_head.method, router_head.method,
        "the method changed"
    );
    assert_eq!(upstream_head.version_minor, 1, "the proxy speaks HTTP/1.1");
    if rewrite.is_none() {
        // Spaces, which the router takes in a target, go on encoded.
        assert_eq!(
            upstream_head.target,
            router_head.target.replace(' ', "%20"),
            "the target changed"
        );
    } else {
        let (path, _) = unit_http::split_target(&upstream_head.target);
        let decoded = unit_http::percent_decode(path.as_bytes(), false);
        assert_eq!(
            decoded.as_deref().ok(),
            Some(uri.as_bytes()),
            "the upstream's path is not the rewritten one"
        );
    }
    let forwarded_body = &upstream_bytes[upstream_head.head_len..];
    let upstream_body = read_body(upstream_head.body, forwarded_body);
    assert!(
        !upstream_body.error,
        "the upstream finds a bad chunk in what was forwarded"
    );
    if !malformed {
        assert_eq!(
            upstream_body.data, router_body.data,
            "the upstream gets another body than the router read"
        );
        assert_eq!(
            upstream_body.done, router_body.done,
            "the body ends for one only"
        );
    }
    if upstream_body.done {
        assert_eq!(
            upstream_body.consumed,
            forwarded_body.len(),
            "bytes after the forwarded request: a second request for the upstream"
        );
    }
    if malformed {
        assert!(
            !upstream_body.done,
            "a malformed body reached the upstream as whole"
        );
    }
    outcome((
        body_shape(router_head.body),
        body_shape(upstream_head.body),
        router_body.done,
        malformed,
        rewrite.is_some(),
        bucket(router_body.data.len()),
        client.len() > head_len + body_consumed,
    ))
}

/// The limits the router reads heads with (its default header buffers).
fn router_limits() -> HeadLimits {
    HeadLimits {
        max_head_bytes: 2048 + 4 * 8192,
        max_headers: 256,
    }
}

/// The length of the head httparse finds in `bytes`, as a strict RFC 9112 server would.
fn strict_head_len(bytes: &[u8]) -> Option<usize> {
    let mut headers = vec![httparse::EMPTY_HEADER; UPSTREAM_LIMITS.max_headers];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(bytes) {
        Ok(httparse::Status::Complete(head_len)) => Some(head_len),
        _ => None,
    }
}

/// A body read by its framing from the bytes after the head.
#[derive(Debug)]
struct Body {
    /// The body's bytes (decoded when chunked).
    data: Vec<u8>,
    /// Bytes after the head that belong to the request.
    consumed: usize,
    /// The body is whole.
    done: bool,
    /// The chunked framing is malformed.
    error: bool,
}

fn read_body(kind: BodyKind, bytes: &[u8]) -> Body {
    match kind {
        BodyKind::None => Body {
            data: Vec::new(),
            consumed: 0,
            done: true,
            error: false,
        },
        BodyKind::Length(length) => {
            let taken =
                usize::try_from(length).map_or(bytes.len(), |length| length.min(bytes.len()));
            Body {
                data: bytes[..taken].to_vec(),
                consumed: taken,
                done: taken as u64 == length,
                error: false,
            }
        }
        BodyKind::Chunked => {
            let mut decoder = ChunkedDecoder::new();
            let mut data = Vec::new();
            match decoder.decode(bytes, &mut data) {
                Ok(consumed) => Body {
                    data,
                    consumed,
                    done: decoder.is_done(),
                    error: false,
                },
                Err(_) => Body {
                    data,
                    consumed: 0,
                    done: false,
                    error: true,
                },
            }
        }
    }
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
