//! The typed model of a configuration: what a valid configuration says, with Unit's
//! defaults filled in (UNIT-COMPAT section 3).
//!
//! [`parse_config`] is the one way in: it runs the validator, so a configuration it
//! rejects gets Unit's message, and then builds a [`Conf`] from the value it now knows
//! to be valid (in `build`). Every default lives here, in the `Default` impls and
//! constants of this module, so the router and the controller never pick their own.
//! Absent members are either their default or `None`; there are no `-1` or `0`
//! sentinels: a `backlog` of `-1`, a `limits.timeout` of 0 and a `limits.requests` of 0
//! all become `None`.
//!
//! Values are kept as the configuration wrote them wherever meaning depends on where
//! they are used: match patterns stay strings (the router compiles them, decoding
//! percent escapes as each condition requires), templates are parsed into
//! [`TemplatePart`]s, and address patterns are parsed into [`AddressPattern`]s.
//!
//! An application's `type` is resolved against the [`Modules`](crate::Modules) main discovered when the
//! configuration is parsed, so a Python application carries the runner that runs it.
//!
//! An application's `isolation` is modelled too ([`Isolation`]), and main, which starts
//! the processes, reads it again from the object the router sends it
//! ([`parse_isolation`]), checking it as the controller did.
//!
//! What it deliberately does not model: members this build reports as missing features
//! (`js_module`, `telemetry`). Each [`Application`] also keeps its raw JSON, which is
//! what a language runner is given.

mod build;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::available::Available;
use crate::tls::TlsCommands;
use crate::validate::{
    AddressPattern, ListenerAddress, TemplateError, TemplatePart, ValidationError, Variable,
    check_config, validate_isolation,
};

/// The index file name a `share` appends to paths ending in `/` unless `index` says
/// otherwise.
pub const DEFAULT_SHARE_INDEX: &str = "index.html";

/// Unit's access log format, used when `access_log` has no `format`.
pub const DEFAULT_ACCESS_LOG_FORMAT: &str = r#"$remote_addr - - [$time_local] "$request_line" $status $body_bytes_sent "$header_referer" "$header_user_agent""#;

/// The shared memory limit of an application's process when `limits.shm` is absent.
const DEFAULT_SHM_LIMIT: u64 = 100 * 1024 * 1024;

/// `share.follow_symlinks` when absent.
const DEFAULT_FOLLOW_SYMLINKS: bool = true;

/// `share.traverse_mounts` when absent.
const DEFAULT_TRAVERSE_MOUNTS: bool = true;

/// `forwarded.recursive` (and `client_ip.recursive`) when absent.
const DEFAULT_RECURSIVE: bool = false;

/// `isolation.new_privs` when absent.
const DEFAULT_NEW_PRIVS: bool = true;

/// An upstream server's `weight` when absent.
const DEFAULT_SERVER_WEIGHT: f64 = 1.0;

/// `processes.max` when the object form leaves it out.
const DEFAULT_MAX_PROCESSES: u32 = 1;

/// `processes.spare` when the object form leaves it out.
const DEFAULT_SPARE_PROCESSES: u32 = 0;

/// How long a process started on demand may stay idle when `processes.idle_timeout` is
/// absent.
const DEFAULT_PROCESS_IDLE_TIMEOUT: Duration = Duration::from_secs(15);

/// A Python application's `threads` when absent.
const DEFAULT_PYTHON_THREADS: u32 = 1;

/// A Python entry point's `factory` when absent.
const DEFAULT_PYTHON_FACTORY: bool = false;

/// `tls.session.cache_size` when absent: no session cache.
const DEFAULT_TLS_CACHE_SIZE: usize = 0;

/// `tls.session.timeout` when absent, as Unit's (OpenSSL's default).
const DEFAULT_TLS_SESSION_TIMEOUT: Duration = Duration::from_secs(300);

