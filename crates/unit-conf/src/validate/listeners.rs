//! The `listeners` section: listener addresses and their options (UNIT-COMPAT 3.2).
//!
//! The `tls` object is checked in `tls`. Address patterns of `forwarded` and `client_ip` sources are checked with the same parser the
//! router uses.

use serde_json::Value;

use super::ValidationError;
use super::address::{parse_address_pattern, parse_listener_address};
use super::pass::{check_legacy_application, check_pass};
use super::schema::{
    Context, Member, Types, expect_object, one_or_many_strings, validate_members, validate_object,
};

/// The largest `listen(2)` backlog, 2^31 − 1.
const MAX_BACKLOG: i64 = i32::MAX as i64;

/// The members of one listener.
const LISTENER_MEMBERS: &[Member] = &[
    Member::new("pass", Types::STRING).check(check_pass),
    Member::new("application", Types::STRING).check(check_legacy_application),
    Member::new("tls", Types::OBJECT).check(super::tls::check_tls),
    Member::new("forwarded", Types::OBJECT).check(check_forwarded),
    Member::new("client_ip", Types::OBJECT).check(check_client_ip),
    Member::new("backlog", Types::INTEGER).range(-1, MAX_BACKLOG),
];

/// The members of `forwarded`.
const FORWARDED_MEMBERS: &[Member] = &[
    Member::new("client_ip", Types::STRING),
    Member::new("protocol", Types::STRING),
    Member::new("source", Types::STRING.or(Types::ARRAY))
        .required()
        .check(check_sources),
    Member::new("recursive", Types::BOOLEAN),
];

/// The members of the older `client_ip` form.
const CLIENT_IP_MEMBERS: &[Member] = &[
    Member::new("header", Types::STRING).required(),
    Member::new("source", Types::STRING.or(Types::ARRAY))
        .required()
        .check(check_sources),
    Member::new("recursive", Types::BOOLEAN),
];

/// The check of the root `listeners` member.
pub(super) fn check_listeners(
    context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    for (address, listener) in expect_object(name, value)? {
        if parse_listener_address(address).is_none() {
            return Err(ValidationError::new(format!(
                "The listener address \"{address}\" is invalid."
            )));
        }
        validate_object(context, address, listener, LISTENER_MEMBERS)?;
    }
    Ok(())
}

fn check_forwarded(
    context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    let forwarded = expect_object(name, value)?;
    validate_members(context, forwarded, FORWARDED_MEMBERS)?;
    if !forwarded.contains_key("client_ip") && !forwarded.contains_key("protocol") {
        return Err(ValidationError::new(
            "The \"forwarded\" object must have either \"client_ip\" or \"protocol\" option set.",
        ));
    }
    Ok(())
}

fn check_client_ip(
    context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    validate_object(context, name, value, CLIENT_IP_MEMBERS)
}

/// Checks a value that is one address pattern or an array of them.
pub(super) fn check_sources(
    _context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    for pattern in one_or_many_strings(name, value)? {
        parse_address_pattern(pattern)?;
    }
    Ok(())
}
