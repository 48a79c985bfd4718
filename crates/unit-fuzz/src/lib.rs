//! In-process mutation fuzzing of unitd's parsers, on the stable toolchain.
//!
//! libFuzzer needs a nightly compiler for its coverage instrumentation; this crate
//! needs none. Its [`targets`](all_targets) call the parsers of the workspace's crates
//! (request and response heads, chunked bodies, the body relay, JSON, the whole
//! configuration validator with the router's compiler, port messages, patterns and
//! templates, paths, certificate bundles, the language runners' frames, and a
//! differential check of the proxy's request framing) and assert what must hold for any input. The [engine](fuzz) mutates inputs from a seed
//! corpus (`fuzz/corpus/<target>/`), runs each under `catch_unwind` with a time limit
//! and an allocation cap ([`CountingAlloc`], which the `unit-fuzz` binary installs as
//! its global allocator), and saves a failing input to `fuzz/crashes/<target>/`.
//! Coverage is approximated by each target's outcome hash; see `engine`.
//!
//! `cargo xtask fuzz [TARGET] [--seconds N] [--runs N] [--seed N]` builds the binary
//! with the `fuzz` profile (optimized, with debug assertions and overflow checks) and
//! runs it.
//!
//! What it does not do: measure code coverage, minimize findings, or fuzz anything that
//! needs a socket, a file or a process.

#![deny(unsafe_code)]

mod alloc;
mod engine;
mod mutate;
mod targets;

pub use alloc::{CountingAlloc, OverAllocation, is_installed as counting_alloc_installed};
pub use engine::{
    Finding, FuzzError, Options, Problem, Progress, Summary, fuzz, input_name, run_once,
};
pub use mutate::Rng;
pub use targets::{Target, all as all_targets, find as find_target};