/// Validates a complete configuration (the root object) and builds its typed model;
/// applications' types are resolved against the modules of `available`, and
/// certificates' names checked against its store.
///
/// `Err` carries the first problem as Unit words it, exactly as [`validate_config`]
/// reports it.
pub fn parse_config(conf: &Value, available: &Available<'_>) -> Result<Conf, ValidationError> {
    check_config(conf, available)?;
    build::build_conf(conf, available.modules)
        .map_err(|build_error| ValidationError::new(build_error.to_string()))
}

/// Validates a complete configuration (the root object).
///
/// `Err` carries the first problem as Unit words it, e.g. `Unknown parameter "foo".`
/// References between sections (a `pass` naming an application, a route or an upstream)
/// are resolved against `conf` itself, so the order of the root members does not matter
/// for them; an application's `type` must be `external` or match one of the modules,
/// and a listener's certificates must be in the store (where `available` knows it).
/// This is [`parse_config`](crate::parse_config) without its result: what one accepts,
/// the other builds.
pub fn validate_config(conf: &Value, available: &Available<'_>) -> Result<(), ValidationError> {
    parse_config(conf, available).map(drop)
}

/// Why the model cannot be built from a configuration the validator accepted. Each
/// variant means the validator and the model disagree about a member, a bug in this
/// crate; it is reported rather than panicking so a bad configuration never brings a
/// process down.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BuildError {
    /// A member has a shape or value the validator should have refused.
    #[error("The \"{member}\" value is not {expected}, although it was validated.")]
    Unexpected {
        /// The member's name.
        member: String,
        /// What the model needs, as a message words it: `a string`.
        expected: &'static str,
    },
    /// A member the validator requires is absent.
    #[error("Required parameter \"{0}\" is missing.")]
    Missing(&'static str),
    /// A template the validator accepted does not parse.
    #[error("{error} in the \"{member}\" value.")]
    Template {
        /// The member's name.
        member: String,
        /// Why it does not parse.
        error: TemplateError,
    },
    /// An address pattern the validator accepted does not parse.
    #[error(transparent)]
    AddressPattern(ValidationError),
}

impl BuildError {
    /// A member that is not `expected`.
    pub(crate) fn unexpected(member: &str, expected: &'static str) -> BuildError {
        BuildError::Unexpected {
            member: member.to_owned(),
            expected,
        }
    }
}

// === impl Conf ===

/// A whole configuration. Collections keep the order of the configuration.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Conf {
    /// `listeners`, by address.
    pub listeners: Vec<Listener>,
    /// `routes`; `None` when the configuration has none (so neither `routes` nor
    /// `routes/<name>` can be passed to).
    pub routes: Option<Routes>,
    /// `upstreams`.
    pub upstreams: Vec<Upstream>,
    /// `applications`.
    pub applications: Vec<Application>,
    /// `settings`, with defaults when absent.
    pub settings: GlobalSettings,
    /// `access_log`; `None` when requests are not logged.
    pub access_log: Option<AccessLog>,
}

// === Listeners ===

/// One member of `listeners` (UNIT-COMPAT 3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// The key as configured (`127.0.0.1:8080`, `*:80`, `unix:/run/app.sock`), which
    /// also names the listen socket.
    pub address: String,
    /// The key decoded.
    pub socket_address: ListenerAddress,
    /// Where requests go: `pass`, or the legacy `application` as the literal text
    /// `applications/<name>`. `None` when the listener has neither, which the
    /// validator allows but nothing can serve.
    pub pass: Option<Vec<TemplatePart>>,
    /// Where the client address and scheme come from: `forwarded`, or the older
    /// `client_ip` form when `forwarded` is absent.
    pub forwarded: Option<Forwarded>,
    /// The `listen(2)` backlog; `None` for the system default (absent, or `-1`).
    pub backlog: Option<u32>,
    /// `tls`: the listener speaks TLS.
    pub tls: Option<ListenerTls>,
}

