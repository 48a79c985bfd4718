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

/// Why an edit of the tree could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EditError {
    /// The path, or the parent of its last segment, does not exist.
    NotFound,
    /// The method does not apply to what the path names.
    NotAllowed,
}

/// `PUT`: replaces the value at `segments`, or adds it as a new last member of its parent
/// object, or appends it to its parent array when the index equals the array's length.
pub(crate) fn put(root: &mut Value, segments: &[String], value: Value) -> Result<(), EditError> {
    let Some((last, parents)) = segments.split_last() else {
        *root = value;
        return Ok(());
    };
    match get_mut(root, parents).ok_or(EditError::NotFound)? {
        Value::Object(members) => {
            members.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(elements) => {
            let index = array_index(last).ok_or(EditError::NotFound)?;
            match index.cmp(&elements.len()) {
                std::cmp::Ordering::Less => elements[index] = value,
                std::cmp::Ordering::Equal => elements.push(value),
                std::cmp::Ordering::Greater => return Err(EditError::NotFound),
            }
            Ok(())
        }
        _ => Err(EditError::NotFound),
    }
}

/// `POST`: appends `value` to the array at `segments`.
pub(crate) fn post(root: &mut Value, segments: &[String], value: Value) -> Result<(), EditError> {
    if segments.is_empty() {
        return Err(EditError::NotAllowed);
    }
    match get_mut(root, segments).ok_or(EditError::NotFound)? {
        Value::Array(elements) => {
            elements.push(value);
            Ok(())
        }
        _ => Err(EditError::NotAllowed),
    }
}

/// `DELETE`: removes the value at `segments` (later array elements shift down, object
/// members keep their order); deleting the root leaves an empty object.
pub(crate) fn delete(root: &mut Value, segments: &[String]) -> Result<(), EditError> {
    let Some((last, parents)) = segments.split_last() else {
        *root = Value::Object(serde_json::Map::new());
        return Ok(());
    };
    match get_mut(root, parents).ok_or(EditError::NotFound)? {
        Value::Object(members) => members
            .shift_remove(last.as_str())
            .map(drop)
            .ok_or(EditError::NotFound),
        Value::Array(elements) => {
            let index = array_index(last).filter(|index| *index < elements.len());
            let index = index.ok_or(EditError::NotFound)?;
            elements.remove(index);
            Ok(())
        }
        _ => Err(EditError::NotFound),
    }
}

fn get_mut<'a>(root: &'a mut Value, segments: &[String]) -> Option<&'a mut Value> {
    segments
        .iter()
        .try_fold(root, |value, segment| match value {
            Value::Object(members) => members.get_mut(segment.as_str()),
            Value::Array(elements) => elements.get_mut(array_index(segment)?),
            _ => None,
        })
}

/// An entity tag for a value: a hash of its compact JSON text, stable for equal values.
pub(crate) fn etag(value: &Value) -> String {
    // FNV-1a: small, fast, and the same in every build, so tags survive restarts.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in value.to_string().bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("\"{hash:016x}\"")
}

