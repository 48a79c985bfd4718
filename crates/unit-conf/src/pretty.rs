//! JSON rendered the way Unit's control API renders it (UNIT-COMPAT 2.2).
//!
//! Layout: one tab per nesting level, `\r\n` line breaks, `": "` after each key, empty
//! objects and arrays kept as `{}` and `[]`, and one empty line after an object member
//! whose value is a non-empty object or array when another member follows in the same
//! object. Array elements are never separated by empty lines. The text ends in `\r\n`.
//!
//! Strings are escaped like Unit does: `"` and `\` get a backslash, control characters
//! use `\n`, `\r`, `\t`, `\b`, `\f` or `\u00XX` with upper-case hex, and everything else,
//! including non-ASCII text, is written as it is. Parsing JSON is not done here.

use std::fmt::Write as _;

use serde_json::Value;

/// Renders `value` as the control API sends it in a response body.
pub fn to_pretty_json(value: &Value) -> String {
    let mut text = String::new();
    write_value(&mut text, value, 0);
    text.push_str("\r\n");
    text
}

const LINE_BREAK: &str = "\r\n";

fn write_value(text: &mut String, value: &Value, depth: usize) {
    match value {
        Value::Null => text.push_str("null"),
        Value::Bool(true) => text.push_str("true"),
        Value::Bool(false) => text.push_str("false"),
        // Writing to a String cannot fail.
        Value::Number(number) => {
            let _ = write!(text, "{number}");
        }
        Value::String(string) => write_string(text, string),
        Value::Array(elements) if elements.is_empty() => text.push_str("[]"),
        Value::Array(elements) => {
            text.push('[');
            text.push_str(LINE_BREAK);
            for (element_idx, element) in elements.iter().enumerate() {
                if element_idx > 0 {
                    text.push(',');
                    text.push_str(LINE_BREAK);
                }
                write_indentation(text, depth + 1);
                write_value(text, element, depth + 1);
            }
            text.push_str(LINE_BREAK);
            write_indentation(text, depth);
            text.push(']');
        }
        Value::Object(members) if members.is_empty() => text.push_str("{}"),
        Value::Object(members) => {
            text.push('{');
            text.push_str(LINE_BREAK);
            let n_members = members.len();
            for (member_idx, (name, member_value)) in members.iter().enumerate() {
                write_indentation(text, depth + 1);
                write_string(text, name);
                text.push_str(": ");
                write_value(text, member_value, depth + 1);
                if member_idx + 1 < n_members {
                    text.push(',');
                    text.push_str(LINE_BREAK);
                    if is_non_empty_container(member_value) {
                        text.push_str(LINE_BREAK);
                    }
                }
            }
            text.push_str(LINE_BREAK);
            write_indentation(text, depth);
            text.push('}');
        }
    }
}

fn is_non_empty_container(value: &Value) -> bool {
    match value {
        Value::Array(elements) => !elements.is_empty(),
        Value::Object(members) => !members.is_empty(),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => false,
    }
}

fn write_indentation(text: &mut String, depth: usize) {
    text.extend(std::iter::repeat_n('\t', depth));
}

