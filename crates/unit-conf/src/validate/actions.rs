//! Route step actions: `pass`, `return`, `share` and `proxy`, with the members each
//! allows and the `rewrite` and `response_headers` members they all accept
//! (UNIT-COMPAT 3.4).
//!
//! The kind of an action decides which member table applies, so a member of another kind
//! (`location` next to `pass`) is an unknown parameter. A `share`'s `fallback` is itself
//! an action and is checked the same way.

use serde_json::Value;

use super::ValidationError;
use super::address::is_valid_proxy_address;
use super::pass::check_pass;
use super::routes::check_type_patterns;
use super::schema::{
    Context, Member, Types, check_template, check_type, expect_object, expect_str, string_elements,
    validate_members,
};

/// The members that select an action's kind, in the order messages list them.
const ACTION_KINDS: [&str; 4] = ["pass", "return", "share", "proxy"];

/// The members every action may carry.
const REWRITE: Member = Member::new("rewrite", Types::STRING).template();
const RESPONSE_HEADERS: Member =
    Member::new("response_headers", Types::OBJECT).check(check_response_headers);

const PASS_ACTION: &[Member] = &[
    Member::new("pass", Types::STRING).check(check_pass),
    REWRITE,
    RESPONSE_HEADERS,
];

const RETURN_ACTION: &[Member] = &[
    Member::new("return", Types::INTEGER).check(check_return),
    Member::new("location", Types::STRING).template(),
    REWRITE,
    RESPONSE_HEADERS,
];

const SHARE_ACTION: &[Member] = &[
    Member::new("share", Types::STRING.or(Types::ARRAY)).check(check_share),
    Member::new("index", Types::STRING),
    Member::new("types", Types::STRING.or(Types::ARRAY)).check(check_type_patterns),
    Member::new("fallback", Types::OBJECT).check(check_action),
    Member::new("chroot", Types::STRING).template(),
    Member::new("follow_symlinks", Types::BOOLEAN),
    Member::new("traverse_mounts", Types::BOOLEAN),
    REWRITE,
    RESPONSE_HEADERS,
];

const PROXY_ACTION: &[Member] = &[
    Member::new("proxy", Types::STRING).check(check_proxy),
    REWRITE,
    RESPONSE_HEADERS,
];

/// The check of a step's `action` and of a share's `fallback`.
pub(super) fn check_action(
    context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    let action = expect_object(name, value)?;
    let mut kinds = ACTION_KINDS
        .iter()
        .filter(|kind| action.contains_key(**kind));
    let members = match (kinds.next(), kinds.next()) {
        (None, _) => {
            return Err(ValidationError::new(
                "The \"action\" object must have either \"pass\", \"return\", \"share\", or \"proxy\" option set.",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(ValidationError::new(
                "The \"action\" object must have just one of \"pass\", \"return\", \"share\", or \"proxy\" options set.",
            ));
        }
        (Some(&"pass"), None) => PASS_ACTION,
        (Some(&"return"), None) => RETURN_ACTION,
        (Some(&"share"), None) => SHARE_ACTION,
        (Some(_), None) => PROXY_ACTION,
    };
    validate_members(context, action, members)
}

fn check_return(_context: &Context<'_>, _name: &str, value: &Value) -> Result<(), ValidationError> {
    match value.as_i64() {
        Some(0..=999) => Ok(()),
        _ => Err(ValidationError::new(
            "The \"return\" value is out of allowed HTTP status code range 0-999.",
        )),
    }
}

fn check_share(_context: &Context<'_>, name: &str, value: &Value) -> Result<(), ValidationError> {
    let paths = match value {
        Value::Array(paths) if paths.is_empty() => {
            return Err(ValidationError::new(format!(
                "The \"{name}\" array must not be empty."
            )));
        }
        Value::Array(paths) => string_elements(name, paths)?,
        other => vec![expect_str(name, other)?],
    };
    for path in paths {
        check_template(name, path)?;
    }
    Ok(())
}

fn check_proxy(_context: &Context<'_>, name: &str, value: &Value) -> Result<(), ValidationError> {
    let address = expect_str(name, value)?;
    if is_valid_proxy_address(address) {
        Ok(())
    } else {
        Err(ValidationError::new(format!(
            "The \"proxy\" address is invalid \"{address}\""
        )))
    }
}

/// Checks `response_headers`: header name → template, or `null` to remove the header.
/// Empty names and `Content-Length` (which the server computes) are rejected.
fn check_response_headers(
    _context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    for (header, header_value) in expect_object(name, value)? {
        if header.is_empty() {
            return Err(ValidationError::new(
                "The \"response_headers\" object must not contain an empty header name.",
            ));
        }
        if header.eq_ignore_ascii_case("Content-Length") {
            return Err(ValidationError::new(format!(
                "The \"{header}\" response header is computed by the server and cannot be configured."
            )));
        }
        check_type(header, Types::STRING.or(Types::NULL), header_value)?;
        if let Some(text) = header_value.as_str() {
            check_template(header, text)?;
        }
    }
    Ok(())
}
