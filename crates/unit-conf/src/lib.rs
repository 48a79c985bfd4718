//! The unitd command line, the settings it produces, and the JSON rendering of the
//! control API.
//!
//! [`parse_command_line`] turns argv into an [`Action`]: run with [`Settings`], print the
//! version, or print the help. The option names, their defaults and every message match
//! `unitd` 1.35 (UNIT-COMPAT section 1.1), plus one addition of ours, `--config FILE`.
//! [`ControlAddress`] parses the address forms the control socket accepts, and
//! [`to_pretty_json`] renders a JSON value byte for byte the way Unit's control API does.
//!
//! A configuration is walked once: [`parse_config`] validates it, answering Unit's exact
//! messages, and builds the typed [`Conf`] that the router compiles from, with every
//! default filled in. [`validate_config`] is the same without the result. Both resolve
//! applications' types against the language [`Modules`] main discovered, which main
//! hands to the controller and the router in [`MODULES_ENV`].
//!
//! What this crate deliberately does not do: it prints nothing, opens no socket or file,
//! and resolves no user or group except for showing the default group in the help text.
//! The caller writes the messages, exits with the right status and acts on the settings.

#![forbid(unsafe_code)]

mod address;
mod available;
mod cli;
mod error;
mod json;
mod model;
mod modules;
mod pretty;
mod settings;
mod tls;
mod validate;

pub use address::ControlAddress;
pub use available::Available;
pub use cli::{Action, CommandLine, help_text, parse_command_line, version_text};
pub use error::{AddressError, CliError, ModulesError};
pub use json::{JsonError, parse_json, parse_json_below};
pub use model::{
    AccessLog, ActionKind, Application, ApplicationKind, Automount, Compression, Compressor,
    Condition, Conf, DEFAULT_ACCESS_LOG_FORMAT, DEFAULT_SHARE_INDEX, FieldPatterns, Forwarded,
    GlobalSettings, HttpSettings, IdMapping, Isolation, Limits, Listener, ListenerTls, LogFormat,
    MatchCondition, MimeType, Namespaces, Processes, Protocol, PythonApplication, PythonTarget,
    ResponseHeader, Route, RouteAction, Routes, Scheme, ServerAddress, SessionTickets, Share,
    StaticSettings, Step, TlsSession, Upstream, UpstreamServer, WebSocketSettings, parse_config,
    parse_isolation, validate_config,
};
pub use modules::{MODULE_TYPES, MODULES_ENV, Module, Modules, PYTHON_APP_ENV};
pub use pretty::to_pretty_json;
pub use settings::{PREFIX, Settings, VERSION, version_number};
pub use tls::{Tls12Suite, Tls13Suite, TlsCommands, TlsGroup, TlsVersion};
pub use validate::{
    AddressPattern, AddressRange, ListenerAddress, TemplateError, TemplatePart, ValidationError,
    Variable, parse_address_pattern, parse_listener_address, parse_template,
};
