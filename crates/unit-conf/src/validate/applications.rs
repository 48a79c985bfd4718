//! The `applications` section (UNIT-COMPAT 3.6).
//!
//! An application's `type` picks its members: `external` (alias `go`) is built in, and
//! every other type must name one of the language modules main discovered (the highest
//! matching version runs it); a type no module matches is reported as a module that is
//! not available. Each type's own members are checked together with the members every
//! type shares, as one table, in Unit's order and with Unit's messages.

use nix::unistd::{SysconfVar, sysconf};
use serde_json::{Map, Value};

use super::ValidationError;
use super::schema::{
    Context, Member, Types, expect_object, expect_str, object_elements, string_elements,
    validate_member_tables, validate_members, validate_object,
};
use crate::modules::Modules;

/// The largest process count.
const MAX_PROCESSES: i64 = i32::MAX as i64;
/// The largest number of seconds a timeout may have: its milliseconds fit an `i32`.
pub(super) const MAX_SECONDS: i64 = i32::MAX as i64 / 1000;
/// The largest `threads`.
const MAX_THREADS: i64 = i32::MAX as i64;
/// The most targets one application may have.
const MAX_TARGETS: usize = 254;
/// The smallest thread stack and the page size when the system cannot say (Linux's
/// usual values).
const FALLBACK_THREAD_STACK_MIN: i64 = 16384;
const FALLBACK_PAGE_SIZE: i64 = 4096;

/// The members every application type has.
const COMMON_MEMBERS: &[Member] = &[
    Member::new("type", Types::STRING),
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

/// The members of an `external` application besides the common ones.
const EXTERNAL_MEMBERS: &[Member] = &[
    Member::new("executable", Types::STRING).required(),
    Member::new("arguments", Types::ARRAY).check(check_arguments),
];

/// The members of a `python` application besides the common ones, whether or not it has
/// `targets`.
const PYTHON_COMMON_MEMBERS: &[Member] = &[
    Member::new("home", Types::STRING),
    Member::new("path", Types::STRING.or(Types::ARRAY)).check(check_python_path),
    Member::new("protocol", Types::STRING).check(check_python_protocol),
    Member::new("threads", Types::INTEGER).check(check_threads),
    Member::new("thread_stack_size", Types::INTEGER).check(check_thread_stack_size),
];

/// The members of a `python` application with `targets`: what a target says may not be
/// said for the whole application.
const PYTHON_TARGETS_MEMBERS: &[Member] = &[
    Member::new("module", Types::STRING).check(check_targets_exclusive),
    Member::new("callable", Types::STRING).check(check_targets_exclusive),
    Member::new("factory", Types::BOOLEAN).check(check_targets_exclusive),
    Member::new("prefix", Types::STRING).check(check_targets_exclusive),
    Member::new("targets", Types::OBJECT).check(check_python_targets),
];

/// The members of a `python` application without `targets`, and of one target.
const PYTHON_ENTRY_MEMBERS: &[Member] = &[
    Member::new("module", Types::STRING).required(),
    Member::new("callable", Types::STRING),
    Member::new("factory", Types::BOOLEAN),
    Member::new("prefix", Types::STRING).check(check_python_prefix),
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

const CGROUP_MEMBERS: &[Member] = &[Member::new("path", Types::STRING)
    .required()
    .check(check_cgroup_path)];

/// The longest path the system takes (`PATH_MAX`), which a cgroup's directory must fit
/// in under the cgroup root.
const MAX_PATH_LEN: usize = 4096;
/// The cgroup root the length of a `cgroup.path` is checked against: where a cgroup v2
/// hierarchy is usually mounted (main finds the real one when it starts a process).
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

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
        if is_external_type(application_type) {
            validate_member_tables(context, application, &[EXTERNAL_MEMBERS, COMMON_MEMBERS])?;
            continue;
        }
        let module_type = context
            .modules
            .resolve(application_type)
            .map(|module| module.module_type.as_str());
        match module_type {
            Some("python") => {
                let own_members = if application.contains_key("targets") {
                    PYTHON_TARGETS_MEMBERS
                } else {
                    PYTHON_ENTRY_MEMBERS
                };
                validate_member_tables(
                    context,
                    application,
                    &[own_members, PYTHON_COMMON_MEMBERS, COMMON_MEMBERS],
                )?;
            }
            _ => {
                return Err(ValidationError::new(format!(
                    "The module to run \"{application_type}\" is not found among the available application modules."
                )));
            }
        }
    }
    Ok(())
}

