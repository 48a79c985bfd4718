//! Checks of the string patterns used by `match` conditions, `types` and compression
//! `types`, and the percent-decoding shared with `pass`.
//!
//! A pattern is `!`-negated or not, then either `~regex` or a wildcard text where `*`
//! matches any run of characters. Regular expressions are compiled with the engine the
//! router matches with, so one the router could not use is refused here; an empty one
//! matches anything, as in Unit.

use serde_json::Value;

use super::ValidationError;
use super::schema::one_or_many_strings;

/// Whether pattern text must be valid percent-encoding once decoded (`uri`, `query`,
/// `arguments`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Encoding {
    /// The text is compared as it is.
    Plain,
    /// `%XX` escapes are decoded before comparing, so they must be well formed.
    PercentEncoded,
}

/// Checks a value that is one pattern or an array of patterns for the option `name`.
pub(super) fn check_patterns(
    name: &str,
    value: &Value,
    encoding: Encoding,
) -> Result<(), ValidationError> {
    for pattern in one_or_many_strings(name, value)? {
        check_pattern(name, pattern, encoding)?;
    }
    Ok(())
}

/// Checks one pattern for the option `name`.
pub(super) fn check_pattern(
    name: &str,
    pattern: &str,
    encoding: Encoding,
) -> Result<(), ValidationError> {
    let body = pattern.strip_prefix('!').unwrap_or(pattern);
    if let Some(regex) = body.strip_prefix('~') {
        return match regex::bytes::RegexBuilder::new(regex).build() {
            Ok(_) => Ok(()),
            Err(error) => Err(ValidationError::new(format!(
                "Invalid regular expression: {error}"
            ))),
        };
    }
    if body.contains("**") {
        return Err(ValidationError::new(
            "The \"match\" pattern must not contain double \"*\" markers.",
        ));
    }
    if encoding == Encoding::PercentEncoded && percent_decode(body).is_none() {
        return Err(invalid_encoding(name, pattern));
    }
    Ok(())
}

/// `The "<name>" pattern "<pattern>" has an invalid percent-encoded sequence.`
pub(super) fn invalid_encoding(name: &str, pattern: &str) -> ValidationError {
    ValidationError::new(format!(
        "The \"{name}\" pattern \"{pattern}\" has an invalid percent-encoded sequence."
    ))
}

/// Decodes `%XX` escapes; `None` when a `%` is not followed by two hex digits.
pub(super) fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let high = hex_value(*bytes.get(index + 1)?)?;
            let low = hex_value(*bytes.get(index + 2)?)?;
            decoded.push(high << 4 | low);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    Some(decoded)
}

fn hex_value(byte: u8) -> Option<u8> {
    char::from(byte)
        .to_digit(16)
        .and_then(|digit| u8::try_from(digit).ok())
}

#[cfg(test)]
mod tests {
    use super::{Encoding, check_pattern, percent_decode};

    #[test]
    fn percent_decoding() {
        for (text, expected) in [
            ("", Some(&b""[..])),
            ("abc", Some(&b"abc"[..])),
            ("a%20b", Some(&b"a b"[..])),
            ("%2F%2f", Some(&b"//"[..])),
            ("%", None),
            ("%2", None),
            ("%zz", None),
        ] {
            assert_eq!(percent_decode(text).as_deref(), expected, "text {text:?}");
        }
    }

    #[test]
    fn single_patterns() {
        let double_star = Err("The \"match\" pattern must not contain double \"*\" markers.");
        for (pattern, encoding, expected) in [
            ("*", Encoding::Plain, Ok(())),
            ("*.example.com", Encoding::Plain, Ok(())),
            ("!*/admin/*", Encoding::Plain, Ok(())),
            ("", Encoding::Plain, Ok(())),
            ("a**b", Encoding::Plain, double_star),
            ("!**", Encoding::Plain, double_star),
            ("~^/a*", Encoding::Plain, Ok(())),
            ("!~", Encoding::Plain, Ok(())),
            ("~", Encoding::Plain, Ok(())),
            ("/a%20b", Encoding::PercentEncoded, Ok(())),
            (
                "/a%2",
                Encoding::PercentEncoded,
                Err("The \"uri\" pattern \"/a%2\" has an invalid percent-encoded sequence."),
            ),
            ("/a%2", Encoding::Plain, Ok(())),
        ] {
            assert_eq!(
                check_pattern("uri", pattern, encoding).map_err(|error| error.detail),
                expected.map_err(str::to_owned),
                "pattern {pattern:?}"
            );
        }
    }
}
