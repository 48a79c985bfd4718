//! Builds the typed model from a configuration the validator has accepted.
//!
//! The builders read each member in the shape the validator guarantees, but they do not
//! take it on trust: a member of another shape is a [`BuildError`], never a panic. They
//! pick no defaults of their own either; an absent member takes the model's default
//! (the `Default` impls and constants of the parent module).
//!
//! What it deliberately does not do: check anything the validator checks (ranges,
//! references between sections, pattern syntax), or say which step of a route a problem
//! is in; a problem here is a bug, not a user's mistake.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

use super::BuildError;
use super::{
    AccessLog, ActionKind, Application, ApplicationKind, Automount, Compression, Compressor,
    Condition, Conf, DEFAULT_FOLLOW_SYMLINKS, DEFAULT_MAX_PROCESSES, DEFAULT_NEW_PRIVS,
    DEFAULT_PROCESS_IDLE_TIMEOUT, DEFAULT_PYTHON_FACTORY, DEFAULT_PYTHON_THREADS,
    DEFAULT_RECURSIVE, DEFAULT_SERVER_WEIGHT, DEFAULT_SHARE_INDEX, DEFAULT_SPARE_PROCESSES,
    DEFAULT_TRAVERSE_MOUNTS, FieldPatterns, Forwarded, GlobalSettings, HttpSettings, IdMapping,
    Isolation, Limits, Listener, ListenerTls, LogFormat, MatchCondition, MimeType, Namespaces,
    Processes, Protocol, PythonApplication, PythonTarget, ResponseHeader, Route, RouteAction,
    Routes, Scheme, ServerAddress, SessionTickets, Share, StaticSettings, Step, TlsSession,
    Upstream, UpstreamServer, WebSocketSettings,
};
use crate::modules::{Module, Modules};
use crate::tls::{TlsCommands, decode_ticket_key, parse_commands};
use crate::validate::{
    AddressPattern, ListenerAddress, TemplatePart, is_external_type, parse_address_pattern,
    parse_listener_address, parse_socket_address, parse_template, parse_unix_address,
};

/// A JSON object.
type Object = Map<String, Value>;

/// Builds the model of a whole configuration, resolving applications' types against
/// `modules`.
pub(super) fn build_conf(conf: &Value, modules: &Modules) -> Result<Conf, BuildError> {
    let root = expect_object("configuration", conf)?;
    Ok(Conf {
        listeners: optional_object(root, "listeners")?
            .map(build_listeners)
            .transpose()?
            .unwrap_or_default(),
        routes: root.get("routes").map(build_routes).transpose()?,
        upstreams: optional_object(root, "upstreams")?
            .map(build_upstreams)
            .transpose()?
            .unwrap_or_default(),
        applications: optional_object(root, "applications")?
            .map(|applications| build_applications(applications, modules))
            .transpose()?
            .unwrap_or_default(),
        settings: optional_object(root, "settings")?
            .map(build_settings)
            .transpose()?
            .unwrap_or_default(),
        access_log: root.get("access_log").map(build_access_log).transpose()?,
    })
}

// === Listeners ===

fn build_listeners(listeners: &Object) -> Result<Vec<Listener>, BuildError> {
    listeners
        .iter()
        .map(|(address, listener)| build_listener(address, expect_object(address, listener)?))
        .collect()
}

fn build_listener(address: &str, listener: &Object) -> Result<Listener, BuildError> {
    let socket_address = parse_listener_address(address)
        .ok_or_else(|| BuildError::unexpected(address, "a listener address"))?;
    let pass = match (
        optional_str(listener, "pass")?,
        optional_str(listener, "application")?,
    ) {
        (Some(pass), _) => Some(template("pass", pass)?),
        // The legacy member names an application, not a template: its name is taken as
        // it is, as Unit does.
        (None, Some(application)) => Some(vec![TemplatePart::Literal(format!(
            "applications/{application}"
        ))]),
        (None, None) => None,
    };
    let forwarded = match (
        optional_object(listener, "forwarded")?,
        optional_object(listener, "client_ip")?,
    ) {
        (Some(forwarded), _) => Some(build_forwarded(forwarded, "client_ip")?),
        (None, Some(client_ip)) => Some(build_forwarded(client_ip, "header")?),
        (None, None) => None,
    };
    let backlog = match listener.get("backlog") {
        None => None,
        Some(backlog) => match backlog.as_i64() {
            // Unit's way of asking for the system default.
            Some(-1) => None,
            Some(backlog) => Some(
                u32::try_from(backlog)
                    .map_err(|_| BuildError::unexpected("backlog", "a backlog"))?,
            ),
            None => return Err(BuildError::unexpected("backlog", "an integer")),
        },
    };
    let tls = optional_object(listener, "tls")?
        .map(build_tls)
        .transpose()?;
    Ok(Listener {
        address: address.to_owned(),
        socket_address,
        pass,
        forwarded,
        backlog,
        tls,
    })
}

