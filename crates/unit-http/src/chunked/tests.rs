//! Tables for the chunked decoder, each fed whole, one byte at a time and
//! split at every position, plus encoder round trips.

use super::{ChunkedDecoder, encode_chunk, encode_last_chunk};
use crate::HttpError;

/// What decoding an input produced: the body, the bytes consumed and
/// whether the body ended, or the error.
type Outcome = Result<(Vec<u8>, usize, bool), HttpError>;

fn decode_in_pieces(input: &[u8], piece_len: usize) -> Outcome {
    let mut decoder = ChunkedDecoder::new();
    let mut body = Vec::new();
    let mut consumed = 0;
    for piece in input.chunks(piece_len.max(1)) {
        let used = decoder.decode(piece, &mut body)?;
        consumed += used;
        if decoder.is_done() {
            break;
        }
        assert_eq!(
            used,
            piece.len(),
            "an unfinished decoder consumes everything"
        );
    }
    Ok((body, consumed, decoder.is_done()))
}

fn decode_split_at(input: &[u8], split_idx: usize) -> Outcome {
    let mut decoder = ChunkedDecoder::new();
    let mut body = Vec::new();
    let mut consumed = decoder.decode(&input[..split_idx], &mut body)?;
    if !decoder.is_done() {
        consumed += decoder.decode(&input[split_idx..], &mut body)?;
    }
    Ok((body, consumed, decoder.is_done()))
}

/// `expected` is `Ok((body, rest, done))`: `rest` is what must be left unconsumed.
fn check(input: &str, expected: Result<(&str, &str, bool), HttpError>) {
    let input = input.as_bytes();
    let expected: Outcome = expected
        .map(|(body, rest, done)| (body.as_bytes().to_vec(), input.len() - rest.len(), done));
    assert_eq!(
        decode_in_pieces(input, input.len()),
        expected,
        "whole: {input:?}"
    );
    assert_eq!(decode_in_pieces(input, 1), expected, "bytewise: {input:?}");
    for split_idx in 0..=input.len() {
        assert_eq!(
            decode_split_at(input, split_idx),
            expected,
            "split at {split_idx}: {input:?}"
        );
    }
}

#[test]
fn complete_bodies() {
    check("0\r\n\r\n", Ok(("", "", true)));
    check("5\r\nhello\r\n0\r\n\r\n", Ok(("hello", "", true)));
    check(
        "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        Ok(("hello world", "", true)),
    );
    check("a\r\n0123456789\r\n0\r\n\r\n", Ok(("0123456789", "", true)));
    check(
        "A\r\n0123456789\r\n000\r\n\r\n",
        Ok(("0123456789", "", true)),
    );
    check("0005\r\nhello\r\n0\r\n\r\n", Ok(("hello", "", true)));
    check("3\r\n\r\n\r\r\n0\r\n\r\n", Ok(("\r\n\r", "", true)));
}

#[test]
fn pipelined_data_is_left_alone() {
    check(
        "0\r\n\r\nGET / HTTP/1.1\r\n\r\n",
        Ok(("", "GET / HTTP/1.1\r\n\r\n", true)),
    );
    check(
        "2\r\nab\r\n0\r\n\r\n0\r\n\r\n",
        Ok(("ab", "0\r\n\r\n", true)),
    );
}

#[test]
fn extensions_and_trailers() {
    check(
        "5;name=value\r\nhello\r\n0\r\n\r\n",
        Ok(("hello", "", true)),
    );
    check(
        "5 ; a=\"b;c\" ;d\r\nhello\r\n0;last\r\n\r\n",
        Ok(("hello", "", true)),
    );
    check("5\t;x\r\nhello\r\n0\r\n\r\n", Ok(("hello", "", true)));
    check("5;é\r\nhello\r\n0\r\n\r\n", Ok(("hello", "", true)));
    check("0\r\nExpires: never\r\n\r\n", Ok(("", "", true)));
    check(
        "1\r\nx\r\n0\r\nA: 1\r\nB: 2\r\n\r\nnext",
        Ok(("x", "next", true)),
    );
    check("5;a\x01b\r\nhello\r\n0\r\n\r\n", Err(HttpError::BadChunk));
    check("5;a\nhello\r\n0\r\n\r\n", Err(HttpError::BadChunk));
    check("0\r\nA: \x00\r\n\r\n", Err(HttpError::BadChunk));
    check("0\r\nA: 1\n\r\n", Err(HttpError::BadChunk));
    check("0\r\nA: 1\r\n\n", Err(HttpError::BadChunk));
    // A trailer line is a field: a name, then a colon.
    check("0\r\nX\r\n\r\n", Err(HttpError::BadChunk));
    check("0\r\n: x\r\n\r\n", Err(HttpError::BadChunk));
    check("0\r\nA B: x\r\n\r\n", Err(HttpError::BadChunk));
}

