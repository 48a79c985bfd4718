//! `http-response`: an upstream's answer as the proxy reads it and passes it on.
//!
//! The first byte says whether the request was HEAD, whether the client speaks HTTP/1.0
//! or 1.1, whether the answer is an HTTP head or a language runner's head frame, and
//! how the rest arrives in pieces; the rest is what the upstream sent. The head is
//! parsed (into a fresh head and into one that held another answer, which must agree,
//! and from every prefix, which must be incomplete), then its body goes through
//! `BodyRelay` piece by piece until the upstream "closes". Checked: what the client
//! gets is the body the upstream framed, in the framing the relay announced, so the
//! client finds the same end: a length passes byte for byte, chunks pass as sent or
//! decoded, a body that runs to the close arrives chunked or until the close.

use unit_http::{
    BodyRelay, ChunkedDecoder, ClientFraming, HeadLimits, ResponseBody, ResponseHeadParsed,
    decode_app_response_into, parse_response_head_into,
};

use super::{bucket, outcome, splits};

/// Tokens of response heads and bodies.
pub(super) const DICTIONARY: &[&[u8]] = &[
    b"\r\n",
    b"\r\n\r\n",
    b"HTTP/1.1 ",
    b"HTTP/1.0 ",
    b"HTTP/1.1 200 OK\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\n",
    b"HTTP/1.1 204 No Content\r\n",
    b"HTTP/1.1 304 Not Modified\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"Content-Length: ",
    b"Content-Length: 5\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: gzip\r\n",
    b"Connection: close\r\n",
    b"Connection: keep-alive\r\n",
    b"0\r\n\r\n",
    b"5\r\nhello\r\n",
    b";ext=1",
    b": ",
    b" \t",
    b"\x00\x00\x00\x00",
    b"\xc8\x00",
];

/// A response that fills every part of a head, parsed into the head that is reused.
const OTHER_RESPONSE: &[u8] = b"HTTP/1.0 404 Not Found\r\nContent-Length: 7\r\n\
    Connection: keep-alive\r\nX-One: 1\r\nX-Two: 2\r\n\r\n";

/// Runs one input.
pub(super) fn run(input: &[u8]) -> u64 {
    let Some((&selector, upstream)) = input.split_first() else {
        return 0;
    };
    let request_was_head = selector & 1 != 0;
    let client_minor = (selector >> 1) & 1;
    let framed = selector & 4 != 0;
    let limits = HeadLimits {
        max_head_bytes: 64 * 1024,
        max_headers: 256,
    };
    let parse = |bytes: &[u8], head: &mut ResponseHeadParsed| {
        if framed {
            decode_app_response_into(bytes, request_was_head, head)
        } else {
            parse_response_head_into(bytes, &limits, request_was_head, head)
        }
    };

    let mut head = ResponseHeadParsed::default();
    let parsed = parse(upstream, &mut head);
    let mut reused = ResponseHeadParsed::default();
    let other = parse_response_head_into(OTHER_RESPONSE, &limits, false, &mut reused);
    assert_eq!(other, Ok(true), "the other response parses");
    assert_eq!(
        parse(upstream, &mut reused),
        parsed,
        "a reused head parses differently"
    );
    if parsed != Ok(true) {
        return outcome((framed, parsed));
    }
    assert_eq!(reused, head, "a reused head keeps stale contents");
    let head_len = head.head_len;
    assert!(head_len > 0 && head_len <= upstream.len());
    assert!((100..=999).contains(&head.status), "status {}", head.status);
    let mut exact = ResponseHeadParsed::default();
    assert_eq!(parse(&upstream[..head_len], &mut exact), Ok(true));
    assert_eq!(
        exact, head,
        "the head parses differently from its own bytes"
    );
    let prefix_len = (usize::from(selector) * 7919 + upstream.len()) % head_len;
    let mut partial = ResponseHeadParsed::default();
    assert_eq!(
        parse(&upstream[..prefix_len], &mut partial),
        Ok(false),
        "the first {prefix_len} bytes of a {head_len}-byte head are not incomplete"
    );

    let body = &upstream[head_len..];
    let (relay, framing) = BodyRelay::new(head.body, client_minor);
    let relayed = relay_in_pieces(relay, body, request_was_head, selector);
    check_relayed(head.body, framing, body, &relayed, request_was_head);
    outcome((
        framed,
        head.body == ResponseBody::None,
        framing_shape(framing),
        relayed.error.is_some(),
        relayed.closed_early,
        bucket(relayed.output.len()),
    ))
}

/// What passing a body on came to.
#[derive(Debug)]
struct Relayed {
    /// What the client got.
    output: Vec<u8>,
    /// Upstream bytes taken as the body.
    consumed: usize,
    /// The body bytes the relay counted for the access log.
    body_bytes: u64,
    /// The relay failed on the body (a bad chunk).
    error: Option<unit_http::HttpError>,
    /// The upstream closed before the body ended (the client connection is then
    /// broken off).
    closed_early: bool,
}

