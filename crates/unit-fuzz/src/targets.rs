//! The fuzz targets: each runs one of unitd's parsers (the real one, from its crate) on
//! an input and checks what must hold whatever the input is.
//!
//! A target is a function from the input bytes to an *outcome*: a hash of what the
//! parser made of it at a coarse grain (which error, which body framing, how many
//! fields, bucketed). The engine keeps an input whose outcome it has not seen before,
//! as a cheap stand-in for coverage. A broken invariant is a panic (`assert!`), which
//! the engine reports as a crash, as it does any panic of the parser itself.
//!
//! Targets use no I/O, no threads and no randomness of their own, so an input always
//! does the same thing and a saved crash reproduces.

mod app_frames;
mod chunked;
mod config;
mod http_request;
mod http_response;
mod json;
mod path;
mod pattern;
mod pem;
mod port;
mod proxy_framing;

use std::hash::{DefaultHasher, Hash, Hasher};

use crate::mutate::Rng;

/// One fuzz target.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// Its name on the command line and its directory under `fuzz/corpus` and
    /// `fuzz/crashes`.
    pub name: &'static str,
    /// What it fuzzes, one line.
    pub description: &'static str,
    /// Runs one input; panics on a broken invariant. Returns the outcome's hash.
    pub run: fn(&[u8]) -> u64,
    /// Tokens the mutator inserts.
    pub dictionary: &'static [&'static [u8]],
    /// The longest input it is given.
    pub max_len: usize,
    /// A structure-aware mutation, tried on some inputs instead of the byte-level
    /// ones; `false` when it could not apply (the input is not what it understands).
    pub mutate: Option<fn(&mut Vec<u8>, &mut Rng) -> bool>,
}

/// Every target, in the order `cargo xtask fuzz` runs them.
pub fn all() -> &'static [Target] {
    TARGETS
}

/// The target called `name`.
pub fn find(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|target| target.name == name)
}

const TARGETS: &[Target] = &[
    Target {
        name: "http-request",
        description: "request heads: parse_request_head_into with the header-buffer rules",
        run: http_request::run,
        dictionary: http_request::DICTIONARY,
        max_len: 4096,
        mutate: None,
    },
    Target {
        name: "chunked",
        description: "the chunked decoder fed in random splits, and the chunk encoder",
        run: chunked::run,
        dictionary: chunked::DICTIONARY,
        max_len: 4096,
        mutate: None,
    },
    Target {
        name: "http-response",
        description: "upstream and application response heads, and BodyRelay",
        run: http_response::run,
        dictionary: http_response::DICTIONARY,
        max_len: 4096,
        mutate: None,
    },
    Target {
        name: "json",
        description: "the control API's JSON parser and the pretty printer's round trip",
        run: json::run,
        dictionary: json::DICTIONARY,
        max_len: 1024,
        mutate: Some(json::mutate),
    },
    Target {
        name: "config",
        description: "the configuration validator, and the router compiling what it accepts",
        run: config::run,
        dictionary: config::DICTIONARY,
        max_len: 8192,
        mutate: Some(config::mutate),
    },
    Target {
        name: "port",
        description: "port messages: header framing, fragment reassembly, typed payloads",
        run: port::run,
        dictionary: port::DICTIONARY,
        max_len: 2048,
        mutate: None,
    },
    Target {
        name: "pattern",
        description: "route patterns, address patterns and variable templates",
        run: pattern::run,
        dictionary: pattern::DICTIONARY,
        max_len: 512,
        mutate: None,
    },
    Target {
        name: "path",
        description: "percent-decoding, path normalisation and the other target helpers",
        run: path::run,
        dictionary: path::DICTIONARY,
        max_len: 1024,
        mutate: None,
    },
    Target {
        name: "app-frames",
        description: "runner frames: request and response heads, split, and re-encoded",
        run: app_frames::run,
        dictionary: app_frames::DICTIONARY,
        max_len: 4096,
        mutate: None,
    },
    Target {
        name: "pem",
        description: "certificate bundles: Bundle::from_pem, its description and SNI names",
        run: pem::run,
        dictionary: pem::DICTIONARY,
        max_len: 16 * 1024,
        mutate: Some(pem::mutate),
    },
    Target {
        name: "proxy-framing",
        description: "differential: where a request ends for the router and for its upstream",
        run: proxy_framing::run,
        dictionary: proxy_framing::DICTIONARY,
        max_len: 4096,
        mutate: None,
    },
];

/// The hash of an outcome's parts, the same in every run (the hasher has fixed keys).
fn outcome(parts: impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    parts.hash(&mut hasher);
    hasher.finish()
}

/// A count in a few buckets (0, 1, 2, 3-4, 5-8, ...), so outcomes do not multiply with
/// every length.
fn bucket(count: usize) -> u32 {
    usize::BITS - count.leading_zeros()
}

/// Piece lengths for feeding bytes in random splits, from a seed the input carries: the
/// same input always splits the same way.
fn splits(seed: u8, total: usize) -> Vec<usize> {
    let mut rng = Rng::new(u64::from(seed));
    let mut pieces = Vec::new();
    let mut left = total;
    while left > 0 {
        let piece = match seed % 4 {
            0 => left,
            1 => 1,
            _ => 1 + rng.below(left.min(64)),
        };
        pieces.push(piece);
        left -= piece;
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        let names: std::collections::BTreeSet<&str> =
            all().iter().map(|target| target.name).collect();
        assert_eq!(names.len(), all().len());
        for target in all() {
            assert_eq!(find(target.name).map(|found| found.name), Some(target.name));
        }
        assert!(find("no-such-target").is_none());
    }

    /// Every committed seed passes its target: a seed that fails would stop every run
    /// before it starts.
    #[test]
    fn every_seed_passes() {
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
        for target in all() {
            let dir = corpus.join(target.name);
            let entries = std::fs::read_dir(&dir)
                .unwrap_or_else(|error| panic!("reading {}: {error}", dir.display()));
            let mut n_seeds = 0;
            for entry in entries {
                let path = entry.expect("reading a corpus entry").path();
                let input = std::fs::read(&path)
                    .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
                (target.run)(&input);
                n_seeds += 1;
            }
            assert!(n_seeds > 0, "{} has no seeds", target.name);
        }
    }

    #[test]
    fn splits_cover_the_input() {
        for seed in 0..=255u8 {
            let pieces = splits(seed, 100);
            assert_eq!(pieces.iter().sum::<usize>(), 100);
            assert!(pieces.iter().all(|&piece| piece > 0));
        }
        assert!(splits(3, 0).is_empty());
    }
}
