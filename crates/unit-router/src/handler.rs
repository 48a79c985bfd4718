//! From a request to a response: the listener's `pass`, the routes it leads to, and the
//! action of the matching step (UNIT-COMPAT 3.3, 3.4).

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use unit_log::notice;

use crate::applications::AppPool;
use crate::conf::{ActiveConf, ActiveListener, Forwarded};
use crate::http::{Body, ConnAddr, HttpRequest, HttpResponse};
use crate::routes::{Action, ActionKind, PassTarget, ProxyTarget, parse_pass};
use crate::share::{ShareOutcome, ShareRequest, ShareServer};
use crate::template::ResponseVars;

/// How many `pass` hops a request may take before it is a loop (Unit's limit).
const MAX_PASSES: usize = 256;

/// What serving needs besides the configuration; every worker has its own.
#[derive(Debug)]
pub(crate) struct Services {
    pub(crate) share: ShareServer,
}

impl Services {
    pub(crate) fn new() -> Services {
        Services {
            share: ShareServer::new(),
        }
    }
}

/// What a request comes to.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// This answer.
    Respond(HttpResponse),
    /// Proxy it to this target, changing the answer's headers so.
    Proxy {
        target: ProxyTarget,
        response_headers: Vec<(String, Option<String>)>,
    },
    /// Pass it to a process of this application, changing the answer's headers so.
    Application {
        pool: Arc<AppPool>,
        /// The application target of `applications/<name>/<target>`; empty for none.
        target: String,
        response_headers: Vec<(String, Option<String>)>,
    },
}

/// Decides what `request`, which arrived on `listener`, comes to.
pub(crate) fn handle(
    conf: &ActiveConf,
    listener: &ActiveListener,
    request: &mut HttpRequest,
    services: &mut Services,
) -> Outcome {
    if conf.http.log_route {
        notice!("http request line \"{}\"", request.request_line);
    }
    if let Some(forwarded) = &listener.forwarded {
        apply_forwarded(forwarded, request);
    }
    let mut target = match &listener.static_pass {
        Some(target) => Some(Cow::Borrowed(target)),
        None => {
            parse_pass(&listener.pass.expand(request, &ResponseVars::default())).map(Cow::Owned)
        }
    };
    // As in Unit, the fields a `pass` action changes apply to the application's answer.
    let mut pass_headers = Vec::new();
    for _ in 0..MAX_PASSES {
        match target.as_deref() {
            Some(PassTarget::Routes(name)) => match select(conf, name.as_deref(), request) {
                Some(action) => match run_action(conf, action, request, services) {
                    Step::Outcome(outcome) => return outcome,
                    Step::Pass(next) => {
                        pass_headers = expand_headers(action, request);
                        target = parse_pass(&next).map(Cow::Owned);
                    }
                },
                None => {
                    if conf.http.log_route {
                        notice!("no route matched, 404");
                    }
                    return Outcome::Respond(error_page(404));
                }
            },
            Some(PassTarget::Upstream(name)) => {
                let Some(server) = conf.upstreams.pick(name) else {
                    return Outcome::Respond(error_page(502));
                };
                return Outcome::Proxy {
                    target: server,
                    response_headers: Vec::new(),
                };
            }
            Some(PassTarget::Application { name, target }) => {
                // As Unit: an application gets a chunked body only once it is whole
                // (`chunked_transform`), and no chunked body otherwise.
                if !conf.http.chunked_transform && request.header("transfer-encoding").is_some() {
                    return Outcome::Respond(error_page(411));
                }
                return match conf.applications.get(name.as_str()) {
                    Some(pool) => Outcome::Application {
                        pool: Arc::clone(pool),
                        target: target.clone().unwrap_or_default(),
                        response_headers: pass_headers,
                    },
                    None => Outcome::Respond(error_page(404)),
                };
            }
            // Only a `pass` with variables can come to no target; Unit answers 404.
            None => return Outcome::Respond(error_page(404)),
        }
    }
    Outcome::Respond(error_page(500))
}

fn select<'a>(
    conf: &'a ActiveConf,
    name: Option<&str>,
    request: &HttpRequest,
) -> Option<&'a Action> {
    if conf.http.log_route {
        conf.routes.select_logged(name, request)
    } else {
        conf.routes.select(name, request)
    }
}

