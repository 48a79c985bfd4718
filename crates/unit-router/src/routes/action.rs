//! Route actions (UNIT-COMPAT 3.4) compiled from the configuration, and the targets a
//! `pass` value can name.
//!
//! An [`Action`] is what a matching step (or a listener's `pass`) leads to: `pass`,
//! `return`, `share` or `proxy`, plus the `rewrite` and `response_headers` every action
//! may carry. Values with variables stay [`Template`]s; the caller expands them per
//! request and, for `pass`, reads the result with [`parse_pass`].
//!
//! What it deliberately does not do: serve files, connect to proxies or applications, or
//! check that a `pass` target exists (the validator did that for static values; for
//! expanded ones the caller looks the target up).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::pattern::PatternSet;
use crate::template::Template;

/// The index file name appended to share paths ending in `/` when `index` is not set.
const DEFAULT_INDEX: &str = "index.html";

/// A compiled action.
#[derive(Debug, Clone)]
pub(crate) struct Action {
    /// What the action does.
    pub(crate) kind: ActionKind,
    /// `rewrite`: the new request path, before the action runs.
    pub(crate) rewrite: Option<Template>,
    /// `response_headers`: fields to set on the response, or to remove (`None`).
    pub(crate) response_headers: Vec<(String, Option<Template>)>,
}

/// The four kinds of action.
#[derive(Debug, Clone)]
pub(crate) enum ActionKind {
    /// `pass`: hand the request on; expand, then read with [`parse_pass`].
    Pass(Template),
    /// `return`: answer with a status and, optionally, a `Location`.
    Return {
        /// The status, 0 to 999.
        status: u16,
        /// The `location` value.
        location: Option<Template>,
    },
    /// `share`: serve static files.
    Share(Share),
    /// `proxy`: forward the request to an HTTP server.
    Proxy(ProxyTarget),
}

/// A `share` action.
#[derive(Debug, Clone)]
pub(crate) struct Share {
    /// The paths to try, in order.
    pub(crate) paths: Vec<Template>,
    /// The file name appended to an expanded path ending in `/`.
    pub(crate) index: String,
    /// `types`: patterns over the file's MIME type (case-insensitive).
    pub(crate) types: Option<PatternSet>,
    /// `fallback`: the action used when no share serves the request.
    pub(crate) fallback: Option<Box<Action>>,
    /// `chroot`: the directory paths may not leave.
    pub(crate) chroot: Option<Template>,
    /// `follow_symlinks`.
    pub(crate) follow_symlinks: bool,
    /// `traverse_mounts`.
    pub(crate) traverse_mounts: bool,
}

/// Where a `proxy` action connects.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ProxyTarget {
    /// `http://<ip>:<port>` or `http://[<ipv6>]:<port>`.
    Inet(SocketAddr),
    /// `http://unix:<path>`; a Linux abstract socket keeps its leading `@`.
    Unix(PathBuf),
}

/// Where an expanded `pass` value points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PassTarget {
    /// `routes` (`None`) or `routes/<name>`.
    Routes(Option<String>),
    /// `upstreams/<name>`.
    Upstream(String),
    /// `applications/<name>` or `applications/<name>/<target>`.
    Application {
        /// The application's name.
        name: String,
        /// The target of a multi-target application.
        target: Option<String>,
    },
}

/// Reads an expanded `pass` value. Each `/`-separated segment is percent-decoded and must
/// be non-empty UTF-8; `None` when the value names no valid location.
pub(crate) fn parse_pass(expanded: &str) -> Option<PassTarget> {
    let segments = expanded
        .split('/')
        .map(decode_segment)
        .collect::<Option<Vec<String>>>()?;
    let mut segments = segments.into_iter();
    let kind = segments.next()?;
    let first = segments.next();
    let second = segments.next();
    if segments.next().is_some() {
        return None;
    }
    match (kind.as_str(), first, second) {
        ("routes", name, None) => Some(PassTarget::Routes(name)),
        ("upstreams", Some(name), None) => Some(PassTarget::Upstream(name)),
        ("applications", Some(name), target) => Some(PassTarget::Application { name, target }),
        _ => None,
    }
}

/// Decodes one `pass` segment; `None` when it is empty, badly escaped or not UTF-8.
fn decode_segment(segment: &str) -> Option<String> {
    let bytes = unit_http::percent_decode(segment.as_bytes(), false).ok()?;
    String::from_utf8(bytes)
        .ok()
        .filter(|decoded| !decoded.is_empty())
}

// === impl Action ===

impl Action {
    /// Compiles an `action` object (or a share's `fallback`).
    pub(crate) fn compile(value: &Value) -> Result<Action, String> {
        let action = value
            .as_object()
            .ok_or_else(|| format!("an action must be an object, not {value}"))?;
        let mut kinds = ["pass", "return", "share", "proxy"]
            .into_iter()
            .filter(|kind| action.contains_key(*kind));
        let kind = match (kinds.next(), kinds.next()) {
            (Some(kind), None) => kind,
            (None, _) => {
                return Err(
                    "an action must have one of \"pass\", \"return\", \"share\" or \"proxy\""
                        .to_owned(),
                );
            }
            (Some(_), Some(_)) => {
                return Err(
                    "an action must have just one of \"pass\", \"return\", \"share\" or \"proxy\""
                        .to_owned(),
                );
            }
        };
        let kind = match kind {
            "pass" => ActionKind::Pass(
                template_member(action, "pass")?.ok_or("the \"pass\" value is missing")?,
            ),
            "return" => compile_return(action)?,
            "share" => ActionKind::Share(compile_share(action)?),
            _ => ActionKind::Proxy(compile_proxy(action)?),
        };
        Ok(Action {
            kind,
            rewrite: template_member(action, "rewrite")?,
            response_headers: compile_response_headers(action)?,
        })
    }
}

