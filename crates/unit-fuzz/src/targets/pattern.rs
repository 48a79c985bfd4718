//! `pattern`: the compilers of route conditions and option values with variables.
//!
//! The first byte picks case folding and how the pattern text is encoded (plain, as
//! `uri`'s, or as `query`'s); the rest is split at newlines: the first line holds the
//! condition's patterns (separated by tabs), the other lines are values to match. Each
//! pattern is also read as a variable template (by unit-conf's parser, then expanded by
//! the router for a sample request), as a `source` address pattern, and as a listener
//! address. Checked: compiling and matching do not panic; a plain pattern without
//! wildcards or a leading `!` or `~` matches its own text (and, folded, its upper case);
//! a template prints back to text that parses to the same parts; a template without
//! variables expands to itself; a listener address prints to text that parses back to it.

use std::net::SocketAddr;

use unit_conf::{TemplatePart, parse_address_pattern, parse_listener_address, parse_template};
use unit_router::fuzzing::{PatternText, expand_template, match_patterns};

use super::{bucket, outcome};

/// Tokens of patterns, templates and addresses.
pub(super) const DICTIONARY: &[&[u8]] = &[
    b"*",
    b"**",
    b"!",
    b"~",
    b"~^",
    b"$",
    b"(",
    b")",
    b"[",
    b"]",
    b"{",
    b"}",
    b"\\",
    b"(?i)",
    b"{1000}",
    b".*",
    b"%2",
    b"%2A",
    b"%25",
    b"+",
    b"$uri",
    b"${host}",
    b"$header_",
    b"$arg_",
    b"$cookie_",
    b"$response_header_",
    b"$dollar",
    b"$request_line",
    b"`",
    b"\t",
    b"\n",
    b"127.0.0.1",
    b"::1",
    b"[::1]",
    b":80",
    b"*:",
    b"-",
    b"/24",
    b"/128",
    b"unix:",
    b"unix:@",
    b"\xc3\xa9",
];

/// Runs one input.
pub(super) fn run(input: &[u8]) -> u64 {
    let Some((&selector, rest)) = input.split_first() else {
        return 0;
    };
    let case_insensitive = selector & 1 != 0;
    let text_encoding = match (selector >> 1) % 3 {
        0 => PatternText::Plain,
        1 => PatternText::Percent,
        _ => PatternText::PercentPlus,
    };
    let text = String::from_utf8_lossy(rest);
    let mut lines = text.split('\n');
    let patterns: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split('\t')
        .map(str::to_owned)
        .collect();
    let values: Vec<&[u8]> = lines.map(str::as_bytes).collect();

    let matched = match_patterns(&patterns, case_insensitive, text_encoding, &values);
    for pattern in &patterns {
        check_literal(pattern, case_insensitive, text_encoding);
    }
    let mut n_templates = 0;
    let mut n_addresses = 0;
    for pattern in &patterns {
        n_templates += usize::from(check_template(pattern));
        n_addresses += usize::from(check_address(pattern));
    }
    outcome((
        selector % 6,
        matched.as_ref().map(|matched| bucket(matched.len())).ok(),
        matched
            .as_ref()
            .err()
            .map(|error| error.split('"').next().map(str::to_owned)),
        bucket(n_templates),
        bucket(n_addresses),
    ))
}

/// A pattern that is only literal text matches that text.
fn check_literal(pattern: &str, case_insensitive: bool, text_encoding: PatternText) {
    let special = |character: char| match text_encoding {
        PatternText::Plain => character == '*',
        PatternText::Percent => matches!(character, '*' | '%'),
        PatternText::PercentPlus => matches!(character, '*' | '%' | '+'),
    };
    if pattern.starts_with(['!', '~']) || pattern.contains(special) {
        return;
    }
    let patterns = [pattern.to_owned()];
    let upper = pattern.to_ascii_uppercase();
    let values: [&[u8]; 2] = [pattern.as_bytes(), upper.as_bytes()];
    match match_patterns(&patterns, case_insensitive, text_encoding, &values) {
        Ok(matched) => {
            assert!(matched[0], "{pattern:?} does not match itself");
            if case_insensitive {
                assert!(matched[1], "{pattern:?} does not match {upper:?} folded");
            }
        }
        Err(error) => panic!("the literal pattern {pattern:?} does not compile: {error}"),
    }
}

/// Parses `text` as a template; true when it parses.
fn check_template(text: &str) -> bool {
    let parts = match parse_template(text) {
        Ok(parts) => parts,
        Err(_) => {
            assert!(expand_template(text).is_err(), "the router takes {text:?}");
            return false;
        }
    };
    let mut printed = String::new();
    for part in &parts {
        match part {
            TemplatePart::Literal(literal) => {
                assert!(
                    !literal.contains('$'),
                    "a literal part {literal:?} holds a $"
                );
                printed.push_str(literal);
            }
            TemplatePart::Variable(variable) => {
                printed.push_str("${");
                printed.push_str(&variable.to_string());
                printed.push('}');
            }
        }
    }
    assert_eq!(
        parse_template(&printed).as_ref(),
        Ok(&parts),
        "{text:?} printed as {printed:?} parses to other parts"
    );
    let (expanded, logged) = match expand_template(text) {
        Ok(expansions) => expansions,
        Err(error) => panic!("the router refuses {text:?}, which parses: {error}"),
    };
    if parts
        .iter()
        .all(|part| matches!(part, TemplatePart::Literal(_)))
    {
        assert_eq!(expanded, text, "a template without variables changes");
        assert_eq!(
            logged, text,
            "a template without variables changes in the log"
        );
    }
    true
}

/// Parses `text` as an address pattern and a listener address; true when either does.
fn check_address(text: &str) -> bool {
    let pattern = parse_address_pattern(text);
    if let Ok(pattern) = &pattern {
        let client = SocketAddr::from(([192, 0, 2, 7], 51000));
        let _ = pattern.matches(&client);
        let _ = pattern.matches_unix();
    }
    let listener = parse_listener_address(text);
    if let Some(address) = &listener {
        let printed = address.to_string();
        assert_eq!(
            parse_listener_address(&printed).as_ref(),
            Some(address),
            "the listener address {text:?} prints as {printed:?}, which parses otherwise"
        );
    }
    pattern.is_ok() || listener.is_some()
}
