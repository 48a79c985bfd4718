//! A configuration compiled for serving: listeners with their passes, routes,
//! upstreams, HTTP settings, the access log format and MIME types. Built on the router's
//! main thread, then shared read-only (`Arc`) by every worker; a new configuration is a
//! new `ActiveConf`, and requests in flight keep the one they started with.
//!
//! It is compiled from unit-conf's typed [`Conf`], never from JSON: validation and every
//! default are unit-conf's. What is left to fail here is what only serving needs (a
//! regular expression built with its condition's case folding, a listener with nothing
//! to pass to, a socket main did not hand over), reported as a [`CompileError`].

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use unit_conf::{Application, Conf, ListenerTls, VERSION};
use unit_engine::HashMap;
use unit_http::HeaderBuffers;

use crate::access_log::{AccessLog, LogFormat};
use crate::applications::AppPool;
use crate::error::CompileError;
use crate::routes::{PassTarget, Routes, Upstreams, parse_pass};
use crate::share::MimeTypes;
use crate::template::Template;

/// Where a listener takes the client address and scheme from (`forwarded`, or the older
/// `client_ip`), as unit-conf's model has it.
pub(crate) use unit_conf::Forwarded;

/// Unit's `header_buffer_size`: the buffer every request head starts in, before the
/// `large_header_buffers`.
const FIRST_HEADER_BUFFER: usize = 2048;

/// The HTTP settings the serving code reads (`settings.http`, UNIT-COMPAT 3.7), taken
/// from unit-conf's model, which has filled in Unit's defaults.
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
    /// Applications take a chunked body once it is whole (otherwise 411).
    pub(crate) chunked_transform: bool,
    /// What a language runner enforces on an upgraded connection.
    pub(crate) websocket: unit_http::WebSocketLimits,
    /// The `Server` header value.
    pub(crate) server: Arc<str>,
}

/// A duration in whole milliseconds, saturating.
fn millis(duration: Duration) -> u32 {
    u32::try_from(duration.as_millis()).unwrap_or(u32::MAX)
}

impl HttpSettings {
    pub(crate) fn new(http: &unit_conf::HttpSettings) -> HttpSettings {
        HttpSettings {
            header_read_timeout: http.header_read_timeout,
            body_read_timeout: http.body_read_timeout,
            send_timeout: http.send_timeout,
            idle_timeout: http.idle_timeout,
            max_body_size: http.max_body_size,
            large_header_buffer_size: http.large_header_buffer_size,
            large_header_buffers: http.large_header_buffers,
            discard_unsafe_fields: http.discard_unsafe_fields,
            log_route: http.log_route,
            chunked_transform: http.chunked_transform,
            websocket: unit_http::WebSocketLimits {
                max_frame_size: http.websocket.max_frame_size as u64,
                read_timeout_ms: millis(http.websocket.read_timeout),
                keepalive_interval_ms: millis(http.websocket.keepalive_interval),
            },
            server: if http.server_version {
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
    /// The TLS configuration of a `tls` listener.
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
}

/// A configuration ready to serve.
#[derive(Debug)]
pub(crate) struct ActiveConf {
    pub(crate) listeners: Vec<ActiveListener>,
    /// The pools of the configured applications, by name; an application kept from one
    /// configuration to the next keeps its pool, and so its processes.
    pub(crate) applications: HashMap<String, Arc<AppPool>>,
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

/// A listener compiled, before main has handed over its socket.
#[derive(Debug)]
pub(crate) struct CompiledListener {
    /// The key as configured, which names the socket.
    pub(crate) address: String,
    pub(crate) pass: Template,
    pub(crate) forwarded: Option<Forwarded>,
    /// The `listen(2)` backlog main binds with; `None` for the system default.
    pub(crate) backlog: Option<u32>,
    /// `tls`, whose certificates main hands over before it can serve.
    pub(crate) tls: Option<ListenerTls>,
}

/// The parts of a configuration that need no socket: compiled before main is asked for
/// the sockets of new listeners.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) listeners: Vec<CompiledListener>,
    /// The applications as configured.
    pub(crate) applications: Vec<Application>,
    pub(crate) routes: Routes,
    pub(crate) upstreams: Upstreams,
    pub(crate) http: HttpSettings,
    /// The access log's path and format; main opens the file.
    pub(crate) access_log: Option<(String, LogFormat)>,
    pub(crate) mime: MimeTypes,
    pub(crate) listen_threads: Option<usize>,
}

impl Compiled {
    /// Compiles a configuration unit-conf has parsed.
    pub(crate) fn compile(conf: &Conf) -> Result<Compiled, CompileError> {
        let listeners = conf
            .listeners
            .iter()
            .map(|listener| {
                let pass = listener
                    .pass
                    .as_deref()
                    .ok_or_else(|| CompileError::NoPass {
                        address: listener.address.clone(),
                    })?;
                Ok(CompiledListener {
                    address: listener.address.clone(),
                    pass: Template::new(pass),
                    forwarded: listener.forwarded.clone(),
                    backlog: listener.backlog,
                    tls: listener.tls.clone(),
                })
            })
            .collect::<Result<Vec<CompiledListener>, CompileError>>()?;
        let http = &conf.settings.http;
        Ok(Compiled {
            listeners,
            applications: conf.applications.clone(),
            routes: Routes::compile(conf.routes.as_ref())?,
            upstreams: Upstreams::compile(&conf.upstreams),
            http: HttpSettings::new(http),
            access_log: conf.access_log.as_ref().map(|access_log| {
                (
                    // The path came from a JSON string, so it is UTF-8 and nothing is lost.
                    access_log.path.to_string_lossy().into_owned(),
                    LogFormat::compile(access_log),
                )
            }),
            mime: MimeTypes::new(&http.static_files.mime_types),
            listen_threads: conf.settings.listen_threads,
        })
    }

    /// Puts the sockets (and the TLS configurations of `tls` listeners, by address)
    /// in, making the configuration servable.
    pub(crate) fn activate(
        self,
        sockets: &HashMap<String, Arc<OwnedFd>>,
        tls: &HashMap<String, Arc<rustls::ServerConfig>>,
        access_log: Option<Arc<AccessLog>>,
        applications: HashMap<String, Arc<AppPool>>,
    ) -> Result<ActiveConf, CompileError> {
        let mut listeners = Vec::with_capacity(self.listeners.len());
        for listener in self.listeners {
            let socket =
                sockets
                    .get(&listener.address)
                    .cloned()
                    .ok_or_else(|| CompileError::NoSocket {
                        address: listener.address.clone(),
                    })?;
            let static_pass = listener.pass.as_static().and_then(parse_pass);
            let tls = match listener.tls {
                None => None,
                Some(_) => Some(tls.get(&listener.address).cloned().ok_or_else(|| {
                    CompileError::NoTls {
                        address: listener.address.clone(),
                    }
                })?),
            };
            listeners.push(ActiveListener {
                address: listener.address,
                pass: listener.pass,
                static_pass,
                forwarded: listener.forwarded,
                socket,
                tls,
            });
        }
        Ok(ActiveConf {
            listeners,
            applications,
            routes: self.routes,
            upstreams: self.upstreams,
            http: self.http,
            access_log,
            mime: self.mime,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests;