/// Relays `body` in the pieces the selector picks, then closes the upstream.
fn relay_in_pieces(mut relay: BodyRelay, body: &[u8], head_only: bool, selector: u8) -> Relayed {
    let mut relayed = Relayed {
        output: Vec::new(),
        consumed: 0,
        body_bytes: 0,
        error: None,
        closed_early: false,
    };
    let mut input = Vec::new();
    // As in the exchange, the relay first gets what came with the head, which may be
    // nothing (and ends an empty body).
    for piece in std::iter::once(0).chain(splits(selector >> 3, body.len())) {
        let start = relayed.consumed + input.len();
        input.extend_from_slice(&body[start..start + piece]);
        match relay.relay(&input, &mut relayed.output, head_only) {
            Ok(step) => {
                assert!(step.consumed <= input.len());
                input.drain(..step.consumed);
                relayed.consumed += step.consumed;
                relayed.body_bytes += step.body_bytes;
            }
            Err(error) => {
                relayed.error = Some(error);
                return relayed;
            }
        }
        if relay.is_done() {
            break;
        }
    }
    if !relay.is_done() {
        relayed.closed_early = relay.upstream_closed(&mut relayed.output).is_err();
    }
    relayed
}

/// What must hold of a relayed body, by how the upstream framed it.
fn check_relayed(
    body_framing: ResponseBody,
    client_framing: ClientFraming,
    body: &[u8],
    relayed: &Relayed,
    head_only: bool,
) {
    if relayed.error.is_some() {
        assert!(
            matches!(body_framing, ResponseBody::Chunked),
            "only a chunked body fails to relay"
        );
        return;
    }
    let output = &relayed.output;
    match (body_framing, client_framing) {
        (ResponseBody::None, ClientFraming::None) => {
            assert!(output.is_empty() && relayed.consumed == 0);
        }
        (ResponseBody::Length(length), ClientFraming::Length(announced)) => {
            assert_eq!(length, announced);
            let taken = usize::try_from(length).map_or(body.len(), |length| length.min(body.len()));
            assert_eq!(relayed.consumed, taken);
            assert_eq!(relayed.body_bytes, taken as u64);
            if head_only {
                assert!(output.is_empty(), "a body went out for HEAD");
            } else {
                assert_eq!(output.as_slice(), &body[..taken]);
            }
            assert_eq!(relayed.closed_early, (taken as u64) < length);
        }
        (ResponseBody::Chunked, ClientFraming::Chunked) => {
            // The chunks pass as sent, and end where the client's decoder ends them.
            let upstream_view = decode(body);
            assert_eq!(relayed.consumed, upstream_view.consumed);
            assert_eq!(relayed.body_bytes, upstream_view.data.len() as u64);
            if head_only {
                assert!(output.is_empty(), "a body went out for HEAD");
            } else {
                assert_eq!(output.as_slice(), &body[..relayed.consumed]);
                let client_view = decode(output);
                assert_eq!(client_view.data, upstream_view.data);
                assert_eq!(client_view.done, upstream_view.done);
                assert_eq!(
                    client_view.consumed,
                    output.len(),
                    "bytes after the last chunk"
                );
            }
            assert_eq!(relayed.closed_early, !upstream_view.done);
        }
        (ResponseBody::Chunked, ClientFraming::Close) => {
            let upstream_view = decode(body);
            assert_eq!(relayed.consumed, upstream_view.consumed);
            if !head_only {
                assert_eq!(
                    output, &upstream_view.data,
                    "an HTTP/1.0 client gets other data"
                );
            }
            assert_eq!(relayed.closed_early, !upstream_view.done);
        }
        (ResponseBody::UntilClose, ClientFraming::Chunked) => {
            assert_eq!(relayed.consumed, body.len());
            let client_view = decode(output);
            assert!(client_view.done, "the rechunked body has no last chunk");
            assert_eq!(
                client_view.consumed,
                output.len(),
                "bytes after the last chunk"
            );
            assert_eq!(client_view.data, body, "the rechunked body is not the body");
            assert!(!relayed.closed_early);
        }
        (ResponseBody::UntilClose, ClientFraming::Close) => {
            assert_eq!(relayed.consumed, body.len());
            assert_eq!(output.as_slice(), body);
            assert!(!relayed.closed_early);
        }
        (body_framing, client_framing) => {
            panic!("a {body_framing:?} body is relayed as {client_framing:?}")
        }
    }
}

/// A chunked body decoded at once: its data, how far it went, whether it ended.
struct Chunks {
    data: Vec<u8>,
    consumed: usize,
    done: bool,
}

fn decode(bytes: &[u8]) -> Chunks {
    let mut decoder = ChunkedDecoder::new();
    let mut data = Vec::new();
    let consumed = decoder.decode(bytes, &mut data).unwrap_or(0);
    Chunks {
        data,
        consumed,
        done: decoder.is_done(),
    }
}

/// The client's framing without the length, for the outcome.
fn framing_shape(framing: ClientFraming) -> u8 {
    match framing {
        ClientFraming::None => 0,
        ClientFraming::Length(_) => 1,
        ClientFraming::Chunked => 2,
        ClientFraming::Close => 3,
    }
}
