//! `app-frames`: the binary frames between the router and a language runner: request
//! heads as a runner decodes them (`decode_app_request`) and response heads as the
//! router decodes them (`decode_app_response_into`).
//!
//! The first byte picks the frame (bit 0: a response head) and, for a response, whether
//! the request was HEAD (bit 1); the second seeds the split points; the rest is what
//! arrived. The frame's length prefix decides alone whether it is complete: short of
//! four bytes or of the length it declares, the decoders must say "incomplete" (the
//! input, every prefix, and every point of a split feed), unless the declared length is
//! past `MAX_FRAME`, which is refused at once. A complete frame decodes as it does
//! with nothing after it, and a feed in pieces ends with the whole input's answer. What
//! decodes is encoded again with `AppRequestHead::encode` or `AppResponseHead::encode`;
//! that frame decodes to the same values, its length is the consumed length, and it is
//! the input's frame byte for byte once the fields the decoder ignores are cleared.

use unit_http::{
    AppBody, AppRequest, AppRequestHead, AppResponseHead, HttpError, MAX_FRAME, RESPONSE_CLOSE,
    ResponseBody, ResponseHeadParsed, decode_app_request, decode_app_response_into,
};

use super::{bucket, outcome, splits};

/// Tokens of frames: little-endian lengths and counts, statuses, texts.
pub(super) const DICTIONARY: &[&[u8]] = &[
    b"\x00\x00\x00\x00",
    b"\x01\x00\x00\x00",
    b"\x04\x00\x00\x00",
    b"\xff\xff\xff\xff",
    b"\x00\x00\x10\x00",
    b"\x01\x00\x10\x00",
    b"\xff\xff\x0f\x00",
    b"\x00\x00\x00\x00\x00\x00\x00\x00",
    b"\xff\xff\xff\xff\xff\xff\xff\xff",
    b"\x01",
    b"\x02",
    b"\x03",
    b"\xc8\x00",
    b"\x65\x00",
    b"\xcc\x00",
    b"\x30\x01",
    b"\x63\x00",
    b"\xe7\x03",
    b"\xe8\x03",
    b"\x04\x00\x00\x00Host",
    b"\x03\x00\x00\x00GET",
    b"\xff\xfe",
    b"\xc3\xa9",
];

/// A head that holds something in every part, for decoding into a head that is reused.
fn reused_head() -> ResponseHeadParsed {
    ResponseHeadParsed {
        status: 404,
        reason: "Not Found".to_owned(),
        version_minor: 0,
        headers: vec![("X-Old".to_owned(), b"1".to_vec())],
        head_len: 77,
        body: ResponseBody::UntilClose,
        keep_alive: false,
    }
}

/// Runs one input.
pub(super) fn run(input: &[u8]) -> u64 {
    let [mode, split_seed, frame @ ..] = input else {
        return 0;
    };
    if mode & 1 == 0 {
        request(frame, *split_seed)
    } else {
        response(frame, *split_seed, mode & 2 != 0)
    }
}

/// Where the frame at the start of `input` ends by its length prefix: `None` before the
/// prefix is there, `Err` with the length when it is past `MAX_FRAME`.
fn declared_end(input: &[u8]) -> Option<Result<usize, usize>> {
    let prefix: [u8; 4] = input.get(..4)?.try_into().ok()?;
    let length = u32::from_le_bytes(prefix) as usize;
    Some(if length > MAX_FRAME {
        Err(length)
    } else {
        Ok(4 + length)
    })
}

/// Whether the input holds its whole frame, by the length prefix alone.
enum Completeness {
    /// Short of the prefix or of the declared length.
    Incomplete,
    /// The declared length is past `MAX_FRAME`: refused once the prefix is there.
    TooLong,
    /// The frame is there and ends at this offset.
    Complete(usize),
}

/// What the length prefix of `input` says of it.
fn completeness(input: &[u8]) -> Completeness {
    match declared_end(input) {
        None => Completeness::Incomplete,
        Some(Err(_)) => Completeness::TooLong,
        Some(Ok(end)) if input.len() < end => Completeness::Incomplete,
        Some(Ok(end)) => Completeness::Complete(end),
    }
}

// === request heads ===