/// Builds `forwarded`, or the older `client_ip` form, whose client address header is
/// the member `header_member`.
fn build_tls(tls: &Object) -> Result<ListenerTls, BuildError> {
    let certificates = match tls.get("certificate") {
        Some(Value::String(name)) => vec![name.clone()],
        Some(Value::Array(names)) => names
            .iter()
            .map(|name| {
                name.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| BuildError::unexpected("certificate", "a string"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(BuildError::unexpected("certificate", "a name or names")),
        None => return Err(BuildError::Missing("certificate")),
    };
    let commands = match optional_object(tls, "conf_commands")? {
        None => TlsCommands::default(),
        Some(commands) => {
            let pairs = commands
                .iter()
                .map(|(command, value)| {
                    value
                        .as_str()
                        .map(|value| (command.as_str(), value))
                        .ok_or_else(|| BuildError::unexpected(command, "a string"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            parse_commands(pairs).map_err(|_| BuildError::unexpected("conf_commands", "valid"))?
        }
    };
    let session = match optional_object(tls, "session")? {
        None => TlsSession::default(),
        Some(session) => build_tls_session(session)?,
    };
    Ok(ListenerTls {
        certificates,
        commands,
        session,
    })
}

fn build_tls_session(session: &Object) -> Result<TlsSession, BuildError> {
    let defaults = TlsSession::default();
    let cache_size = match session.get("cache_size") {
        None => defaults.cache_size,
        Some(size) => non_negative(size)
            .and_then(|size| usize::try_from(size).ok())
            .ok_or_else(|| BuildError::unexpected("cache_size", "a size"))?,
    };
    let timeout = match session.get("timeout") {
        None => defaults.timeout,
        Some(timeout) => Duration::from_secs(
            non_negative(timeout)
                .ok_or_else(|| BuildError::unexpected("timeout", "a number of seconds"))?,
        ),
    };
    let key = |key: &Value| {
        key.as_str()
            .and_then(decode_ticket_key)
            .ok_or_else(|| BuildError::unexpected("tickets", "a base64 key"))
    };
    let tickets = match session.get("tickets") {
        None | Some(Value::Bool(false)) => SessionTickets::Off,
        Some(Value::Bool(true)) => SessionTickets::On,
        Some(Value::Array(keys)) if keys.is_empty() => SessionTickets::Off,
        Some(Value::Array(keys)) => {
            SessionTickets::Keys(keys.iter().map(key).collect::<Result<_, _>>()?)
        }
        Some(single) => SessionTickets::Keys(vec![key(single)?]),
    };
    Ok(TlsSession {
        cache_size,
        timeout,
        tickets,
    })
}

fn build_forwarded(forwarded: &Object, header_member: &str) -> Result<Forwarded, BuildError> {
    let source = forwarded
        .get("source")
        .ok_or(BuildError::Missing("source"))?;
    Ok(Forwarded {
        client_ip: optional_string(forwarded, header_member)?,
        protocol: optional_string(forwarded, "protocol")?,
        source: address_patterns("source", source)?,
        recursive: flag(forwarded, "recursive", DEFAULT_RECURSIVE)?,
    })
}

// === Routes ===

fn build_routes(routes: &Value) -> Result<Routes, BuildError> {
    match routes {
        Value::Array(steps) => Ok(Routes::Steps(build_steps("routes", steps)?)),
        Value::Object(named) => named
            .iter()
            .map(|(name, steps)| {
                let steps = steps
                    .as_array()
                    .ok_or_else(|| BuildError::unexpected(name, "an array"))?;
                Ok(Route {
                    name: name.clone(),
                    steps: build_steps(name, steps)?,
                })
            })
            .collect::<Result<Vec<Route>, BuildError>>()
            .map(Routes::Named),
        _ => Err(BuildError::unexpected(
            "routes",
            "either an array or an object",
        )),
    }
}

fn build_steps(name: &str, steps: &[Value]) -> Result<Vec<Step>, BuildError> {
    steps
        .iter()
        .map(|step| build_step(expect_object(name, step)?))
        .collect()
}

fn build_step(step: &Object) -> Result<Step, BuildError> {
    let conditions = match optional_object(step, "match")? {
        None => Vec::new(),
        Some(conditions) => conditions
            .iter()
            .map(|(name, value)| build_condition(name, value))
            .collect::<Result<Vec<MatchCondition>, BuildError>>()?,
    };
    let action = step.get("action").ok_or(BuildError::Missing("action"))?;
    Ok(Step {
        conditions,
        action: build_action(expect_object("action", action)?)?,
    })
}

fn build_condition(name: &str, value: &Value) -> Result<MatchCondition, BuildError> {
    let condition = match name {
        "host" => MatchCondition::Host(strings(name, value)?),
        "uri" => MatchCondition::Uri(strings(name, value)?),
        "method" => MatchCondition::Method(strings(name, value)?),
        "headers" => MatchCondition::Headers(field_alternatives(name, value)?),
        "arguments" => MatchCondition::Arguments(field_alternatives(name, value)?),
        "cookies" => MatchCondition::Cookies(field_alternatives(name, value)?),
        "query" => MatchCondition::Query(strings(name, value)?),
        "scheme" => {
            let scheme = expect_str(name, value)?;
            if scheme.eq_ignore_ascii_case("http") {
                MatchCondition::Scheme(Scheme::Http)
            } else if scheme.eq_ignore_ascii_case("https") {
                MatchCondition::Scheme(Scheme::Https)
            } else {
                return Err(BuildError::unexpected(name, "either \"http\" or \"https\""));
            }
        }
        "source" => MatchCondition::Source(address_patterns(name, value)?),
        "destination" => MatchCondition::Destination(address_patterns(name, value)?),
        "if" => MatchCondition::If(condition(name, expect_str(name, value)?)?),
        _ => return Err(BuildError::unexpected(name, "a match condition")),
    };
    Ok(condition)
}

/// Builds the value of `headers`, `arguments` or `cookies`: an object, or an array of
/// objects that are alternatives.
fn field_alternatives(name: &str, value: &Value) -> Result<Vec<Vec<FieldPatterns>>, BuildError> {
    let objects: Vec<&Object> = match value {
        Value::Object(object) => vec![object],
        Value::Array(objects) => objects
            .iter()
            .map(|object| expect_object(name, object))
            .collect::<Result<_, BuildError>>()?,
        _ => {
            return Err(BuildError::unexpected(name, "either an object or an array"));
        }
    };
    objects
        .into_iter()
        .map(|object| {
            object
                .iter()
                .map(|(field, patterns)| {
                    Ok(FieldPatterns {
                        name: field.clone(),
                        patterns: strings(field, patterns)?,
                    })
                })
                .collect()
        })
        .collect()
}

/// Builds an `if` value: an optional `!`, then a template.
fn condition(name: &str, text: &str) -> Result<Condition, BuildError> {
    let (negated, text) = match text.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    Ok(Condition {
        negated,
        template: template(name, text)?,
    })
}

/// Builds one address pattern or an array of them.
fn address_patterns(name: &str, value: &Value) -> Result<Vec<AddressPattern>, BuildError> {
    strings(name, value)?
        .iter()
        .map(|pattern| parse_address_pattern(pattern).map_err(BuildError::AddressPattern))
        .collect()
}

// === Actions ===

fn build_action(action: &Object) -> Result<RouteAction, BuildError> {
    let kind = if let Some(pass) = action.get("pass") {
        ActionKind::Pass(template("pass", expect_str("pass", pass)?)?)
    } else if let Some(status) = action.get("return") {
        let status = non_negative(status)
            .and_then(|status| u16::try_from(status).ok())
            .ok_or_else(|| BuildError::unexpected("return", "an HTTP status code"))?;
        ActionKind::Return {
            status,
            location: optional_template(action, "location")?,
        }
    } else if let Some(paths) = action.get("share") {
        ActionKind::Share(build_share(paths, action)?)
    } else if let Some(proxy) = action.get("proxy") {
        ActionKind::Proxy(proxy_address(expect_str("proxy", proxy)?)?)
    } else {
        return Err(BuildError::unexpected(
            "action",
            "one of \"pass\", \"return\", \"share\" or \"proxy\"",
        ));
    };
    let response_headers = match optional_object(action, "response_headers")? {
        None => Vec::new(),
        Some(headers) => headers
            .iter()
            .map(|(name, value)| {
                let value = match value {
                    Value::Null => None,
                    Value::String(text) => Some(template(name, text)?),
                    _ => return Err(BuildError::unexpected(name, "either a string or null")),
                };
                Ok(ResponseHeader {
                    name: name.clone(),
                    value,
                })
            })
            .collect::<Result<Vec<ResponseHeader>, BuildError>>()?,
    };
    Ok(RouteAction {
        kind,
        rewrite: optional_template(action, "rewrite")?,
        response_headers,
    })
}

/// Builds a `share` action from its `share` value and the action's other members.
fn build_share(paths: &Value, action: &Object) -> Result<Share, BuildError> {
    let paths = strings("share", paths)?
        .iter()
        .map(|path| template("share", path))
        .collect::<Result<Vec<Vec<TemplatePart>>, BuildError>>()?;
    Ok(Share {
        paths,
        index: optional_string(action, "index")?.unwrap_or_else(|| DEFAULT_SHARE_INDEX.to_owned()),
        types: action
            .get("types")
            .map(|types| strings("types", types))
            .transpose()?,
        fallback: optional_object(action, "fallback")?
            .map(build_action)
            .transpose()?
            .map(Box::new),
        chroot: optional_template(action, "chroot")?,
        follow_symlinks: flag(action, "follow_symlinks", DEFAULT_FOLLOW_SYMLINKS)?,
        traverse_mounts: flag(action, "traverse_mounts", DEFAULT_TRAVERSE_MOUNTS)?,
    })
}

/// Reads a `proxy` value: `http://` and a server address.
fn proxy_address(text: &str) -> Result<ServerAddress, BuildError> {
    let target = text
        .strip_prefix("http://")
        .ok_or_else(|| BuildError::unexpected("proxy", "an http:// address"))?;
    server_address("proxy", target)
}

/// Reads `IPv4:port`, `[IPv6]:port`, `unix:/path` or `unix:@name`.
fn server_address(name: &str, text: &str) -> Result<ServerAddress, BuildError> {
    let invalid = || BuildError::unexpected(name, "a server address");
    let Some(unix_address) = text.strip_prefix("unix:") else {
        return parse_socket_address(text)
            .map(ServerAddress::Inet)
            .ok_or_else(invalid);
    };
    match parse_unix_address(unix_address) {
        Some(ListenerAddress::Unix(path)) => Ok(ServerAddress::Unix(path)),
        Some(ListenerAddress::Abstract(name)) => Ok(ServerAddress::Abstract(name)),
        Some(ListenerAddress::Inet(_)) | None => Err(invalid()),
    }
}

// === Upstreams ===

fn build_upstreams(upstreams: &Object) -> Result<Vec<Upstream>, BuildError> {
    upstreams
        .iter()
        .map(|(name, upstream)| {
            let servers = optional_object(expect_object(name, upstream)?, "servers")?
                .ok_or(BuildError::Missing("servers"))?;
            let servers = servers
                .iter()
                .map(|(address, server)| {
                    let weight = match expect_object(address, server)?.get("weight") {
                        None => DEFAULT_SERVER_WEIGHT,
                        Some(weight) => weight
                            .as_f64()
                            .ok_or_else(|| BuildError::unexpected("weight", "a number"))?,
                    };
                    Ok(UpstreamServer {
                        address: server_address(address, address)?,
                        weight,
                    })
                })
                .collect::<Result<Vec<UpstreamServer>, BuildError>>()?;
            Ok(Upstream {
                name: name.clone(),
                servers,
            })
        })
        .collect()
}

// === Applications ===

fn build_applications(
    applications: &Object,
    modules: &Modules,
) -> Result<Vec<Application>, BuildError> {
    applications
        .iter()
        .map(|(name, raw)| build_application(name, raw, modules))
        .collect()
}

fn build_application(
    name: &str,
    raw: &Value,
    modules: &Modules,
) -> Result<Application, BuildError> {
    let application = expect_object(name, raw)?;
    let application_type = optional_str(application, "type")?.ok_or(BuildError::Missing("type"))?;
    let unavailable = || BuildError::unexpected("type", "an available module");
    let kind = if is_external_type(application_type) {
        ApplicationKind::External {
            executable: optional_path(application, "executable")?
                .ok_or(BuildError::Missing("executable"))?,
            arguments: match application.get("arguments") {
                None => Vec::new(),
                Some(arguments) => strings("arguments", arguments)?,
            },
        }
    } else {
        let module = modules.resolve(application_type).ok_or_else(unavailable)?;
        match module.module_type.as_str() {
            "python" => ApplicationKind::Python(build_python(application, module)?),
            _ => return Err(unavailable()),
        }
    };
    let processes = match application.get("processes") {
        None => Processes::default(),
        Some(Value::Object(processes)) => Processes::Dynamic {
            max: unsigned(processes, "max", DEFAULT_MAX_PROCESSES)?,
            spare: unsigned(processes, "spare", DEFAULT_SPARE_PROCESSES)?,
            idle_timeout: seconds(processes, "idle_timeout", DEFAULT_PROCESS_IDLE_TIMEOUT)?,
        },
        Some(count) => Processes::Fixed(
            non_negative(count)
                .and_then(|count| u32::try_from(count).ok())
                .ok_or_else(|| BuildError::unexpected("processes", "a process count"))?,
        ),
    };
    let limits = match optional_object(application, "limits")? {
        None => Limits::default(),
        Some(limits) => Limits {
            // Zero is Unit's way of saying "none" for both.
            timeout: optional_unsigned::<u64>(limits, "timeout")?
                .filter(|seconds| *seconds != 0)
                .map(Duration::from_secs),
            requests: optional_unsigned(limits, "requests")?.filter(|requests| *requests != 0),
            shm: unsigned(limits, "shm", Limits::default().shm)?,
        },
    };
    let environment = match optional_object(application, "environment")? {
        None => Vec::new(),
        Some(environment) => environment
            .iter()
            .map(|(variable, value)| {
                Ok((variable.clone(), expect_str(variable, value)?.to_owned()))
            })
            .collect::<Result<Vec<(String, String)>, BuildError>>()?,
    };
    Ok(Application {
        name: name.to_owned(),
        application_type: application_type.to_owned(),
        kind,
        processes,
        limits,
        user: optional_string(application, "user")?,
        group: optional_string(application, "group")?,
        working_directory: optional_path(application, "working_directory")?,
        environment,
        stdout: optional_path(application, "stdout")?,
        stderr: optional_path(application, "stderr")?,
        isolation: match application.get("isolation") {
            None => Isolation::default(),
            Some(isolation) => build_isolation(isolation)?,
        },
        raw: raw.clone(),
    })
}

/// The typed `isolation` of an application, from a value the validator accepted.
pub(super) fn build_isolation(value: &Value) -> Result<Isolation, BuildError> {
    let isolation = expect_object("isolation", value)?;
    let namespaces = match optional_object(isolation, "namespaces")? {
        None => Namespaces::default(),
        Some(namespaces) => Namespaces {
            credential: flag(namespaces, "credential", false)?,
            pid: flag(namespaces, "pid", false)?,
            network: flag(namespaces, "network", false)?,
            mount: flag(namespaces, "mount", false)?,
            uname: flag(namespaces, "uname", false)?,
            cgroup: flag(namespaces, "cgroup", false)?,
        },
    };
    let automount = match optional_object(isolation, "automount")? {
        None => Automount::default(),
        Some(automount) => {
            let default = Automount::default();
            Automount {
                language_deps: flag(automount, "language_deps", default.language_deps)?,
                tmpfs: flag(automount, "tmpfs", default.tmpfs)?,
                procfs: flag(automount, "procfs", default.procfs)?,
            }
        }
    };
    let cgroup = match optional_object(isolation, "cgroup")? {
        None => None,
        Some(cgroup) => Some(optional_string(cgroup, "path")?.ok_or(BuildError::Missing("path"))?),
    };
    Ok(Isolation {
        namespaces,
        uidmap: id_mappings(isolation, "uidmap")?,
        gidmap: id_mappings(isolation, "gidmap")?,
        rootfs: optional_string(isolation, "rootfs")?,
        automount,
        new_privs: flag(isolation, "new_privs", DEFAULT_NEW_PRIVS)?,
        cgroup,
    })
}

/// The entries of `uidmap` or `gidmap`, when present.
fn id_mappings(isolation: &Object, name: &str) -> Result<Vec<IdMapping>, BuildError> {
    let Some(entries) = isolation.get(name) else {
        return Ok(Vec::new());
    };
    let entries = entries
        .as_array()
        .ok_or_else(|| BuildError::unexpected(name, "an array"))?;
    entries
        .iter()
        .map(|entry| {
            let entry = expect_object(name, entry)?;
            let number = |member: &'static str| {
                entry
                    .get(member)
                    .ok_or(BuildError::Missing(member))
                    .and_then(|value| saturating_integer(member, value))
            };
            Ok(IdMapping {
                container: number("container")?,
                host: number("host")?,
                size: number("size")?,
            })
        })
        .collect()
}

fn build_python(application: &Object, module: &Module) -> Result<PythonApplication, BuildError> {
    let path = match application.get("path") {
        None => Vec::new(),
        Some(path) => strings("path", path)?
            .into_iter()
            .map(PathBuf::from)
            .collect(),
    };
    let protocol = match optional_str(application, "protocol")? {
        None => None,
        Some("wsgi") => Some(Protocol::Wsgi),
        Some("asgi") => Some(Protocol::Asgi),
        Some(_) => {
            return Err(BuildError::unexpected(
                "protocol",
                "either \"wsgi\" or \"asgi\"",
            ));
        }
    };
    let targets = match optional_object(application, "targets")? {
        None => Vec::new(),
        Some(targets) => targets
            .iter()
            .map(|(name, target)| {
                let target = expect_object(name, target)?;
                Ok(PythonTarget {
                    name: name.clone(),
                    module: optional_string(target, "module")?
                        .ok_or(BuildError::Missing("module"))?,
                    callable: optional_string(target, "callable")?,
                    factory: flag(target, "factory", DEFAULT_PYTHON_FACTORY)?,
                    prefix: optional_string(target, "prefix")?,
                })
            })
            .collect::<Result<Vec<PythonTarget>, BuildError>>()?,
    };
    Ok(PythonApplication {
        module_file: module.file.clone(),
        version: module.version.clone(),
        home: optional_path(application, "home")?,
        path,
        module: optional_string(application, "module")?,
        callable: optional_string(application, "callable")?,
        factory: flag(application, "factory", DEFAULT_PYTHON_FACTORY)?,
        prefix: optional_string(application, "prefix")?,
        protocol,
        targets,
        threads: unsigned(application, "threads", DEFAULT_PYTHON_THREADS)?,
        thread_stack_size: optional_unsigned(application, "thread_stack_size")?,
    })
}

// === Settings ===

fn build_settings(settings: &Object) -> Result<GlobalSettings, BuildError> {
    Ok(GlobalSettings {
        listen_threads: optional_unsigned(settings, "listen_threads")?,
        http: optional_object(settings, "http")?
            .map(build_http)
            .transpose()?
            .unwrap_or_default(),
    })
}

fn build_http(http: &Object) -> Result<HttpSettings, BuildError> {
    let defaults = HttpSettings::default();
    Ok(HttpSettings {
        header_read_timeout: seconds(http, "header_read_timeout", defaults.header_read_timeout)?,
        body_read_timeout: seconds(http, "body_read_timeout", defaults.body_read_timeout)?,
        send_timeout: seconds(http, "send_timeout", defaults.send_timeout)?,
        idle_timeout: seconds(http, "idle_timeout", defaults.idle_timeout)?,
        max_body_size: unsigned(http, "max_body_size", defaults.max_body_size)?,
        body_buffer_size: unsigned(http, "body_buffer_size", defaults.body_buffer_size)?,
        large_header_buffer_size: unsigned(
            http,
            "large_header_buffer_size",
            defaults.large_header_buffer_size,
        )?,
        large_header_buffers: unsigned(
            http,
            "large_header_buffers",
            defaults.large_header_buffers,
        )?,
        body_temp_path: optional_path(http, "body_temp_path")?,
        discard_unsafe_fields: flag(
            http,
            "discard_unsafe_fields",
            defaults.discard_unsafe_fields,
        )?,
        log_route: flag(http, "log_route", defaults.log_route)?,
        server_version: flag(http, "server_version", defaults.server_version)?,
        chunked_transform: flag(http, "chunked_transform", defaults.chunked_transform)?,
        websocket: optional_object(http, "websocket")?
            .map(build_websocket)
            .transpose()?
            .unwrap_or_default(),
        static_files: optional_object(http, "static")?
            .map(build_static)
            .transpose()?
            .unwrap_or_default(),
        compression: optional_object(http, "compression")?
            .map(build_compression)
            .transpose()?,
    })
}

fn build_websocket(websocket: &Object) -> Result<WebSocketSettings, BuildError> {
    let defaults = WebSocketSettings::default();
    Ok(WebSocketSettings {
        read_timeout: seconds(websocket, "read_timeout", defaults.read_timeout)?,
        keepalive_interval: seconds(websocket, "keepalive_interval", defaults.keepalive_interval)?,
        max_frame_size: unsigned(websocket, "max_frame_size", defaults.max_frame_size)?,
    })
}

fn build_static(static_files: &Object) -> Result<StaticSettings, BuildError> {
    let mime_types = match optional_object(static_files, "mime_types")? {
        None => Vec::new(),
        Some(mime_types) => mime_types
            .iter()
            .map(|(name, keys)| {
                Ok(MimeType {
                    name: name.clone(),
                    keys: strings(name, keys)?,
                })
            })
            .collect::<Result<Vec<MimeType>, BuildError>>()?,
    };
    Ok(StaticSettings { mime_types })
}

fn build_compression(compression: &Object) -> Result<Compression, BuildError> {
    let compressors: Vec<&Object> = match compression.get("compressors") {
        None => Vec::new(),
        Some(Value::Array(compressors)) => compressors
            .iter()
            .map(|compressor| expect_object("compressors", compressor))
            .collect::<Result<_, BuildError>>()?,
        Some(compressor) => vec![expect_object("compressors", compressor)?],
    };
    let compressors = compressors
        .into_iter()
        .map(|compressor| {
            Ok(Compressor {
                encoding: optional_string(compressor, "encoding")?
                    .ok_or(BuildError::Missing("encoding"))?,
                level: compressor
                    .get("level")
                    .map(|level| saturating_integer("level", level))
                    .transpose()?,
                min_length: optional_unsigned(compressor, "min_length")?,
            })
        })
        .collect::<Result<Vec<Compressor>, BuildError>>()?;
    Ok(Compression {
        types: compression
            .get("types")
            .map(|types| strings("types", types))
            .transpose()?
            .unwrap_or_default(),
        compressors,
    })
}

// === Access log ===

fn build_access_log(access_log: &Value) -> Result<AccessLog, BuildError> {
    let access_log = match access_log {
        Value::String(path) => AccessLog {
            path: PathBuf::from(path),
            format: LogFormat::default(),
            condition: None,
        },
        Value::Object(access_log) => {
            let format = match access_log.get("format") {
                None => LogFormat::default(),
                Some(Value::String(text)) => LogFormat::Text(template("format", text)?),
                Some(Value::Object(fields)) => LogFormat::Json(
                    fields
                        .iter()
                        .map(|(field, text)| {
                            Ok((field.clone(), template(field, expect_str(field, text)?)?))
                        })
                        .collect::<Result<_, BuildError>>()?,
                ),
                Some(_) => {
                    return Err(BuildError::unexpected(
                        "format",
                        "either a string or an object",
                    ));
                }
            };
            AccessLog {
                path: optional_path(access_log, "path")?.ok_or(BuildError::Missing("path"))?,
                format,
                condition: optional_str(access_log, "if")?
                    .map(|text| condition("if", text))
                    .transpose()?,
            }
        }
        _ => {
            return Err(BuildError::unexpected(
                "access_log",
                "either a string or an object",
            ));
        }
    };
    Ok(access_log)
}

// === Members ===

/// `value` as an object.
fn expect_object<'v>(name: &str, value: &'v Value) -> Result<&'v Object, BuildError> {
    value
        .as_object()
        .ok_or_else(|| BuildError::unexpected(name, "an object"))
}

/// `value` as a string.
fn expect_str<'v>(name: &str, value: &'v Value) -> Result<&'v str, BuildError> {
    value
        .as_str()
        .ok_or_else(|| BuildError::unexpected(name, "a string"))
}

/// The member `name` of `object` as an object, when present.
fn optional_object<'v>(object: &'v Object, name: &str) -> Result<Option<&'v Object>, BuildError> {
    object
        .get(name)
        .map(|value| expect_object(name, value))
        .transpose()
}

