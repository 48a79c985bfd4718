//! The `routes` section: step arrays and their `match` conditions (UNIT-COMPAT 3.3).
//!
//! Unlike Unit 1.35, which accepts a step without `action` and then fails in the router,
//! a step here must have an `action`.

use serde_json::{Map, Value};

use super::ValidationError;
use super::actions::check_action;
use super::listeners::check_sources;
use super::pattern::{Encoding, check_patterns, invalid_encoding, percent_decode};
use super::schema::{
    Context, Member, Types, check_condition, check_type, expect_str, object_elements,
    validate_members, validate_object,
};

/// A pattern, or an array of them.
const PATTERNS: Types = Types::STRING.or(Types::ARRAY);
/// An object of name → patterns, or an array of such objects.
const PATTERN_OBJECTS: Types = Types::OBJECT.or(Types::ARRAY);

/// The members of one step.
const STEP_MEMBERS: &[Member] = &[
    Member::new("match", Types::OBJECT).check(check_match),
    Member::new("action", Types::OBJECT)
        .required()
        .check(check_action),
];

/// The conditions of `match`.
const MATCH_MEMBERS: &[Member] = &[
    Member::new("host", PATTERNS).check(check_plain_patterns),
    Member::new("uri", PATTERNS).check(check_encoded_patterns),
    Member::new("method", PATTERNS).check(check_plain_patterns),
    Member::new("headers", PATTERN_OBJECTS).check(check_plain_pattern_objects),
    Member::new("arguments", PATTERN_OBJECTS).check(check_encoded_pattern_objects),
    Member::new("cookies", PATTERN_OBJECTS).check(check_plain_pattern_objects),
    Member::new("query", PATTERNS).check(check_encoded_patterns),
    Member::new("scheme", Types::STRING).check(check_scheme),
    Member::new("source", PATTERNS).check(check_sources),
    Member::new("destination", PATTERNS).check(check_sources),
    Member::new("if", Types::STRING).check(check_if),
];

/// The check of the root `routes` member: an array of steps, or an object of named step
/// arrays.
pub(super) fn check_routes(
    context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    match value {
        Value::Object(routes) => {
            for (route_name, steps) in routes {
                check_type(route_name, Types::ARRAY, steps)?;
                check_steps(context, route_name, steps)?;
            }
            Ok(())
        }
        steps => {
            check_type(name, Types::ARRAY.or(Types::OBJECT), steps)?;
            check_steps(context, name, steps)
        }
    }
}

fn check_steps(context: &Context<'_>, name: &str, steps: &Value) -> Result<(), ValidationError> {
    let steps = steps.as_array().map(Vec::as_slice).unwrap_or_default();
    for step in object_elements(name, steps)? {
        validate_members(context, step, STEP_MEMBERS)?;
    }
    Ok(())
}

fn check_match(context: &Context<'_>, name: &str, value: &Value) -> Result<(), ValidationError> {
    validate_object(context, name, value, MATCH_MEMBERS)
}

fn check_plain_patterns(
    _context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    check_patterns(name, value, Encoding::Plain)
}

fn check_encoded_patterns(
    _context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    check_patterns(name, value, Encoding::PercentEncoded)
}

fn check_plain_pattern_objects(
    _context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    check_pattern_objects(name, value, Encoding::Plain)
}

fn check_encoded_pattern_objects(
    _context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    check_pattern_objects(name, value, Encoding::PercentEncoded)
}

/// Checks `headers`, `arguments` or `cookies`: an object of name → patterns, or an array
/// of such objects. With percent-encoding, the names must decode too.
fn check_pattern_objects(
    name: &str,
    value: &Value,
    encoding: Encoding,
) -> Result<(), ValidationError> {
    let objects: Vec<&Map<String, Value>> = match value {
        Value::Array(objects) => object_elements(name, objects)?,
        Value::Object(object) => vec![object],
        other => return check_type(name, PATTERN_OBJECTS, other),
    };
    for object in objects {
        for (field, patterns) in object {
            if field.is_empty() {
                return Err(ValidationError::new(
                    "The \"match\" pattern objects must not contain empty member names.",
                ));
            }
            if encoding == Encoding::PercentEncoded && percent_decode(field).is_none() {
                return Err(invalid_encoding(name, field));
            }
            check_type(field, PATTERNS, patterns)?;
            check_patterns(name, patterns, encoding)?;
        }
    }
    Ok(())
}

fn check_scheme(_context: &Context<'_>, name: &str, value: &Value) -> Result<(), ValidationError> {
    let scheme = expect_str(name, value)?;
    if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
        Ok(())
    } else {
        Err(ValidationError::new(
            "The \"scheme\" value must be either \"http\" or \"https\".",
        ))
    }
}

/// The check of `if` in `match` and in `access_log`.
pub(super) fn check_if(
    _context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    check_condition(name, expect_str(name, value)?)
}

/// Checks the `types` patterns of `share` and of compression.
pub(super) fn check_type_patterns(
    _context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    check_patterns(name, value, Encoding::Plain)
}