/// Whether an `If-Match` header value allows a change to `current` (`None`: absent).
pub(crate) fn if_match_allows(header: &[u8], current: Option<&Value>) -> bool {
    let Ok(header) = std::str::from_utf8(header) else {
        return false;
    };
    let Some(current) = current else {
        return false;
    };
    let current_tag = etag(current);
    header.split(',').map(str::trim).any(|tag| {
        tag == "*" || tag == current_tag || tag.strip_prefix("W/") == Some(current_tag.as_str())
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

    fn edit(
        operation: fn(&mut Value, &[String], Value) -> Result<(), EditError>,
        path: &str,
        value: Value,
    ) -> Result<Value, EditError> {
        let mut conf = json!({"a": 1, "routes": [{"x": 1}, {"x": 2}], "b": {"c": true}});
        operation(&mut conf, &segments(path), value).map(|()| conf)
    }

    #[test]
    fn put_replaces_adds_and_appends() {
        let rows: &[(&str, Result<Value, EditError>)] = &[
            (
                "/a",
                Ok(json!({"a": 9, "routes": [{"x": 1}, {"x": 2}], "b": {"c": true}})),
            ),
            (
                "/z",
                Ok(json!({"a": 1, "routes": [{"x": 1}, {"x": 2}], "b": {"c": true}, "z": 9})),
            ),
            (
                "/routes/1",
                Ok(json!({"a": 1, "routes": [{"x": 1}, 9], "b": {"c": true}})),
            ),
            (
                "/routes/2",
                Ok(json!({"a": 1, "routes": [{"x": 1}, {"x": 2}, 9], "b": {"c": true}})),
            ),
            ("/routes/3", Err(EditError::NotFound)),
            ("/missing/x", Err(EditError::NotFound)),
            ("/a/x", Err(EditError::NotFound)),
            ("", Ok(json!(9))),
        ];
        for (path, expected) in rows {
            assert_eq!(&edit(put, path, json!(9)), expected, "PUT {path}");
        }
        // A replaced member keeps its place; a new one goes last.
        let replaced = edit(put, "/a", json!(0)).map(|conf| conf.to_string());
        assert_eq!(
            replaced,
            Ok(r#"{"a":0,"routes":[{"x":1},{"x":2}],"b":{"c":true}}"#.to_owned())
        );
    }

    #[test]
    fn post_appends_to_arrays_only() {
        let rows: &[(&str, Result<Value, EditError>)] = &[
            (
                "/routes",
                Ok(json!({"a": 1, "routes": [{"x": 1}, {"x": 2}, 9], "b": {"c": true}})),
            ),
            ("/b", Err(EditError::NotAllowed)),
            ("/a", Err(EditError::NotAllowed)),
            ("/nothing", Err(EditError::NotFound)),
            ("", Err(EditError::NotAllowed)),
        ];
        for (path, expected) in rows {
            assert_eq!(&edit(post, path, json!(9)), expected, "POST {path}");
        }
    }

    #[test]
    fn delete_keeps_order_and_shifts_arrays() {
        let delete_at = |path: &str| {
            let mut conf = json!({"a": 1, "routes": [{"x": 1}, {"x": 2}], "b": {"c": true}});
            delete(&mut conf, &segments(path)).map(|()| conf.to_string())
        };
        assert_eq!(
            delete_at("/a"),
            Ok(r#"{"routes":[{"x":1},{"x":2}],"b":{"c":true}}"#.to_owned())
        );
        assert_eq!(
            delete_at("/routes"),
            Ok(r#"{"a":1,"b":{"c":true}}"#.to_owned())
        );
        assert_eq!(
            delete_at("/routes/0"),
            Ok(r#"{"a":1,"routes":[{"x":2}],"b":{"c":true}}"#.to_owned())
        );
        assert_eq!(delete_at("/routes/2"), Err(EditError::NotFound));
        assert_eq!(delete_at("/zzz"), Err(EditError::NotFound));
        assert_eq!(delete_at(""), Ok("{}".to_owned()));
    }

    #[test]
    fn etags_follow_content() {
        let first = etag(&json!({"a": 1}));
        assert_eq!(first, etag(&json!({"a": 1})));
        assert_ne!(first, etag(&json!({"a": 2})));
        assert!(first.starts_with('"') && first.ends_with('"') && first.len() == 18);
        let value = json!({"a": 1});
        assert!(if_match_allows(first.as_bytes(), Some(&value)));
        assert!(if_match_allows(
            format!("\"x\", {first}").as_bytes(),
            Some(&value)
        ));
        assert!(if_match_allows(b"*", Some(&value)));
        assert!(!if_match_allows(b"*", None));
        assert!(!if_match_allows(b"\"0000000000000000\"", Some(&value)));
    }

    #[test]
    fn indexes_are_bounded() {
        assert_eq!(array_index("2147483647"), Some(2147483647));
        assert_eq!(array_index("2147483648"), None);
        assert_eq!(array_index("007"), Some(7));
        assert_eq!(array_index(""), None);
    }
}
