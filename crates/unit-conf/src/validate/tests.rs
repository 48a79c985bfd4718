//! Table-driven tests of [`validate_config`]: each row is a configuration and the result
//! Unit's controller would give it.

use std::path::PathBuf;

use crate::{Available, Module, Modules, validate_config};

/// Parses `config` as JSON and checks what [`validate_config`] says about it when no
/// language module was discovered.
fn check(config: &str, expected: Result<(), &str>) {
    check_with(&Modules::default(), config, expected);
}

/// Parses `config` as JSON and checks what [`validate_config`] says about it with
/// `modules` discovered.
fn check_with(modules: &Modules, config: &str, expected: Result<(), &str>) {
    let conf: serde_json::Value = serde_json::from_str(config).expect("test JSON parses");
    assert_eq!(
        validate_config(&conf, &Available::modules(modules)).map_err(|error| error.detail),
        expected.map_err(str::to_owned),
        "config {config}"
    );
}

/// Python 3.11.2 and 3.9.18.
fn python_modules() -> Modules {
    let python = |version: &str| Module {
        module_type: "python".to_owned(),
        version: version.to_owned(),
        file: PathBuf::from(format!("/usr/lib/unit/modules/python{version}.unit")),
    };
    Modules::new(vec![python("3.11.2"), python("3.9.18")])
}

/// A realistic configuration using every section.
const FULL_CONFIG: &str = r#"{
    "settings": {
        "listen_threads": 4,
        "http": {
            "header_read_timeout": 10,
            "body_read_timeout": 10,
            "send_timeout": 10,
            "idle_timeout": 120,
            "max_body_size": 6291456,
            "body_buffer_size": 16384,
            "large_header_buffer_size": 8192,
            "large_header_buffers": 4,
            "body_temp_path": "/var/tmp/unit",
            "discard_unsafe_fields": false,
            "log_route": true,
            "server_version": false,
            "chunked_transform": true,
            "websocket": {"read_timeout": 30, "keepalive_interval": 15, "max_frame_size": 65536},
            "static": {"mime_types": {"text/plain": [".log", "README", ".txt"], "text/x-code": ".c"}},
            "compression": {
                "types": ["text/*", "!text/x-code"],
                "compressors": [{"encoding": "gzip", "level": 3, "min_length": 1024}]
            }
        }
    },
    "listeners": {
        "*:80": {"pass": "routes/main", "backlog": 1024},
        "127.0.0.1:8080": {
            "pass": "applications/api",
            "forwarded": {
                "client_ip": "X-Forwarded-For",
                "protocol": "X-Forwarded-Proto",
                "source": ["10.0.0.0/8", "!10.0.0.1", "unix"],
                "recursive": true
            }
        },
        "[::1]:8081": {"pass": "upstreams/backends", "client_ip": {"header": "X-Real-IP", "source": "127.0.0.1"}},
        "unix:/run/unit/app.sock": {"application": "api"},
        "unix:@unit-admin": {"pass": "routes/${host}"}
    },
    "routes": {
        "main": [
            {
                "match": {
                    "host": ["example.com", "*.example.com", "!bad.example.com"],
                    "uri": ["/api/*", "~^/v[0-9]+/"],
                    "method": ["GET", "POST"],
                    "headers": [{"Accept": "*json*"}, {"X-Debug": ["1", "yes"]}],
                    "arguments": {"mode": "fast", "q%20x": "a%20b*"},
                    "cookies": {"session": "!"},
                    "query": "*debug*",
                    "scheme": "https",
                    "source": ["192.168.0.0-192.168.1.101:8080-8090", "[fe08::-feff::]:8000"],
                    "destination": "*:443",
                    "if": "!$arg_skip"
                },
                "action": {
                    "pass": "applications/api",
                    "rewrite": "/internal$uri",
                    "response_headers": {"X-Host": "$host", "Server": null}
                }
            },
            {
                "match": {"uri": "/static/*"},
                "action": {
                    "share": ["/srv/www$uri", "/srv/fallback/"],
                    "index": "index.htm",
                    "types": ["image/*", "text/*"],
                    "chroot": "/srv/$host",
                    "follow_symlinks": false,
                    "traverse_mounts": true,
                    "fallback": {"proxy": "http://unix:/run/legacy.sock"}
                }
            },
            {"match": {"uri": "/old"}, "action": {"return": 301, "location": "https://${host}/new"}},
            {"action": {"pass": "routes/tail"}}
        ],
        "tail": [{"action": {"return": 404}}]
    },
    "upstreams": {
        "backends": {"servers": {"10.0.0.5:8080": {"weight": 2.5}, "[2001:db8::1]:80": {}, "10.0.0.6:8080": {"weight": 0}}}
    },
    "applications": {
        "api": {
            "type": "external",
            "executable": "/srv/api/bin/server",
            "arguments": ["--port", "0"],
            "processes": {"max": 8, "spare": 2, "idle_timeout": 30},
            "limits": {"timeout": 60, "requests": 10000, "shm": 104857600},
            "user": "www",
            "group": "www",
            "working_directory": "/srv/api",
            "environment": {"GOMAXPROCS": "2", "MODE": "production"},
            "stdout": "/var/log/api.out",
            "stderr": "/var/log/api.err",
            "isolation": {
                "namespaces": {"credential": true, "pid": true, "network": false, "mount": true, "uname": true, "cgroup": false},
                "uidmap": [{"container": 0, "host": 1000, "size": 1}],
                "gidmap": [{"container": 0, "host": 1000, "size": 1}],
                "rootfs": "/srv/root",
                "automount": {"language_deps": false, "tmpfs": true, "procfs": true},
                "new_privs": false,
                "cgroup": {"path": "unit/api"}
            }
        },
        "worker": {"type": "go 1.22", "executable": "/srv/worker", "processes": 2}
    },
    "access_log": {
        "path": "/var/log/unit/access.log",
        "format": {"remote": "$remote_addr", "time": "$time_local", "line": "$request_line", "ua": "$header_user_agent"},
        "if": "$cookie_track"
    }
}"#;

#[test]
fn valid_configs() {
    check(FULL_CONFIG, Ok(()));
    check("{}", Ok(()));
    check(
        r#"{"listeners": {}, "routes": [], "applications": {}}"#,
        Ok(()),
    );
    check(
        r#"{"listeners": {"*:80": {"pass": "routes"}}, "routes": [{"action": {"return": 200}}]}"#,
        Ok(()),
    );
    check(
        r#"{"routes": {"a b": [{"action": {"return": 204}}]}, "listeners": {"*:80": {"pass": "routes/a%20b"}}}"#,
        Ok(()),
    );
    check(
        r#"{"access_log": "/var/log/access.log", "settings": {"http": {"static": {"mime_types": {"text/plain": [".TXT", ".txt"]}}}}}"#,
        Ok(()),
    );
    check(
        r#"{"applications": {"a": {"type": "go1.21", "executable": "/a"}, "b": {"type": "external 2", "executable": "/b"}}}"#,
        Ok(()),
    );
    check(
        r#"{"routes": [{"match": {"method": "~^(GET|HEAD)$", "scheme": "HTTP"}, "action": {"proxy": "http://[::1]:8080"}}]}"#,
        Ok(()),
    );
}

