//! `path`: percent-decoding, path normalisation and the other request-target helpers.
//!
//! The first byte chooses `+` as a space for decoding; the rest is a path (or a query,
//! a cookie, a host). Checked: decoding never grows the text, and encoding what was
//! decoded decodes back to it; a normalised path starts with `/`, has no empty, `.` or
//! `..` segment and no NUL, so it cannot climb out of a directory it is appended to;
//! normalising again changes nothing (when no escape is left to decode); a path
//! `is_normal_path` accepts is its own normal form; the controller's variant, which
//! keeps `%2F` and `%25`, gives segments that each decode; a `Location` encodes to
//! text that encodes to itself; and the query, cookie and host helpers do not panic.

use unit_http::{
    decode_query_lenient, encode_location, host_name, is_normal_path, is_path_byte,
    is_safe_field_name, normalize_host, normalize_path, normalize_path_keeping, parse_cookies,
    parse_query, percent_decode, percent_encode, split_target,
};

use super::{bucket, outcome};

/// Tokens of paths and queries.
pub(super) const DICTIONARY: &[&[u8]] = &[
    b"/",
    b"//",
    b"/.",
    b"/..",
    b"/./",
    b"/../",
    b"..",
    b"%2e",
    b"%2E%2e",
    b"%2f",
    b"%2F",
    b"%25",
    b"%00",
    b"%",
    b"%a",
    b"%zz",
    b"%c3%a9",
    b"%ff",
    b"+",
    b"?",
    b"#",
    b"&",
    b"=",
    b";",
    b"http://",
    b"[::1]:80",
    b"\x00",
    b"\\",
];

/// Runs one input.
pub(super) fn run(input: &[u8]) -> u64 {
    let Some((&selector, text)) = input.split_first() else {
        return 0;
    };
    let plus_as_space = selector & 1 != 0;

    let decoded = percent_decode(text, plus_as_space);
    if let Ok(decoded) = &decoded {
        assert!(decoded.len() <= text.len(), "decoding grew the text");
        let mut encoded = Vec::new();
        percent_encode(decoded, is_path_byte, |byte| encoded.push(byte));
        assert!(
            encoded
                .iter()
                .all(|&byte| is_path_byte(byte) || byte == b'%')
        );
        // Encoded for a path, where `+` is itself.
        assert_eq!(
            percent_decode(&encoded, false).as_ref(),
            Ok(decoded),
            "encoding then decoding changes the bytes"
        );
    }

    let normalized = normalize_path(text);
    if let Ok(normalized) = &normalized {
        check_normal(normalized);
        if !normalized.contains(&b'%') {
            assert_eq!(
                normalize_path(normalized).as_ref(),
                Ok(normalized),
                "normalising is not idempotent"
            );
        }
    }
    if is_normal_path(text) {
        assert_eq!(
            normalized.as_deref(),
            Ok(text),
            "a path is_normal_path accepts is not its own normal form"
        );
    }

    let kept = normalize_path_keeping(text, b"/%");
    if let Ok(kept) = &kept {
        check_normal(kept);
        for segment in kept.split(|&byte| byte == b'/') {
            assert!(
                percent_decode(segment, false).is_ok(),
                "a kept segment {:?} does not decode",
                String::from_utf8_lossy(segment)
            );
        }
    }

    let location = encode_location(text);
    assert_eq!(
        encode_location(&location).as_ref(),
        location.as_ref(),
        "an encoded Location encodes again to something else"
    );

    let text_lossy = String::from_utf8_lossy(text);
    let (path, query) = split_target(&text_lossy);
    assert!(!path.is_empty());
    let n_arguments = query.map_or(0, |query| parse_query(query).len());
    let lenient = decode_query_lenient(text);
    assert!(
        lenient.len() <= text.len(),
        "lenient decoding grew the text"
    );
    let n_cookies = parse_cookies(text).len();
    let host = normalize_host(&text_lossy);
    assert!(host.len() <= text_lossy.len());
    assert!(text_lossy.starts_with(host_name(&text_lossy)));
    let _ = is_safe_field_name(&text_lossy);

    outcome((
        plus_as_space,
        decoded.is_ok(),
        normalized.map(|normalized| bucket(normalized.len())),
        kept.is_ok(),
        matches!(location, std::borrow::Cow::Borrowed(_)),
        bucket(n_arguments).min(3),
        bucket(n_cookies).min(3),
    ))
}

/// What a normalised path must look like.
fn check_normal(normalized: &[u8]) {
    let shown = || String::from_utf8_lossy(normalized).into_owned();
    assert_eq!(
        normalized.first(),
        Some(&b'/'),
        "{:?} is not absolute",
        shown()
    );
    assert!(!normalized.contains(&0), "{:?} holds a NUL", shown());
    let segments: Vec<&[u8]> = normalized[1..].split(|&byte| byte == b'/').collect();
    for (segment_idx, segment) in segments.iter().enumerate() {
        let last = segment_idx + 1 == segments.len();
        assert!(
            !segment.is_empty() || last,
            "{:?} has an empty segment",
            shown()
        );
        assert!(
            *segment != b"." && *segment != b"..",
            "{:?} has a dot-segment",
            shown()
        );
    }
}