/// The member `name` of `object` as a string, when present.
fn optional_str<'v>(object: &'v Object, name: &str) -> Result<Option<&'v str>, BuildError> {
    object
        .get(name)
        .map(|value| expect_str(name, value))
        .transpose()
}

/// The member `name` of `object` as an owned string, when present.
fn optional_string(object: &Object, name: &str) -> Result<Option<String>, BuildError> {
    Ok(optional_str(object, name)?.map(str::to_owned))
}

/// The member `name` of `object` as a path, when present.
fn optional_path(object: &Object, name: &str) -> Result<Option<PathBuf>, BuildError> {
    Ok(optional_str(object, name)?.map(PathBuf::from))
}

/// The boolean member `name` of `object`, or `default`.
fn flag(object: &Object, name: &str, default: bool) -> Result<bool, BuildError> {
    object.get(name).map_or(Ok(default), |value| {
        value
            .as_bool()
            .ok_or_else(|| BuildError::unexpected(name, "a boolean"))
    })
}

/// The non-negative integer member `name` of `object` as a `T`, when present.
fn optional_unsigned<T: TryFrom<u64>>(
    object: &Object,
    name: &str,
) -> Result<Option<T>, BuildError> {
    object
        .get(name)
        .map(|value| {
            non_negative(value)
                .and_then(|number| T::try_from(number).ok())
                .ok_or_else(|| BuildError::unexpected(name, "an integer in range"))
        })
        .transpose()
}

