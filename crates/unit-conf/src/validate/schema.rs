//! The machinery every section validator shares: JSON type names, sets of accepted
//! types, member tables, and the generic messages.
//!
//! A section is described by a table of [`Member`]s. [`validate_members`] checks an object
//! against such a table: required members first (in table order), then each member of the
//! object in the order it appears: unknown names, the JSON type, an optional integer range,
//! an optional template check, and finally the member's own check function.
//!
//! Nothing here knows about listeners, routes or applications.

use serde_json::{Map, Value};

use super::ValidationError;
use super::variables::{TemplateError, TemplatePart, parse_template};
use crate::modules::Modules;

/// What a member's check function sees: the whole configuration, for checks that resolve
/// references between sections, and the language modules applications may use.
pub(super) struct Context<'a> {
    /// The root object of the configuration being validated.
    pub(super) root: &'a Map<String, Value>,
    /// The modules main discovered.
    pub(super) modules: &'a Modules,
    /// Whether a certificate is in the store, where that is known.
    pub(super) certificates: Option<&'a dyn Fn(&str) -> bool>,
}

impl<'a> Context<'a> {
    /// The root member `name` when it is present.
    pub(super) fn root_member(&self, name: &str) -> Option<&'a Value> {
        self.root.get(name)
    }
}

/// A member's own check: gets the context, the member name and its value, whose JSON type
/// has already been checked against the member's [`Types`].
pub(super) type Check = fn(&Context<'_>, &str, &Value) -> Result<(), ValidationError>;

// === impl JsonType ===

/// The JSON types as Unit distinguishes them: numbers are split into integers and
/// fractional numbers by their text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum JsonType {
    Null,
    Boolean,
    Integer,
    Fractional,
    String,
    Array,
    Object,
}

/// Every type in the order Unit lists them in messages.
const ALL_TYPES: [JsonType; 7] = [
    JsonType::Null,
    JsonType::Boolean,
    JsonType::Integer,
    JsonType::Fractional,
    JsonType::String,
    JsonType::Array,
    JsonType::Object,
];

impl JsonType {
    /// The type of `value`. A number is fractional when its text has a decimal point or
    /// an exponent, so `1.0` and `1e3` are fractional and `1000` is an integer.
    pub(super) fn of(value: &Value) -> JsonType {
        match value {
            Value::Null => JsonType::Null,
            Value::Bool(_) => JsonType::Boolean,
            Value::Number(number) => {
                let text = number.to_string();
                if text.contains(['.', 'e', 'E']) {
                    JsonType::Fractional
                } else {
                    JsonType::Integer
                }
            }
            Value::String(_) => JsonType::String,
            Value::Array(_) => JsonType::Array,
            Value::Object(_) => JsonType::Object,
        }
    }

    /// The name used in messages, with its article: `an integer number`.
    pub(super) fn name(self) -> &'static str {
        match self {
            JsonType::Null => "a null",
            JsonType::Boolean => "a boolean",
            JsonType::Integer => "an integer number",
            JsonType::Fractional => "a fractional number",
            JsonType::String => "a string",
            JsonType::Array => "an array",
            JsonType::Object => "an object",
        }
    }

    fn bit(self) -> u8 {
        match self {
            JsonType::Null => 1,
            JsonType::Boolean => 1 << 1,
            JsonType::Integer => 1 << 2,
            JsonType::Fractional => 1 << 3,
            JsonType::String => 1 << 4,
            JsonType::Array => 1 << 5,
            JsonType::Object => 1 << 6,
        }
    }
}

// === impl Types ===

/// A set of accepted JSON types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Types(u8);

impl Types {
    pub(super) const NULL: Types = Types(1);
    pub(super) const BOOLEAN: Types = Types(1 << 1);
    pub(super) const INTEGER: Types = Types(1 << 2);
    /// Integers and fractional numbers.
    pub(super) const NUMBER: Types = Types((1 << 2) | (1 << 3));
    pub(super) const STRING: Types = Types(1 << 4);
    pub(super) const ARRAY: Types = Types(1 << 5);
    pub(super) const OBJECT: Types = Types(1 << 6);
    /// Every type; used for members whose check looks at the value itself.
    pub(super) const ANY: Types = Types(0x7f);

    /// The union of two sets.
    pub(super) const fn or(self, other: Types) -> Types {
        Types(self.0 | other.0)
    }

    /// Whether `json_type` is in the set.
    pub(super) fn contains(self, json_type: JsonType) -> bool {
        self.0 & json_type.bit() != 0
    }

