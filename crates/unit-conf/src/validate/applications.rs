//! The `applications` section (UNIT-COMPAT 3.6).
//!
//! This build has one application module, `external` (alias `go`), so every other type
//! is reported as a module that is not available. The members common to all types and
//! the two of `external` are checked; language-specific members are not known here and
//! are unknown parameters.

use serde_json::Value;

use super::ValidationError;
use super::schema::{
    Context, Member, Types, expect_object, expect_str, object_elements, string_elements,
    validate_members, validate_object,
};

/// The largest process count.
const MAX_PROCESSES: i64 = i32::MAX as i64;
/// The largest number of seconds a timeout may have: its milliseconds fit an `i32`.
pub(super) const MAX_SECONDS: i64 = i32::MAX as i64 / 1000;

/// The members of an `external` application, including the common ones.
const EXTERNAL_MEMBERS: &[Member] = &[
    Member::new("type", Types::STRING),
    Member::new("executable", Types::STRING).required(),
    Member::new("arguments", Types::ARRAY).check(check_arguments),
    Member::new("processes", Types::INTEGER.or(Types::OBJECT))
        .range(1, MAX_PROCESSES)
        .check(check_processes),
    Member::new("limits", Types::OBJECT).check(check_limits),
    Member::new("user", Types::STRING),
    Member::new("group", Types::STRING),
    Member::new("working_directory", Types::STRING),
    Member::new("environment", Types::OBJECT).check(check_environment),
    Member::new("stdout", Types::STRING),
    Member::new("stderr", Types::STRING),
    Member::new("isolation", Types::OBJECT).check(check_isolation),
];

/// The members of `processes` in its object form.
const PROCESSES_MEMBERS: &[Member] = &[
    Member::new("max", Types::INTEGER).range(1, MAX_PROCESSES),
    Member::new("spare", Types::INTEGER).range(0, MAX_PROCESSES),
    Member::new("idle_timeout", Types::INTEGER).range(0, MAX_SECONDS),
];

/// The members of `limits`.
const LIMITS_MEMBERS: &[Member] = &[
    Member::new("timeout", Types::INTEGER).range(0, MAX_SECONDS),
    Member::new("requests", Types::INTEGER).range(0, i64::MAX),
    Member::new("shm", Types::INTEGER).range(1, i64::MAX),
];

/// The members of `isolation`.
const ISOLATION_MEMBERS: &[Member] = &[
    Member::new("namespaces", Types::OBJECT).check(check_namespaces),
    Member::new("uidmap", Types::ARRAY).check(check_id_map),
    Member::new("gidmap", Types::ARRAY).check(check_id_map),
    Member::new("rootfs", Types::STRING),
    Member::new("automount", Types::OBJECT).check(check_automount),
    Member::new("new_privs", Types::BOOLEAN),
    Member::new("cgroup", Types::OBJECT).check(check_cgroup),
];

const NAMESPACES_MEMBERS: &[Member] = &[
    Member::new("credential", Types::BOOLEAN),
    Member::new("pid", Types::BOOLEAN),
    Member::new("network", Types::BOOLEAN),
    Member::new("mount", Types::BOOLEAN),
    Member::new("uname", Types::BOOLEAN),
    Member::new("cgroup", Types::BOOLEAN),
];

const ID_MAP_MEMBERS: &[Member] = &[
    Member::new("container", Types::INTEGER).required(),
    Member::new("host", Types::INTEGER).required(),
    Member::new("size", Types::INTEGER).required(),
];

const AUTOMOUNT_MEMBERS: &[Member] = &[
    Member::new("language_deps", Types::BOOLEAN),
    Member::new("tmpfs", Types::BOOLEAN),
    Member::new("procfs", Types::BOOLEAN),
];

const CGROUP_MEMBERS: &[Member] = &[Member::new("path", Types::STRING).required()];

