//! `config`: the whole configuration validator, and the router compiling what it
//! accepts.
//!
//! The input is a configuration's JSON text; the seeds are whole configurations, and
//! the tree mutation (shared with `json`) edits them with the sections, options and
//! values of Unit's configuration, so most inputs are configurations that are nearly
//! right. Checked: `validate_config` agrees with `parse_config`; a configuration
//! printed as `conf.json` and read back validates the same; and a configuration the
//! validator accepts compiles in the router, which then routes a request through each
//! of its routes; and the model never refuses what the validator passed. The one refusal the router may add is a listener with nothing to pass
//! to, which the validator allows as Unit's does.

use unit_conf::{
    Available, Module, Modules, parse_config, parse_json, to_pretty_json, validate_config,
};

use super::json::{Pool, mutate_with};
use super::{bucket, outcome};
use crate::mutate::Rng;

/// Tokens of configurations.
pub(super) const DICTIONARY: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"\"pass\": \"routes\"",
    b"\"action\": {\"return\": 200}",
    b"\"match\": {\"uri\": \"/a\"}",
    b"\"share\": \"/srv$uri\"",
    b"\"proxy\": \"http://127.0.0.1:8081\"",
    b"$uri",
    b"${host}",
    b"$header_",
    b"$arg_",
    b"$cookie_",
    b"~",
    b"!",
    b"*",
    b"**",
    b"%2",
    b"%2F",
    b"\\u0000",
    b"/../",
    b"*:",
    b"127.0.0.1:",
    b"[::1]:",
    b"unix:",
    b"0.0.0.0/0",
    b"-1",
    b"4294967296",
    b"1.5",
];

/// What the tree mutation draws from: the members and values of Unit's configuration.
const POOL: Pool = Pool {
    keys: &[
        "listeners",
        "routes",
        "applications",
        "upstreams",
        "settings",
        "access_log",
        "pass",
        "application",
        "forwarded",
        "client_ip",
        "tls",
        "certificate",
        "conf_commands",
        "session",
        "backlog",
        "main",
        "match",
        "action",
        "uri",
        "method",
        "host",
        "headers",
        "arguments",
        "cookies",
        "query",
        "scheme",
        "source",
        "destination",
        "if",
        "return",
        "location",
        "share",
        "fallback",
        "chroot",
        "index",
        "types",
        "follow_symlinks",
        "traverse_mounts",
        "proxy",
        "rewrite",
        "response_headers",
        "servers",
        "weight",
        "type",
        "executable",
        "arguments",
        "environment",
        "working_directory",
        "user",
        "group",
        "processes",
        "max",
        "spare",
        "idle_timeout",
        "limits",
        "timeout",
        "requests",
        "path",
        "home",
        "module",
        "callable",
        "factory",
        "protocol",
        "threads",
        "targets",
        "prefix",
        "http",
        "header_read_timeout",
        "body_read_timeout",
        "send_timeout",
        "max_body_size",
        "large_header_buffer_size",
        "large_header_buffers",
        "discard_unsafe_fields",
        "server_version",
        "log_route",
        "chunked_transform",
        "static",
        "mime_types",
        "websocket",
        "max_frame_size",
        "keepalive_interval",
        "read_timeout",
        "listen_threads",
        "format",
        "recursive",
        "Protocol",
        "CipherString",
        "MinProtocol",
        "isolation",
        "namespaces",
        "credential",
        "pid",
        "network",
        "mount",
        "uname",
        "cgroup",
        "uidmap",
        "gidmap",
        "container",
        "size",
        "rootfs",
        "automount",
        "language_deps",
        "tmpfs",
        "procfs",
        "new_privs",
    ],
    strings: &[
        "",
        "routes",
        "routes/main",
        "applications/app",
        "applications/app/target",
        "upstreams/backend",
        "*:8080",
        "127.0.0.1:8081",
        "[::1]:8082",
        "unix:/tmp/unit-fuzz.sock",
        "http://127.0.0.1:8081",
        "http://[::1]:8081",
        "unix:/tmp/upstream.sock",
        "$uri",
        "${host}",
        "$header_x_tag",
        "$arg_q",
        "$cookie_sid",
        "/srv/www$uri",
        "/$request_uri",
        "`${uri}`",
        "$nonexistent",
        "~^/a(b)?$",
        "~(",
        "!*.php",
        "*",
        "**",
        "/a*b*c",
        "%2F",
        "%zz",
        "GET",
        "https",
        "10.0.0.0/8",
        "10.0.0.1-10.0.0.9",
        "!192.0.2.0/24",
        "*:80-90",
        "external",
        "python",
        "python 3",
        "python 3.11",
        "python 2",
        "/bin/true",
        "asgi",
        "wsgi",
        "text/html",
        ".html",
        "TLSv1.3",
        "-ALL:TLSv1.2",
        "bundle",
        "/var/log/unit/access.log",
        "$remote_addr - [$time_local] \"$request_line\" $status",
        "unit/api",
        "/unit/../api",
        "/srv/root",
    ],
    numbers: &[
        "0",
        "-1",
        "1",
        "2",
        "200",
        "301",
        "404",
        "999",
        "1000",
        "65535",
        "65536",
        "1.5",
        "1e3",
        "4294967296",
        "-0",
    ],
};

