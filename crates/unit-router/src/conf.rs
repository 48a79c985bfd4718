//! A configuration compiled for serving: listeners with their passes, routes,
//! upstreams, HTTP settings, the access log format and MIME types. Built on the router's
//! main thread, then shared read-only (`Arc`) by every worker; a new configuration is a
//! new `ActiveConf`, and requests in flight keep the one they started with.

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use unit_conf::VERSION;
use unit_engine::HashMap;
use unit_http::HeaderBuffers;

use crate::access_log::AccessLog;
use crate::routes::{PassTarget, Routes, Upstreams, parse_pass};
use crate::share::MimeTypes;
use crate::template::Template;

/// Unit's `header_buffer_size`: the buffer every request head starts in, before the
/// `large_header_buffers`.
const FIRST_HEADER_BUFFER: usize = 2048;

/// HTTP settings (`settings.http`, UNIT-COMPAT 3.7), with Unit's defaults.
#[derive(Debug, Clone)]
pub(crate) struct HttpSettings {
    pub(crate) header_read_timeout: Duration,
    pub(crate) body_read_timeout: Duration,
    pub(crate) send_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_body_size: u64,
    pub(crate) large_header_buffer_size: usize,
    pub(crate) large_header_buffers: usize,
    pub(crate) discard_unsafe_fields: bool,
    pub(crate) log_route: bool,
    /// The `Server` header value.
    pub(crate) server: Arc<str>,
}

impl HttpSettings {
    fn from_conf(http: Option<&Value>) -> HttpSettings {
        let seconds = |name: &str, default: u64| {
            Duration::from_secs(
                http.and_then(|h| h.get(name))
                    .and_then(Value::as_u64)
                    .unwrap_or(default),
            )
        };
        let number = |name: &str, default: u64| {
            http.and_then(|h| h.get(name))
                .and_then(Value::as_u64)
                .unwrap_or(default)
        };
        let flag = |name: &str, default: bool| {
            http.and_then(|h| h.get(name))
                .and_then(Value::as_bool)
                .unwrap_or(default)
        };
        HttpSettings {
            header_read_timeout: seconds("header_read_timeout", 30),
            body_read_timeout: seconds("body_read_timeout", 30),
            send_timeout: seconds("send_timeout", 30),
            idle_timeout: seconds("idle_timeout", 180),
            max_body_size: number("max_body_size", 8 * 1024 * 1024),
            large_header_buffer_size: number("large_header_buffer_size", 8192) as usize,
            large_header_buffers: number("large_header_buffers", 4) as usize,
            discard_unsafe_fields: flag("discard_unsafe_fields", true),
            log_route: flag("log_route", false),
            server: if flag("server_version", true) {
                Arc::from(format!("Unit/{VERSION}"))
            } else {
                Arc::from("Unit")
            },
        }
    }

    /// The buffers a request head must fit in.
    pub(crate) fn header_buffers(&self) -> HeaderBuffers {
        HeaderBuffers {
            first_size: FIRST_HEADER_BUFFER,
            large_size: self.large_header_buffer_size,
            n_large: self.large_header_buffers,
        }
    }
}

/// Where a listener takes the client address and scheme from (`forwarded`, or the older
/// `client_ip`).
#[derive(Debug)]
pub(crate) struct Forwarded {
    pub(crate) client_ip: Option<String>,
    pub(crate) protocol: Option<String>,
    pub(crate) source: Vec<unit_conf::AddressPattern>,
    pub(crate) recursive: bool,
}

/// One configured listener.
#[derive(Debug)]
pub(crate) struct ActiveListener {
    /// The key as configured (`127.0.0.1:8080`), which names the socket too.
    pub(crate) address: String,
    pub(crate) pass: Template,
    /// The pass target, worked out once when `pass` has no variables.
    pub(crate) static_pass: Option<PassTarget>,
    pub(crate) forwarded: Option<Forwarded>,
    pub(crate) socket: Arc<OwnedFd>,
}

/// A configuration ready to serve.
#[derive(Debug)]
pub(crate) struct ActiveConf {
    pub(crate) listeners: Vec<ActiveListener>,
    pub(crate) routes: Routes,
    pub(crate) upstreams: Upstreams,
    pub(crate) http: HttpSettings,
    pub(crate) access_log: Option<Arc<AccessLog>>,
    pub(crate) mime: MimeTypes,
}

impl ActiveConf {
    pub(crate) fn listener(&self, address: &str) -> Option<&ActiveListener> {
        self.listeners
            .iter()
            .find(|listener| listener.address == address)
    }
}

