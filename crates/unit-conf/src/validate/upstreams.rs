//! The `upstreams` section: named groups of weighted servers (UNIT-COMPAT 3.5).

use serde_json::Value;

use super::ValidationError;
use super::address::{parse_socket_address, parse_unix_address};
use super::schema::{Context, Member, Types, expect_object, validate_members, validate_object};

/// The largest server weight.
const MAX_WEIGHT: f64 = 1_000_000.0;

/// The members of one upstream.
const UPSTREAM_MEMBERS: &[Member] = &[Member::new("servers", Types::OBJECT).check(check_servers)];

/// The members of one server.
const SERVER_MEMBERS: &[Member] = &[Member::new("weight", Types::NUMBER).check(check_weight)];

/// The check of the root `upstreams` member.
pub(super) fn check_upstreams(
    context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    for (upstream_name, upstream) in expect_object(name, value)? {
        let upstream = expect_object(upstream_name, upstream)?;
        if !upstream.get("servers").is_some_and(Value::is_object) {
            return Err(ValidationError::new(format!(
                "The \"{upstream_name}\" upstream must contain \"servers\" object value."
            )));
        }
        validate_members(context, upstream, UPSTREAM_MEMBERS)?;
    }
    Ok(())
}

fn check_servers(context: &Context<'_>, name: &str, value: &Value) -> Result<(), ValidationError> {
    for (address, server) in expect_object(name, value)? {
        let valid = match address.strip_prefix("unix:") {
            Some(path) => parse_unix_address(path).is_some(),
            None => parse_socket_address(address).is_some(),
        };
        if !valid {
            return Err(ValidationError::new(format!(
                "The \"{address}\" is not valid server address."
            )));
        }
        validate_object(context, address, server, SERVER_MEMBERS)?;
    }
    Ok(())
}

fn check_weight(_context: &Context<'_>, _name: &str, value: &Value) -> Result<(), ValidationError> {
    let weight = match value.as_f64() {
        Some(weight) => weight,
        None if value.to_string().starts_with('-') => f64::NEG_INFINITY,
        None => f64::INFINITY,
    };
    if weight < 0.0 {
        return Err(ValidationError::new(
            "The \"weight\" number must be positive.",
        ));
    }
    if weight > MAX_WEIGHT {
        return Err(ValidationError::new(
            "The \"weight\" number must not exceed 1,000,000",
        ));
    }
    Ok(())
}