/// A listener's `tls` object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerTls {
    /// `certificate`: the bundles' names in order (one name is a list of one); the
    /// first serves a client whose server name matches none (SNI).
    pub certificates: Vec<String>,
    /// `conf_commands`, read.
    pub commands: TlsCommands,
    /// `session`.
    pub session: TlsSession,
}

/// A listener's `tls.session` object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSession {
    /// `cache_size`: how many sessions the server keeps for resumption by id; 0 for none.
    pub cache_size: usize,
    /// `timeout`: how long a session can be resumed, by id or by ticket.
    pub timeout: Duration,
    /// `tickets`.
    pub tickets: SessionTickets,
}

impl Default for TlsSession {
    fn default() -> TlsSession {
        TlsSession {
            cache_size: DEFAULT_TLS_CACHE_SIZE,
            timeout: DEFAULT_TLS_SESSION_TIMEOUT,
            tickets: SessionTickets::Off,
        }
    }
}

/// How session tickets are issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionTickets {
    /// `false` or absent (or an empty array): no tickets.
    Off,
    /// `true`: tickets under keys of the server's own.
    On,
    /// One key or several, decoded (48 or 80 bytes each), in the order configured: the
    /// last one issues tickets and every one is tried to resume.
    Keys(Vec<Vec<u8>>),
}

/// A listener's `forwarded` object, or its older `client_ip` form (whose `header` is
/// [`client_ip`](Self::client_ip) here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarded {
    /// The header carrying the client address.
    pub client_ip: Option<String>,
    /// The header carrying the scheme (`forwarded` only).
    pub protocol: Option<String>,
    /// The peers whose headers are trusted.
    pub source: Vec<AddressPattern>,
    /// Whether the client address header is read right to left past trusted addresses.
    pub recursive: bool,
}

// === Routes ===

/// The root `routes` value (UNIT-COMPAT 3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routes {
    /// An array of steps, passed to as `routes`.
    Steps(Vec<Step>),
    /// An object of named step arrays, passed to as `routes/<name>`.
    Named(Vec<Route>),
}

/// One named route of an object-valued `routes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The member name.
    pub name: String,
    /// The steps in order.
    pub steps: Vec<Step>,
}

/// One step of a route: conditions and the action taken when they all hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The members of `match` in configuration order; empty when the step has no
    /// `match`, so it always matches.
    pub conditions: Vec<MatchCondition>,
    /// The step's `action`.
    pub action: RouteAction,
}

/// One member of a step's `match` object. Patterns are the strings as written (a
/// string becomes a one-element array): `!` for negation, `~` for a regular
/// expression, `*` wildcards, and percent escapes where the condition allows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchCondition {
    /// `host`.
    Host(Vec<String>),
    /// `uri` (percent-encoded).
    Uri(Vec<String>),
    /// `method`.
    Method(Vec<String>),
    /// `headers`: alternatives (an array of objects), each a list of fields that must
    /// all match (one object's members).
    Headers(Vec<Vec<FieldPatterns>>),
    /// `arguments` (percent-encoded names and patterns), alternatives as for `headers`.
    Arguments(Vec<Vec<FieldPatterns>>),
    /// `cookies`, alternatives as for `headers`.
    Cookies(Vec<Vec<FieldPatterns>>),
    /// `query` (percent-encoded).
    Query(Vec<String>),
    /// `scheme`.
    Scheme(Scheme),
    /// `source`: the client address.
    Source(Vec<AddressPattern>),
    /// `destination`: the listener's address.
    Destination(Vec<AddressPattern>),
    /// `if`.
    If(Condition),
}

/// One member of a `headers`, `arguments` or `cookies` object: a name and its patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPatterns {
    /// The header, argument or cookie name as written.
    pub name: String,
    /// The patterns its values must satisfy.
    pub patterns: Vec<String>,
}

/// The value of a `scheme` condition (written in any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `http`: the connection is not TLS.
    Http,
    /// `https`: the connection is TLS.
    Https,
}

/// An `if` value: a template whose expansion decides, optionally negated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// Whether the value began with `!`.
    pub negated: bool,
    /// The template after the `!`.
    pub template: Vec<TemplatePart>,
}