/// Request mode: a runner decoding what the router sent.
fn request(frame: &[u8], split_seed: u8) -> u64 {
    let whole = decode_app_request(frame);
    let incomplete_below = match completeness(frame) {
        Completeness::Incomplete => {
            assert_eq!(whole, Ok(None), "an incomplete request frame");
            frame.len()
        }
        Completeness::TooLong => {
            assert_eq!(whole, Err(HttpError::BadAppFrame), "a frame past MAX_FRAME");
            4
        }
        Completeness::Complete(end) => {
            assert_ne!(whole, Ok(None), "a complete request frame is incomplete");
            assert_eq!(
                decode_app_request(&frame[..end]),
                whole,
                "a request frame decodes differently with bytes after it"
            );
            if let Ok(Some((_, length))) = &whole {
                assert_eq!(*length, end, "the consumed length is not the frame's");
            }
            end
        }
    };
    for end in 0..incomplete_below {
        assert_eq!(
            decode_app_request(&frame[..end]),
            Ok(None),
            "a prefix of {end} bytes is not incomplete"
        );
    }

    let mut buffer = Vec::with_capacity(frame.len());
    let mut fed = frame;
    for piece in splits(split_seed, frame.len()) {
        let (head, rest) = fed.split_at(piece);
        fed = rest;
        buffer.extend_from_slice(head);
        let decoded = decode_app_request(&buffer);
        if decoded != Ok(None) {
            assert_eq!(decoded, whole, "a feed in pieces ends differently");
            break;
        }
    }

    let (request, length) = match whole {
        Ok(Some(decoded)) => decoded,
        Ok(None) => return outcome(("request", "incomplete")),
        Err(error) => return outcome(("request", error.to_string())),
    };
    let round_trip = request_round_trip(&request, &frame[..length]);
    outcome((
        "request",
        body_kind(request.body),
        request.flags,
        request.version_minor.min(2),
        bucket(request.fields.len()),
        round_trip,
    ))
}

/// Encodes `request` again, when its texts are UTF-8 as the encoder's are; the frame
/// must decode to it and be `frame` but for the body length the body kind ignores.
/// Returns whether it could be encoded.
fn request_round_trip(request: &AppRequest<'_>, frame: &[u8]) -> bool {
    let text = |bytes: &[u8]| std::str::from_utf8(bytes).ok().map(str::to_owned);
    let texts: Option<Vec<String>> = [
        request.method,
        request.target,
        request.path,
        request.query,
        request.remote_addr,
        request.local_addr,
        request.server_name,
        request.app_target,
    ]
    .into_iter()
    .map(text)
    .collect();
    let names: Option<Vec<String>> = request.fields.iter().map(|(name, _)| text(name)).collect();
    let (Some(texts), Some(names)) = (texts, names) else {
        return false;
    };
    let head = AppRequestHead {
        method: &texts[0],
        target: &texts[1],
        path: &texts[2],
        query: &texts[3],
        version_minor: request.version_minor,
        flags: request.flags,
        body: request.body,
        remote_addr: &texts[4],
        remote_port: request.remote_port,
        local_addr: &texts[5],
        local_port: request.local_port,
        server_name: &texts[6],
        app_target: &texts[7],
        websocket: request.websocket,
    };
    let mut encoded = Vec::new();
    let fields = names
        .iter()
        .zip(&request.fields)
        .map(|(name, (_, value))| (name.as_str(), *value));
    head.encode(fields, &mut encoded);
    assert_eq!(
        decode_app_request(&encoded),
        Ok(Some((request.clone(), encoded.len()))),
        "a request head encodes to a frame that decodes differently"
    );
    let mut canonical = frame.to_vec();
    if !matches!(request.body, AppBody::Length(_)) {
        // The body length is read only for a body of a length.
        canonical[7..15].fill(0);
    }
    assert_eq!(encoded, canonical, "a request head encodes differently");
    true
}

// === response heads ===