fn write_string(text: &mut String, string: &str) {
    const HEX_DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    text.push('"');
    for ch in string.chars() {
        match ch {
            '"' => text.push_str("\\\""),
            '\\' => text.push_str("\\\\"),
            '\n' => text.push_str("\\n"),
            '\r' => text.push_str("\\r"),
            '\t' => text.push_str("\\t"),
            '\u{8}' => text.push_str("\\b"),
            '\u{c}' => text.push_str("\\f"),
            '\0'..='\u{1f}' => {
                let code = ch as usize;
                text.push_str("\\u00");
                text.push(char::from(HEX_DIGITS[code >> 4]));
                text.push(char::from(HEX_DIGITS[code & 0xf]));
            }
            _ => text.push(ch),
        }
    }
    text.push('"');
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(value: Value, expected: &str) {
        assert_eq!(to_pretty_json(&value), expected, "{value}");
    }

    #[test]
    fn scalars() {
        check(json!(null), "null\r\n");
        check(json!(true), "true\r\n");
        check(json!(false), "false\r\n");
        check(json!(0), "0\r\n");
        check(json!(-42), "-42\r\n");
        check(json!(18446744073709551615_u64), "18446744073709551615\r\n");
        check(json!("text"), "\"text\"\r\n");
        check(json!(""), "\"\"\r\n");
    }

    #[test]
    fn empties_stay_on_one_line() {
        check(json!({}), "{}\r\n");
        check(json!([]), "[]\r\n");
        check(
            json!({"listeners": {}, "routes": [], "applications": {}}),
            "{\r\n\t\"listeners\": {},\r\n\t\"routes\": [],\r\n\t\"applications\": {}\r\n}\r\n",
        );
        check(json!([{}, []]), "[\r\n\t{},\r\n\t[]\r\n]\r\n");
    }

    #[test]
    fn success_and_error_envelopes() {
        check(
            json!({"success": "Reconfiguration done."}),
            "{\r\n\t\"success\": \"Reconfiguration done.\"\r\n}\r\n",
        );
        check(
            json!({
                "error": "Invalid JSON.",
                "detail": "A valid JSON value is expected here.",
                "location": {"offset": 0, "line": 1, "column": 1}
            }),
            concat!(
                "{\r\n",
                "\t\"error\": \"Invalid JSON.\",\r\n",
                "\t\"detail\": \"A valid JSON value is expected here.\",\r\n",
                "\t\"location\": {\r\n",
                "\t\t\"offset\": 0,\r\n",
                "\t\t\"line\": 1,\r\n",
                "\t\t\"column\": 1\r\n",
                "\t}\r\n",
                "}\r\n",
            ),
        );
    }

    #[test]
    fn empty_line_after_non_empty_containers_that_have_a_following_member() {
        check(
            json!({
                "listeners": {"*:8080": {"pass": "routes"}},
                "routes": [{"action": {"share": "/www$uri"}}],
                "applications": {}
            }),
            concat!(
                "{\r\n",
                "\t\"listeners\": {\r\n",
                "\t\t\"*:8080\": {\r\n",
                "\t\t\t\"pass\": \"routes\"\r\n",
                "\t\t}\r\n",
                "\t},\r\n",
                "\r\n",
                "\t\"routes\": [\r\n",
                "\t\t{\r\n",
                "\t\t\t\"action\": {\r\n",
                "\t\t\t\t\"share\": \"/www$uri\"\r\n",
                "\t\t\t}\r\n",
                "\t\t}\r\n",
                "\t],\r\n",
                "\r\n",
                "\t\"applications\": {}\r\n",
                "}\r\n",
            ),
        );
        // The last member gets no empty line, and neither do array elements.
        check(
            json!({"a": 1, "b": [1, 2], "c": {"d": {"e": true}, "f": null}}),
            concat!(
                "{\r\n",
                "\t\"a\": 1,\r\n",
                "\t\"b\": [\r\n",
                "\t\t1,\r\n",
                "\t\t2\r\n",
                "\t],\r\n",
                "\r\n",
                "\t\"c\": {\r\n",
                "\t\t\"d\": {\r\n",
                "\t\t\t\"e\": true\r\n",
                "\t\t},\r\n",
                "\r\n",
                "\t\t\"f\": null\r\n",
                "\t}\r\n",
                "}\r\n",
            ),
        );
        check(
            json!([{"a": {"x": 1}, "b": 2}, {"c": 3, "d": 4}, [5]]),
            concat!(
                "[\r\n",
                "\t{\r\n",
                "\t\t\"a\": {\r\n",
                "\t\t\t\"x\": 1\r\n",
                "\t\t},\r\n",
                "\r\n",
                "\t\t\"b\": 2\r\n",
                "\t},\r\n",
                "\t{\r\n",
                "\t\t\"c\": 3,\r\n",
                "\t\t\"d\": 4\r\n",
                "\t},\r\n",
                "\t[\r\n",
                "\t\t5\r\n",
                "\t]\r\n",
                "]\r\n",
            ),
        );
    }

    #[test]
    fn members_keep_insertion_order() {
        check(
            json!({"z": 1, "a": 2, "m": 3}),
            "{\r\n\t\"z\": 1,\r\n\t\"a\": 2,\r\n\t\"m\": 3\r\n}\r\n",
        );
    }

    #[test]
    fn string_escapes() {
        check(
            json!("quote \" backslash \\ slash / tab \t nl \n cr \r bs \u{8} ff \u{c}"),
            "\"quote \\\" backslash \\\\ slash / tab \\t nl \\n cr \\r bs \\b ff \\f\"\r\n",
        );
        check(
            json!("\u{0}\u{1}\u{1f}\u{7f}"),
            "\"\\u0000\\u0001\\u001F\u{7f}\"\r\n",
        );
        check(json!("caf\u{e9} \u{1f600}"), "\"caf\u{e9} \u{1f600}\"\r\n");
        check(
            json!({"k\"ey\n": "v"}),
            "{\r\n\t\"k\\\"ey\\n\": \"v\"\r\n}\r\n",
        );
    }
}