// === Actions ===

/// A step's `action`, or a share's `fallback` (UNIT-COMPAT 3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteAction {
    /// Which of `pass`, `return`, `share` or `proxy` it is, with that kind's members.
    pub kind: ActionKind,
    /// `rewrite`: the new request path, applied before the action runs.
    pub rewrite: Option<Vec<TemplatePart>>,
    /// `response_headers`, in configuration order.
    pub response_headers: Vec<ResponseHeader>,
}

/// The four kinds of action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionKind {
    /// `pass`: a template that expands to `routes...`, `upstreams/...` or
    /// `applications/...`.
    Pass(Vec<TemplatePart>),
    /// `return`: answer with a status and, optionally, a `Location`.
    Return {
        /// The status, 0 to 999.
        status: u16,
        /// `location`.
        location: Option<Vec<TemplatePart>>,
    },
    /// `share`: serve static files.
    Share(Share),
    /// `proxy`: forward the request to an HTTP server.
    Proxy(ServerAddress),
}

/// A `share` action's members, with their defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    /// The paths to try, in order (a string becomes one path).
    pub paths: Vec<Vec<TemplatePart>>,
    /// `index`; [`DEFAULT_SHARE_INDEX`] when absent.
    pub index: String,
    /// `types`: patterns over the file's MIME type; `None` when absent.
    pub types: Option<Vec<String>>,
    /// `fallback`: the action taken when no path serves the request.
    pub fallback: Option<Box<RouteAction>>,
    /// `chroot`: the directory the paths may not leave.
    pub chroot: Option<Vec<TemplatePart>>,
    /// `follow_symlinks`; true when absent.
    pub follow_symlinks: bool,
    /// `traverse_mounts`; true when absent.
    pub traverse_mounts: bool,
}

/// One member of `response_headers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHeader {
    /// The field name as written.
    pub name: String,
    /// The value to set, or `None` (`null`) to remove the field.
    pub value: Option<Vec<TemplatePart>>,
}

/// Where a `proxy` action or an upstream server connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerAddress {
    /// `IPv4:port` or `[IPv6]:port`.
    Inet(SocketAddr),
    /// `unix:/absolute/path`.
    Unix(PathBuf),
    /// `unix:@name`: a Linux abstract socket; the name excludes the `@`.
    Abstract(String),
}

// === Upstreams ===

/// One member of `upstreams` (UNIT-COMPAT 3.5).
#[derive(Debug, Clone, PartialEq)]
pub struct Upstream {
    /// The member name, passed to as `upstreams/<name>`.
    pub name: String,
    /// The servers in configuration order.
    pub servers: Vec<UpstreamServer>,
}

/// One member of an upstream's `servers`.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamServer {
    /// The key decoded.
    pub address: ServerAddress,
    /// `weight`, 0 to 1,000,000 and possibly fractional; 1 when absent.
    pub weight: f64,
}

// === Applications ===

/// One member of `applications` (UNIT-COMPAT 3.6): the members every type shares and
/// those of its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    /// The member name, passed to as `applications/<name>`.
    pub name: String,
    /// `type` as written, e.g. `external`, `go 1.21` or `python 3.11`.
    pub application_type: String,
    /// The members of its type.
    pub kind: ApplicationKind,
    /// `processes`; one fixed process when absent.
    pub processes: Processes,
    /// `limits`.
    pub limits: Limits,
    /// `user`; `None` for unitd's `--user`.
    pub user: Option<String>,
    /// `group`; `None` for unitd's `--group`.
    pub group: Option<String>,
    /// `working_directory`.
    pub working_directory: Option<PathBuf>,
    /// `environment`, in configuration order.
    pub environment: Vec<(String, String)>,
    /// `stdout`.
    pub stdout: Option<PathBuf>,
    /// `stderr`.
    pub stderr: Option<PathBuf>,
    /// `isolation`; none at all when absent.
    pub isolation: Isolation,
    /// The application's object as configured: what a language runner is given.
    pub raw: Value,
}