/// The non-negative integer member `name` of `object` as a `T`, or `default`.
fn unsigned<T: TryFrom<u64>>(object: &Object, name: &str, default: T) -> Result<T, BuildError> {
    Ok(optional_unsigned(object, name)?.unwrap_or(default))
}

/// The member `name` of `object`, a number of seconds, or `default`.
fn seconds(object: &Object, name: &str, default: Duration) -> Result<Duration, BuildError> {
    Ok(optional_unsigned(object, name)?.map_or(default, Duration::from_secs))
}

/// A non-negative integer as the validator reads one: `-0` is 0, which `as_u64` (reading
/// the spelling) would refuse.
fn non_negative(value: &Value) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| value.as_i64().and_then(|number| u64::try_from(number).ok()))
}

/// An integer held as an `i64`; one beyond its range becomes the nearest end, as the
/// validator's range checks read it.
fn saturating_integer(name: &str, value: &Value) -> Result<i64, BuildError> {
    if let Some(number) = value.as_i64() {
        return Ok(number);
    }
    match value {
        Value::Number(number) if number.to_string().starts_with('-') => Ok(i64::MIN),
        Value::Number(_) => Ok(i64::MAX),
        _ => Err(BuildError::unexpected(name, "an integer")),
    }
}

/// The strings of a value that is one string or an array of strings.
fn strings(name: &str, value: &Value) -> Result<Vec<String>, BuildError> {
    let owned = |value: &Value| expect_str(name, value).map(str::to_owned);
    match value {
        Value::Array(values) => values.iter().map(owned).collect(),
        single => Ok(vec![owned(single)?]),
    }
}

/// Parses the template `text` of the member `name`.
fn template(name: &str, text: &str) -> Result<Vec<TemplatePart>, BuildError> {
    parse_template(text).map_err(|error| BuildError::Template {
        member: name.to_owned(),
        error,
    })
}

/// The member `name` of `object` as a template, when present.
fn optional_template(object: &Object, name: &str) -> Result<Option<Vec<TemplatePart>>, BuildError> {
    optional_str(object, name)?
        .map(|text| template(name, text))
        .transpose()
}