/// Whether `application_type` names the built-in `external` module: `external` or
/// `go`, optionally followed (with or without one space) by a version made of digits
/// and dots.
pub(crate) fn is_external_type(application_type: &str) -> bool {
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

/// Checks `cgroup.path` as Unit does: not empty, no `..` component, and short enough
/// to fit under the cgroup root.
fn check_cgroup_path(
    _context: &Context<'_>,
    _name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    let path = value.as_str().unwrap_or_default();
    if path.len() >= MAX_PATH_LEN - CGROUP_ROOT.len() - 1 {
        return Err(ValidationError::new(format!(
            "The cgroup path \"{path}\" is too long."
        )));
    }
    if path.is_empty() || path.split('/').any(|component| component == "..") {
        return Err(ValidationError::new(format!(
            "The cgroup path \"{path}\" is invalid."
        )));
    }
    Ok(())
}

/// Checks an `isolation` object on its own, as main does with what the router asks it
/// to start a process with.
pub(crate) fn validate_isolation(value: &Value) -> Result<(), ValidationError> {
    let root = Map::new();
    let modules = Modules::default();
    let context = Context {
        root: &root,
        modules: &modules,
        certificates: None,
    };
    check_isolation(&context, "isolation", value)
}

// === Python ===

/// Checks `path` in its array form: only strings.
fn check_python_path(
    _context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    if let Some(paths) = value.as_array() {
        string_elements(name, paths)?;
    }
    Ok(())
}

fn check_python_protocol(
    _context: &Context<'_>,
    _name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    match value.as_str() {
        Some("wsgi" | "asgi") => Ok(()),
        _ => Err(ValidationError::new(
            "The \"protocol\" can either be \"wsgi\" or \"asgi\".",
        )),
    }
}

/// Checks a `prefix`, which the application sees as its script name: it begins with
/// `/`.
fn check_python_prefix(
    _context: &Context<'_>,
    _name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    if value.as_str().is_some_and(|prefix| prefix.starts_with('/')) {
        Ok(())
    } else {
        Err(ValidationError::new(
            "The \"prefix\" must be a string beginning with \"/\".",
        ))
    }
}

/// Refuses a member that `targets` makes each target's own.
fn check_targets_exclusive(
    _context: &Context<'_>,
    name: &str,
    _value: &Value,
) -> Result<(), ValidationError> {
    Err(ValidationError::new(format!(
        "The \"{name}\" option is mutually exclusive with the \"targets\" object."
    )))
}

/// Checks `targets`: at most 254 named objects, each with the members of one entry
/// point.
fn check_python_targets(
    context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    let targets = expect_object(name, value)?;
    if targets.len() > MAX_TARGETS {
        return Err(ValidationError::new(format!(
            "The \"targets\" object must not contain more than {MAX_TARGETS} members."
        )));
    }
    for (target_name, target) in targets {
        if target_name.is_empty() {
            return Err(ValidationError::new("The target name must not be empty."));
        }
        let Some(target) = target.as_object() else {
            return Err(ValidationError::new(format!(
                "The \"{target_name}\" target must be an object."
            )));
        };
        validate_members(context, target, PYTHON_ENTRY_MEMBERS)?;
    }
    Ok(())
}

fn check_threads(
    _context: &Context<'_>,
    _name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    let threads = saturating_integer(value);
    if threads < 1 {
        return Err(ValidationError::new(
            "The \"threads\" number must be equal to or greater than 1.",
        ));
    }
    if threads > MAX_THREADS {
        return Err(ValidationError::new(format!(
            "The \"threads\" number must not exceed {MAX_THREADS}."
        )));
    }
    Ok(())
}

/// Checks `thread_stack_size`: at least the system's smallest thread stack, and a whole
/// number of pages.
fn check_thread_stack_size(
    _context: &Context<'_>,
    _name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    let size = saturating_integer(value);
    let min_size = system_value(SysconfVar::PTHREAD_STACK_MIN, FALLBACK_THREAD_STACK_MIN);
    if size < min_size {
        return Err(ValidationError::new(format!(
            "The \"thread_stack_size\" number must be equal to or greater than {min_size}."
        )));
    }
    let page_size = system_value(SysconfVar::PAGE_SIZE, FALLBACK_PAGE_SIZE);
    if size % page_size != 0 {
        return Err(ValidationError::new(format!(
            "The \"thread_stack_size\" number must be a multiple of the system page size ({page_size})."
        )));
    }
    Ok(())
}

/// An integer value as an `i64`; one beyond its range becomes the nearest end.
fn saturating_integer(value: &Value) -> i64 {
    match value.as_i64() {
        Some(number) => number,
        None if value.to_string().starts_with('-') => i64::MIN,
        None => i64::MAX,
    }
}

/// A positive `sysconf` value, or `fallback` when the system gives none.
#[allow(
    clippy::useless_conversion,
    reason = "sysconf gives a c_long, which is narrower than i64 on 32-bit targets"
)]
pub(super) fn system_value(variable: SysconfVar, fallback: i64) -> i64 {
    match sysconf(variable) {
        Ok(Some(value)) if value > 0 => i64::from(value),
        _ => fallback,
    }
}