/// An application's `isolation`: the namespaces, root directory, cgroup and privileges
/// its processes are started with (UNIT-COMPAT 3.6). The default isolates nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Isolation {
    /// `namespaces`: which ones each process gets of its own.
    pub namespaces: Namespaces,
    /// `uidmap`, in configuration order; empty when absent.
    pub uidmap: Vec<IdMapping>,
    /// `gidmap`, in configuration order; empty when absent.
    pub gidmap: Vec<IdMapping>,
    /// `rootfs` as written: main checks it is an absolute path other than `/` when it
    /// starts a process, as Unit does.
    pub rootfs: Option<String>,
    /// `automount`: what is mounted inside `rootfs`.
    pub automount: Automount,
    /// `new_privs`; true when absent. False sets `PR_SET_NO_NEW_PRIVS`.
    pub new_privs: bool,
    /// `cgroup.path`: a cgroup v2 path, relative to main's own cgroup or, starting with
    /// `/`, to the cgroup root.
    pub cgroup: Option<String>,
}

impl Default for Isolation {
    /// No isolation, as when `isolation` is absent.
    fn default() -> Isolation {
        Isolation {
            namespaces: Namespaces::default(),
            uidmap: Vec::new(),
            gidmap: Vec::new(),
            rootfs: None,
            automount: Automount::default(),
            new_privs: DEFAULT_NEW_PRIVS,
            cgroup: None,
        }
    }
}

/// `isolation.namespaces`: each true member gives a process a namespace of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Namespaces {
    /// `credential`: a user namespace.
    pub credential: bool,
    /// `pid`.
    pub pid: bool,
    /// `network`.
    pub network: bool,
    /// `mount`.
    pub mount: bool,
    /// `uname`: a UTS namespace.
    pub uname: bool,
    /// `cgroup`.
    pub cgroup: bool,
}

/// One entry of `uidmap` or `gidmap`: `size` ids from `container` inside the user
/// namespace are `host` and up outside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMapping {
    /// `container`: the first id inside.
    pub container: i64,
    /// `host`: the first id outside.
    pub host: i64,
    /// `size`: how many ids.
    pub size: i64,
}

/// `isolation.automount`: what is mounted inside the root directory; each is true
/// when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Automount {
    /// `language_deps`: what the language runtime needs (for Python, its runner and
    /// the interpreter's directories).
    pub language_deps: bool,
    /// `tmpfs`: a small tmpfs on `/tmp`.
    pub tmpfs: bool,
    /// `procfs`: `/proc`.
    pub procfs: bool,
}

impl Default for Automount {
    /// Everything mounted, as when `automount` or a member of it is absent.
    fn default() -> Automount {
        Automount {
            language_deps: true,
            tmpfs: true,
            procfs: true,
        }
    }
}

/// Reads an `isolation` object on its own, checking it as the validator checks it
/// inside an application: main reads what the router asks it to start a process
/// with this way.
pub fn parse_isolation(value: &Value) -> Result<Isolation, ValidationError> {
    validate_isolation(value)?;
    build::build_isolation(value)
        .map_err(|build_error| ValidationError::new(build_error.to_string()))
}

/// The type-specific members of an application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplicationKind {
    /// `external` (or its alias `go`): a program started as it is.
    External {
        /// `executable`.
        executable: PathBuf,
        /// `arguments`, passed after the executable.
        arguments: Vec<String>,
    },
    /// `python`: run by the Python module its `type` resolved to.
    Python(PythonApplication),
}