/// Response mode: the router decoding what a runner answered.
fn response(frame: &[u8], split_seed: u8, request_was_head: bool) -> u64 {
    let mut fresh = ResponseHeadParsed::default();
    let whole = decode_app_response_into(frame, request_was_head, &mut fresh);
    let mut reused = reused_head();
    let whole_reused = decode_app_response_into(frame, request_was_head, &mut reused);
    assert_eq!(whole, whole_reused, "a reused head decodes differently");
    if whole == Ok(true) {
        assert_eq!(fresh, reused, "a reused head keeps something of before");
    }
    let incomplete_below = match completeness(frame) {
        Completeness::Incomplete => {
            assert_eq!(whole, Ok(false), "an incomplete response frame");
            assert_eq!(
                reused,
                reused_head(),
                "an incomplete frame changed the head"
            );
            frame.len()
        }
        Completeness::TooLong => {
            assert_eq!(whole, Err(HttpError::BadAppFrame), "a frame past MAX_FRAME");
            4
        }
        Completeness::Complete(end) => {
            assert_ne!(whole, Ok(false), "a complete response frame is incomplete");
            let mut alone = ResponseHeadParsed::default();
            assert_eq!(
                decode_app_response_into(&frame[..end], request_was_head, &mut alone),
                whole,
                "a response frame decodes differently with bytes after it"
            );
            if whole == Ok(true) {
                assert_eq!(alone, fresh, "a response frame decodes differently alone");
                assert_eq!(
                    fresh.head_len, end,
                    "the consumed length is not the frame's"
                );
            }
            end
        }
    };
    for end in 0..incomplete_below {
        let mut head = reused_head();
        assert_eq!(
            decode_app_response_into(&frame[..end], request_was_head, &mut head),
            Ok(false),
            "a prefix of {end} bytes is not incomplete"
        );
        assert_eq!(
            head,
            reused_head(),
            "a prefix of {end} bytes changed the head"
        );
    }

    // The router decodes into the same head as more bytes arrive.
    let mut buffer = Vec::with_capacity(frame.len());
    let mut fed = frame;
    let mut head = reused_head();
    for piece in splits(split_seed, frame.len()) {
        let (piece, rest) = fed.split_at(piece);
        fed = rest;
        buffer.extend_from_slice(piece);
        let decoded = decode_app_response_into(&buffer, request_was_head, &mut head);
        if decoded != Ok(false) {
            assert_eq!(decoded, whole, "a feed in pieces ends differently");
            if decoded == Ok(true) {
                assert_eq!(head, fresh, "a feed in pieces decodes differently");
            }
            break;
        }
        assert_eq!(head, reused_head(), "an incomplete feed changed the head");
    }

    match whole {
        Ok(true) => {}
        Ok(false) => return outcome(("response", "incomplete")),
        Err(error) => return outcome(("response", error.to_string())),
    }
    response_round_trip(&fresh, &frame[..fresh.head_len], request_was_head);
    outcome((
        "response",
        request_was_head,
        format!("{:?}", fresh.body)
            .split('(')
            .next()
            .map(str::to_owned),
        fresh.keep_alive,
        fresh.status / 100,
        bucket(fresh.headers.len()),
    ))
}

/// Encodes the decoded `head` again; the frame must decode to it and be `frame` but for
/// what the decoder ignores: flags other than `RESPONSE_CLOSE`, the body length of a
/// body without one, and the body kind of an answer that can have no body.
fn response_round_trip(head: &ResponseHeadParsed, frame: &[u8], request_was_head: bool) {
    let body = match head.body {
        ResponseBody::None => AppBody::None,
        ResponseBody::Length(length) => AppBody::Length(length),
        ResponseBody::Chunked => AppBody::Chunked,
        ResponseBody::UntilClose => panic!("a response frame runs until the close"),
    };
    let encoder = AppResponseHead {
        status: head.status,
        body,
        flags: if head.keep_alive { 0 } else { RESPONSE_CLOSE },
    };
    let mut encoded = Vec::new();
    let fields = head
        .headers
        .iter()
        .map(|(name, value)| (name.as_bytes(), value.as_slice()));
    encoder.encode(fields, &mut encoded);
    let mut again = ResponseHeadParsed::default();
    assert_eq!(
        decode_app_response_into(&encoded, request_was_head, &mut again),
        Ok(true),
        "a response head encodes to a frame that does not decode"
    );
    assert_eq!(again.head_len, encoded.len());
    assert_eq!(
        &again, head,
        "a response head encodes to a frame that decodes differently"
    );
    let mut canonical = frame.to_vec();
    canonical[7] &= RESPONSE_CLOSE;
    if head.body == ResponseBody::None {
        canonical[6] = 0;
    }
    if !matches!(head.body, ResponseBody::Length(_)) {
        canonical[8..16].fill(0);
    }
    assert_eq!(encoded, canonical, "a response head encodes differently");
}

/// The body kind, for the outcome.
fn body_kind(body: AppBody) -> u8 {
    match body {
        AppBody::None => 0,
        AppBody::Length(0) => 1,
        AppBody::Length(_) => 2,
        AppBody::Chunked => 3,
    }
}
