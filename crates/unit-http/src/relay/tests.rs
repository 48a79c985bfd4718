//! Tables for the body relay: each upstream framing to each client version, in pieces.

use super::{BodyRelay, ClientFraming};
use crate::error::HttpError;
use crate::upstream::ResponseBody;

/// Relays `pieces` (as they arrive; what is not consumed stays for the next piece) and
/// returns the client's bytes, the body bytes counted, whether the body ended, and the
/// first error.
fn relay(
    body: ResponseBody,
    client_minor: u8,
    pieces: &[&str],
    close_after: bool,
) -> (ClientFraming, String, u64, bool, Option<HttpError>) {
    let (mut relay, framing) = BodyRelay::new(body, client_minor);
    let mut input = Vec::new();
    let mut output = Vec::new();
    let mut body_bytes = 0;
    for piece in pieces {
        input.extend_from_slice(piece.as_bytes());
        match relay.relay(&input, &mut output, false) {
            Ok(relayed) => {
                input.drain(..relayed.consumed);
                body_bytes += relayed.body_bytes;
            }
            Err(error) => {
                return (
                    framing,
                    String::from_utf8_lossy(&output).into(),
                    body_bytes,
                    false,
                    Some(error),
                );
            }
        }
    }
    let mut error = None;
    if close_after && let Err(closed) = relay.upstream_closed(&mut output) {
        error = Some(closed);
    }
    let text = String::from_utf8_lossy(&output).into_owned();
    (framing, text, body_bytes, relay.is_done(), error)
}

#[test]
fn length_framed_bodies_pass_as_they_are() {
    let result = relay(
        ResponseBody::Length(11),
        1,
        &["hello", " worl", "d and more"],
        false,
    );
    assert_eq!(
        result,
        (
            ClientFraming::Length(11),
            "hello world".into(),
            11,
            true,
            None
        )
    );
    let cut = relay(ResponseBody::Length(10), 1, &["hello"], true);
    assert_eq!(cut.4, Some(HttpError::BodyCutShort));
    assert!(!cut.3);
}

#[test]
fn chunked_bodies_pass_as_chunks_to_http_1_1() {
    let body = ["5\r\nhel", "lo\r\n6\r\n world\r\n", "0\r\n\r\nnext"];
    let result = relay(ResponseBody::Chunked, 1, &body, false);
    assert_eq!(
        result,
        (
            ClientFraming::Chunked,
            "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n".into(),
            11,
            true,
            None
        )
    );
}

#[test]
fn chunked_bodies_are_decoded_for_http_1_0() {
    let body = ["5\r\nhel", "lo\r\n6\r\n world\r\n", "0\r\n\r\n"];
    let result = relay(ResponseBody::Chunked, 0, &body, false);
    assert_eq!(
        result,
        (ClientFraming::Close, "hello world".into(), 11, true, None)
    );
}

#[test]
fn bad_chunks_and_cut_chunked_bodies_are_errors() {
    let bad = relay(ResponseBody::Chunked, 1, &["1\r\nXX\r\n0\r\n\r\n"], false);
    assert_eq!(bad.4, Some(HttpError::BadChunk));
    let cut = relay(ResponseBody::Chunked, 1, &["5\r\nhe"], true);
    assert_eq!(cut.4, Some(HttpError::BodyCutShort));
}

#[test]
fn bodies_until_close_are_chunked_for_http_1_1_only() {
    let result = relay(ResponseBody::UntilClose, 1, &["ab", "", "c"], true);
    assert_eq!(
        result,
        (
            ClientFraming::Chunked,
            "2\r\nab\r\n1\r\nc\r\n0\r\n\r\n".into(),
            3,
            true,
            None
        )
    );
    let result = relay(ResponseBody::UntilClose, 0, &["ab", "c"], true);
    assert_eq!(result, (ClientFraming::Close, "abc".into(), 3, true, None));
}

#[test]
fn no_body_is_done_at_once() {
    let result = relay(ResponseBody::None, 1, &["ignored"], true);
    assert_eq!(result, (ClientFraming::None, String::new(), 0, true, None));
}

#[test]
fn a_head_answer_consumes_without_passing() {
    let (mut relay, _) = BodyRelay::new(ResponseBody::Length(3), 1);
    let mut output = Vec::new();
    let relayed = relay.relay(b"abcdef", &mut output, true).expect("relays");
    assert_eq!((relayed.consumed, relayed.body_bytes), (3, 3));
    assert!(output.is_empty());
    assert!(relay.is_done());
}
