//! The chunked transfer coding (RFC 9112 section 7.1): an incremental decoder
//! for request and upstream response bodies, and encoders for outgoing ones.
//!
//! The decoder is a byte-level state machine, so input may be split anywhere.
//! It is strict where framing ambiguities have been used for smuggling: every
//! line must end in CRLF (a bare LF or CR is an error), the size line is
//! bounded, sizes that overflow 64 bits are refused, and the data must be
//! followed by CRLF exactly. Extensions are skipped after a character check;
//! trailer fields must be `name: value` lines and are skipped (not returned)
//! within a byte budget.

use crate::HttpError;
use crate::target::hex_value;

/// Longest accepted chunk-size line, extensions included, CRLF excluded.
const MAX_SIZE_LINE_BYTES: usize = 4096;

/// Longest accepted trailer section, final CRLF included.
const MAX_TRAILER_BYTES: usize = 8192;

/// An incremental decoder of one chunked body.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    /// The size being read on a size line, then the data left in the chunk.
    size: u64,
    /// Bytes seen so far on the current size line.
    size_line_len: usize,
    /// Bytes seen so far in the trailer section.
    trailer_len: usize,
}

/// Where in the chunked grammar the decoder stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the hex digits of a chunk size.
    SizeDigits { seen_digit: bool },
    /// Between the size and `;` or the line end (bad whitespace).
    SizeWhitespace,
    /// Inside chunk extensions, which are skipped.
    Extension,
    /// After the CR of a size line.
    SizeLf,
    /// Copying chunk data; `size` bytes are left.
    Data,
    /// Expecting the CR after chunk data.
    DataCr,
    /// Expecting the LF after chunk data.
    DataLf,
    /// At the start of a trailer field line or of the final empty line.
    TrailerLineStart,
    /// Inside the name of a trailer field.
    TrailerName,
    /// Inside a trailer field's value.
    TrailerLine,
    /// After the CR of a trailer line; `last` if the line was empty.
    TrailerLf { last: bool },
    /// The body is complete.
    Done,
    /// An error was reported; it is reported again on every call.
    Failed(HttpError),
}

// === impl ChunkedDecoder ===

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    /// A decoder positioned before the first chunk-size line.
    pub fn new() -> Self {
        Self {
            state: State::SizeDigits { seen_digit: false },
            size: 0,
            size_line_len: 0,
            trailer_len: 0,
        }
    }

    /// Decodes from `input`, appending chunk data to `out`; returns the number
    /// of bytes of `input` consumed.
    ///
    /// All of `input` is consumed until the body ends; after that the decoder
    /// stops right behind the final CRLF, so whatever follows (a pipelined
    /// request) stays with the caller. Needing more input is not an error:
    /// check `is_done`. Once an error is returned, every later call returns it.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, HttpError> {
        if let State::Failed(error) = self.state {
            return Err(error);
        }
        let mut consumed = 0;
        while consumed < input.len() {
            match self.state {
                State::Done => break,
                State::Data => {
                    let available = &input[consumed..];
                    let take = usize::try_from(self.size)
                        .map_or(available.len(), |left| left.min(available.len()));
                    out.extend_from_slice(&available[..take]);
                    consumed += take;
                    // `take` never exceeds `size`, so this cannot underflow.
                    self.size -= take as u64;
                    if self.size == 0 {
                        self.state = State::DataCr;
                    }
                }
                _ => {
                    let byte = input[consumed];
                    consumed += 1;
                    if let Err(error) = self.step(byte) {
                        self.state = State::Failed(error);
                        return Err(error);
                    }
                }
            }
        }
        Ok(consumed)
    }

    /// Whether the last chunk and the trailer section have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Advances over one byte outside chunk data.
    fn step(&mut self, byte: u8) -> Result<(), HttpError> {
        match self.state {
            State::SizeDigits { .. } | State::SizeWhitespace | State::Extension => {
                // The line's bytes so far, plus its CR once that arrives.
                self.size_line_len += 1;
                if self.size_line_len > MAX_SIZE_LINE_BYTES + 1 {
                    return Err(HttpError::BadChunk);
                }
            }
            State::TrailerLineStart
            | State::TrailerName
            | State::TrailerLine
            | State::TrailerLf { .. } => {
                self.trailer_len += 1;
                if self.trailer_len > MAX_TRAILER_BYTES {
                    return Err(HttpError::TrailersTooLarge);
                }
            }
            _ => {}
        }

        if let State::SizeDigits { .. } = self.state
            && let Some(digit) = hex_value(byte)
        {
            self.size = self
                .size
                .checked_mul(16)
                .and_then(|size| size.checked_add(u64::from(digit)))
                .ok_or(HttpError::ChunkSizeTooLarge)?;
            self.state = State::SizeDigits { seen_digit: true };
            return Ok(());
        }

        self.state = match (self.state, byte) {
            (State::SizeDigits { seen_digit: false }, _) => return Err(HttpError::BadChunk),
            (State::SizeDigits { .. } | State::SizeWhitespace, b' ' | b'\t') => {
                State::SizeWhitespace
            }
            (State::SizeDigits { .. } | State::SizeWhitespace | State::Extension, b';') => {
                State::Extension
            }
            (State::SizeDigits { .. } | State::SizeWhitespace | State::Extension, b'\r') => {
                State::SizeLf
            }
            (State::Extension, _) if is_line_text(byte) => State::Extension,
            (State::SizeLf, b'\n') => {
                self.size_line_len = 0;
                if self.size == 0 {
                    State::TrailerLineStart
                } else {
                    State::Data
                }
            }
            (State::DataCr, b'\r') => State::DataLf,
            (State::DataLf, b'\n') => State::SizeDigits { seen_digit: false },
            (State::TrailerLineStart, b'\r') => State::TrailerLf { last: true },
            (State::TrailerLineStart | State::TrailerName, _) if is_token_byte(byte) => {
                State::TrailerName
            }
            (State::TrailerName, b':') => State::TrailerLine,
            (State::TrailerLine, b'\r') => State::TrailerLf { last: false },
            (State::TrailerLine, _) if is_line_text(byte) => State::TrailerLine,
            (State::TrailerLf { last: true }, b'\n') => State::Done,
            (State::TrailerLf { last: false }, b'\n') => State::TrailerLineStart,
            _ => return Err(HttpError::BadChunk),
        };
        Ok(())
    }
}

/// Whether a byte may stand in a field name (RFC 9110 `tchar`).
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// Appends `data` as one chunk to `out`; empty data writes nothing, since an
/// empty chunk would end the body.
pub fn encode_chunk(data: &[u8], out: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    let len = data.len();
    let n_digits = (usize::BITS - len.leading_zeros()).div_ceil(4);
    out.reserve(n_digits as usize + data.len() + 4);
    for digit_idx in (0..n_digits).rev() {
        out.push(HEX_LOWER[(len >> (digit_idx * 4)) & 0xf]);
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Appends the last chunk and an empty trailer section, ending the body.
pub fn encode_last_chunk(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0\r\n\r\n");
}

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

/// Text allowed inside extensions and trailer lines: visible ASCII, space,
/// HTAB and obs-text; no other controls.
fn is_line_text(byte: u8) -> bool {
    byte == b'\t' || (b' '..=b'~').contains(&byte) || byte >= 0x80
}

#[cfg(test)]
mod tests;
