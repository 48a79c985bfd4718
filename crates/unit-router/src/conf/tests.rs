//! Tests of compiling a parsed configuration, and the helpers other router tests use to
//! get unit-conf's model of a configuration written in JSON.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Compiled, CompiledListener};
use crate::error::CompileError;
use crate::routes::{PassTarget, parse_pass};

/// Parses `conf` as the router does when no language module was discovered; the error
/// is unit-conf's message, as the router would answer it.
pub(crate) fn parse(conf: &Value) -> Result<unit_conf::Conf, String> {
    parse_with(conf, &unit_conf::Modules::default())
}

/// Parses `conf` as the router does with `modules` discovered.
pub(crate) fn parse_with(
    conf: &Value,
    modules: &unit_conf::Modules,
) -> Result<unit_conf::Conf, String> {
    unit_conf::parse_config(conf, &unit_conf::Available::modules(modules))
        .map_err(|validation_error| validation_error.detail)
}

/// One Python module, 3.11.2, as main would have discovered it.
pub(crate) fn python_module() -> unit_conf::Modules {
    unit_conf::Modules::new(vec![unit_conf::Module {
        module_type: "python".to_owned(),
        version: "3.11.2".to_owned(),
        file: std::path::PathBuf::from("/usr/lib/unit/modules/python3.11.unit"),
    }])
}

/// The model of `settings.http.static.mime_types` set to `overrides`.
pub(crate) fn mime_types(overrides: Value) -> Vec<unit_conf::MimeType> {
    let conf = json!({"settings": {"http": {"static": {"mime_types": overrides}}}});
    parse(&conf)
        .expect("test MIME types are valid")
        .settings
        .http
        .static_files
        .mime_types
}

/// Parses and compiles `conf`.
fn compile(conf: Value) -> Result<Compiled, CompileError> {
    Compiled::compile(&parse(&conf).expect("test configurations are valid"))
}

/// The static pass target of a compiled listener.
fn static_pass(listener: &CompiledListener) -> Option<PassTarget> {
    listener.pass.as_static().and_then(parse_pass)
}

#[test]
fn http_settings_and_their_defaults() {
    let compiled = compile(json!({})).expect("the empty configuration compiles");
    let http = &compiled.http;
    assert_eq!(http.header_read_timeout, Duration::from_secs(30));
    assert_eq!(http.body_read_timeout, Duration::from_secs(30));
    assert_eq!(http.send_timeout, Duration::from_secs(30));
    assert_eq!(http.idle_timeout, Duration::from_secs(180));
    assert_eq!(http.max_body_size, 8 * 1024 * 1024);
    let buffers = http.header_buffers();
    assert_eq!(
        (buffers.first_size, buffers.large_size, buffers.n_large),
        (2048, 8192, 4)
    );
    assert!(http.discard_unsafe_fields);
    assert!(!http.log_route);
    assert_eq!(&*http.server, format!("Unit/{}", unit_conf::VERSION));
    assert_eq!(compiled.listen_threads, None);
    assert!(compiled.access_log.is_none());
    assert!(compiled.listeners.is_empty());

    let compiled = compile(json!({"settings": {"listen_threads": 2, "http": {
        "header_read_timeout": 1,
        "idle_timeout": 7,
        "max_body_size": 10,
        "large_header_buffer_size": 4096,
        "large_header_buffers": 2,
        "discard_unsafe_fields": false,
        "log_route": true,
        "server_version": false
    }}}))
    .expect("the settings compile");
    let http = &compiled.http;
    assert_eq!(http.header_read_timeout, Duration::from_secs(1));
    assert_eq!(http.body_read_timeout, Duration::from_secs(30));
    assert_eq!(http.idle_timeout, Duration::from_secs(7));
    assert_eq!(http.max_body_size, 10);
    let buffers = http.header_buffers();
    assert_eq!((buffers.large_size, buffers.n_large), (4096, 2));
    assert!(!http.discard_unsafe_fields);
    assert!(http.log_route);
    assert_eq!(&*http.server, "Unit");
    assert_eq!(compiled.listen_threads, Some(2));
}

