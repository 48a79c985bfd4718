//! The random source and the byte-level mutations that make new inputs from old ones.
//!
//! [`Rng`] is a small deterministic generator (SplitMix64), so one `--seed` gives one
//! sequence of inputs. [`mutate`] stacks a few mutations, chosen at random, on an input:
//! bit and byte flips, interesting bytes and numbers, inserting, deleting, duplicating
//! and overwriting ranges, splicing in part of another input, and inserting or
//! overwriting with tokens of the target's dictionary.
//!
//! Nothing here knows what the bytes mean; structure-aware mutations belong to the
//! targets that need them.

/// A deterministic pseudo-random generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator whose sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut mixed = self.state;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^ (mixed >> 31)
    }

    /// A number in `0..bound`; 0 when `bound` is 0.
    pub fn below(&mut self, bound: usize) -> usize {
        if bound == 0 {
            return 0;
        }
        // The modulo bias is irrelevant at the sizes used here.
        (self.next_u64() % bound as u64) as usize
    }

    /// True once in `n` times.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// One of `items`, which must not be empty.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A length that is usually small: 1 to 4 most of the time, up to `max` rarely.
    pub fn small_len(&mut self, max: usize) -> usize {
        let len = if self.one_in(8) {
            1 + self.below(max.max(1))
        } else {
            1 + self.below(4)
        };
        len.min(max.max(1))
    }
}

/// Bytes that tend to sit on the edge of some rule: separators, controls and the ends of
/// the signed and unsigned ranges.
const INTERESTING_BYTES: &[u8] = b"\0\x01\x7f\x80\xff\r\n\t ;:,=\"'\\/%?#*$&+-.0129afAFxX{}[]~!@";

/// Numbers written into the text at random, as digits.
const INTERESTING_NUMBERS: &[&[u8]] = &[
    b"0",
    b"1",
    b"-1",
    b"00",
    b"7f",
    b"ff",
    b"255",
    b"256",
    b"4096",
    b"65535",
    b"65536",
    b"2147483647",
    b"2147483648",
    b"4294967295",
    b"4294967296",
    b"9223372036854775807",
    b"9223372036854775808",
    b"18446744073709551615",
    b"18446744073709551616",
    b"ffffffffffffffff",
    b"10000000000000000",
    b"1e308",
    b"1.5",
];

/// Applies 1 to 8 random mutations to `input`, keeping it at most `max_len` bytes.
/// `dictionary` holds the target's tokens; `other` is another input to splice from.
pub(crate) fn mutate(
    input: &mut Vec<u8>,
    rng: &mut Rng,
    dictionary: &[&[u8]],
    other: &[u8],
    max_len: usize,
) {
    let n_mutations = 1usize << rng.below(4);
    for _ in 0..n_mutations {
        mutate_once(input, rng, dictionary, other);
    }
    input.truncate(max_len);
}