/// Compiles a `return` action.
fn compile_return(action: &Map<String, Value>) -> Result<ActionKind, String> {
    let status = action
        .get("return")
        .and_then(Value::as_u64)
        .and_then(|status| u16::try_from(status).ok())
        .filter(|status| *status <= 999)
        .ok_or("the \"return\" value must be an integer from 0 to 999")?;
    Ok(ActionKind::Return {
        status,
        location: template_member(action, "location")?,
    })
}

/// Compiles a `share` action.
fn compile_share(action: &Map<String, Value>) -> Result<Share, String> {
    let paths = match action.get("share") {
        Some(Value::String(path)) => vec![Template::parse(path)?],
        Some(Value::Array(paths)) if !paths.is_empty() => paths
            .iter()
            .map(|path| match path {
                Value::String(path) => Template::parse(path),
                other => Err(format!("a \"share\" path must be a string, not {other}")),
            })
            .collect::<Result<Vec<Template>, String>>()?,
        _ => return Err("\"share\" must be a string or a non-empty array".to_owned()),
    };
    let index = match action.get("index") {
        None => DEFAULT_INDEX.to_owned(),
        Some(Value::String(index)) => index.clone(),
        Some(other) => return Err(format!("\"index\" must be a string, not {other}")),
    };
    let types = action
        .get("types")
        .map(|types| PatternSet::compile(types, true))
        .transpose()?;
    let fallback = action
        .get("fallback")
        .map(|fallback| Action::compile(fallback).map(Box::new))
        .transpose()?;
    Ok(Share {
        paths,
        index,
        types,
        fallback,
        chroot: template_member(action, "chroot")?,
        follow_symlinks: bool_member(action, "follow_symlinks")?,
        traverse_mounts: bool_member(action, "traverse_mounts")?,
    })
}

/// Compiles a `proxy` action's address.
fn compile_proxy(action: &Map<String, Value>) -> Result<ProxyTarget, String> {
    let address = action
        .get("proxy")
        .and_then(Value::as_str)
        .ok_or("\"proxy\" must be a string")?;
    parse_proxy(address).ok_or_else(|| format!("the \"proxy\" address is invalid \"{address}\""))
}

/// Reads `http://<ip>:<port>`, `http://[<ipv6>]:<port>` or `http://unix:<path>`.
fn parse_proxy(address: &str) -> Option<ProxyTarget> {
    let target = address.strip_prefix("http://")?;
    if let Some(path) = target.strip_prefix("unix:") {
        return (path.starts_with('/') || path.len() > 1 && path.starts_with('@'))
            .then(|| ProxyTarget::Unix(PathBuf::from(path)));
    }
    let socket_addr: SocketAddr = target.parse().ok()?;
    (socket_addr.port() != 0).then_some(ProxyTarget::Inet(socket_addr))
}

/// Compiles `response_headers`: name to template, or to `null` to remove the field.
fn compile_response_headers(
    action: &Map<String, Value>,
) -> Result<Vec<(String, Option<Template>)>, String> {
    let Some(headers) = action.get("response_headers") else {
        return Ok(Vec::new());
    };
    let headers = headers
        .as_object()
        .ok_or_else(|| format!("\"response_headers\" must be an object, not {headers}"))?;
    headers
        .iter()
        .map(|(name, value)| {
            if name.is_empty() || name.eq_ignore_ascii_case("Content-Length") {
                return Err(format!(
                    "the response header \"{name}\" cannot be configured"
                ));
            }
            let template = match value {
                Value::Null => None,
                Value::String(text) => Some(Template::parse(text)?),
                other => {
                    return Err(format!(
                        "the response header \"{name}\" must be a string or null, not {other}"
                    ));
                }
            };
            Ok((name.clone(), template))
        })
        .collect()
}

/// An optional string member holding a template.
fn template_member(object: &Map<String, Value>, name: &str) -> Result<Option<Template>, String> {
    match object.get(name) {
        None => Ok(None),
        Some(Value::String(text)) => Template::parse(text)
            .map(Some)
            .map_err(|template_error| format!("{template_error} in the \"{name}\" value")),
        Some(other) => Err(format!("\"{name}\" must be a string, not {other}")),
    }
}

/// An optional boolean member that defaults to true.
fn bool_member(object: &Map<String, Value>, name: &str) -> Result<bool, String> {
    match object.get(name) {
        None => Ok(true),
        Some(Value::Bool(flag)) => Ok(*flag),
        Some(other) => Err(format!("\"{name}\" must be a boolean, not {other}")),
    }
}

#[cfg(test)]
mod tests;