#[test]
fn listeners() {
    let compiled = compile(json!({
        "listeners": {
            "*:80": {"pass": "routes/main", "backlog": 128},
            "127.0.0.1:81": {"application": "blog", "backlog": -1},
            "unix:/run/a.sock": {"pass": "applications/$host", "client_ip": {
                "header": "X-Real-IP", "source": "unix"
            }},
        },
        "routes": {"main": []},
        "applications": {"blog": {"type": "external", "executable": "/bin/blog"}},
    }))
    .expect("the listeners compile");
    let addresses: Vec<&str> = compiled
        .listeners
        .iter()
        .map(|listener| listener.address.as_str())
        .collect();
    assert_eq!(addresses, ["*:80", "127.0.0.1:81", "unix:/run/a.sock"]);
    let [main, blog, unix] = &compiled.listeners[..] else {
        panic!("expected three listeners");
    };
    assert_eq!(main.backlog, Some(128));
    assert_eq!(
        static_pass(main),
        Some(PassTarget::Routes(Some("main".to_owned())))
    );
    assert!(main.forwarded.is_none());
    assert_eq!(blog.backlog, None);
    assert_eq!(
        static_pass(blog),
        Some(PassTarget::Application {
            name: "blog".to_owned(),
            target: None,
        })
    );
    assert_eq!(static_pass(unix), None);
    let forwarded = unix.forwarded.as_ref().expect("client_ip is compiled");
    assert_eq!(forwarded.client_ip.as_deref(), Some("X-Real-IP"));
    assert!(forwarded.protocol.is_none());
    assert_eq!(forwarded.source.len(), 1);
    assert!(!forwarded.recursive);
}

#[test]
fn compile_errors() {
    // The validator lets a listener without `pass` through; it has nothing to serve.
    let error = compile(json!({"listeners": {"*:80": {}}}))
        .expect_err("a listener without pass does not compile");
    assert_eq!(
        error.to_string(),
        "listener \"*:80\" has nothing to pass to"
    );
    // A name the validator only checks for well-formed escapes must also be UTF-8.
    let error = compile(json!({"routes": [
        {"match": {"arguments": {"%FF": "x"}}, "action": {"return": 200}}
    ]}))
    .expect_err("an argument name that is not UTF-8 does not compile");
    assert_eq!(
        error.to_string(),
        "the name \"%FF\" has an invalid percent-encoded sequence"
    );
}

#[test]
fn access_log_and_mime_types() {
    let compiled = compile(json!({
        "access_log": {"path": "/var/log/access.log", "format": {"uri": "$uri"}},
        "settings": {"http": {"static": {"mime_types": {"text/x-notes": ".NOTES"}}}},
    }))
    .expect("the configuration compiles");
    let (path, _format) = compiled.access_log.expect("the access log is compiled");
    assert_eq!(path, "/var/log/access.log");
    assert_eq!(
        compiled
            .mime
            .lookup("a.notes")
            .map(|mime_type| &**mime_type),
        Some("text/x-notes")
    );
    // Shapes the table never sees: unit-conf refuses them.
    for overrides in [json!("not an object"), json!({"ignored": 5})] {
        let conf = json!({"settings": {"http": {"static": {"mime_types": overrides}}}});
        assert!(parse(&conf).is_err(), "mime_types {overrides}");
    }
}

#[test]
fn a_pass_to_an_application_target_keeps_the_target() {
    let conf = json!({
        "listeners": {
            "*:80": {"pass": "applications/blog/admin"},
            "*:81": {"pass": "applications/blog"},
        },
        "applications": {
            "blog": {
                "type": "python 3",
                "targets": {"admin": {"module": "admin.wsgi"}, "site": {"module": "site.wsgi"}},
            },
        },
    });
    let parsed = parse_with(&conf, &python_module()).expect("a valid configuration");
    let compiled = Compiled::compile(&parsed).expect("it compiles");
    let targets: Vec<Option<PassTarget>> = compiled.listeners.iter().map(static_pass).collect();
    assert_eq!(
        targets,
        [
            Some(PassTarget::Application {
                name: "blog".to_owned(),
                target: Some("admin".to_owned()),
            }),
            Some(PassTarget::Application {
                name: "blog".to_owned(),
                target: None,
            }),
        ]
    );
    assert_eq!(compiled.applications.len(), 1);
}