#[test]
fn incomplete_bodies() {
    check("", Ok(("", "", false)));
    check("5", Ok(("", "", false)));
    check("5\r\nhel", Ok(("hel", "", false)));
    check("5\r\nhello", Ok(("hello", "", false)));
    check("5\r\nhello\r\n", Ok(("hello", "", false)));
    check("5\r\nhello\r\n0\r\n", Ok(("hello", "", false)));
    check("5\r\nhello\r\n0\r\nX: y\r\n", Ok(("hello", "", false)));
    check("5\r\nhello\r\n0\r\n\r", Ok(("hello", "", false)));
}

#[test]
fn malformed_framing() {
    let cases = [
        "\r\n",
        "x\r\n",
        "-1\r\n",
        "+5\r\nhello\r\n",
        " 5\r\nhello\r\n",
        "0x5\r\nhello\r\n",
        "5\nhello\r\n",
        "5\rhello\r\n",
        "5\r\nhelloX\r\n",
        "5\r\nhello\n0\r\n\r\n",
        "5\r\nhello\r0\r\n\r\n",
        "5\r\nhello\r\n0\r\n\n",
        "5 x\r\nhello\r\n",
        "5\r\nhello\r\n\r\n",
        "0\r\n\r\r",
    ];
    for input in cases {
        check(input, Err(HttpError::BadChunk));
    }
}

#[test]
fn size_limits() {
    check("ffffffffffffffff\r\n", Ok(("", "", false)));
    check("10000000000000000\r\n", Err(HttpError::ChunkSizeTooLarge));
    check("fffffffffffffffff0\r\n", Err(HttpError::ChunkSizeTooLarge));
    check(
        &format!("{}1\r\nx\r\n0\r\n\r\n", "0".repeat(100)),
        Ok(("x", "", true)),
    );

    let long_extension = format!("1;{}\r\nx\r\n0\r\n\r\n", "e".repeat(4094));
    assert_eq!(
        decode_in_pieces(long_extension.as_bytes(), 1000).map(|(body, ..)| body),
        Ok(b"x".to_vec())
    );
    let too_long = format!("1;{}\r\nx\r\n0\r\n\r\n", "e".repeat(4095));
    assert_eq!(
        decode_in_pieces(too_long.as_bytes(), 1000),
        Err(HttpError::BadChunk)
    );

    let big_trailer = format!("0\r\nX: {}\r\n\r\n", "t".repeat(9000));
    assert_eq!(
        decode_in_pieces(big_trailer.as_bytes(), 1000),
        Err(HttpError::TrailersTooLarge)
    );
}

#[test]
fn errors_are_sticky() {
    let mut decoder = ChunkedDecoder::new();
    let mut body = Vec::new();
    assert_eq!(decoder.decode(b"z", &mut body), Err(HttpError::BadChunk));
    assert_eq!(
        decoder.decode(b"0\r\n\r\n", &mut body),
        Err(HttpError::BadChunk)
    );
    assert!(!decoder.is_done());
}

#[test]
fn done_decoder_consumes_nothing() {
    let mut decoder = ChunkedDecoder::default();
    let mut body = Vec::new();
    assert_eq!(decoder.decode(b"0\r\n\r\n", &mut body), Ok(5));
    assert!(decoder.is_done());
    assert_eq!(decoder.decode(b"more", &mut body), Ok(0));
    assert!(body.is_empty());
}

fn check_encode(data: &[u8], expected: &str) {
    let mut out = Vec::new();
    encode_chunk(data, &mut out);
    assert_eq!(String::from_utf8_lossy(&out), expected);
}

#[test]
fn encoding() {
    check_encode(b"", "");
    check_encode(b"x", "1\r\nx\r\n");
    check_encode(b"hello world", "b\r\nhello world\r\n");
    check_encode(&[b'a'; 16], &format!("10\r\n{}\r\n", "a".repeat(16)));
    check_encode(&[b'a'; 255], &format!("ff\r\n{}\r\n", "a".repeat(255)));
    check_encode(&[b'a'; 4096], &format!("1000\r\n{}\r\n", "a".repeat(4096)));
    let mut out = Vec::new();
    encode_last_chunk(&mut out);
    assert_eq!(out, b"0\r\n\r\n");
}

#[test]
fn encode_then_decode() {
    let pieces: [&[u8]; 4] = [b"first", b"", &[0u8; 300], b"\r\n0\r\n\r\n"];
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    for piece in pieces {
        encode_chunk(piece, &mut wire);
        expected.extend_from_slice(piece);
    }
    encode_last_chunk(&mut wire);
    for piece_len in [1, 7, wire.len()] {
        assert_eq!(
            decode_in_pieces(&wire, piece_len),
            Ok((expected.clone(), wire.len(), true))
        );
    }
}
