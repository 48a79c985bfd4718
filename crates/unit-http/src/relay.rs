//! Passing an upstream answer's body on to a client (RFC 9112 section 6): the framing
//! state machine of a proxy.
//!
//! [`BodyRelay::new`] decides, from how the upstream frames the body and what the
//! client speaks, how the client's answer is framed ([`ClientFraming`]);
//! [`BodyRelay::relay`] then moves body bytes from the upstream's input to the client's
//! output as they arrive, and [`BodyRelay::upstream_closed`] says whether a close ended
//! the body or cut it short. A length-framed body passes as it is; a chunked one passes
//! chunk by chunk (checked by a [`ChunkedDecoder`] so its end is known), or decoded for
//! an HTTP/1.0 client, whose answer then ends with the connection; a body that runs
//! until the upstream closes is chunked for an HTTP/1.1 client.
//!
//! What it does not do: read or write sockets, or parse the head.

use crate::chunked::{ChunkedDecoder, encode_chunk, encode_last_chunk};
use crate::error::HttpError;
use crate::upstream::ResponseBody;

/// How the client's answer is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientFraming {
    /// No body.
    None,
    /// `Content-Length` of this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// The body ends when the connection closes (`Connection: close`).
    Close,
}

/// Where passing a body on stands.
#[derive(Debug, Clone)]
pub enum BodyRelay {
    /// This many bytes are still to pass.
    Length(u64),
    /// Chunks pass as sent, or decoded (`dechunk`) for an HTTP/1.0 client.
    Chunked {
        /// Finds the body's end, and decodes it when `dechunk`.
        decoder: ChunkedDecoder,
        /// Whether the client gets the data without the chunk framing.
        dechunk: bool,
    },
    /// Until the upstream closes; chunked on the way when `rechunk`.
    UntilClose {
        /// Whether each piece goes out as a chunk (an HTTP/1.1 client).
        rechunk: bool,
    },
    /// The body has passed.
    Done,
}

/// What one call of [`BodyRelay::relay`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Relayed {
    /// Input bytes used up (the caller drains them).
    pub consumed: usize,
    /// Body bytes the client gets (chunk framing not counted).
    pub body_bytes: u64,
}

impl BodyRelay {
    /// How to pass a body framed as `body` to a client of HTTP/1.`client_minor`.
    pub fn new(body: ResponseBody, client_minor: u8) -> (BodyRelay, ClientFraming) {
        let http10 = client_minor == 0;
        match body {
            ResponseBody::None => (BodyRelay::Done, ClientFraming::None),
            ResponseBody::Length(length) => {
                (BodyRelay::Length(length), ClientFraming::Length(length))
            }
            ResponseBody::Chunked => {
                let relay = BodyRelay::Chunked {
                    decoder: ChunkedDecoder::new(),
                    dechunk: http10,
                };
                let framing = if http10 {
                    ClientFraming::Close
                } else {
                    ClientFraming::Chunked
                };
                (relay, framing)
            }
            ResponseBody::UntilClose if http10 => (
                BodyRelay::UntilClose { rechunk: false },
                ClientFraming::Close,
            ),
            ResponseBody::UntilClose => (
                BodyRelay::UntilClose { rechunk: true },
                ClientFraming::Chunked,
            ),
        }
    }

    /// Whether the whole body has passed.
    pub fn is_done(&self) -> bool {
        matches!(self, BodyRelay::Done)
    }

    /// Moves what it can of `input` into `output`. `head_only` (an answer to HEAD)
    /// consumes body bytes without passing them.
    pub fn relay(
        &mut self,
        input: &[u8],
        output: &mut Vec<u8>,
        head_only: bool,
    ) -> Result<Relayed, HttpError> {
        let relayed = match self {
            BodyRelay::Length(remaining) => {
                let taken = (*remaining).min(input.len() as u64);
                if !head_only {
                    output.extend_from_slice(&input[..taken as usize]);
                }
                *remaining -= taken;
                if *remaining == 0 {
                    *self = BodyRelay::Done;
                }
                Relayed {
                    consumed: taken as usize,
                    body_bytes: taken,
                }
            }
            BodyRelay::Chunked { decoder, dechunk } => {
                let relayed = if *dechunk {
                    let before = output.len();
                    let consumed = decoder.decode(input, output)?;
                    Relayed {
                        consumed,
                        body_bytes: (output.len() - before) as u64,
                    }
                } else {
                    // The chunks pass as sent; decoding a copy finds the end.
                    let mut decoded = Vec::new();
                    let consumed = decoder.decode(input, &mut decoded)?;
                    output.extend_from_slice(&input[..consumed]);
                    Relayed {
                        consumed,
                        body_bytes: decoded.len() as u64,
                    }
                };
                if decoder.is_done() {
                    *self = BodyRelay::Done;
                }
                relayed
            }
            BodyRelay::UntilClose { rechunk } => {
                if *rechunk {
                    encode_chunk(input, output);
                } else {
                    output.extend_from_slice(input);
                }
                Relayed {
                    consumed: input.len(),
                    body_bytes: input.len() as u64,
                }
            }
            BodyRelay::Done => Relayed::default(),
        };
        Ok(relayed)
    }

    /// The upstream closed its connection: `Ok` when that ends the body (a body framed
    /// by the close, whose last chunk is written to `output` when it was chunked), an
    /// error when the body was cut short.
    pub fn upstream_closed(&mut self, output: &mut Vec<u8>) -> Result<(), HttpError> {
        match self {
            BodyRelay::UntilClose { rechunk } => {
                if *rechunk {
                    encode_last_chunk(output);
                }
                *self = BodyRelay::Done;
                Ok(())
            }
            BodyRelay::Done => Ok(()),
            BodyRelay::Length(_) | BodyRelay::Chunked { .. } => Err(HttpError::BodyCutShort),
        }
    }
}

#[cfg(test)]
mod tests;