/// Where an action leads.
enum Step {
    Outcome(Outcome),
    Pass(String),
}

/// What one action did: finished the request's routing, or handed it to a share's
/// `fallback`.
enum ActionStep<'a> {
    Done(Step),
    Fallback(&'a Action),
}

/// Runs `action`, and the `fallback` of each share that serves nothing, in a loop rather
/// than by recursion, so a long chain of fallbacks costs no stack.
fn run_action(
    conf: &ActiveConf,
    action: &Action,
    request: &mut HttpRequest,
    services: &mut Services,
) -> Step {
    let mut action = action;
    loop {
        match run_one_action(conf, action, request, services) {
            ActionStep::Done(step) => return step,
            ActionStep::Fallback(fallback) => action = fallback,
        }
    }
}

fn run_one_action<'a>(
    conf: &ActiveConf,
    action: &'a Action,
    request: &mut HttpRequest,
    services: &mut Services,
) -> ActionStep<'a> {
    if let Some(rewrite) = &action.rewrite {
        let rewritten = rewrite.expand(request, &ResponseVars::default());
        let path = rewritten
            .split_once('?')
            .map_or(rewritten.as_str(), |(path, _)| path);
        // An empty rewrite empties the path, as in Unit; a path that cannot be
        // normalized fails the request.
        let normalized = if path.is_empty() {
            Ok(Vec::new())
        } else {
            unit_http::normalize_path(path.as_bytes())
        };
        match normalized {
            Ok(normalized) => {
                request.uri = String::from_utf8_lossy(&normalized).into_owned();
                request.rewritten = true;
                if conf.http.log_route {
                    notice!("URI rewritten to \"{}\"", request.uri);
                }
            }
            Err(_) => return ActionStep::Done(Step::Outcome(Outcome::Respond(error_page(500)))),
        }
    }
    let mut response = match &action.kind {
        ActionKind::Pass(template) => {
            return ActionStep::Done(Step::Pass(
                template.expand(request, &ResponseVars::default()),
            ));
        }
        ActionKind::Return { status, location } => {
            if (400..=599).contains(status) {
                error_page(*status)
            } else {
                let mut response = HttpResponse::empty(*status);
                if let Some(location) = location {
                    let location = location.expand(request, &ResponseVars::default());
                    let encoded = unit_http::encode_location(location.as_bytes());
                    let location = String::from_utf8_lossy(&encoded).into_owned();
                    response.headers.push(("Location".into(), location.into()));
                }
                response
            }
        }
        ActionKind::Share(share) => {
            let expand =
                |path: &crate::template::Template| path.expand(request, &ResponseVars::default());
            // One path is the common case: it needs no list of its own.
            let single: [String; 1];
            let several: Vec<String>;
            let paths: &[String] = match share.paths.as_slice() {
                [path] => {
                    single = [expand(path)];
                    &single
                }
                paths => {
                    several = paths.iter().map(expand).collect();
                    &several
                }
            };
            let chroot = share
                .chroot
                .as_ref()
                .map(|chroot| chroot.expand(request, &ResponseVars::default()));
            let types = share
                .types
                .as_ref()
                .map(|types| move |mime: &str| types.matches(mime));
            let types_filter: Option<&dyn Fn(&str) -> bool> =
                types.as_ref().map(|filter| filter as &dyn Fn(&str) -> bool);
            let share_request = ShareRequest {
                paths,
                index: &share.index,
                chroot: chroot.as_deref(),
                follow_symlinks: share.follow_symlinks,
                traverse_mounts: share.traverse_mounts,
                types: types_filter,
                method: &request.method,
                uri: &request.uri,
                query: &request.query,
                if_none_match: request.header("If-None-Match"),
                if_modified_since: request.header("If-Modified-Since"),
                arrived: request.arrived,
            };
            match services.share.serve(&share_request, &conf.mime) {
                ShareOutcome::Response(response) => response,
                ShareOutcome::NotFound(status) => match &share.fallback {
                    Some(fallback) => {
                        if conf.http.log_route {
                            notice!("\"fallback\" taken");
                        }
                        return ActionStep::Fallback(fallback);
                    }
                    None => error_page(status),
                },
                ShareOutcome::MethodNotAllowed => match &share.fallback {
                    Some(fallback) => return ActionStep::Fallback(fallback),
                    None => error_page(405),
                },
                ShareOutcome::Error => error_page(500),
            }
        }
        ActionKind::Proxy(target) => {
            return ActionStep::Done(Step::Outcome(Outcome::Proxy {
                target: target.clone(),
                response_headers: expand_headers(action, request),
            }));
        }
    };
    // As in Unit, an action's `response_headers` change only successful and
    // redirecting answers, never an error page.
    if !(200..400).contains(&response.status) {
        return ActionStep::Done(Step::Outcome(Outcome::Respond(response)));
    }
    for (name, value) in expand_headers(action, request) {
        response
            .headers
            .retain(|(existing, _)| !existing.eq_ignore_ascii_case(&name));
        if let Some(value) = value {
            response.headers.push((name.into(), value.into()));
        }
    }
    ActionStep::Done(Step::Outcome(Outcome::Respond(response)))
}