/// The parts of a configuration that need no socket: compiled before main is asked for
/// the sockets of new listeners.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) listeners: Vec<(String, Template, Option<Forwarded>, i32)>,
    pub(crate) routes: Routes,
    pub(crate) upstreams: Upstreams,
    pub(crate) http: HttpSettings,
    pub(crate) access_log: Option<(String, crate::access_log::LogFormat)>,
    pub(crate) mime: MimeTypes,
    pub(crate) listen_threads: Option<usize>,
}

impl Compiled {
    /// Compiles a validated configuration.
    pub(crate) fn compile(conf: &Value) -> Result<Compiled, String> {
        let settings = conf.get("settings");
        let http = settings.and_then(|settings| settings.get("http"));
        let mut listeners = Vec::new();
        if let Some(members) = conf.get("listeners").and_then(Value::as_object) {
            for (address, listener) in members {
                let pass = match (listener.get("pass"), listener.get("application")) {
                    (Some(Value::String(pass)), _) => pass.clone(),
                    (None, Some(Value::String(app))) => format!("applications/{app}"),
                    _ => return Err(format!("listener \"{address}\" has nothing to pass to")),
                };
                let pass = Template::parse(&pass)?;
                let forwarded = compile_forwarded(listener)?;
                let backlog = listener
                    .get("backlog")
                    .and_then(Value::as_i64)
                    .unwrap_or(-1) as i32;
                listeners.push((address.clone(), pass, forwarded, backlog));
            }
        }
        let access_log = match conf.get("access_log") {
            None => None,
            Some(Value::String(path)) => Some((
                path.clone(),
                crate::access_log::LogFormat::default_format()?,
            )),
            Some(Value::Object(members)) => {
                let path = members
                    .get("path")
                    .and_then(Value::as_str)
                    .ok_or("access_log has no path")?;
                Some((
                    path.to_owned(),
                    crate::access_log::LogFormat::compile(
                        members.get("format"),
                        members.get("if"),
                    )?,
                ))
            }
            Some(_) => return Err("access_log must be a string or an object".to_owned()),
        };
        Ok(Compiled {
            listeners,
            routes: Routes::compile(conf.get("routes"))?,
            upstreams: Upstreams::compile(conf.get("upstreams"))?,
            http: HttpSettings::from_conf(http),
            access_log,
            mime: MimeTypes::new(
                http.and_then(|http| http.get("static"))
                    .and_then(|s| s.get("mime_types")),
            ),
            listen_threads: settings
                .and_then(|settings| settings.get("listen_threads"))
                .and_then(Value::as_u64)
                .map(|threads| threads as usize),
        })
    }

    /// Puts the sockets in, making the configuration servable.
    pub(crate) fn activate(
        self,
        sockets: &HashMap<String, Arc<OwnedFd>>,
        access_log: Option<Arc<AccessLog>>,
    ) -> Result<ActiveConf, String> {
        let mut listeners = Vec::with_capacity(self.listeners.len());
        for (address, pass, forwarded, _) in self.listeners {
            let socket = sockets
                .get(&address)
                .cloned()
                .ok_or_else(|| format!("no socket for \"{address}\""))?;
            let static_pass = pass.as_static().and_then(parse_pass);
            listeners.push(ActiveListener {
                address,
                pass,
                static_pass,
                forwarded,
                socket,
            });
        }
        Ok(ActiveConf {
            listeners,
            routes: self.routes,
            upstreams: self.upstreams,
            http: self.http,
            access_log,
            mime: self.mime,
        })
    }
}

fn compile_forwarded(listener: &Value) -> Result<Option<Forwarded>, String> {
    let (object, header_key) = match (listener.get("forwarded"), listener.get("client_ip")) {
        (Some(forwarded), _) => (forwarded, "client_ip"),
        (None, Some(client_ip)) => (client_ip, "header"),
        (None, None) => return Ok(None),
    };
    let source = match object.get("source") {
        Some(Value::String(pattern)) => vec![pattern.clone()],
        Some(Value::Array(patterns)) => patterns
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    let source = source
        .iter()
        .map(|pattern| unit_conf::parse_address_pattern(pattern).map_err(|error| error.detail))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Forwarded {
        client_ip: object
            .get(header_key)
            .and_then(Value::as_str)
            .map(str::to_owned),
        protocol: object
            .get("protocol")
            .and_then(Value::as_str)
            .map(str::to_owned),
        source,
        recursive: object
            .get("recursive")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    }))
}