/// One mutation of `input`.
fn mutate_once(input: &mut Vec<u8>, rng: &mut Rng, dictionary: &[&[u8]], other: &[u8]) {
    match rng.below(14) {
        // Flip one bit.
        0 if !input.is_empty() => {
            let byte_idx = rng.below(input.len());
            input[byte_idx] ^= 1 << rng.below(8);
        }
        // Any byte.
        1 if !input.is_empty() => {
            let byte_idx = rng.below(input.len());
            input[byte_idx] = rng.next_u64() as u8;
        }
        // An interesting byte.
        2 if !input.is_empty() => {
            let byte_idx = rng.below(input.len());
            input[byte_idx] = *rng.pick(INTERESTING_BYTES);
        }
        // Insert a few bytes, random or interesting.
        3 => {
            let at = rng.below(input.len() + 1);
            let len = rng.small_len(16);
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    if rng.one_in(2) {
                        *rng.pick(INTERESTING_BYTES)
                    } else {
                        rng.next_u64() as u8
                    }
                })
                .collect();
            input.splice(at..at, bytes);
        }
        // Delete a range.
        4 if !input.is_empty() => {
            let (start, end) = range(input.len(), rng);
            input.drain(start..end);
        }
        // Duplicate a range in place, or copy it elsewhere.
        5 if !input.is_empty() => {
            let (start, end) = range(input.len(), rng);
            let copy = input[start..end].to_vec();
            let at = if rng.one_in(2) {
                end
            } else {
                rng.below(input.len() + 1)
            };
            let times = if rng.one_in(8) { 1 + rng.below(32) } else { 1 };
            for _ in 0..times {
                input.splice(at..at, copy.iter().copied());
            }
        }
        // Overwrite a range with another range of the same input.
        6 if input.len() >= 2 => {
            let (start, end) = range(input.len(), rng);
            let copy = input[start..end].to_vec();
            let at = rng.below(input.len() - copy.len() + 1);
            input[at..at + copy.len()].copy_from_slice(&copy);
        }
        // Insert a dictionary token.
        7 | 8 if !dictionary.is_empty() => {
            let token = *rng.pick(dictionary);
            let at = rng.below(input.len() + 1);
            input.splice(at..at, token.iter().copied());
        }
        // Overwrite with a dictionary token.
        9 if !dictionary.is_empty() && !input.is_empty() => {
            let token = *rng.pick(dictionary);
            let at = rng.below(input.len());
            let end = (at + token.len()).min(input.len());
            input.splice(at..end, token.iter().copied());
        }
        // Splice: this input's start with the other's end, or a piece of the other
        // inserted.
        10 if !other.is_empty() => {
            if rng.one_in(2) {
                let keep = rng.below(input.len() + 1);
                let from = rng.below(other.len());
                input.truncate(keep);
                input.extend_from_slice(&other[from..]);
            } else {
                let (start, end) = range(other.len(), rng);
                let at = rng.below(input.len() + 1);
                input.splice(at..at, other[start..end].iter().copied());
            }
        }
        // Replace a run of digits (or insert one) with an interesting number.
        11 => {
            let number = *rng.pick(INTERESTING_NUMBERS);
            match digit_run(input, rng) {
                Some((start, end)) => {
                    input.splice(start..end, number.iter().copied());
                }
                None => {
                    let at = rng.below(input.len() + 1);
                    input.splice(at..at, number.iter().copied());
                }
            }
        }
        // Truncate.
        12 if !input.is_empty() => {
            let keep = rng.below(input.len());
            input.truncate(keep);
        }
        // Swap two bytes.
        13 if input.len() >= 2 => {
            let first = rng.below(input.len());
            let second = rng.below(input.len());
            input.swap(first, second);
        }
        // The mutation drawn needs a longer input (or a dictionary): grow it instead.
        _ => input.push(*rng.pick(INTERESTING_BYTES)),
    }
}

/// A random non-empty range of `0..len` (len > 0), usually short.
fn range(len: usize, rng: &mut Rng) -> (usize, usize) {
    let start = rng.below(len);
    let max = len - start;
    let span = if rng.one_in(4) {
        1 + rng.below(max)
    } else {
        rng.small_len(max)
    };
    (start, start + span)
}

/// A run of ASCII hex digits in `input`, from a random place on; `None` when there is
/// none after it.
fn digit_run(input: &[u8], rng: &mut Rng) -> Option<(usize, usize)> {
    let from = rng.below(input.len() + 1);
    let start = from + input[from..].iter().position(u8::is_ascii_hexdigit)?;
    let len = input[start..]
        .iter()
        .take_while(|byte| byte.is_ascii_hexdigit())
        .count();
    Some((start, start + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_seed_gives_one_sequence() {
        let mut first = Rng::new(7);
        let mut second = Rng::new(7);
        let first: Vec<u64> = (0..8).map(|_| first.next_u64()).collect();
        let second: Vec<u64> = (0..8).map(|_| second.next_u64()).collect();
        assert_eq!(first, second);
        assert_ne!(Rng::new(8).next_u64(), first[0]);
    }

    #[test]
    fn mutations_respect_the_length_limit_and_change_inputs() {
        let mut rng = Rng::new(1);
        let dictionary: &[&[u8]] = &[b"\r\n", b"Transfer-Encoding: chunked"];
        let mut changed = 0;
        for _ in 0..10_000 {
            let mut input = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec();
            mutate(
                &mut input,
                &mut rng,
                dictionary,
                b"POST /x HTTP/1.0\r\n\r\n",
                40,
            );
            assert!(input.len() <= 40);
            changed += usize::from(input != b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        }
        assert!(changed > 9_000, "only {changed} of 10000 inputs changed");
    }

    #[test]
    fn mutations_grow_an_empty_input() {
        let mut rng = Rng::new(3);
        let mut input = Vec::new();
        for _ in 0..100 {
            mutate(&mut input, &mut rng, &[], &[], 64);
        }
        assert!(!input.is_empty());
    }
}