/// The action's `response_headers`, expanded for `request` (`None` removes a field).
fn expand_headers(action: &Action, request: &HttpRequest) -> Vec<(String, Option<String>)> {
    action
        .response_headers
        .iter()
        .map(|(name, value)| {
            let value = value
                .as_ref()
                .map(|template| template.expand(request, &ResponseVars::default()));
            (name.clone(), value)
        })
        .collect()
}

/// Unit's error response: a small HTML page naming the status.
pub(crate) fn error_page(status: u16) -> HttpResponse {
    let page = format!("<!DOCTYPE html><title>Error {status}</title><p>Error {status}.\r\n");
    HttpResponse {
        status,
        headers: vec![("Content-Type".into(), "text/html".into())],
        body: Body::Bytes(Arc::from(page.into_bytes())),
    }
}

/// Takes the client address (and scheme) from headers when the peer is a trusted proxy.
fn apply_forwarded(forwarded: &Forwarded, request: &mut HttpRequest) {
    // An empty `source` trusts no peer (as in Unit), unlike an empty match set.
    let trusted = |address: &ConnAddr| {
        !forwarded.source.is_empty()
            && match address {
                ConnAddr::Inet(socket_addr) => source_matches(&forwarded.source, socket_addr),
                ConnAddr::Unix => source_matches_unix(&forwarded.source),
            }
    };
    if !trusted(&request.remote) {
        return;
    }
    if let Some(protocol) = &forwarded.protocol
        && let Some(value) = request.header(protocol)
    {
        // `http` means plain, `https` or `on` TLS; any other value says nothing.
        let value = value.trim_ascii();
        if value.eq_ignore_ascii_case(b"http") {
            request.https = false;
        } else if value.eq_ignore_ascii_case(b"https") || value.eq_ignore_ascii_case(b"on") {
            request.https = true;
        }
    }
    let Some(client_ip) = &forwarded.client_ip else {
        return;
    };
    let values: Vec<String> = request
        .headers_named(client_ip)
        .flat_map(|value| {
            String::from_utf8_lossy(value)
                .split(',')
                .map(|part| part.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .filter(|part| !part.is_empty())
        .collect();
    // The rightmost address is the one our trusted peer saw; with `recursive`, walk left
    // past addresses that are themselves trusted.
    for value in values.iter().rev() {
        let Ok(ip) = value.parse::<IpAddr>() else {
            return;
        };
        let address = SocketAddr::new(ip, 0);
        request.remote = ConnAddr::Inet(address);
        if !forwarded.recursive || !source_matches(&forwarded.source, &address) {
            return;
        }
    }
}

fn source_matches(patterns: &[unit_conf::AddressPattern], address: &SocketAddr) -> bool {
    combine(patterns, |pattern| pattern.matches(address))
}

fn source_matches_unix(patterns: &[unit_conf::AddressPattern]) -> bool {
    combine(patterns, unit_conf::AddressPattern::matches_unix)
}

/// Unit's rule for a set of patterns: a matching negative fails, an all-negative set
/// otherwise holds, else some positive must match.
fn combine(
    patterns: &[unit_conf::AddressPattern],
    matches: impl Fn(&unit_conf::AddressPattern) -> bool,
) -> bool {
    let mut any_positive = false;
    let mut positive_matched = false;
    for pattern in patterns {
        if pattern.is_negative() {
            if matches(pattern) {
                return false;
            }
        } else {
            any_positive = true;
            positive_matched |= matches(pattern);
        }
    }
    !any_positive || positive_matched
}
