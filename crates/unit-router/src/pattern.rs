//! Match patterns of route conditions and share `types` (UNIT-COMPAT 3.3).
//!
//! A pattern is `!` (negation, optional), then either `~` and a regular expression that
//! may match anywhere in the value, or text in which each `*` stands for any run of
//! characters. Text without `*` must equal the whole value, so `""` matches only an
//! empty value. A [`PatternSet`] is the string-or-array value of a condition, combined
//! by [`set_holds`].
//!
//! Matching works on bytes, so header values that are not UTF-8 and percent-decoded
//! patterns that are not UTF-8 behave as they would in Unit. Case-insensitive matching
//! folds ASCII letters only in wildcard patterns; regular expressions use the regex
//! crate's case-insensitive mode, and its syntax rather than PCRE's (look-around and
//! back-references do not compile).
//!
//! Patterns arrive as the strings of unit-conf's model, already validated; compiling
//! repeats the checks that decide how a pattern is built (`**`, escapes, the regular
//! expression) and reports them as a [`CompileError`] rather than trusting them.
//!
//! What it deliberately does not do: decide what a condition compares against, or match
//! addresses (`source`/`destination` use unit-conf's address patterns).

use regex::bytes::{Regex, RegexBuilder};

use crate::error::CompileError;

/// How the literal text of a pattern is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// As it is matched.
    Plain,
    /// Percent-encoded (`uri`): each piece between `*` markers is decoded, so `%2A` is a
    /// literal `*`. Regular expressions are never decoded.
    Percent,
    /// Percent-encoded with `+` for a space (`query`, `arguments`), as a query is.
    PercentPlus,
}

impl Encoding {
    /// Decodes `text`; `None` when an escape is invalid.
    pub(crate) fn decode(self, text: &[u8]) -> Option<Vec<u8>> {
        match self {
            Encoding::Plain => Some(text.to_vec()),
            Encoding::Percent => unit_http::percent_decode(text, false).ok(),
            Encoding::PercentPlus => unit_http::percent_decode(text, true).ok(),
        }
    }
}

// === impl Pattern ===

/// One compiled pattern.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    /// Whether the pattern began with `!`.
    negative: bool,
    /// How the value is tested.
    matcher: Matcher,
}

/// The test a pattern applies, negation aside.
#[derive(Debug, Clone)]
enum Matcher {
    /// A regular expression searched anywhere in the value.
    Regex(Regex),
    /// The literal pieces between `*` markers: one piece means an exact match.
    Wildcard {
        /// At least one piece; inner pieces are never empty.
        pieces: Vec<Vec<u8>>,
        /// Whether ASCII letters compare without case.
        case_insensitive: bool,
    },
}

impl Pattern {
    /// Compiles a pattern written as plain text.
    #[cfg(test)]
    pub(crate) fn compile(text: &str, case_insensitive: bool) -> Result<Pattern, CompileError> {
        Pattern::compile_encoded(text, case_insensitive, Encoding::Plain)
    }

    /// Compiles a pattern whose literal text is written in `encoding`.
    pub(crate) fn compile_encoded(
        text: &str,
        case_insensitive: bool,
        encoding: Encoding,
    ) -> Result<Pattern, CompileError> {
        let (negative, body) = match text.strip_prefix('!') {
            Some(body) => (true, body),
            None => (false, text),
        };
        let matcher = match body.strip_prefix('~') {
            Some(expression) => Matcher::Regex(compile_regex(expression, case_insensitive)?),
            None => Matcher::Wildcard {
                pieces: wildcard_pieces(body, encoding)?,
                case_insensitive,
            },
        };
        Ok(Pattern { negative, matcher })
    }

    /// Whether the pattern began with `!`.
    pub(crate) fn is_negative(&self) -> bool {
        self.negative
    }

    /// Whether `value` matches, ignoring the `!`.
    #[cfg(test)]
    pub(crate) fn matches(&self, value: &str) -> bool {
        self.matches_bytes(value.as_bytes())
    }

    /// Whether the bytes of `value` match, ignoring the `!`.
    pub(crate) fn matches_bytes(&self, value: &[u8]) -> bool {
        match &self.matcher {
            Matcher::Regex(regex) => regex.is_match(value),
            Matcher::Wildcard {
                pieces,
                case_insensitive,
            } => wildcard_matches(pieces, value, *case_insensitive),
        }
    }
}

