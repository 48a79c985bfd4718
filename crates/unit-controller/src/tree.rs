//! Addressing inside the JSON configuration tree (UNIT-COMPAT 2.3): a path is split on
//! `/`, each segment percent-decoded, objects indexed by exact key and arrays by a
//! non-negative decimal index.

use serde_json::Value;

/// The longest segment accepted.
const MAX_SEGMENT: usize = 256;
/// The largest array index accepted.
const MAX_INDEX: u64 = (1 << 31) - 1;

/// Splits a request path's remainder (after `/config`) into decoded segments.
/// `None` when a segment is too long or has a bad `%` escape: such a path names nothing.
pub(crate) fn split_segments(raw: &str) -> Option<Vec<String>> {
    raw.split('/')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            if segment.len() > MAX_SEGMENT {
                return None;
            }
            let decoded = percent_decode(segment.as_bytes())?;
            String::from_utf8(decoded).ok()
        })
        .collect()
}

/// The value at `segments`, if it exists.
pub(crate) fn get<'a>(root: &'a Value, segments: &[String]) -> Option<&'a Value> {
    segments
        .iter()
        .try_fold(root, |value, segment| match value {
            Value::Object(members) => members.get(segment.as_str()),
            Value::Array(elements) => elements.get(array_index(segment)?),
            _ => None,
        })
}

/// An array index: decimal digits only, at most 2^31 - 1.
pub(crate) fn array_index(segment: &str) -> Option<usize> {
    if segment.is_empty() || !segment.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let index: u64 = segment.parse().ok()?;
    if index > MAX_INDEX {
        return None;
    }
    usize::try_from(index).ok()
}

fn percent_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut decoded = Vec::with_capacity(input.len());
    let mut bytes = input.iter();
    while let Some(&byte) = bytes.next() {
        if byte != b'%' {
            decoded.push(byte);
            continue;
        }
        let high = hex_value(*bytes.next()?)?;
        let low = hex_value(*bytes.next()?)?;
        decoded.push(high << 4 | low);
    }
    Some(decoded)
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn segments(raw: &str) -> Vec<String> {
        split_segments(raw).unwrap_or_default()
    }

    #[test]
    fn segments_are_decoded_one_by_one() {
        assert_eq!(
            segments("/listeners/unix:%2Frun%2Fapp.sock"),
            vec!["listeners", "unix:/run/app.sock"]
        );
        assert_eq!(segments("/a%25b/"), vec!["a%b"]);
        assert_eq!(segments(""), Vec::<String>::new());
        assert_eq!(split_segments("/bad%zz"), None);
        assert_eq!(split_segments(&format!("/{}", "x".repeat(257))), None);
    }

    #[test]
    fn lookup_follows_objects_and_arrays() {
        let conf = json!({"routes": [{"action": {"return": 200}}], "listeners": {"*:80": {"pass": "routes"}}});
        let check = |path: &str, expected: Option<Value>| {
            assert_eq!(get(&conf, &segments(path)).cloned(), expected, "{path}");
        };
        check("/routes/0/action/return", Some(json!(200)));
        check("/listeners/*:80/pass", Some(json!("routes")));
        check("/routes/1", None);
        check("/routes/-1", None);
        check("/routes/+0", None);
        check("/routes/0/action/return/x", None);
        check("/nothing", None);
        check("", Some(conf.clone()));
    }

    #[test]
    fn indexes_are_bounded() {
        assert_eq!(array_index("2147483647"), Some(2147483647));
        assert_eq!(array_index("2147483648"), None);
        assert_eq!(array_index("007"), Some(7));
        assert_eq!(array_index(""), None);
    }
}