/// Runs one input.
pub(super) fn run(input: &[u8]) -> u64 {
    let value = match parse_json(input) {
        Ok(value) => value,
        Err(_) => return outcome("not json"),
    };
    let modules = python_modules();
    let available = Available::modules(&modules);
    let parsed = parse_config(&value, &available);
    assert_eq!(
        validate_config(&value, &available).map_err(|error| error.to_string()),
        parsed.as_ref().map(drop).map_err(|error| error.to_string()),
        "validate_config and parse_config disagree"
    );

    // As `conf.json` is written and read back at the next start.
    let stored = to_pretty_json(&value);
    let reread = match parse_json(stored.as_bytes()) {
        Ok(reread) => reread,
        Err(error) => panic!("the stored configuration does not parse again: {error}"),
    };
    let reparsed = parse_config(&reread, &available);
    assert_eq!(
        reparsed.as_ref().map_err(|error| error.to_string()),
        parsed.as_ref().map_err(|error| error.to_string()),
        "the stored configuration validates differently"
    );

    let conf = match parsed {
        Ok(conf) => conf,
        Err(error) => {
            let message = error.to_string();
            // The model's own refusals (`BuildError`) say this: the validator passed
            // something the model cannot build, and the two disagree.
            assert!(
                !message.contains("although it was validated"),
                "the validator and the model disagree: {message}"
            );
            return outcome(("refused", message_shape(&message)));
        }
    };
    let compiled = unit_router::fuzzing::compile_check(&conf);
    let passless = conf
        .listeners
        .iter()
        .any(|listener| listener.pass.is_none());
    if let Err(error) = &compiled {
        assert!(
            passless,
            "the router refuses a configuration the validator accepted: {error}"
        );
    }
    outcome((
        "accepted",
        compiled.is_ok(),
        bucket(conf.listeners.len()),
        conf.routes.is_some(),
        bucket(conf.upstreams.len()),
        bucket(conf.applications.len()),
        conf.access_log.is_some(),
    ))
}

/// The structure-aware mutation of the `config` target.
pub(super) fn mutate(input: &mut Vec<u8>, rng: &mut Rng) -> bool {
    mutate_with(input, rng, &POOL)
}

/// The modules a machine with one Python runner has.
fn python_modules() -> Modules {
    Modules::new(vec![Module {
        module_type: "python".to_owned(),
        version: "3.11.2".to_owned(),
        file: "/usr/lib/unit/modules/python3.11.unit".into(),
    }])
}

/// A validation message without the names and values it quotes (whatever quotes those
/// hold), so the outcomes count kinds of refusal, not every value that was refused.
fn message_shape(message: &str) -> String {
    // A regular expression's error shows it on lines of their own, unquoted.
    let before = message.split('"').next().unwrap_or_default();
    let before = before.lines().next().unwrap_or_default();
    let after = message.rsplit('"').next().unwrap_or_default();
    let after = after.lines().last().unwrap_or_default();
    format!("{before}\"\"{after}")
        .chars()
        .filter(|character| !character.is_ascii_digit())
        .collect()
}
