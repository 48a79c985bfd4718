//! `chunked`: the chunked decoder, fed whole and in random splits, and the encoder.
//!
//! The first byte seeds how the body is split; the rest is the body. Checked: the
//! decoder gives the same data, the same end and the same error however the body is
//! split; it never produces more bytes than it consumed; once it is done or has failed
//! it stays so; and data encoded with `encode_chunk` and `encode_last_chunk` decodes
//! back to itself, in one piece or many.

use unit_http::{ChunkedDecoder, HttpError, encode_chunk, encode_last_chunk};

use super::{bucket, outcome, splits};

/// Tokens of chunked bodies.
pub(super) const DICTIONARY: &[&[u8]] = &[
    b"\r\n",
    b"0\r\n\r\n",
    b"5\r\nhello\r\n",
    b"\n",
    b"\r",
    b";",
    b";name=value",
    b";name=\"quoted\"",
    b"0x",
    b"ffffffffffffffff",
    b"10000000000000000",
    b" ",
    b"\t",
    b"Trailer: value\r\n",
    b":",
    b"\x00",
    b"\x80",
];

/// What decoding a body came to.
#[derive(Debug, PartialEq, Eq)]
struct Decoded {
    data: Vec<u8>,
    consumed: usize,
    done: bool,
    error: Option<HttpError>,
}

/// Runs one input.
pub(super) fn run(input: &[u8]) -> u64 {
    let Some((&seed, body)) = input.split_first() else {
        return 0;
    };
    let whole = decode_in_pieces(body, &[body.len()]);
    let split = decode_in_pieces(body, &splits(seed, body.len()));
    assert_eq!(
        whole, split,
        "the decoder's result depends on how the body is split"
    );
    if whole.error.is_none() {
        assert!(
            whole.data.len() <= whole.consumed,
            "{} data bytes from {} consumed",
            whole.data.len(),
            whole.consumed
        );
    }
    if whole.done {
        assert!(whole.error.is_none());
        assert!(whole.consumed <= body.len());
    } else if whole.error.is_none() {
        assert_eq!(
            whole.consumed,
            body.len(),
            "an unfinished body was not all read"
        );
    }

    // The encoder's output decodes back to what it encoded.
    let mut encoded = Vec::new();
    let pieces = splits(seed.rotate_left(3), whole.data.len());
    let mut at = 0;
    for piece in pieces {
        encode_chunk(&whole.data[at..at + piece], &mut encoded);
        at += piece;
    }
    encode_last_chunk(&mut encoded);
    let round_trip = decode_in_pieces(&encoded, &splits(seed, encoded.len()));
    assert_eq!(
        round_trip,
        Decoded {
            data: whole.data.clone(),
            consumed: encoded.len(),
            done: true,
            error: None,
        },
        "encoded chunks do not decode to what was encoded"
    );

    outcome((
        whole.error,
        whole.done,
        bucket(whole.data.len()),
        whole.consumed == body.len(),
    ))
}

/// Decodes `body` handed over in pieces of the given lengths, as reads deliver it.
fn decode_in_pieces(body: &[u8], pieces: &[usize]) -> Decoded {
    let mut decoder = ChunkedDecoder::new();
    let mut decoded = Decoded {
        data: Vec::new(),
        consumed: 0,
        done: false,
        error: None,
    };
    let mut at = 0;
    for &piece in pieces {
        let available = &body[at..at + piece];
        at += piece;
        match decoder.decode(available, &mut decoded.data) {
            Ok(consumed) => {
                assert!(consumed <= available.len());
                decoded.consumed += consumed;
                if decoder.is_done() {
                    decoded.done = true;
                    assert_eq!(decoder.decode(b"0\r\n\r\n", &mut decoded.data), Ok(0));
                    break;
                }
                assert_eq!(
                    consumed,
                    available.len(),
                    "an unfinished decoder left input"
                );
            }
            Err(error) => {
                decoded.error = Some(error);
                assert_eq!(
                    decoder.decode(b"0\r\n\r\n", &mut decoded.data),
                    Err(error),
                    "a failed decoder recovered"
                );
                // The bytes before the bad one were taken; how many is not reported.
                decoded.consumed = 0;
                break;
            }
        }
    }
    decoded
}