/// The members of a `python` application, and the module that runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonApplication {
    /// The runner executable of the module `type` resolved to.
    pub module_file: PathBuf,
    /// That module's version, e.g. `3.11.2`.
    pub version: String,
    /// `home`: the virtual environment.
    pub home: Option<PathBuf>,
    /// `path`: directories added to the module search path, in order (a string becomes
    /// one directory).
    pub path: Vec<PathBuf>,
    /// `module`; `None` when the application has `targets`.
    pub module: Option<String>,
    /// `callable`; `None` for the runner's default.
    pub callable: Option<String>,
    /// `factory`: whether `callable` is called to get the application; false when
    /// absent.
    pub factory: bool,
    /// `prefix`: the script name requests are served under.
    pub prefix: Option<String>,
    /// `protocol`; `None` lets the runner tell from the callable.
    pub protocol: Option<Protocol>,
    /// `targets`, in configuration order; empty when the application has one entry
    /// point (`module`).
    pub targets: Vec<PythonTarget>,
    /// `threads` per process; 1 when absent.
    pub threads: u32,
    /// `thread_stack_size` in bytes; `None` for the system default.
    pub thread_stack_size: Option<u64>,
}

/// One member of a Python application's `targets`, passed to as
/// `applications/<application>/<target>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonTarget {
    /// The member name.
    pub name: String,
    /// `module`.
    pub module: String,
    /// `callable`; `None` for the runner's default.
    pub callable: Option<String>,
    /// `factory`; false when absent.
    pub factory: bool,
    /// `prefix`.
    pub prefix: Option<String>,
}

/// A Python application's `protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `wsgi`.
    Wsgi,
    /// `asgi`.
    Asgi,
}

/// An application's `processes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Processes {
    /// The integer form: exactly this many processes, at least 1.
    Fixed(u32),
    /// The object form: processes start on demand.
    Dynamic {
        /// `max`; 1 when absent.
        max: u32,
        /// `spare`: processes kept running while idle; 0 when absent.
        spare: u32,
        /// `idle_timeout`: how long a process above `spare` may stay idle; 15 s when
        /// absent.
        idle_timeout: Duration,
    },
}

impl Default for Processes {
    /// One fixed process, as when `processes` is absent.
    fn default() -> Processes {
        Processes::Fixed(1)
    }
}

/// An application's `limits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `timeout` for one request; `None` for none (absent, or 0).
    pub timeout: Option<Duration>,
    /// `requests` a process serves before it is replaced; `None` for unlimited
    /// (absent, or 0).
    pub requests: Option<u64>,
    /// `shm`: the shared memory limit in bytes; 100 MiB when absent.
    pub shm: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            timeout: None,
            requests: None,
            shm: DEFAULT_SHM_LIMIT,
        }
    }
}

// === Settings ===

/// The root `settings` object (UNIT-COMPAT 3.7).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GlobalSettings {
    /// `listen_threads`: how many threads the router serves with; `None` for one per
    /// CPU.
    pub listen_threads: Option<usize>,
    /// `http`, with defaults when absent.
    pub http: HttpSettings,
}

/// `settings.http`, with Unit's defaults for every absent member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// `header_read_timeout`: 30 s.
    pub header_read_timeout: Duration,
    /// `body_read_timeout`: 30 s.
    pub body_read_timeout: Duration,
    /// `send_timeout`: 30 s.
    pub send_timeout: Duration,
    /// `idle_timeout` (keep-alive): 180 s.
    pub idle_timeout: Duration,
    /// `max_body_size` in bytes: 8 MiB.
    pub max_body_size: u64,
    /// `body_buffer_size` in bytes: 16 KiB.
    pub body_buffer_size: usize,
    /// `large_header_buffer_size` in bytes: 8 KiB.
    pub large_header_buffer_size: usize,
    /// `large_header_buffers`: 4.
    pub large_header_buffers: usize,
    /// `body_temp_path`; `None` for unitd's `--tmpdir`.
    pub body_temp_path: Option<PathBuf>,
    /// `discard_unsafe_fields`: true.
    pub discard_unsafe_fields: bool,
    /// `log_route`: false.
    pub log_route: bool,
    /// `server_version`: true.
    pub server_version: bool,
    /// `chunked_transform`: false.
    pub chunked_transform: bool,
    /// `websocket`.
    pub websocket: WebSocketSettings,
    /// `static`.
    pub static_files: StaticSettings,
    /// `compression`; `None` (off) when absent.
    pub compression: Option<Compression>,
}