#[test]
fn root() {
    check(
        "[]",
        Err("The configuration must be an object, but not an array."),
    );
    check(
        r#""x""#,
        Err("The configuration must be an object, but not a string."),
    );
    check(
        "null",
        Err("The configuration must be an object, but not a null."),
    );
    check(r#"{"foo": 1}"#, Err(r#"Unknown parameter "foo"."#));
    check(
        r#"{"listeners": []}"#,
        Err(r#"The "listeners" value must be an object, but not an array."#),
    );
    check(
        r#"{"routes": "x"}"#,
        Err(r#"The "routes" value must be either an array or an object, but not a string."#),
    );
    check(
        r#"{"access_log": 1}"#,
        Err(
            r#"The "access_log" value must be either a string or an object, but not an integer number."#,
        ),
    );
    check(
        r#"{"settings": 1.5}"#,
        Err(r#"The "settings" value must be an object, but not a fractional number."#),
    );
    check(
        r#"{"applications": true}"#,
        Err(r#"The "applications" value must be an object, but not a boolean."#),
    );
    check(
        r#"{"upstreams": 1e3}"#,
        Err(r#"The "upstreams" value must be an object, but not a fractional number."#),
    );
    // Only the first problem, in document order, is reported.
    check(
        r#"{"foo": 1, "listeners": []}"#,
        Err(r#"Unknown parameter "foo"."#),
    );
    check(
        r#"{"listeners": [], "foo": 1}"#,
        Err(r#"The "listeners" value must be an object, but not an array."#),
    );
}

#[test]
fn listeners() {
    check(
        r#"{"listeners": {"localhost:80": {}}}"#,
        Err(r#"The listener address "localhost:80" is invalid."#),
    );
    check(
        r#"{"listeners": {"*:0": {}}}"#,
        Err(r#"The listener address "*:0" is invalid."#),
    );
    check(
        r#"{"listeners": {"unix:relative.sock": {}}}"#,
        Err(r#"The listener address "unix:relative.sock" is invalid."#),
    );
    check(
        r#"{"listeners": {"*:80": "x"}}"#,
        Err(r#"The "*:80" value must be an object, but not a string."#),
    );
    check(
        r#"{"listeners": {"*:80": {"foo": 1}}}"#,
        Err(r#"Unknown parameter "foo"."#),
    );
    check(
        r#"{"listeners": {"*:80": {"pass": 1}}}"#,
        Err(r#"The "pass" value must be a string, but not an integer number."#),
    );
    check(
        r#"{"listeners": {"*:80": {"application": "app"}}}"#,
        Err(r#"Listening socket is assigned for a non existing application "app"."#),
    );
    check(
        r#"{"listeners": {"*:80": {"application": "app"}}, "applications": {"app": {"type": "external", "executable": "/a"}}}"#,
        Ok(()),
    );
    check(
        r#"{"listeners": {"*:80": {"forwarded": {"client_ip": "X-Forwarded-For"}}}}"#,
        Err(r#"Required parameter "source" is missing."#),
    );
    check(
        r#"{"listeners": {"*:80": {"forwarded": {"source": "10.0.0.1"}}}}"#,
        Err(r#"The "forwarded" object must have either "client_ip" or "protocol" option set."#),
    );
    check(
        r#"{"listeners": {"*:80": {"forwarded": {"protocol": "X-Forwarded-Proto", "source": ["10.0.0.1", "10.0.0.300"]}}}}"#,
        Err(r#"The "address" format is invalid."#),
    );
    check(
        r#"{"listeners": {"*:80": {"forwarded": {"protocol": "X-Forwarded-Proto", "source": [1]}}}}"#,
        Err(r#"The "source" array must contain only string values."#),
    );
    check(
        r#"{"listeners": {"*:80": {"forwarded": {"client_ip": "X-F", "source": "*:80", "recursive": "yes"}}}}"#,
        Err(r#"The "recursive" value must be a boolean, but not a string."#),
    );
    check(
        r#"{"listeners": {"*:80": {"client_ip": {"source": "10.0.0.1"}}}}"#,
        Err(r#"Required parameter "header" is missing."#),
    );
    check(
        r#"{"listeners": {"*:80": {"client_ip": {"header": "X-Real-IP", "source": "10.0.0.0/40"}}}}"#,
        Err(r#"The "address" has an invalid CIDR prefix."#),
    );
    check(
        r#"{"listeners": {"*:80": {"backlog": -2}}}"#,
        Err(r#"The "backlog" number must not be less than -1."#),
    );
    check(
        r#"{"listeners": {"*:80": {"backlog": 2147483648}}}"#,
        Err(r#"The "backlog" number must not exceed 2147483647."#),
    );
    check(
        r#"{"listeners": {"*:80": {"backlog": 1.5}}}"#,
        Err(r#"The "backlog" value must be an integer number, but not a fractional number."#),
    );
    check(
        r#"{"listeners": {"*:80": {"backlog": -1}, "unix:@name": {}, "[::]:80": {}}}"#,
        Ok(()),
    );
}

#[test]
fn pass() {
    let listener = |pass: &str, rest: &str| {
        format!(r#"{{"listeners": {{"*:80": {{"pass": "{pass}"}}}}{rest}}}"#)
    };
    let app = r#", "applications": {"app": {"type": "external", "executable": "/a"}}"#;
    check(
        &listener("foo", ""),
        Err(r#"Request "pass" value "foo" is invalid."#),
    );
    check(
        &listener("applications", app),
        Err(r#"Request "pass" value "applications" is invalid."#),
    );
    check(
        &listener("applications/", app),
        Err(r#"Request "pass" value "applications/" is invalid."#),
    );
    check(
        &listener("applications/app/a/b", app),
        Err(r#"Request "pass" value "applications/app/a/b" is invalid."#),
    );
    check(
        &listener("applications/%zz", app),
        Err(r#"Request "pass" value "applications/%zz" is invalid."#),
    );
    check(
        &listener("routes/main/extra", ""),
        Err(r#"Request "pass" value "routes/main/extra" is invalid."#),
    );
    check(&listener("applications/app", app), Ok(()));
    check(&listener("applications/%61pp", app), Ok(()));
    check(
        &listener("applications/missing", app),
        Err(r#"Request "pass" points to invalid location "applications/missing"."#),
    );
    check(
        &listener("applications/app/target", app),
        Err(r#"Request "pass" points to invalid location "applications/app/target"."#),
    );
    check(
        &listener("routes", r#", "routes": {"main": []}"#),
        Err(r#"Request "pass" points to invalid location "routes"."#),
    );
    check(
        &listener("routes/main", r#", "routes": []"#),
        Err(r#"Request "pass" points to invalid location "routes/main"."#),
    );
    check(
        &listener("routes", ""),
        Err(r#"Request "pass" points to invalid location "routes"."#),
    );
    check(
        &listener("upstreams/u", ""),
        Err(r#"Request "pass" points to invalid location "upstreams/u"."#),
    );
    check(
        &listener("upstreams/u", r#", "upstreams": {"u": {"servers": {}}}"#),
        Ok(()),
    );
    check(&listener("applications/$host", ""), Ok(()));
    check(
        &listener("routes/${foo}", ""),
        Err(r#"Unknown variable "foo" in the "pass" value."#),
    );
    check(
        &listener("routes/$", ""),
        Err(r#"Invalid variable at position 7 in the "pass" value."#),
    );
    check(
        r#"{"routes": {"a": [{"action": {"pass": "routes/b"}}]}}"#,
        Err(r#"Request "pass" points to invalid location "routes/b"."#),
    );
}

#[test]
fn routes_and_matching() {
    let step = |step: &str| format!(r#"{{"routes": [{step}]}}"#);
    let condition = |condition: &str| {
        step(&format!(
            r#"{{"match": {{{condition}}}, "action": {{"return": 200}}}}"#
        ))
    };
    check(
        &step(r#"{"match": {"uri": "/"}}"#),
        Err(r#"Required parameter "action" is missing."#),
    );
    check(
        &step(r#"{"foo": 1}"#),
        Err(r#"Required parameter "action" is missing."#),
    );
    check(
        &step(r#"{"action": {"return": 200}, "foo": 1}"#),
        Err(r#"Unknown parameter "foo"."#),
    );
    check(
        &step("1"),
        Err(r#"The "routes" array must contain only object values."#),
    );
    check(
        r#"{"routes": {"main": {}}}"#,
        Err(r#"The "main" value must be an array, but not an object."#),
    );
    check(
        r#"{"routes": {"main": ["x"]}}"#,
        Err(r#"The "main" array must contain only object values."#),
    );
    check(
        &step(r#"{"match": [], "action": {"return": 200}}"#),
        Err(r#"The "match" value must be an object, but not an array."#),
    );
    check(
        &step(r#"{"action": "x"}"#),
        Err(r#"The "action" value must be an object, but not a string."#),
    );
    check(
        &condition(r#""port": 80"#),
        Err(r#"Unknown parameter "port"."#),
    );
    check(
        &condition(r#""host": "a**.com""#),
        Err(r#"The "match" pattern must not contain double "*" markers."#),
    );
    check(
        &condition(r#""host": 1"#),
        Err(r#"The "host" value must be either a string or an array, but not an integer number."#),
    );
    check(
        &condition(r#""uri": ["/a", 1]"#),
        Err(r#"The "uri" array must contain only string values."#),
    );
    check(
        &condition(r#""uri": "/a%zz""#),
        Err(r#"The "uri" pattern "/a%zz" has an invalid percent-encoded sequence."#),
    );
    check(&condition(r#""uri": "!~""#), Ok(()));
    for field in ["headers", "arguments", "cookies"] {
        check(
            &condition(&format!(r#""{field}": {{"": "blah"}}"#)),
            Err(r#"The "match" pattern objects must not contain empty member names."#),
        );
    }
    let bad_regex: serde_json::Value =
        serde_json::from_str(&condition(r#""uri": "~/bl[ah""#)).expect("test JSON parses");
    let refused = validate_config(&bad_regex, &Available::modules(&Modules::default()))
        .expect_err("an unclosed class is refused");
    assert!(
        refused.detail.starts_with("Invalid regular expression: "),
        "{}",
        refused.detail
    );
    check(
        &condition(r#""method": ["GET", "*P**"]"#),
        Err(r#"The "match" pattern must not contain double "*" markers."#),
    );
    check(
        &condition(r#""headers": {"Accept": 1}"#),
        Err(
            r#"The "Accept" value must be either a string or an array, but not an integer number."#,
        ),
    );
    check(
        &condition(r#""headers": ["Accept"]"#),
        Err(r#"The "headers" array must contain only object values."#),
    );
    check(
        &condition(r#""headers": [{"Accept": ["a", "**"]}]"#),
        Err(r#"The "match" pattern must not contain double "*" markers."#),
    );
    check(
        &condition(r#""headers": "Accept""#),
        Err(r#"The "headers" value must be either an array or an object, but not a string."#),
    );
    check(
        &condition(r#""arguments": {"a%": "x"}"#),
        Err(r#"The "arguments" pattern "a%" has an invalid percent-encoded sequence."#),
    );
    check(
        &condition(r#""arguments": {"a": "%4"}"#),
        Err(r#"The "arguments" pattern "%4" has an invalid percent-encoded sequence."#),
    );
    check(
        &condition(r#""cookies": [{"a": "x*"}, {"b": ["!", "~y"]}]"#),
        Ok(()),
    );
    check(&condition(r#""query": ["*a=1*", "!~^x"]"#), Ok(()));
    check(
        &condition(r#""query": "%""#),
        Err(r#"The "query" pattern "%" has an invalid percent-encoded sequence."#),
    );
    check(
        &condition(r#""scheme": "ftp""#),
        Err(r#"The "scheme" value must be either "http" or "https"."#),
    );
    check(&condition(r#""scheme": "HTTPS""#), Ok(()));
    check(
        &condition(r#""scheme": ["http"]"#),
        Err(r#"The "scheme" value must be a string, but not an array."#),
    );
    check(
        &condition(r#""source": "10.0.0.0/33""#),
        Err(r#"The "address" has an invalid CIDR prefix."#),
    );
    check(
        &condition(r#""source": ["!unix", "localhost"]"#),
        Err(r#"The "address" format is invalid."#),
    );
    check(
        &condition(r#""destination": "[::1]:99999""#),
        Err(r#"The "address" port or port range is invalid."#),
    );
    check(
        &condition(r#""source": "!10.0.0.9-10.0.0.1""#),
        Err(r#"The "address" range must not end before it starts."#),
    );
    check(
        &condition(r#""destination": ["*:80", "[0ff::/64]:8000", "10.0.0.0/32:8080-8090"]"#),
        Ok(()),
    );
    check(&condition(r#""if": "!$arg_debug$cookie_x""#), Ok(()));
    check(
        &condition(r#""if": "$nope""#),
        Err(r#"Unknown variable "nope" in the "if" value."#),
    );
    check(
        &condition(r#""if": "`${a}`""#),
        Err(r#"Unit is built without the "njs" option support."#),
    );
    check(
        &condition(r#""if": true"#),
        Err(r#"The "if" value must be a string, but not a boolean."#),
    );
}

#[test]
fn actions() {
    let action = |action: &str| format!(r#"{{"routes": [{{"action": {action}}}]}}"#);
    check(
        &action("{}"),
        Err(
            r#"The "action" object must have either "pass", "return", "share", or "proxy" option set."#,
        ),
    );
    check(
        &action(r#"{"rewrite": "/x"}"#),
        Err(
            r#"The "action" object must have either "pass", "return", "share", or "proxy" option set."#,
        ),
    );
    check(
        &action(r#"{"pass": "routes", "return": 200}"#),
        Err(
            r#"The "action" object must have just one of "pass", "return", "share", or "proxy" options set."#,
        ),
    );
    check(
        &action(r#"{"share": "/a", "proxy": "http://127.0.0.1:80"}"#),
        Err(
            r#"The "action" object must have just one of "pass", "return", "share", or "proxy" options set."#,
        ),
    );
    check(
        &action(r#"{"pass": "routes", "location": "/x"}"#),
        Err(r#"Unknown parameter "location"."#),
    );
    check(
        &action(r#"{"return": 200, "fallback": {"return": 404}}"#),
        Err(r#"Unknown parameter "fallback"."#),
    );
    check(
        &action(r#"{"return": 1000}"#),
        Err(r#"The "return" value is out of allowed HTTP status code range 0-999."#),
    );
    check(
        &action(r#"{"return": -1}"#),
        Err(r#"The "return" value is out of allowed HTTP status code range 0-999."#),
    );
    check(
        &action(r#"{"return": "301"}"#),
        Err(r#"The "return" value must be an integer number, but not a string."#),
    );
    check(
        &action(r#"{"return": 301.0}"#),
        Err(r#"The "return" value must be an integer number, but not a fractional number."#),
    );
    check(&action(r#"{"return": 0}"#), Ok(()));
    check(
        &action(r#"{"return": 301, "location": "$scheme://$host"}"#),
        Err(r#"Unknown variable "scheme" in the "location" value."#),
    );
    check(
        &action(r#"{"return": 301, "location": "https://${host}$request_uri"}"#),
        Ok(()),
    );
    check(
        &action(r#"{"share": []}"#),
        Err(r#"The "share" array must not be empty."#),
    );
    check(
        &action(r#"{"share": ["/a", 1]}"#),
        Err(r#"The "share" array must contain only string values."#),
    );
    check(
        &action(r#"{"share": {"path": "/a"}}"#),
        Err(r#"The "share" value must be either a string or an array, but not an object."#),
    );
    check(
        &action(r#"{"share": "/$"}"#),
        Err(r#"Invalid variable at position 1 in the "share" value."#),
    );
    check(
        &action(r#"{"share": ["/a", "/b/$foo"]}"#),
        Err(r#"Unknown variable "foo" in the "share" value."#),
    );
    check(
        &action(r#"{"share": "/a", "fallback": {}}"#),
        Err(
            r#"The "action" object must have either "pass", "return", "share", or "proxy" option set."#,
        ),
    );
    check(
        &action(r#"{"share": "/a", "fallback": {"share": "/b", "fallback": {"return": 1000}}}"#),
        Err(r#"The "return" value is out of allowed HTTP status code range 0-999."#),
    );
    check(
        &action(r#"{"share": "/a", "fallback": "x"}"#),
        Err(r#"The "fallback" value must be an object, but not a string."#),
    );
    check(
        &action(r#"{"share": "/a", "types": ["text/**"]}"#),
        Err(r#"The "match" pattern must not contain double "*" markers."#),
    );
    check(
        &action(r#"{"share": "/a", "chroot": "/srv/$bad"}"#),
        Err(r#"Unknown variable "bad" in the "chroot" value."#),
    );
    check(
        &action(r#"{"share": "/a", "follow_symlinks": "no"}"#),
        Err(r#"The "follow_symlinks" value must be a boolean, but not a string."#),
    );
    check(
        &action(r#"{"share": "/a", "index": 1}"#),
        Err(r#"The "index" value must be a string, but not an integer number."#),
    );
    check(
        &action(r#"{"proxy": "http://127.0.0.1"}"#),
        Err(r#"The "proxy" address is invalid "http://127.0.0.1""#),
    );
    check(
        &action(r#"{"proxy": "https://127.0.0.1:443"}"#),
        Err(r#"The "proxy" address is invalid "https://127.0.0.1:443""#),
    );
    check(&action(r#"{"proxy": "http://10.1.1.1:8000"}"#), Ok(()));
    check(
        &action(r#"{"proxy": "http://127.0.0.1:80", "rewrite": "${"}"#),
        Err(r#"Invalid variable at position 0 in the "rewrite" value."#),
    );
    check(
        &action(r#"{"return": 204, "response_headers": {"": "x"}}"#),
        Err(r#"The "response_headers" object must not contain an empty header name."#),
    );
    check(
        &action(r#"{"return": 204, "response_headers": {"content-length": "1"}}"#),
        Err(
            r#"The "content-length" response header is computed by the server and cannot be configured."#,
        ),
    );
    check(
        &action(r#"{"return": 204, "response_headers": {"X-A": 1}}"#),
        Err(r#"The "X-A" value must be either a null or a string, but not an integer number."#),
    );
    check(
        &action(r#"{"return": 204, "response_headers": {"X-A": "$zz"}}"#),
        Err(r#"Unknown variable "zz" in the "X-A" value."#),
    );
    check(
        &action(r#"{"return": 204, "response_headers": ["X-A"]}"#),
        Err(r#"The "response_headers" value must be an object, but not an array."#),
    );
}

#[test]
fn upstreams() {
    check(
        r#"{"upstreams": {"u": {}}}"#,
        Err(r#"The "u" upstream must contain "servers" object value."#),
    );
    check(
        r#"{"upstreams": {"u": {"servers": "10.0.0.1:80"}}}"#,
        Err(r#"The "u" upstream must contain "servers" object value."#),
    );
    check(
        r#"{"upstreams": {"u": []}}"#,
        Err(r#"The "u" value must be an object, but not an array."#),
    );
    check(
        r#"{"upstreams": {"u": {"servers": {}, "balancer": "rr"}}}"#,
        Err(r#"Unknown parameter "balancer"."#),
    );
    check(
        r#"{"upstreams": {"u": {"servers": {"10.0.0.1": {}}}}}"#,
        Err(r#"The "10.0.0.1" is not valid server address."#),
    );
    check(
        r#"{"upstreams": {"u": {"servers": {"backend:80": {}}}}}"#,
        Err(r#"The "backend:80" is not valid server address."#),
    );
    check(
        r#"{"upstreams": {"u": {"servers": {"unix:/run/app.sock": {}, "unix:@app": {}}}}}"#,
        Ok(()),
    );
    check(
        r#"{"upstreams": {"u": {"servers": {"unix:": {}}}}}"#,
        Err(r#"The "unix:" is not valid server address."#),
    );
    check(
        r#"{"upstreams": {"u": {"servers": {"10.0.0.1:80": 1}}}}"#,
        Err(r#"The "10.0.0.1:80" value must be an object, but not an integer number."#),
    );
    check(
        r#"{"upstreams": {"u": {"servers": {"10.0.0.1:80": {"backup": true}}}}}"#,
        Err(r#"Unknown parameter "backup"."#),
    );
    check(
        r#"{"upstreams": {"u": {"servers": {"10.0.0.1:80": {"weight": -1}}}}}"#,
        Err(r#"The "weight" number must be positive."#),
    );
    check(
        r#"{"upstreams": {"u": {"servers": {"10.0.0.1:80": {"weight": 1000000.5}}}}}"#,
        Err(r#"The "weight" number must not exceed 1,000,000"#),
    );
    check(
        r#"{"upstreams": {"u": {"servers": {"10.0.0.1:80": {"weight": "1"}}}}}"#,
        Err(
            r#"The "weight" value must be either an integer number or a fractional number, but not a string."#,
        ),
    );
    check(
        r#"{"upstreams": {"u": {"servers": {"10.0.0.1:80": {"weight": 1e6}, "[::1]:80": {"weight": 0.25}}}}}"#,
        Ok(()),
    );
}

#[test]
fn applications() {
    let app = |members: &str| format!(r#"{{"applications": {{"a": {{{members}}}}}}}"#);
    let external = |members: &str| {
        app(&format!(
            r#""type": "external", "executable": "/bin/a", {members}"#
        ))
    };
    check(
        &app(r#""executable": "/a""#),
        Err(r#"Application must have the "type" property set."#),
    );
    check(
        &app(r#""type": 1"#),
        Err(r#"The "type" value must be a string, but not an integer number."#),
    );
    check(
        &app(r#""type": "python""#),
        Err(r#"The module to run "python" is not found among the available application modules."#),
    );
    check(
        &app(r#""type": "php 8.2", "root": "/www""#),
        Err(r#"The module to run "php 8.2" is not found among the available application modules."#),
    );
    check(
        &app(r#""type": "golang", "executable": "/a""#),
        Err(r#"The module to run "golang" is not found among the available application modules."#),
    );
    check(
        &app(r#""type": "go""#),
        Err(r#"Required parameter "executable" is missing."#),
    );
    check(
        r#"{"applications": {"a": "external"}}"#,
        Err(r#"The "a" value must be an object, but not a string."#),
    );
    check(
        &external(r#""module": "wsgi""#),
        Err(r#"Unknown parameter "module"."#),
    );
    check(
        &external(r#""arguments": "--x""#),
        Err(r#"The "arguments" value must be an array, but not a string."#),
    );
    check(
        &external(r#""arguments": ["--x", 1]"#),
        Err(r#"The "arguments" array must contain only string values."#),
    );
    check(
        &external(r#""arguments": ["a\u0000b"]"#),
        Err(r#"The "arguments" array must not contain strings with null characters."#),
    );
    check(
        &external(r#""processes": "2""#),
        Err(
            r#"The "processes" value must be either an integer number or an object, but not a string."#,
        ),
    );
    check(
        &external(r#""processes": 0"#),
        Err(r#"The "processes" number must not be less than 1."#),
    );
    check(
        &external(r#""processes": {"max": 2, "spare": 3}"#),
        Err(r#"The "spare" number must be less than or equal to "max"."#),
    );
    check(
        &external(r#""processes": {"spare": 2}"#),
        Err(r#"The "spare" number must be less than or equal to "max"."#),
    );
    check(
        &external(r#""processes": {"max": 0}"#),
        Err(r#"The "max" number must not be less than 1."#),
    );
    check(
        &external(r#""processes": {"idle_timeout": 1.5}"#),
        Err(r#"The "idle_timeout" value must be an integer number, but not a fractional number."#),
    );
    check(
        &external(r#""processes": {"min": 1}"#),
        Err(r#"Unknown parameter "min"."#),
    );
    check(
        &external(r#""limits": {"timeout": -1}"#),
        Err(r#"The "timeout" number must not be less than 0."#),
    );
    check(
        &external(r#""limits": {"memory": 1}"#),
        Err(r#"Unknown parameter "memory"."#),
    );
    check(
        &external(r#""user": 1000"#),
        Err(r#"The "user" value must be a string, but not an integer number."#),
    );
    check(
        &external(r#""environment": {"A=B": "x"}"#),
        Err("The environment name must not contain '=' character."),
    );
    check(
        &external(r#""environment": {"": "x"}"#),
        Err("The environment name must not be empty."),
    );
    check(
        &external(r#""environment": {"A\u0000": "x"}"#),
        Err("The environment name must not contain null character."),
    );
    check(
        &external(r#""environment": {"A": "x\u0000"}"#),
        Err("The environment value must not contain null character."),
    );
    check(
        &external(r#""environment": {"A": 1}"#),
        Err(r#"The "environment" object must contain only string values."#),
    );
    check(
        &external(r#""isolation": {"uidmap": [{"container": 0, "host": 1000}]}"#),
        Err(r#"Required parameter "size" is missing."#),
    );
    check(
        &external(r#""isolation": {"gidmap": [1]}"#),
        Err(r#"The "gidmap" array must contain only object values."#),
    );
    check(
        &external(r#""isolation": {"namespaces": {"pid": 1}}"#),
        Err(r#"The "pid" value must be a boolean, but not an integer number."#),
    );
    check(
        &external(r#""isolation": {"namespaces": {"ipc": true}}"#),
        Err(r#"Unknown parameter "ipc"."#),
    );
    check(
        &external(r#""isolation": {"cgroup": {}}"#),
        Err(r#"Required parameter "path" is missing."#),
    );
    check(
        &external(r#""isolation": {"automount": {"sysfs": true}}"#),
        Err(r#"Unknown parameter "sysfs"."#),
    );
    check(
        &external(r#""isolation": {"uidmap": ["0 0 1"]}"#),
        Err(r#"The "uidmap" array must contain only object values."#),
    );
    check(
        &external(r#""isolation": {"rootfs": 1}"#),
        Err(r#"The "rootfs" value must be a string, but not an integer number."#),
    );
    check(
        &external(r#""isolation": {"new_privs": "no"}"#),
        Err(r#"The "new_privs" value must be a boolean, but not a string."#),
    );
    check(
        &external(r#""isolation": {"cgroup": {"path": "unit/app"}}"#),
        Ok(()),
    );
    check(
        &external(r#""isolation": {"cgroup": {"path": "/unit/app/"}}"#),
        Ok(()),
    );
    check(
        &external(r#""isolation": {"cgroup": {"path": "a..b/..c"}}"#),
        Ok(()),
    );
    for path in ["", "..", "../scope", "scope/../python", "/scope/.."] {
        check(
            &external(&format!(
                r#""isolation": {{"cgroup": {{"path": "{path}"}}}}"#
            )),
            Err(&format!(r#"The cgroup path "{path}" is invalid."#)),
        );
    }
    let long = "a".repeat(4096 - "/sys/fs/cgroup".len() - 1);
    check(
        &external(&format!(
            r#""isolation": {{"cgroup": {{"path": "{long}"}}}}"#
        )),
        Err(&format!(r#"The cgroup path "{long}" is too long."#)),
    );
    check(
        &external(&format!(
            r#""isolation": {{"cgroup": {{"path": "{}"}}}}"#,
            &long[1..]
        )),
        Ok(()),
    );
}

#[test]
fn python_applications() {
    let modules = python_modules();
    let check = |config: &str, expected: Result<(), &str>| check_with(&modules, config, expected);
    let app = |members: &str| format!(r#"{{"applications": {{"a": {{{members}}}}}}}"#);
    let python = |members: &str| {
        app(&format!(
            r#""type": "python 3.11", "path": "/srv/app", "module": "wsgi"{members}"#
        ))
    };
    let not_found = |application_type: &str| {
        format!(
            r#"The module to run "{application_type}" is not found among the available application modules."#
        )
    };
    for application_type in [
        "python",
        "python 3",
        "python3",
        "python3.9",
        "python 3.11.2",
    ] {
        check(
            &app(&format!(
                r#""type": "{application_type}", "module": "wsgi""#
            )),
            Ok(()),
        );
    }
    for application_type in ["python 4", "python 3.1", "python3.12", "php", "ruby 3"] {
        check(
            &app(&format!(
                r#""type": "{application_type}", "module": "wsgi""#
            )),
            Err(&not_found(application_type)),
        );
    }
    check(&app(r#""type": "python", "module": "wsgi""#), Ok(()));
    check_with(
        &Modules::default(),
        &python(""),
        Err(&not_found("python 3.11")),
    );

    // Every member, with the common ones.
    check(
        &python(
            r#", "home": "/srv/venv", "callable": "app", "factory": true, "prefix": "/app",
            "protocol": "asgi", "threads": 4, "thread_stack_size": 1048576,
            "processes": {"max": 4, "spare": 1}, "limits": {"timeout": 10, "requests": 100},
            "user": "www", "group": "www", "working_directory": "/srv/app",
            "environment": {"DJANGO_SETTINGS_MODULE": "site.settings"},
            "stdout": "/var/log/app.out", "stderr": "/var/log/app.err",
            "isolation": {"namespaces": {"pid": true}}"#,
        ),
        Ok(()),
    );
    check(&python(r#", "path": ["/a", "/b"]"#), Ok(()));
    check(
        &app(r#""type": "python", "path": "/srv/app""#),
        Err(r#"Required parameter "module" is missing."#),
    );
    check(
        &python(r#", "executable": "/bin/a""#),
        Err(r#"Unknown parameter "executable"."#),
    );
    check(
        &python(r#", "home": 1"#),
        Err(r#"The "home" value must be a string, but not an integer number."#),
    );
    check(
        &python(r#", "path": {}"#),
        Err(r#"The "path" value must be either a string or an array, but not an object."#),
    );
    check(
        &python(r#", "path": ["/blah", []]"#),
        Err(r#"The "path" array must contain only string values."#),
    );
    check(
        &python(r#", "module": 1"#),
        Err(r#"The "module" value must be a string, but not an integer number."#),
    );
    check(
        &python(r#", "callable": false"#),
        Err(r#"The "callable" value must be a string, but not a boolean."#),
    );
    check(
        &python(r#", "factory": "yes""#),
        Err(r#"The "factory" value must be a boolean, but not a string."#),
    );
    for prefix in [r#""app""#, r#""""#] {
        check(
            &python(&format!(r#", "prefix": {prefix}"#)),
            Err(r#"The "prefix" must be a string beginning with "/"."#),
        );
    }
    check(
        &python(r#", "prefix": 1"#),
        Err(r#"The "prefix" value must be a string, but not an integer number."#),
    );
    check(
        &python(r#", "protocol": "http""#),
        Err(r#"The "protocol" can either be "wsgi" or "asgi"."#),
    );
    check(&python(r#", "protocol": "wsgi""#), Ok(()));
    for threads in ["0", "-1"] {
        check(
            &python(&format!(r#", "threads": {threads}"#)),
            Err(r#"The "threads" number must be equal to or greater than 1."#),
        );
    }
    check(
        &python(r#", "threads": 2147483648"#),
        Err(r#"The "threads" number must not exceed 2147483647."#),
    );
    check(
        &python(r#", "threads": 1.5"#),
        Err(r#"The "threads" value must be an integer number, but not a fractional number."#),
    );
    let min_stack =
        super::applications::system_value(nix::unistd::SysconfVar::PTHREAD_STACK_MIN, 16384);
    let page_size = super::applications::system_value(nix::unistd::SysconfVar::PAGE_SIZE, 4096);
    check(
        &python(&format!(r#", "thread_stack_size": {}"#, min_stack - 1)),
        Err(&format!(
            r#"The "thread_stack_size" number must be equal to or greater than {min_stack}."#
        )),
    );
    check(
        &python(&format!(
            r#", "thread_stack_size": {}"#,
            min_stack + page_size + 1
        )),
        Err(&format!(
            r#"The "thread_stack_size" number must be a multiple of the system page size ({page_size})."#
        )),
    );
    check(
        &python(&format!(r#", "thread_stack_size": {}"#, min_stack * 4)),
        Ok(()),
    );
    check(
        &python(r#", "environment": {"var=": "val1"}"#),
        Err(r#"The environment name must not contain '=' character."#),
    );
}

#[test]
fn python_targets() {
    let modules = python_modules();
    let check = |config: &str, expected: Result<(), &str>| check_with(&modules, config, expected);
    let targets = |members: &str| {
        format!(r#"{{"applications": {{"a": {{"type": "python", "path": "/srv", {members}}}}}}}"#)
    };
    check(
        &targets(
            r#""targets": {
                "foo": {"module": "foo.wsgi", "prefix": "/app"},
                "bar": {"module": "bar.wsgi", "callable": "bar", "factory": true, "prefix": "/api"}
            }"#,
        ),
        Ok(()),
    );
    check(&targets(r#""targets": {}"#), Ok(()));
    for (member, value) in [
        ("module", r#""wsgi""#),
        ("callable", r#""app""#),
        ("factory", "true"),
        ("prefix", r#""/app""#),
    ] {
        check(
            &targets(&format!(
                r#""{member}": {value}, "targets": {{"1": {{"module": "wsgi"}}}}"#
            )),
            Err(&format!(
                r#"The "{member}" option is mutually exclusive with the "targets" object."#
            )),
        );
    }
    check(
        &targets(r#""module": 1, "targets": {}"#),
        Err(r#"The "module" value must be a string, but not an integer number."#),
    );
    check(
        &targets(r#""targets": []"#),
        Err(r#"The "targets" value must be an object, but not an array."#),
    );
    check(
        &targets(r#""targets": {"": {"module": "wsgi"}}"#),
        Err("The target name must not be empty."),
    );
    check(
        &targets(r#""targets": {"1": "wsgi"}"#),
        Err(r#"The "1" target must be an object."#),
    );
    check(
        &targets(r#""targets": {"1": {"callable": "app"}}"#),
        Err(r#"Required parameter "module" is missing."#),
    );
    check(
        &targets(r#""targets": {"1": {"module": "wsgi", "path": "/x"}}"#),
        Err(r#"Unknown parameter "path"."#),
    );
    check(
        &targets(r#""targets": {"1": {"module": "wsgi", "prefix": "x"}}"#),
        Err(r#"The "prefix" must be a string beginning with "/"."#),
    );
    let many: Vec<String> = (0..255)
        .map(|index| format!(r#""{index}": {{"module": "wsgi"}}"#))
        .collect();
    check(
        &targets(&format!(r#""targets": {{{}}}"#, many.join(", "))),
        Err(r#"The "targets" object must not contain more than 254 members."#),
    );
    check(
        &targets(&format!(r#""targets": {{{}}}"#, many[..254].join(", "))),
        Ok(()),
    );

    // A `pass` may name a target the application has, and only such a target.
    let with_pass = |pass: &str| {
        format!(
            r#"{{"listeners": {{"*:8080": {{"pass": "{pass}"}}}},
            "applications": {{"a": {{"type": "python", "targets": {{"one": {{"module": "wsgi"}}}}}},
                              "b": {{"type": "python", "module": "wsgi"}}}}}}"#
        )
    };
    check(&with_pass("applications/a/one"), Ok(()));
    check(&with_pass("applications/a"), Ok(()));
    check(&with_pass("applications/b"), Ok(()));
    for pass in ["applications/a/two", "applications/b/one"] {
        check(
            &with_pass(pass),
            Err(&format!(
                r#"Request "pass" points to invalid location "{pass}"."#
            )),
        );
    }
}

#[test]
fn settings() {
    let http = |members: &str| format!(r#"{{"settings": {{"http": {{{members}}}}}}}"#);
    check(
        r#"{"settings": {"listen_threads": 0}}"#,
        Err(r#"The "listen_threads" number must not be less than 1."#),
    );
    check(
        r#"{"settings": {"listen_threads": 2147483648}}"#,
        Err(r#"The "listen_threads" number must not exceed 2147483647."#),
    );
    check(
        r#"{"settings": {"foo": 1}}"#,
        Err(r#"Unknown parameter "foo"."#),
    );
    check(
        r#"{"settings": {"js_module": "m"}}"#,
        Err(r#"Unit is built without the "js_module" option support."#),
    );
    check(
        r#"{"settings": {"telemetry": {"endpoint": "http://otel:4318", "protocol": "http"}}}"#,
        Err(r#"Unit is built without the "telemetry" option support."#),
    );
    check(
        &http(r#""idle_timeout": "x""#),
        Err(r#"The "idle_timeout" value must be an integer number, but not a string."#),
    );
    check(
        &http(r#""send_timeout": 3000000"#),
        Err(r#"The "send_timeout" number must not exceed 2147483."#),
    );
    check(
        &http(r#""max_body_size": -1"#),
        Err(r#"The "max_body_size" number must not be less than 0."#),
    );
    check(
        &http(r#""gzip": true"#),
        Err(r#"Unknown parameter "gzip"."#),
    );
    check(
        &http(r#""log_route": "yes""#),
        Err(r#"The "log_route" value must be a boolean, but not a string."#),
    );
    check(
        &http(r#""websocket": {"max_frame_size": 0}"#),
        Err(r#"The "max_frame_size" number must not be less than 1."#),
    );
    check(
        &http(
            r#""static": {"mime_types": {"text/plain": ".txt", "text/x-text": [".md", ".TXT"]}}"#,
        ),
        Err(
            r#"The ".TXT" extension is assigned to both the "text/plain" and "text/x-text" MIME types."#,
        ),
    );
    check(
        &http(r#""static": {"mime_types": {"text/x": 1}}"#),
        Err(
            r#"The "text/x" value must be either a string or an array, but not an integer number."#,
        ),
    );
    check(
        &http(r#""static": {"mime_types": {"text/x": [".a", null]}}"#),
        Err(r#"The "text/x" array must contain only string values."#),
    );
    check(
        &http(r#""static": {"index": "x"}"#),
        Err(r#"Unknown parameter "index"."#),
    );
    check(
        &http(r#""compression": {"compressors": [{"level": 5}]}"#),
        Err(r#"Required parameter "encoding" is missing."#),
    );
    check(
        &http(r#""compression": {"compressors": "gzip"}"#),
        Err(r#"The "compressors" value must be either an array or an object, but not a string."#),
    );
    check(
        &http(r#""compression": {"types": "**"}"#),
        Err(r#"The "match" pattern must not contain double "*" markers."#),
    );
    check(
        &http(r#""compression": {"compressors": {"encoding": "zstd", "min_length": 10}}"#),
        Ok(()),
    );
}

#[test]
fn access_log() {
    check(
        r#"{"access_log": ""}"#,
        Err(r#"The "access_log" path must not be empty."#),
    );
    check(
        r#"{"access_log": {"format": "$uri"}}"#,
        Err(r#"Required parameter "path" is missing."#),
    );
    check(
        r#"{"access_log": {"path": ""}}"#,
        Err(r#"The "access_log" path must not be empty."#),
    );
    check(
        r#"{"access_log": {"path": 1}}"#,
        Err(r#"The "path" value must be a string, but not an integer number."#),
    );
    check(
        r#"{"access_log": {"path": "/x", "format": "$foo"}}"#,
        Err(r#"Unknown variable "foo" in the "format" value."#),
    );
    check(
        r#"{"access_log": {"path": "/x", "format": {"uri": "$uri", "n": 1}}}"#,
        Err(r#"The "n" value must be a string, but not an integer number."#),
    );
    check(
        r#"{"access_log": {"path": "/x", "format": {"a": "x$"}}}"#,
        Err(r#"Invalid variable at position 1 in the "a" value."#),
    );
    check(
        r#"{"access_log": {"path": "/x", "format": 1}}"#,
        Err(
            r#"The "format" value must be either a string or an object, but not an integer number."#,
        ),
    );
    check(
        r#"{"access_log": {"path": "/x", "if": "!$zz"}}"#,
        Err(r#"Unknown variable "zz" in the "if" value."#),
    );
    check(
        r#"{"access_log": {"path": "/x", "rotate": true}}"#,
        Err(r#"Unknown parameter "rotate"."#),
    );
    check(
        r#"{"access_log": {"path": "/x", "format": "$remote_addr - - [$time_local] \"$request_line\" $status $body_bytes_sent \"$header_referer\" \"$header_user_agent\"", "if": "$status"}}"#,
        Ok(()),
    );
}

/// Checks a listener's `tls` object, with `bundle` and `other` in the store.
fn check_tls(tls: &str, expected: Result<(), &str>) {
    let conf: serde_json::Value = serde_json::from_str(&format!(
        r#"{{"listeners": {{"*:443": {{"pass": "routes", "tls": {tls}}}}}, "routes": []}}"#
    ))
    .expect("test JSON parses");
    let modules = Modules::default();
    let exists = |name: &str| name == "bundle" || name == "other";
    let available = Available::modules(&modules).with_certificates(&exists);
    assert_eq!(
        validate_config(&conf, &available).map_err(|error| error.detail),
        expected.map_err(str::to_owned),
        "tls {tls}"
    );
}

#[test]
fn tls_listeners() {
    check_tls(r#"{"certificate": "bundle"}"#, Ok(()));
    check_tls(r#"{"certificate": ["bundle", "other", "bundle"]}"#, Ok(()));
    check_tls(
        r#"{}"#,
        Err(r#"Required parameter "certificate" is missing."#),
    );
    check_tls(
        r#"{"certificate": "blah"}"#,
        Err(r#"Certificate "blah" is not found."#),
    );
    check_tls(
        r#"{"certificate": ""}"#,
        Err(r#"Certificate "" is not found."#),
    );
    check_tls(
        r#"{"certificate": []}"#,
        Err(r#"The "certificate" array must contain at least one element."#),
    );
    check_tls(
        r#"{"certificate": ["bundle", []]}"#,
        Err(r#"The "certificate" array must contain only string values."#),
    );
    check_tls(
        r#"{"certificate": 1}"#,
        Err(
            r#"The "certificate" value must be either a string or an array, but not an integer number."#,
        ),
    );
    check_tls(
        r#"{"certificate": "bundle", "blah": 1}"#,
        Err(r#"Unknown parameter "blah"."#),
    );
    check_tls(
        r#"[]"#,
        Err(r#"The "tls" value must be an object, but not an array."#),
    );
    // The router checks no names: it gets each bundle from main.
    let conf = serde_json::json!({"listeners": {"*:443": {"pass": "routes", "tls": {"certificate": "absent"}}}, "routes": []});
    assert_eq!(
        validate_config(&conf, &Available::modules(&Modules::default())),
        Ok(())
    );
}

#[test]
fn tls_sessions() {
    check_tls(
        r#"{"certificate": "bundle", "session": {"cache_size": 10, "timeout": 60, "tickets": true}}"#,
        Ok(()),
    );
    check_tls(
        r#"{"certificate": "bundle", "session": {"cache_size": -1}}"#,
        Err(r#"The "cache_size" number must not be negative."#),
    );
    check_tls(
        r#"{"certificate": "bundle", "session": {"cache_size": {}}}"#,
        Err(r#"The "cache_size" value must be an integer number, but not an object."#),
    );
    check_tls(
        r#"{"certificate": "bundle", "session": {"timeout": 0}}"#,
        Err(r#"The "timeout" number must be greater than zero."#),
    );
    let key = "U1oDTh11mMxODuw12gS0EXX1E/PkZG13cJNQ6m5+6BGlfPTjNlIEw7PSVU3X1gTE";
    check_tls(
        &format!(r#"{{"certificate": "bundle", "session": {{"tickets": ["{key}", "{key}"]}}}}"#),
        Ok(()),
    );
    check_tls(
        r#"{"certificate": "bundle", "session": {"tickets": {}}}"#,
        Err(
            r#"The "tickets" value must be either a boolean, a string, or an array, but not an object."#,
        ),
    );
    check_tls(
        r#"{"certificate": "bundle", "session": {"tickets": [1]}}"#,
        Err(r#"The "key" array must contain only string values."#),
    );
    check_tls(
        r#"{"certificate": "bundle", "session": {"tickets": "!?&^"}}"#,
        Err(r#"Invalid Base64 format for the ticket key "!?&^"."#),
    );
    check_tls(
        r#"{"certificate": "bundle", "session": {"tickets": "QUJD"}}"#,
        Err(r#"Invalid length 3 of the ticket key "QUJD".  Must be 48 or 80 bytes."#),
    );
}

#[test]
fn tls_conf_commands() {
    check_tls(
        r#"{"certificate": "bundle", "conf_commands": {"protocol": "-TLSv1.2", "CipherString": "HIGH:!aNULL"}}"#,
        Ok(()),
    );
    check_tls(
        r#"{"certificate": "bundle", "conf_commands": []}"#,
        Err(r#"The "conf_commands" value must be an object, but not an array."#),
    );
    check_tls(
        r#"{"certificate": "bundle", "conf_commands": {"protocol": {}}}"#,
        Err(r#"The "protocol" value must be a string, but not an object."#),
    );
    check_tls(
        r#"{"certificate": "bundle", "conf_commands": {"protocol": "blah"}}"#,
        Err(
            r#"The "conf_commands" value "blah" of "protocol" is invalid: "blah" is not a TLS protocol."#,
        ),
    );
}
