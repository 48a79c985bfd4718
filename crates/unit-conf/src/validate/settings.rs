//! The `settings` and `access_log` sections (UNIT-COMPAT 3.7 and 3.8).
//!
//! This build has neither njs nor OpenTelemetry, so `js_module` and `telemetry` are
//! reported as missing features. Compression settings are checked for shape only.

use serde_json::Value;

use super::ValidationError;
use super::applications::MAX_SECONDS;
use super::routes::{check_if, check_type_patterns};
use super::schema::{
    Context, Member, Types, check_not_built, check_template, check_type, expect_object,
    object_elements, one_or_many_strings, validate_members, validate_object,
};

/// The largest count or size kept in a C `int`.
const MAX_INT: i64 = i32::MAX as i64;

/// The members of `settings`.
const SETTINGS_MEMBERS: &[Member] = &[
    Member::new("listen_threads", Types::INTEGER).range(1, MAX_INT),
    Member::new("http", Types::OBJECT).check(check_http),
    Member::new("js_module", Types::ANY).check(check_not_built),
    Member::new("telemetry", Types::ANY).check(check_not_built),
];

/// The members of `settings.http`.
const HTTP_MEMBERS: &[Member] = &[
    Member::new("header_read_timeout", Types::INTEGER).range(0, MAX_SECONDS),
    Member::new("body_read_timeout", Types::INTEGER).range(0, MAX_SECONDS),
    Member::new("send_timeout", Types::INTEGER).range(0, MAX_SECONDS),
    Member::new("idle_timeout", Types::INTEGER).range(0, MAX_SECONDS),
    Member::new("max_body_size", Types::INTEGER).range(0, i64::MAX),
    Member::new("body_buffer_size", Types::INTEGER).range(1, MAX_INT),
    Member::new("large_header_buffer_size", Types::INTEGER).range(1, MAX_INT),
    Member::new("large_header_buffers", Types::INTEGER).range(1, MAX_INT),
    Member::new("body_temp_path", Types::STRING),
    Member::new("discard_unsafe_fields", Types::BOOLEAN),
    Member::new("log_route", Types::BOOLEAN),
    Member::new("server_version", Types::BOOLEAN),
    Member::new("chunked_transform", Types::BOOLEAN),
    Member::new("websocket", Types::OBJECT).check(check_websocket),
    Member::new("static", Types::OBJECT).check(check_static),
    Member::new("compression", Types::OBJECT).check(check_compression),
];

const WEBSOCKET_MEMBERS: &[Member] = &[
    Member::new("read_timeout", Types::INTEGER).range(0, MAX_SECONDS),
    Member::new("keepalive_interval", Types::INTEGER).range(0, MAX_SECONDS),
    Member::new("max_frame_size", Types::INTEGER).range(1, MAX_INT),
];

const STATIC_MEMBERS: &[Member] =
    &[Member::new("mime_types", Types::OBJECT).check(check_mime_types)];

const COMPRESSION_MEMBERS: &[Member] = &[
    Member::new("types", Types::STRING.or(Types::ARRAY)).check(check_type_patterns),
    Member::new("compressors", Types::OBJECT.or(Types::ARRAY)).check(check_compressors),
];

const COMPRESSOR_MEMBERS: &[Member] = &[
    Member::new("encoding", Types::STRING).required(),
    Member::new("level", Types::INTEGER),
    Member::new("min_length", Types::INTEGER).range(0, i64::MAX),
];

/// The members of `access_log` in its object form.
const ACCESS_LOG_MEMBERS: &[Member] = &[
    Member::new("path", Types::STRING)
        .required()
        .check(check_log_path),
    Member::new("format", Types::STRING.or(Types::OBJECT)).check(check_log_format),
    Member::new("if", Types::STRING).check(check_if),
];

/// The check of the root `settings` member.
pub(super) fn check_settings(
    context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    validate_object(context, name, value, SETTINGS_MEMBERS)
}

fn check_http(context: &Context<'_>, name: &str, value: &Value) -> Result<(), ValidationError> {
    validate_object(context, name, value, HTTP_MEMBERS)
}

fn check_websocket(
    context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    validate_object(context, name, value, WEBSOCKET_MEMBERS)
}

fn check_static(context: &Context<'_>, name: &str, value: &Value) -> Result<(), ValidationError> {
    validate_object(context, name, value, STATIC_MEMBERS)
}

/// Checks `mime_types`: MIME type → extension or file name, or an array of them; one
/// extension (compared case-insensitively) may belong to one type only.
fn check_mime_types(
    _context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    let mut seen: Vec<(String, &str)> = Vec::new();
    for (mime_type, extensions) in expect_object(name, value)? {
        check_type(mime_type, Types::STRING.or(Types::ARRAY), extensions)?;
        for extension in one_or_many_strings(mime_type, extensions)? {
            let key = extension.to_ascii_lowercase();
            match seen.iter().find(|(seen_key, _)| *seen_key == key) {
                Some((_, other_type)) if *other_type != mime_type.as_str() => {
                    return Err(ValidationError::new(format!(
                        "The \"{extension}\" extension is assigned to both the \"{other_type}\" and \"{mime_type}\" MIME types."
                    )));
                }
                Some(_) => {}
                None => seen.push((key, mime_type)),
            }
        }
    }
    Ok(())
}

fn check_compression(
    context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    validate_object(context, name, value, COMPRESSION_MEMBERS)
}

fn check_compressors(
    context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    let compressors = match value {
        Value::Array(compressors) => object_elements(name, compressors)?,
        other => vec![expect_object(name, other)?],
    };
    for compressor in compressors {
        validate_members(context, compressor, COMPRESSOR_MEMBERS)?;
    }
    Ok(())
}

/// The check of the root `access_log` member: a path, or an object with `path`,
/// `format` and `if`.
pub(super) fn check_access_log(
    context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    match value {
        Value::Object(access_log) => validate_members(context, access_log, ACCESS_LOG_MEMBERS),
        path => check_log_path(context, name, path),
    }
}

fn check_log_path(
    _context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    match value.as_str() {
        Some("") => Err(ValidationError::new(
            "The \"access_log\" path must not be empty.",
        )),
        Some(_) => Ok(()),
        None => check_type(name, Types::STRING, value),
    }
}

/// Checks `format`: one template, or an object of name → template for JSON lines.
fn check_log_format(
    _context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    match value {
        Value::Object(fields) => {
            for (field, template) in fields {
                check_type(field, Types::STRING, template)?;
                check_template(field, template.as_str().unwrap_or_default())?;
            }
            Ok(())
        }
        template => {
            check_type(name, Types::STRING.or(Types::OBJECT), template)?;
            check_template(name, template.as_str().unwrap_or_default()).map(drop)
        }
    }
}