/// The check of the root `applications` member.
pub(super) fn check_applications(
    context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    for (application_name, application) in expect_object(name, value)? {
        let application = expect_object(application_name, application)?;
        let Some(application_type) = application.get("type") else {
            return Err(ValidationError::new(
                "Application must have the \"type\" property set.",
            ));
        };
        let application_type = expect_str("type", application_type)?;
        if !is_available_module(application_type) {
            return Err(ValidationError::new(format!(
                "The module to run \"{application_type}\" is not found among the available application modules."
            )));
        }
        validate_members(context, application, EXTERNAL_MEMBERS)?;
    }
    Ok(())
}

/// Whether `application_type` names the `external` module: `external` or `go`,
/// optionally followed (with or without one space) by a version made of digits and dots.
fn is_available_module(application_type: &str) -> bool {
    let Some(version) = ["external", "go"]
        .iter()
        .find_map(|module| application_type.strip_prefix(module))
    else {
        return false;
    };
    let version = version.strip_prefix(' ').unwrap_or(version);
    version.is_empty()
        || (version.starts_with(|character: char| character.is_ascii_digit())
            && version
                .chars()
                .all(|character| character.is_ascii_digit() || character == '.'))
}

fn check_arguments(
    _context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    let arguments = value.as_array().map(Vec::as_slice).unwrap_or_default();
    for argument in string_elements(name, arguments)? {
        if argument.contains('\0') {
            return Err(ValidationError::new(
                "The \"arguments\" array must not contain strings with null characters.",
            ));
        }
    }
    Ok(())
}

/// Checks the object form of `processes` (the integer form is range-checked by the
/// member table): `spare` may not exceed `max`, which defaults to 1.
fn check_processes(
    context: &Context<'_>,
    _name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    let Some(processes) = value.as_object() else {
        return Ok(());
    };
    validate_members(context, processes, PROCESSES_MEMBERS)?;
    let max = processes.get("max").and_then(Value::as_i64).unwrap_or(1);
    let spare = processes.get("spare").and_then(Value::as_i64).unwrap_or(0);
    if spare > max {
        return Err(ValidationError::new(
            "The \"spare\" number must be less than or equal to \"max\".",
        ));
    }
    Ok(())
}

fn check_limits(context: &Context<'_>, name: &str, value: &Value) -> Result<(), ValidationError> {
    validate_object(context, name, value, LIMITS_MEMBERS)
}

/// Checks `environment`: variable names are non-empty and free of `=` and NUL, values
/// are strings free of NUL.
fn check_environment(
    _context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    for (variable, variable_value) in expect_object(name, value)? {
        if variable.is_empty() {
            return Err(ValidationError::new(
                "The environment name must not be empty.",
            ));
        }
        if variable.contains('=') {
            return Err(ValidationError::new(
                "The environment name must not contain '=' character.",
            ));
        }
        if variable.contains('\0') {
            return Err(ValidationError::new(
                "The environment name must not contain null character.",
            ));
        }
        let Some(text) = variable_value.as_str() else {
            return Err(ValidationError::new(
                "The \"environment\" object must contain only string values.",
            ));
        };
        if text.contains('\0') {
            return Err(ValidationError::new(
                "The environment value must not contain null character.",
            ));
        }
    }
    Ok(())
}

fn check_isolation(
    context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    validate_object(context, name, value, ISOLATION_MEMBERS)
}

fn check_namespaces(
    context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    validate_object(context, name, value, NAMESPACES_MEMBERS)
}

/// Checks `uidmap` or `gidmap`: an array of {`container`, `host`, `size`} objects.
fn check_id_map(context: &Context<'_>, name: &str, value: &Value) -> Result<(), ValidationError> {
    let entries = value.as_array().map(Vec::as_slice).unwrap_or_default();
    for entry in object_elements(name, entries)? {
        validate_members(context, entry, ID_MAP_MEMBERS)?;
    }
    Ok(())
}

fn check_automount(
    context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    validate_object(context, name, value, AUTOMOUNT_MEMBERS)
}

fn check_cgroup(context: &Context<'_>, name: &str, value: &Value) -> Result<(), ValidationError> {
    validate_object(context, name, value, CGROUP_MEMBERS)
}
