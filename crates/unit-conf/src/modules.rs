//! The language modules main discovered, as the controller and the router learn of them,
//! and how an application's `type` picks one (UNIT-COMPAT 3.6).
//!
//! A module is an executable (a language runner) that reported its type and version;
//! main passes the list it found to the controller and the router in [`MODULES_ENV`] as
//! JSON. An application's `type` is a module type, optionally followed (with or without
//! a space) by a version prefix, and the highest discovered version it matches runs it,
//! as Unit's `nxt_app_lang_module` decides.
//!
//! What it deliberately does not do: look for modules on disk or run them (main does),
//! or know `external`, which is built in and needs no module.

use std::cmp::Ordering;
use std::path::PathBuf;

use serde_json::{Map, Value, json};

use crate::error::ModulesError;

/// The environment variable in which main hands the discovered modules to the controller
/// and the router: a JSON array of `{"type", "version", "file"}` objects.
pub const MODULES_ENV: &str = "UNITD_MODULES";

/// The environment variable in which a Python runner is told what to run: JSON
/// `{"name": <application name>, "application": <its object as configured>}`.
pub const PYTHON_APP_ENV: &str = "UNITD_PYTHON_APP";

/// The module types this build can configure applications of, in Unit's order of
/// application types (which `/status` lists them in).
pub const MODULE_TYPES: &[&str] = &["python"];

/// One discovered language module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// Its type, one of [`MODULE_TYPES`]: `python`.
    pub module_type: String,
    /// Its version as it reported it: `3.11.2`.
    pub version: String,
    /// The absolute path of its executable.
    pub file: PathBuf,
}

/// The discovered modules, ordered by type and, within a type, highest version first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Modules {
    modules: Vec<Module>,
}

impl Modules {
    /// The modules in `modules`, put in order.
    pub fn new(mut modules: Vec<Module>) -> Modules {
        modules.sort_by(|first, second| {
            type_rank(&first.module_type)
                .cmp(&type_rank(&second.module_type))
                .then_with(|| first.module_type.cmp(&second.module_type))
                .then_with(|| compare_versions(&second.version, &first.version))
        });
        Modules { modules }
    }

    /// The modules main passed in [`MODULES_ENV`]; none when the variable is absent or
    /// does not hold a module list (main always writes a valid one).
    pub fn from_env() -> Modules {
        std::env::var(MODULES_ENV)
            .ok()
            .and_then(|text| Modules::parse(&text).ok())
            .unwrap_or_default()
    }

    /// Reads the JSON that [`to_json`](Self::to_json) writes.
    pub fn parse(text: &str) -> Result<Modules, ModulesError> {
        let value: Value = serde_json::from_str(text)?;
        let entries = value.as_array().ok_or(ModulesError::NotAnArray)?;
        let modules = entries
            .iter()
            .enumerate()
            .map(|(index, entry)| {
                let field = |name: &str| {
                    entry
                        .get(name)
                        .and_then(Value::as_str)
                        .ok_or(ModulesError::Entry(index))
                };
                Ok(Module {
                    module_type: field("type")?.to_owned(),
                    version: field("version")?.to_owned(),
                    file: PathBuf::from(field("file")?),
                })
            })
            .collect::<Result<Vec<Module>, ModulesError>>()?;
        Ok(Modules::new(modules))
    }

    /// The JSON for [`MODULES_ENV`].
    pub fn to_json(&self) -> String {
        let entries: Vec<Value> = self
            .modules
            .iter()
            .map(|module| {
                json!({
                    "type": module.module_type,
                    "version": module.version,
                    "file": module.file.display().to_string(),
                })
            })
            .collect();
        Value::Array(entries).to_string()
    }

    /// The module that runs applications of `application_type`: the module type, then
    /// optionally a space, then a version prefix (`python`, `python 3`, `python3.11`).
    /// The type ends at the first space or digit. A prefix matches a version that starts
    /// with it and either ends there or continues across a boundary between a digit and
    /// another character, so `3.1` matches `3.1.4` but not `3.11.2`, and `3.` matches
    /// `3.11.2`. The highest matching version wins. `None` when nothing matches,
    /// including for `external`, which needs no module.
    pub fn resolve(&self, application_type: &str) -> Option<&Module> {
        let type_end = application_type
            .find(|character: char| character == ' ' || character.is_ascii_digit())
            .unwrap_or(application_type.len());
        let (module_type, rest) = application_type.split_at(type_end);
        let prefix = rest.strip_prefix(' ').unwrap_or(rest);
        self.modules.iter().find(|module| {
            module.module_type == module_type && version_matches(&module.version, prefix)
        })
    }

    /// The modules in order.
    pub fn iter(&self) -> impl Iterator<Item = &Module> {
        self.modules.iter()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.modules.is_empty()
    }

    /// The `modules` member of `/status` (UNIT-COMPAT 4): per type, `{"version", "lib"}`,
    /// or an array of them, highest version first, when a type has several.
    pub fn status(&self) -> Value {
        let mut by_type: Map<String, Value> = Map::new();
        for module in &self.modules {
            let entry = json!({
                "version": module.version,
                "lib": module.file.display().to_string(),
            });
            match by_type.get_mut(&module.module_type) {
                None => {
                    by_type.insert(module.module_type.clone(), entry);
                }
                Some(Value::Array(entries)) => entries.push(entry),
                Some(single) => {
                    let first = single.take();
                    *single = Value::Array(vec![first, entry]);
                }
            }
        }
        Value::Object(by_type)
    }
}

/// Where a module type comes in [`MODULE_TYPES`]; types this build does not know go
/// last.
fn type_rank(module_type: &str) -> usize {
    MODULE_TYPES
        .iter()
        .position(|known| *known == module_type)
        .unwrap_or(MODULE_TYPES.len())
}

/// Whether `version` starts with `prefix` at a boundary (see [`Modules::resolve`]).
fn version_matches(version: &str, prefix: &str) -> bool {
    let Some(rest) = version.strip_prefix(prefix) else {
        return false;
    };
    let (Some(last), Some(next)) = (prefix.chars().next_back(), rest.chars().next()) else {
        // An empty prefix matches every version, and a whole version matches itself.
        return true;
    };
    last.is_ascii_digit() != next.is_ascii_digit()
}

/// Compares two versions part by part: runs of digits as numbers, everything else as
/// text, so `3.9` comes before `3.10`.
fn compare_versions(first: &str, second: &str) -> Ordering {
    let mut first_parts = version_parts(first);
    let mut second_parts = version_parts(second);
    loop {
        match (first_parts.next(), second_parts.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(first_part), Some(second_part)) => {
                let order = compare_parts(first_part, second_part);
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

/// The parts of a version: maximal runs of digits and of other characters.
fn version_parts(version: &str) -> impl Iterator<Item = &str> {
    let mut rest = version;
    std::iter::from_fn(move || {
        let first = rest.chars().next()?;
        let is_digit = first.is_ascii_digit();
        let end = rest
            .find(|character: char| character.is_ascii_digit() != is_digit)
            .unwrap_or(rest.len());
        let (part, tail) = rest.split_at(end);
        rest = tail;
        Some(part)
    })
}

/// Two numbers compare by value (without overflowing however long they are), anything
/// else by its bytes.
fn compare_parts(first: &str, second: &str) -> Ordering {
    let is_number = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    if is_number(first) && is_number(second) {
        let first = first.trim_start_matches('0');
        let second = second.trim_start_matches('0');
        first
            .len()
            .cmp(&second.len())
            .then_with(|| first.cmp(second))
    } else {
        first.cmp(second)
    }
}

#[cfg(test)]
mod tests;
