//! Route actions (UNIT-COMPAT 3.4) compiled from the configuration, and the targets a
//! `pass` value can name.
//!
//! An [`Action`] is what a matching step (or a listener's `pass`) leads to: `pass`,
//! `return`, `share` or `proxy`, plus the `rewrite` and `response_headers` every action
//! may carry. Values with variables stay [`Template`]s; the caller expands them per
//! request and, for `pass`, reads the result with [`parse_pass`].
//!
//! Actions are compiled from unit-conf's model, which has filled in their defaults
//! (`index`, `follow_symlinks`, `traverse_mounts`).
//!
//! What it deliberately does not do: serve files, connect to proxies or applications, or
//! check that a `pass` target exists (the validator did that for static values; for
//! expanded ones the caller looks the target up).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use unit_conf::{RouteAction, ServerAddress};

use crate::error::CompileError;
use crate::pattern::PatternSet;
use crate::template::Template;

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
    /// `http://unix:<path>`; a Linux abstract socket keeps its leading `@`. Shared, so
    /// an application's socket path is not copied for each request.
    Unix(Arc<Path>),
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
    /// Compiles an action of unit-conf's model (a step's `action` or a share's
    /// `fallback`).
    pub(crate) fn compile(action: &RouteAction) -> Result<Action, CompileError> {
        let kind = match &action.kind {
            unit_conf::ActionKind::Pass(pass) => ActionKind::Pass(Template::new(pass)),
            unit_conf::ActionKind::Return { status, location } => ActionKind::Return {
                status: *status,
                location: location.as_deref().map(Template::new),
            },
            unit_conf::ActionKind::Share(share) => ActionKind::Share(compile_share(share)?),
            unit_conf::ActionKind::Proxy(address) => ActionKind::Proxy(ProxyTarget::new(address)),
        };
        let response_headers = action
            .response_headers
            .iter()
            .map(|header| {
                (
                    header.name.clone(),
                    header.value.as_deref().map(Template::new),
                )
            })
            .collect();
        Ok(Action {
            kind,
            rewrite: action.rewrite.as_deref().map(Template::new),
            response_headers,
        })
    }
}

/// Compiles a `share` action.
fn compile_share(share: &unit_conf::Share) -> Result<Share, CompileError> {
    Ok(Share {
        paths: share.paths.iter().map(|path| Template::new(path)).collect(),
        index: share.index.clone(),
        types: share
            .types
            .as_deref()
            .map(|types| PatternSet::compile(types, true))
            .transpose()?,
        fallback: share
            .fallback
            .as_deref()
            .map(|fallback| Action::compile(fallback).map(Box::new))
            .transpose()?,
        chroot: share.chroot.as_deref().map(Template::new),
        follow_symlinks: share.follow_symlinks,
        traverse_mounts: share.traverse_mounts,
    })
}

// === impl ProxyTarget ===

impl ProxyTarget {
    /// Where a `proxy` action or an upstream server of unit-conf's model connects.
    pub(crate) fn new(address: &ServerAddress) -> ProxyTarget {
        match address {
            ServerAddress::Inet(socket_addr) => ProxyTarget::Inet(*socket_addr),
            ServerAddress::Unix(path) => ProxyTarget::Unix(Arc::from(path.as_path())),
            // The connecting side reads a leading `@` as the abstract namespace.
            ServerAddress::Abstract(name) => {
                ProxyTarget::Unix(Arc::from(Path::new(&format!("@{name}"))))
            }
        }
    }
}

#[cfg(test)]
mod tests;
