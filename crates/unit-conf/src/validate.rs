//! Validation of a whole configuration tree before it is applied, with the messages the
//! control API returns.
//!
//! [`validate_config`] walks the root object the way Unit's controller does and stops at
//! the first problem, reporting it in Unit's words (UNIT-COMPAT section 3). Objects are
//! checked against member tables: required members first, then every member in the order
//! it appears, first its JSON type, then its value. The typed model (`crate::model`) is
//! built only from a value these checks passed.
//!
//! The module also exports the parsers the model and main reuse: address patterns
//! ([`parse_address_pattern`]), listener addresses ([`parse_listener_address`]) and
//! variable templates ([`parse_template`]).
//!
//! What it deliberately does not do: it compiles regular expressions only to check them
//! (with the engine the router matches with), it does not look for certificates, modules
//! or files on disk (the modules main discovered and the certificate names the
//! controller holds are given to it), and it changes nothing. This build has no njs or
//! OpenTelemetry support, so those options are reported as missing features.

mod actions;
mod address;
mod applications;
mod listeners;
mod pass;
mod pattern;
mod routes;
mod schema;
mod settings;
mod tls;
mod upstreams;
mod variables;

use serde_json::Value;

use crate::available::Available;

use self::schema::{Context, JsonType, Member, Types, validate_members};

pub use self::address::{
    AddressPattern, AddressRange, ListenerAddress, parse_address_pattern, parse_listener_address,
};
pub(crate) use self::address::{parse_socket_address, parse_unix_address};
pub(crate) use self::applications::{is_external_type, validate_isolation};
pub use self::variables::{TemplateError, TemplatePart, Variable, parse_template};

/// The first problem found in a configuration. `Display` gives [`detail`](Self::detail),
/// which is the exact text Unit puts in the `detail` member of its error response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct ValidationError {
    /// The message as Unit words it, e.g. `Unknown parameter "foo".`
    pub detail: String,
}

impl ValidationError {
    /// Wraps a finished message.
    pub(crate) fn new(detail: impl Into<String>) -> ValidationError {
        ValidationError {
            detail: detail.into(),
        }
    }
}

/// Runs the checks of [`validate_config`] and nothing else; the model is built only from
/// a value that passed them.
pub(crate) fn check_config(conf: &Value, available: &Available<'_>) -> Result<(), ValidationError> {
    let Some(root) = conf.as_object() else {
        return Err(ValidationError::new(format!(
            "The configuration must be an object, but not {}.",
            JsonType::of(conf).name()
        )));
    };
    let context = Context {
        root,
        modules: available.modules,
        certificates: available.certificates,
    };
    validate_members(&context, root, ROOT_MEMBERS)
}

/// The members of the root object.
const ROOT_MEMBERS: &[Member] = &[
    Member::new("settings", Types::OBJECT).check(settings::check_settings),
    Member::new("listeners", Types::OBJECT).check(listeners::check_listeners),
    Member::new("routes", Types::ARRAY.or(Types::OBJECT)).check(routes::check_routes),
    Member::new("applications", Types::OBJECT).check(applications::check_applications),
    Member::new("upstreams", Types::OBJECT).check(upstreams::check_upstreams),
    Member::new("access_log", Types::STRING.or(Types::OBJECT)).check(settings::check_access_log),
];

#[cfg(test)]
mod tests;
