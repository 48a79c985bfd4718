//! The `pass` option of listeners and actions, and the legacy `application` option of
//! listeners: both name a destination elsewhere in the configuration.
//!
//! A `pass` without variables must name something that exists: `applications/<app>`,
//! `applications/<app>/<target>`, `routes` (when the root `routes` is an array),
//! `routes/<name>` (when it is an object) or `upstreams/<name>`. Each `/`-separated
//! segment is percent-decoded first. A `pass` with variables is only checked for syntax,
//! since its destination is known per request.

use serde_json::Value;

use super::ValidationError;
use super::pattern::percent_decode;
use super::schema::{Context, check_template, expect_str, has_variables};

/// The check of a `pass` member.
pub(super) fn check_pass(
    context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    let text = expect_str(name, value)?;
    let parts = check_template(name, text)?;
    if has_variables(&parts) {
        return Ok(());
    }
    let invalid = || ValidationError::new(format!("Request \"pass\" value \"{text}\" is invalid."));
    let segments = text
        .split('/')
        .map(|segment| {
            percent_decode(segment)
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .filter(|decoded| !decoded.is_empty())
        })
        .collect::<Option<Vec<String>>>()
        .ok_or_else(invalid)?;
    let exists = match segments.as_slice() {
        [kind] if kind == "routes" => context.root_member("routes").is_some_and(Value::is_array),
        [kind, route] if kind == "routes" => context
            .root_member("routes")
            .and_then(Value::as_object)
            .is_some_and(|routes| routes.contains_key(route)),
        [kind, upstream] if kind == "upstreams" => context
            .root_member("upstreams")
            .and_then(Value::as_object)
            .is_some_and(|upstreams| upstreams.contains_key(upstream)),
        [kind, application] if kind == "applications" => application_exists(context, application),
        [kind, application, target] if kind == "applications" => context
            .root_member("applications")
            .and_then(|applications| applications.get(application))
            .and_then(|application| application.get("targets"))
            .and_then(Value::as_object)
            .is_some_and(|targets| targets.contains_key(target)),
        _ => return Err(invalid()),
    };
    if exists {
        Ok(())
    } else {
        Err(ValidationError::new(format!(
            "Request \"pass\" points to invalid location \"{text}\"."
        )))
    }
}

/// The check of a listener's legacy `application` member.
pub(super) fn check_legacy_application(
    context: &Context<'_>,
    name: &str,
    value: &Value,
) -> Result<(), ValidationError> {
    let application = expect_str(name, value)?;
    if application_exists(context, application) {
        Ok(())
    } else {
        Err(ValidationError::new(format!(
            "Listening socket is assigned for a non existing application \"{application}\"."
        )))
    }
}

fn application_exists(context: &Context<'_>, application: &str) -> bool {
    context
        .root_member("applications")
        .and_then(Value::as_object)
        .is_some_and(|applications| applications.contains_key(application))
}