// === impl PatternSet ===

/// The value of a condition: one pattern or an array of them.
#[derive(Debug, Clone)]
pub(crate) struct PatternSet {
    /// The patterns in configuration order.
    patterns: Vec<Pattern>,
}

impl PatternSet {
    /// Compiles the patterns of a condition written as plain text.
    pub(crate) fn compile(
        patterns: &[String],
        case_insensitive: bool,
    ) -> Result<PatternSet, CompileError> {
        PatternSet::compile_encoded(patterns, case_insensitive, Encoding::Plain)
    }

    /// Compiles the patterns of a condition whose literal text is in `encoding`.
    pub(crate) fn compile_encoded(
        patterns: &[String],
        case_insensitive: bool,
        encoding: Encoding,
    ) -> Result<PatternSet, CompileError> {
        let patterns = patterns
            .iter()
            .map(|text| Pattern::compile_encoded(text, case_insensitive, encoding))
            .collect::<Result<Vec<Pattern>, CompileError>>()?;
        Ok(PatternSet { patterns })
    }

    /// Whether `value` satisfies the set (see [`set_holds`]).
    pub(crate) fn matches(&self, value: &str) -> bool {
        self.matches_bytes(value.as_bytes())
    }

    /// Whether the bytes of `value` satisfy the set (see [`set_holds`]).
    pub(crate) fn matches_bytes(&self, value: &[u8]) -> bool {
        set_holds(
            self.patterns
                .iter()
                .map(|pattern| (pattern.is_negative(), pattern.matches_bytes(value))),
        )
    }
}

/// Combines the outcomes `(negative, matched)` of a set of patterns tried on one value:
/// a matching negative pattern fails the set; otherwise a set with no positive pattern
/// holds, and one with positive patterns holds when one of them matched.
pub(crate) fn set_holds(outcomes: impl IntoIterator<Item = (bool, bool)>) -> bool {
    let mut has_positive = false;
    let mut positive_matched = false;
    for (negative, matched) in outcomes {
        if negative {
            if matched {
                return false;
            }
        } else {
            has_positive = true;
            positive_matched |= matched;
        }
    }
    !has_positive || positive_matched
}

/// Compiles the text after `~`.
fn compile_regex(expression: &str, case_insensitive: bool) -> Result<Regex, CompileError> {
    RegexBuilder::new(expression)
        .case_insensitive(case_insensitive)
        .build()
        .map_err(|error| CompileError::Regex {
            expression: expression.to_owned(),
            error,
        })
}

/// Splits wildcard text at its `*` markers and decodes each piece.
fn wildcard_pieces(body: &str, encoding: Encoding) -> Result<Vec<Vec<u8>>, CompileError> {
    if body.contains("**") {
        return Err(CompileError::DoubleStar {
            pattern: body.to_owned(),
        });
    }
    body.split('*')
        .map(|piece| {
            encoding
                .decode(piece.as_bytes())
                .ok_or_else(|| CompileError::PatternEncoding {
                    pattern: body.to_owned(),
                })
        })
        .collect()
}

/// Whether `value` is the pieces in order with anything between them: the first piece
/// starts it, the last ends it, the inner ones appear in order, none overlapping.
fn wildcard_matches(pieces: &[Vec<u8>], value: &[u8], case_insensitive: bool) -> bool {
    let same = |left: &[u8], right: &[u8]| {
        if case_insensitive {
            left.eq_ignore_ascii_case(right)
        } else {
            left == right
        }
    };
    let [first, inner @ .., last] = pieces else {
        // One piece (no `*`) or, never produced by `wildcard_pieces`, none.
        return pieces.first().is_some_and(|only| same(only, value));
    };
    if value.len() < first.len() + last.len() {
        return false;
    }
    let (head, rest) = value.split_at(first.len());
    let (mut middle, tail) = rest.split_at(rest.len() - last.len());
    if !same(head, first) || !same(tail, last) {
        return false;
    }
    for piece in inner {
        match find(middle, piece, case_insensitive) {
            Some(found_idx) => middle = &middle[found_idx + piece.len()..],
            None => return false,
        }
    }
    true
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8], case_insensitive: bool) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|window| {
        if case_insensitive {
            window.eq_ignore_ascii_case(needle)
        } else {
            window == needle
        }
    })
}

#[cfg(test)]
mod tests;
