//! A listener's `tls` object (UNIT-COMPAT 3.2): its certificates, `conf_commands` and
//! `session`, with Unit's messages, plus ours for the `conf_commands` rustls cannot
//! honour.

use serde_json::Value;

use super::ValidationError;
use super::schema::{Context, JsonType, Member, Types, expect_object, validate_object};
use crate::tls::{decode_ticket_key, parse_commands};

/// The members of `tls`.
const TLS_MEMBERS: &[Member] = &[
    Member::new("certificate", Types::STRING.or(Types::ARRAY))
        .required()
        .check(check_certificate),
    Member::new("conf_commands", Types::OBJECT).check(check_conf_commands),
    Member::new("session", Types::OBJECT).check(check_session),
];

/// The members of `tls.session`.
const SESSION_MEMBERS: &[Member] = &[
    Member::new("cache_size", Types::INTEGER).check(check_cache_size),
    Member::new("timeout", Types::INTEGER).check(check_timeout),
    Member::new("tickets", Types::STRING.or(Types::ARRAY).or(Types::BOOLEAN)).check(check_tickets),
];

/// The check of a listener's `tls` member.
pub(super) fn check_tls(
    context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    validate_object(context, name, value, TLS_MEMBERS)
}

fn check_certificate(
    context: &Context<'_>,
    _name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    let names = match value {
        Value::Array(names) if names.is_empty() => {
            return Err(ValidationError::new(
                "The \"certificate\" array must contain at least one element.",
            ));
        }
        Value::Array(names) => names.as_slice(),
        single => std::slice::from_ref(single),
    };
    for name in names {
        let Some(name) = name.as_str() else {
            return Err(ValidationError::new(
                "The \"certificate\" array must contain only string values.",
            ));
        };
        if let Some(exists) = context.certificates
            && !exists(name)
        {
            return Err(ValidationError::new(format!(
                "Certificate \"{name}\" is not found."
            )));
        }
    }
    Ok(())
}

fn check_conf_commands(
    _context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    let commands = expect_object(name, value)?;
    let mut pairs = Vec::with_capacity(commands.len());
    for (command, value) in commands {
        let Some(text) = value.as_str() else {
            return Err(ValidationError::new(format!(
                "The \"{command}\" value must be a string, but not {}.",
                JsonType::of(value).name()
            )));
        };
        pairs.push((command.as_str(), text));
    }
    parse_commands(pairs).map_err(|error| ValidationError::new(error.to_string()))?;
    Ok(())
}

fn check_session(context: &Context<'_>, name: &str, value: &Value) -> Result<(), ValidationError> {
    validate_object(context, name, value, SESSION_MEMBERS)
}

fn check_cache_size(
    _context: &Context<'_>,
    _name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    if value.as_u64().is_none() {
        return Err(ValidationError::new(
            "The \"cache_size\" number must not be negative.",
        ));
    }
    Ok(())
}

fn check_timeout(
    _context: &Context<'_>,
    _name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    if value.as_u64().is_none_or(|timeout| timeout == 0) {
        return Err(ValidationError::new(
            "The \"timeout\" number must be greater than zero.",
        ));
    }
    Ok(())
}

fn check_tickets(
    _context: &Context<'_>,
    _name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    let keys = match value {
        Value::Bool(_) => return Ok(()),
        Value::Array(keys) => keys.as_slice(),
        single => std::slice::from_ref(single),
    };
    for key in keys {
        let Some(key) = key.as_str() else {
            return Err(ValidationError::new(
                "The \"key\" array must contain only string values.",
            ));
        };
        match decode_ticket_key(key) {
            None => {
                return Err(ValidationError::new(format!(
                    "Invalid Base64 format for the ticket key \"{key}\"."
                )));
            }
            Some(bytes) if bytes.len() != 48 && bytes.len() != 80 => {
                return Err(ValidationError::new(format!(
                    "Invalid length {} of the ticket key \"{key}\".  Must be 48 or 80 bytes.",
                    bytes.len()
                )));
            }
            Some(_) => {}
        }
    }
    Ok(())
}