    /// The expectation as a message words it: `a string`, `either a string or an array`,
    /// `either a boolean, a string, or an array`.
    pub(super) fn describe(self) -> String {
        let names: Vec<&str> = ALL_TYPES
            .iter()
            .filter(|json_type| self.contains(**json_type))
            .map(|json_type| json_type.name())
            .collect();
        match names.as_slice() {
            [] => String::new(),
            [single] => (*single).to_owned(),
            [first, second] => format!("either {first} or {second}"),
            [init @ .., last] => format!("either {}, or {last}", init.join(", ")),
        }
    }
}

// === impl Member ===

/// One row of a member table.
pub(super) struct Member {
    /// The member name.
    pub(super) name: &'static str,
    /// The JSON types the value may have.
    pub(super) types: Types,
    /// Whether the object must contain the member.
    pub(super) required: bool,
    /// For integer values: the inclusive range they must fall in.
    pub(super) range: Option<(i64, i64)>,
    /// For string values: whether they are templates with variables.
    pub(super) template: bool,
    /// The member's own check, run after the generic ones.
    pub(super) check: Option<Check>,
}

impl Member {
    /// An optional member of the given types with no further checks.
    pub(super) const fn new(name: &'static str, types: Types) -> Member {
        Member {
            name,
            types,
            required: false,
            range: None,
            template: false,
            check: None,
        }
    }

    /// Marks the member as required.
    pub(super) const fn required(self) -> Member {
        Member {
            required: true,
            ..self
        }
    }

    /// Restricts integer values to `low..=high`.
    pub(super) const fn range(self, low: i64, high: i64) -> Member {
        Member {
            range: Some((low, high)),
            ..self
        }
    }

    /// Parses string values as templates with variables.
    pub(super) const fn template(self) -> Member {
        Member {
            template: true,
            ..self
        }
    }

    /// Adds the member's own check.
    pub(super) const fn check(self, check: Check) -> Member {
        Member {
            check: Some(check),
            ..self
        }
    }
}

/// Checks `object` against `members`; see the module documentation for the order.
pub(super) fn validate_members(
    context: &Context<'_>,
    object: &Map<String, Value>,
    members: &[Member],
) -> Result<(), ValidationError> {
    validate_member_tables(context, object, &[members])
}

/// Checks `object` against several tables read as one, in order, as Unit chains the
/// members of an application's type to those every type shares: the required members of
/// every table first, then each member of the object against the first row naming it.
pub(super) fn validate_member_tables(
    context: &Context<'_>,
    object: &Map<String, Value>,
    tables: &[&[Member]],
) -> Result<(), ValidationError> {
    let rows = || tables.iter().flat_map(|table| table.iter());
    for member in rows().filter(|member| member.required) {
        if !object.contains_key(member.name) {
            return Err(missing_parameter(member.name));
        }
    }
    for (name, value) in object {
        let Some(member) = rows().find(|member| member.name == name) else {
            return Err(unknown_parameter(name));
        };
        check_type(name, member.types, value)?;
        if let Some((low, high)) = member.range
            && JsonType::of(value) == JsonType::Integer
        {
            check_integer_range(name, value, low, high)?;
        }
        if member.template
            && let Some(text) = value.as_str()
        {
            check_template(name, text)?;
        }
        if let Some(check) = member.check {
            check(context, name, value)?;
        }
    }
    Ok(())
}

/// Checks that `value` is an object and validates it against `members`.
pub(super) fn validate_object(
    context: &Context<'_>,
    name: &str,
    value: &Value,
    members: &[Member],
) -> Result<(), ValidationError> {
    let object = expect_object(name, value)?;
    validate_members(context, object, members)
}

// === Generic messages ===

/// `Unknown parameter "<name>".`
pub(super) fn unknown_parameter(name: &str) -> ValidationError {
    ValidationError::new(format!("Unknown parameter \"{name}\"."))
}

/// `Required parameter "<name>" is missing.`
pub(super) fn missing_parameter(name: &str) -> ValidationError {
    ValidationError::new(format!("Required parameter \"{name}\" is missing."))
}

/// `Unit is built without the "<option>" option support.`
pub(super) fn not_built(option: &str) -> ValidationError {
    ValidationError::new(format!(
        "Unit is built without the \"{option}\" option support."
    ))
}