impl Default for HttpSettings {
    fn default() -> HttpSettings {
        HttpSettings {
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(30),
            send_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(180),
            max_body_size: 8 * 1024 * 1024,
            body_buffer_size: 16 * 1024,
            large_header_buffer_size: 8192,
            large_header_buffers: 4,
            body_temp_path: None,
            discard_unsafe_fields: true,
            log_route: false,
            server_version: true,
            chunked_transform: false,
            websocket: WebSocketSettings::default(),
            static_files: StaticSettings::default(),
            compression: None,
        }
    }
}

/// `settings.http.websocket`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebSocketSettings {
    /// `read_timeout`: 60 s.
    pub read_timeout: Duration,
    /// `keepalive_interval`: 30 s.
    pub keepalive_interval: Duration,
    /// `max_frame_size` in bytes: 1 MiB.
    pub max_frame_size: usize,
}

impl Default for WebSocketSettings {
    fn default() -> WebSocketSettings {
        WebSocketSettings {
            read_timeout: Duration::from_secs(60),
            keepalive_interval: Duration::from_secs(30),
            max_frame_size: 1024 * 1024,
        }
    }
}

/// `settings.http.static`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StaticSettings {
    /// `mime_types`, which add to and override the built-in table; empty when absent.
    pub mime_types: Vec<MimeType>,
}

/// One member of `mime_types`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MimeType {
    /// The MIME type, e.g. `text/plain`.
    pub name: String,
    /// The extensions with their dot (`.txt`) and exact file names (`README`) that have
    /// it, as written (a string becomes one key).
    pub keys: Vec<String>,
}

/// `settings.http.compression`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Compression {
    /// `types`: patterns over the MIME types that are compressed; empty when absent.
    pub types: Vec<String>,
    /// `compressors` (an object becomes one); empty when absent.
    pub compressors: Vec<Compressor>,
}

/// One compressor of `compression.compressors`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compressor {
    /// `encoding`, e.g. `gzip`.
    pub encoding: String,
    /// `level`; `None` for the compressor's own default. An integer beyond `i64` is
    /// held as `i64::MIN` or `i64::MAX`.
    pub level: Option<i64>,
    /// `min_length` in bytes; `None` for the compressor's own default.
    pub min_length: Option<u64>,
}

// === Access log ===

/// The root `access_log` (UNIT-COMPAT 3.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLog {
    /// The file main opens.
    pub path: PathBuf,
    /// `format`; Unit's [`DEFAULT_ACCESS_LOG_FORMAT`] when absent.
    pub format: LogFormat,
    /// `if`: which requests are logged; `None` for all.
    pub condition: Option<Condition>,
}

/// How an access log line is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogFormat {
    /// A string template: the line as it expands.
    Text(Vec<TemplatePart>),
    /// An object of name → template: one JSON object per line, members in this order.
    Json(Vec<(String, Vec<TemplatePart>)>),
}

impl Default for LogFormat {
    /// Unit's default format, [`DEFAULT_ACCESS_LOG_FORMAT`], already parsed.
    fn default() -> LogFormat {
        let literal = |text: &str| TemplatePart::Literal(text.to_owned());
        let variable = TemplatePart::Variable;
        LogFormat::Text(vec![
            variable(Variable::RemoteAddr),
            literal(" - - ["),
            variable(Variable::TimeLocal),
            literal("] \""),
            variable(Variable::RequestLine),
            literal("\" "),
            variable(Variable::Status),
            literal(" "),
            variable(Variable::BodyBytesSent),
            literal(" \""),
            variable(Variable::Header("referer".to_owned())),
            literal("\" \""),
            variable(Variable::Header("user_agent".to_owned())),
            literal("\""),
        ])
    }
}

#[cfg(test)]
mod tests;
