//! Helpers for individual header fields: cookies, field-name safety and hosts.
//!
//! These interpret one field value at a time for routing and variables
//! (`cookies` matches, `$cookie_*`, `$host`, `discard_unsafe_fields`). They do
//! not decide framing; that is `framing.rs`.

use crate::HttpError;

/// Parses the value of one Cookie header into `(name, value)` pairs, in order, as
/// Unit does.
///
/// Pairs are separated by `;`; a pair without `=` is no cookie; spaces before a name
/// and after a value are dropped, nothing else. The value runs to the `;` (so
/// `a=x=y` is `a` = `x=y`) and is kept as sent, quotes included. Bytes that are not
/// UTF-8 are replaced with U+FFFD.
pub fn parse_cookies(header_value: &[u8]) -> Vec<(String, String)> {
    let mut cookies = Vec::new();
    for pair in header_value.split(|&byte| byte == b';') {
        let Some(equals_idx) = pair.iter().position(|&byte| byte == b'=') else {
            continue;
        };
        let name = &pair[..equals_idx];
        let name = &name[name.iter().take_while(|&&byte| byte == b' ').count()..];
        let value = &pair[equals_idx + 1..];
        let value =
            &value[..value.len() - value.iter().rev().take_while(|&&byte| byte == b' ').count()];
        cookies.push((
            String::from_utf8_lossy(name).into_owned(),
            String::from_utf8_lossy(value).into_owned(),
        ));
    }
    cookies
}

/// Whether a header name is safe to pass to applications.
///
/// This is the rule behind the `discard_unsafe_fields` setting: the name is
/// not empty and holds only ASCII letters, digits and `-`. Names with `_`
/// are unsafe because applications see headers as `HTTP_*` variables, where
/// `-` and `_` collide.
pub fn is_safe_field_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
}

/// Reduces a Host value to the name used by `$host` and `host` route matches.
///
/// The result is lowercased, loses its port (an IPv6 literal keeps its
/// brackets) and one trailing dot.
pub fn normalize_host(host: &str) -> String {
    host_name(host).to_ascii_lowercase()
}

/// The part of a Host value `normalize_host` keeps, before lowercasing: without the
/// port (an IPv6 literal keeps its brackets) and one trailing dot.
pub fn host_name(host: &str) -> &str {
    let without_port = if host.starts_with('[') {
        match host.find(']') {
            Some(bracket_idx) => &host[..=bracket_idx],
            None => host,
        }
    } else {
        match host.find(':') {
            Some(colon_idx) => &host[..colon_idx],
            None => host,
        }
    };
    without_port.strip_suffix('.').unwrap_or(without_port)
}

/// Checks a Host value (or the authority of an absolute-form target) as Unit does.
///
/// Hosts may end up in file paths through `$host`, so a `/` and any `..` are refused;
/// every other byte a header value may hold is accepted. An empty host is allowed, as
/// RFC 9112 section 3.2 permits.
pub(crate) fn validate_host(host: &[u8]) -> Result<(), HttpError> {
    let climbs = host.windows(2).any(|pair| pair == b"..");
    if climbs || host.contains(&b'/') || host.contains(&0) {
        return Err(HttpError::BadHost);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Cookie parsing, field-name safety and host handling.

    use super::{is_safe_field_name, normalize_host, parse_cookies, validate_host};
    use crate::HttpError;

    fn check_cookies(value: &str, expected: &[(&str, &str)]) {
        let actual = parse_cookies(value.as_bytes());
        let actual: Vec<(&str, &str)> = actual
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(actual, expected, "{value:?}");
    }

    #[test]
    fn cookies() {
        check_cookies("", &[]);
        check_cookies("a=1", &[("a", "1")]);
        check_cookies("a=1; b=2", &[("a", "1"), ("b", "2")]);
        check_cookies("   foo=bar=baz   ", &[("foo", "bar=baz")]);
        check_cookies("a=x=y", &[("a", "x=y")]);
        check_cookies("flag; a=", &[("a", "")]);
        check_cookies("foo", &[]);
        check_cookies("=", &[("", "")]);
        check_cookies("=orphan; ;a=1", &[("", "orphan"), ("a", "1")]);
        check_cookies("q=\"quoted\"", &[("q", "\"quoted\"")]);
        check_cookies("a=1; a=2", &[("a", "1"), ("a", "2")]);
    }

    fn check_safe(name: &str, expected: bool) {
        assert_eq!(is_safe_field_name(name), expected, "{name:?}");
    }

    #[test]
    fn safe_field_names() {
        check_safe("Host", true);
        check_safe("X-Forwarded-For", true);
        check_safe("x-1", true);
        check_safe("", false);
        check_safe("X_Forwarded_For", false);
        check_safe("X.Y", false);
        check_safe("Ünicode", false);
    }

    fn check_normalize(host: &str, expected: &str) {
        assert_eq!(normalize_host(host), expected, "{host:?}");
    }

    #[test]
    fn host_normalization() {
        check_normalize("Example.COM", "example.com");
        check_normalize("example.com:8080", "example.com");
        check_normalize("example.com.", "example.com");
        check_normalize("example.com.:80", "example.com");
        check_normalize("[::1]:8080", "[::1]");
        check_normalize("[FE80::1]", "[fe80::1]");
        check_normalize("", "");
    }

    fn check_valid(host: &str, expected: Result<(), HttpError>) {
        assert_eq!(validate_host(host.as_bytes()), expected, "{host:?}");
    }

    #[test]
    fn host_validation() {
        check_valid("", Ok(()));
        check_valid("example.com", Ok(()));
        check_valid("example.com:80", Ok(()));
        check_valid("[::1]:80", Ok(()));
        check_valid("a_b.example", Ok(()));
        check_valid(".example.com", Ok(()));
        check_valid("#foo?bar", Ok(()));
        check_valid("..", Err(HttpError::BadHost));
        check_valid("a..b", Err(HttpError::BadHost));
        check_valid("a/b", Err(HttpError::BadHost));
        check_valid("a\0b", Err(HttpError::BadHost));
    }
}