/// A check for members naming features this build lacks, whatever their value.
pub(super) fn check_not_built(
    _context: &Context<'_>,
    name: &str,
    _value: &Value,
) -> Result<(), ValidationError> {
    Err(not_built(name))
}

/// `The "<name>" value must be <expected>, but not <actual>.` unless `value` has one of
/// `types`.
pub(super) fn check_type(name: &str, types: Types, value: &Value) -> Result<(), ValidationError> {
    if types.contains(JsonType::of(value)) {
        Ok(())
    } else {
        Err(type_error(name, types, value))
    }
}

/// `The "<name>" value must be <expected>, but not <actual>.`
pub(super) fn type_error(name: &str, types: Types, value: &Value) -> ValidationError {
    ValidationError::new(format!(
        "The \"{name}\" value must be {}, but not {}.",
        types.describe(),
        JsonType::of(value).name()
    ))
}

/// The string in `value`, or the type message for `name`.
pub(super) fn expect_str<'v>(name: &str, value: &'v Value) -> Result<&'v str, ValidationError> {
    match value {
        Value::String(text) => Ok(text),
        other => Err(type_error(name, Types::STRING, other)),
    }
}

/// The object in `value`, or the type message for `name`.
pub(super) fn expect_object<'v>(
    name: &str,
    value: &'v Value,
) -> Result<&'v Map<String, Value>, ValidationError> {
    match value {
        Value::Object(object) => Ok(object),
        other => Err(type_error(name, Types::OBJECT, other)),
    }
}

/// The strings of the array `values`, or `The "<name>" array must contain only string
/// values.` at the first element that is not a string.
pub(super) fn string_elements<'v>(
    name: &str,
    values: &'v [Value],
) -> Result<Vec<&'v str>, ValidationError> {
    values
        .iter()
        .map(|value| {
            value.as_str().ok_or_else(|| {
                ValidationError::new(format!(
                    "The \"{name}\" array must contain only string values."
                ))
            })
        })
        .collect()
}

/// The objects of the array `values`, or `The "<name>" array must contain only object
/// values.` at the first element that is not an object.
pub(super) fn object_elements<'v>(
    name: &str,
    values: &'v [Value],
) -> Result<Vec<&'v Map<String, Value>>, ValidationError> {
    values
        .iter()
        .map(|value| {
            value.as_object().ok_or_else(|| {
                ValidationError::new(format!(
                    "The \"{name}\" array must contain only object values."
                ))
            })
        })
        .collect()
}

/// The strings in a value that is either one string or an array of strings.
pub(super) fn one_or_many_strings<'v>(
    name: &str,
    value: &'v Value,
) -> Result<Vec<&'v str>, ValidationError> {
    match value {
        Value::Array(values) => string_elements(name, values),
        other => Ok(vec![expect_str(name, other)?]),
    }
}

/// Checks that the integer `value` lies in `low..=high`. Integers too large for `i64`
/// count as above the range, too small ones as below it.
pub(super) fn check_integer_range(
    name: &str,
    value: &Value,
    low: i64,
    high: i64,
) -> Result<(), ValidationError> {
    let number = match value.as_i64() {
        Some(number) => number,
        None if value.to_string().starts_with('-') => i64::MIN,
        None => i64::MAX,
    };
    if number < low {
        return Err(ValidationError::new(format!(
            "The \"{name}\" number must not be less than {low}."
        )));
    }
    if number > high {
        return Err(ValidationError::new(format!(
            "The \"{name}\" number must not exceed {high}."
        )));
    }
    Ok(())
}

/// Parses `text` as a template for the option `option`, turning a template error into
/// `<error> in the "<option>" value.` and a JavaScript template literal into the missing
/// njs feature.
pub(super) fn check_template(
    option: &str,
    text: &str,
) -> Result<Vec<TemplatePart>, ValidationError> {
    parse_template(text).map_err(|template_error| match template_error {
        TemplateError::Script => not_built("njs"),
        other => ValidationError::new(format!("{other} in the \"{option}\" value.")),
    })
}

/// Checks a condition as used by `if`: an optional leading `!` and a template.
pub(super) fn check_condition(option: &str, text: &str) -> Result<(), ValidationError> {
    let condition = text.strip_prefix('!').unwrap_or(text);
    check_template(option, condition).map(drop)
}

/// Whether any part of a parsed template is a variable.
pub(super) fn has_variables(parts: &[TemplatePart]) -> bool {
    parts
        .iter()
        .any(|part| matches!(part, TemplatePart::Variable(_)))
}
