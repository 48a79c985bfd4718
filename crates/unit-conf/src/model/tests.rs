//! Table tests of [`parse_config`]: each row is a configuration and the model expected
//! from it, written as the defaults plus what the row changes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::Modules;
use crate::validate::{parse_address_pattern, parse_template};

/// Parses `config` as JSON and checks the model [`parse_config`] builds from it.
fn check(config: &str, expected: Conf) {
    let conf: Value = serde_json::from_str(config).expect("test JSON parses");
    assert_eq!(
        parse_config(&conf, &Available::modules(&Modules::default())),
        Ok(expected),
        "config {config}"
    );
}

/// Parses `config` as JSON and checks that [`parse_config`] refuses it with `detail`.
fn check_error(config: &str, detail: &str) {
    let conf: Value = serde_json::from_str(config).expect("test JSON parses");
    assert_eq!(
        parse_config(&conf, &Available::modules(&Modules::default())).map_err(|error| error.detail),
        Err(detail.to_owned()),
        "config {config}"
    );
}

/// The parsed template of `text`.
fn template(text: &str) -> Vec<TemplatePart> {
    parse_template(text).expect("test templates parse")
}

/// The parsed address pattern of `text`.
fn address(text: &str) -> AddressPattern {
    parse_address_pattern(text).expect("test address patterns parse")
}

/// The socket address written as `text`.
fn socket(text: &str) -> SocketAddr {
    text.parse().expect("test socket addresses parse")
}

/// Owned strings.
fn strings(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|text| (*text).to_owned()).collect()
}

/// A `return` action without `location`, `rewrite` or `response_headers`.
fn return_action(status: u16) -> RouteAction {
    RouteAction {
        kind: ActionKind::Return {
            status,
            location: None,
        },
        rewrite: None,
        response_headers: Vec::new(),
    }
}

/// An anonymous route of one step with `conditions` returning 200.
fn one_step(conditions: Vec<MatchCondition>) -> Conf {
    Conf {
        routes: Some(Routes::Steps(vec![Step {
            conditions,
            action: return_action(200),
        }])),
        ..Conf::default()
    }
}

/// A listener on `*:80` with everything else absent.
fn listener(pass: Option<&str>) -> Listener {
    Listener {
        address: "*:80".to_owned(),
        socket_address: ListenerAddress::Inet(socket("0.0.0.0:80")),
        pass: pass.map(template),
        forwarded: None,
        backlog: None,
        tls: None,
    }
}

/// An `external` application named `app` running `/bin/app`, with every other member
/// absent; `raw` is its configuration.
fn application(raw: Value) -> Application {
    Application {
        name: "app".to_owned(),
        application_type: "external".to_owned(),
        kind: ApplicationKind::External {
            executable: PathBuf::from("/bin/app"),
            arguments: Vec::new(),
        },
        processes: Processes::Fixed(1),
        limits: Limits::default(),
        user: None,
        group: None,
        working_directory: None,
        environment: Vec::new(),
        stdout: None,
        stderr: None,
        isolation: Isolation::default(),
        raw,
    }
}

#[test]
fn unit_defaults() {
    let http = HttpSettings::default();
    assert_eq!(http.header_read_timeout, Duration::from_secs(30));
    assert_eq!(http.body_read_timeout, Duration::from_secs(30));
    assert_eq!(http.send_timeout, Duration::from_secs(30));
    assert_eq!(http.idle_timeout, Duration::from_secs(180));
    assert_eq!(http.max_body_size, 8_388_608);
    assert_eq!(http.body_buffer_size, 16_384);
    assert_eq!(http.large_header_buffer_size, 8192);
    assert_eq!(http.large_header_buffers, 4);
    assert_eq!(http.body_temp_path, None);
    assert!(http.discard_unsafe_fields);
    assert!(!http.log_route);
    assert!(http.server_version);
    assert!(!http.chunked_transform);
    assert_eq!(http.websocket.read_timeout, Duration::from_secs(60));
    assert_eq!(http.websocket.keepalive_interval, Duration::from_secs(30));
    assert_eq!(http.websocket.max_frame_size, 1_048_576);
    assert!(http.static_files.mime_types.is_empty());
    assert_eq!(http.compression, None);
    assert_eq!(Processes::default(), Processes::Fixed(1));
    assert_eq!(Limits::default().shm, 100 * 1024 * 1024);
    // The default format is written out part by part; it must be what the text parses to.
    assert_eq!(
        LogFormat::default(),
        LogFormat::Text(template(DEFAULT_ACCESS_LOG_FORMAT))
    );
}

#[test]
fn empty_configurations() {
    check("{}", Conf::default());
    check(
        r#"{"listeners": {}, "routes": [], "applications": {}}"#,
        Conf {
            routes: Some(Routes::Steps(Vec::new())),
            ..Conf::default()
        },
    );
    check(
        r#"{"routes": {}, "upstreams": {}, "settings": {}}"#,
        Conf {
            routes: Some(Routes::Named(Vec::new())),
            ..Conf::default()
        },
    );
    check(r#"{"settings": {"http": {}}}"#, Conf::default());
}

#[test]
fn settings() {
    check(
        r#"{"settings": {"listen_threads": 3, "http": {"idle_timeout": 5, "log_route": true}}}"#,
        Conf {
            settings: GlobalSettings {
                listen_threads: Some(3),
                http: HttpSettings {
                    idle_timeout: Duration::from_secs(5),
                    log_route: true,
                    ..HttpSettings::default()
                },
            },
            ..Conf::default()
        },
    );
    check(
        r#"{"settings": {"http": {
            "header_read_timeout": 1,
            "body_read_timeout": 2,
            "send_timeout": 3,
            "idle_timeout": 0,
            "max_body_size": 9223372036854775807,
            "body_buffer_size": 1,
            "large_header_buffer_size": 2,
            "large_header_buffers": 3,
            "body_temp_path": "/var/tmp",
            "discard_unsafe_fields": false,
            "log_route": true,
            "server_version": false,
            "chunked_transform": true,
            "websocket": {"read_timeout": 4, "max_frame_size": 100},
            "static": {"mime_types": {"text/plain": [".log", "README"], "text/x-c": ".c"}},
            "compression": {
                "types": "text/*",
                "compressors": {"encoding": "gzip", "level": 99999999999999999999, "min_length": 10}
            }
        }}}"#,
        Conf {
            settings: GlobalSettings {
                listen_threads: None,
                http: HttpSettings {
                    header_read_timeout: Duration::from_secs(1),
                    body_read_timeout: Duration::from_secs(2),
                    send_timeout: Duration::from_secs(3),
                    idle_timeout: Duration::ZERO,
                    max_body_size: i64::MAX as u64,
                    body_buffer_size: 1,
                    large_header_buffer_size: 2,
                    large_header_buffers: 3,
                    body_temp_path: Some(PathBuf::from("/var/tmp")),
                    discard_unsafe_fields: false,
                    log_route: true,
                    server_version: false,
                    chunked_transform: true,
                    websocket: WebSocketSettings {
                        read_timeout: Duration::from_secs(4),
                        keepalive_interval: Duration::from_secs(30),
                        max_frame_size: 100,
                    },
                    static_files: StaticSettings {
                        mime_types: vec![
                            MimeType {
                                name: "text/plain".to_owned(),
                                keys: strings(&[".log", "README"]),
                            },
                            MimeType {
                                name: "text/x-c".to_owned(),
                                keys: strings(&[".c"]),
                            },
                        ],
                    },
                    compression: Some(Compression {
                        types: strings(&["text/*"]),
                        compressors: vec![Compressor {
                            encoding: "gzip".to_owned(),
                            level: Some(i64::MAX),
                            min_length: Some(10),
                        }],
                    }),
                },
            },
            ..Conf::default()
        },
    );
    check(
        r#"{"settings": {"http": {"compression": {"compressors": [{"encoding": "br"}]}}}}"#,
        Conf {
            settings: GlobalSettings {
                listen_threads: None,
                http: HttpSettings {
                    compression: Some(Compression {
                        types: Vec::new(),
                        compressors: vec![Compressor {
                            encoding: "br".to_owned(),
                            level: None,
                            min_length: None,
                        }],
                    }),
                    ..HttpSettings::default()
                },
            },
            ..Conf::default()
        },
    );
}

#[test]
fn listeners() {
    let routes = Some(Routes::Steps(Vec::new()));
    check(
        r#"{"listeners": {"*:80": {"pass": "routes"}}, "routes": []}"#,
        Conf {
            listeners: vec![listener(Some("routes"))],
            routes: routes.clone(),
            ..Conf::default()
        },
    );
    check(
        r#"{"listeners": {"*:80": {}}}"#,
        Conf {
            listeners: vec![listener(None)],
            ..Conf::default()
        },
    );
    check(
        r#"{"listeners": {"*:80": {"pass": "routes/$host", "backlog": -1}}}"#,
        Conf {
            listeners: vec![listener(Some("routes/$host"))],
            ..Conf::default()
        },
    );
    check(
        r#"{"listeners": {"*:80": {"pass": "routes/$host", "backlog": 0}}}"#,
        Conf {
            listeners: vec![Listener {
                backlog: Some(0),
                ..listener(Some("routes/$host"))
            }],
            ..Conf::default()
        },
    );
    // The legacy `application` is a literal pass, and `pass` wins over it.
    let app = r#""applications": {"a$b": {"type": "go", "executable": "/bin/app"}}"#;
    let mut legacy = listener(None);
    legacy.pass = Some(vec![TemplatePart::Literal("applications/a$b".to_owned())]);
    let applications = vec![Application {
        name: "a$b".to_owned(),
        application_type: "go".to_owned(),
        raw: serde_json::json!({"type": "go", "executable": "/bin/app"}),
        ..application(Value::Null)
    }];
    check(
        &format!(r#"{{"listeners": {{"*:80": {{"application": "a$b"}}}}, {app}}}"#),
        Conf {
            listeners: vec![legacy],
            applications: applications.clone(),
            ..Conf::default()
        },
    );
    check(
        &format!(
            r#"{{"listeners": {{"*:80": {{"application": "a$b", "pass": "routes"}}}}, "routes": [], {app}}}"#
        ),
        Conf {
            listeners: vec![listener(Some("routes"))],
            routes,
            applications,
            ..Conf::default()
        },
    );
    check(
        r#"{"listeners": {
            "unix:@admin": {"pass": "routes/$host", "forwarded": {
                "protocol": "X-Forwarded-Proto", "source": ["10.0.0.0/8", "unix"]
            }},
            "[::1]:8080": {"pass": "routes/$host", "client_ip": {
                "header": "X-Real-IP", "source": "127.0.0.1", "recursive": true
            }},
            "unix:/run/unit.sock": {"pass": "routes/$host",
                "forwarded": {"client_ip": "X-Forwarded-For", "source": "unix"},
                "client_ip": {"header": "X-Real-IP", "source": "127.0.0.1"}
            }
        }}"#,
        Conf {
            listeners: vec![
                Listener {
                    address: "unix:@admin".to_owned(),
                    socket_address: ListenerAddress::Abstract("admin".to_owned()),
                    forwarded: Some(Forwarded {
                        client_ip: None,
                        protocol: Some("X-Forwarded-Proto".to_owned()),
                        source: vec![address("10.0.0.0/8"), address("unix")],
                        recursive: false,
                    }),
                    ..listener(Some("routes/$host"))
                },
                Listener {
                    address: "[::1]:8080".to_owned(),
                    socket_address: ListenerAddress::Inet(socket("[::1]:8080")),
                    forwarded: Some(Forwarded {
                        client_ip: Some("X-Real-IP".to_owned()),
                        protocol: None,
                        source: vec![address("127.0.0.1")],
                        recursive: true,
                    }),
                    ..listener(Some("routes/$host"))
                },
                // With both forms, `forwarded` is the one used.
                Listener {
                    address: "unix:/run/unit.sock".to_owned(),
                    socket_address: ListenerAddress::Unix(PathBuf::from("/run/unit.sock")),
                    forwarded: Some(Forwarded {
                        client_ip: Some("X-Forwarded-For".to_owned()),
                        protocol: None,
                        source: vec![address("unix")],
                        recursive: false,
                    }),
                    ..listener(Some("routes/$host"))
                },
            ],
            ..Conf::default()
        },
    );
}

#[test]
fn tls_listeners() {
    let tls_listener = |tls: &str| {
        let conf: Value = serde_json::from_str(&format!(
            r#"{{"listeners": {{"*:443": {{"pass": "routes", "tls": {tls}}}}}, "routes": []}}"#
        ))
        .expect("test JSON parses");
        parse_config(&conf, &Available::modules(&Modules::default()))
            .expect("valid")
            .listeners
            .remove(0)
            .tls
            .expect("tls")
    };
    assert_eq!(
        tls_listener(r#"{"certificate": "bundle"}"#),
        ListenerTls {
            certificates: strings(&["bundle"]),
            commands: crate::TlsCommands::default(),
            session: TlsSession {
                cache_size: 0,
                timeout: Duration::from_secs(300),
                tickets: SessionTickets::Off,
            },
        }
    );
    let key = "U1oDTh11mMxODuw12gS0EXX1E/PkZG13cJNQ6m5+6BGlfPTjNlIEw7PSVU3X1gTE";
    let configured = tls_listener(&format!(
        r#"{{"certificate": ["a", "b"], "conf_commands": {{"Protocol": "-TLSv1.3"}},
            "session": {{"cache_size": 5, "timeout": 1, "tickets": ["{key}", "{key}"]}}}}"#
    ));
    assert_eq!(configured.certificates, strings(&["a", "b"]));
    assert_eq!(configured.commands.versions, vec![crate::TlsVersion::Tls12]);
    assert_eq!(configured.session.cache_size, 5);
    assert_eq!(configured.session.timeout, Duration::from_secs(1));
    assert!(
        matches!(&configured.session.tickets, SessionTickets::Keys(keys) if keys.len() == 2 && keys[0].len() == 48)
    );
    let tickets = |tickets: &str| {
        tls_listener(&format!(
            r#"{{"certificate": "a", "session": {{"tickets": {tickets}}}}}"#
        ))
        .session
        .tickets
    };
    assert_eq!(tickets("true"), SessionTickets::On);
    assert_eq!(tickets("false"), SessionTickets::Off);
    assert_eq!(tickets("[]"), SessionTickets::Off);
}

#[test]
fn match_conditions() {
    let field = |name: &str, patterns: &[&str]| FieldPatterns {
        name: name.to_owned(),
        patterns: strings(patterns),
    };
    check(
        r#"{"routes": [{"action": {"return": 200}, "match": {
            "uri": "/a%20b/*",
            "host": ["example.com", "!*.example.org"],
            "method": [],
            "query": "~x=1",
            "headers": {"Accept": "*json*", "X-A": ["1", "2"]},
            "arguments": [{"q%20x": "a"}, {"b": "c"}],
            "cookies": {"sid": "!"},
            "scheme": "HTTPS",
            "source": ["10.0.0.1-10.0.0.9:80", "!unix"],
            "destination": "*:443",
            "if": "!$arg_skip"
        }}]}"#,
        one_step(vec![
            MatchCondition::Uri(strings(&["/a%20b/*"])),
            MatchCondition::Host(strings(&["example.com", "!*.example.org"])),
            MatchCondition::Method(Vec::new()),
            MatchCondition::Query(strings(&["~x=1"])),
            MatchCondition::Headers(vec![vec![
                field("Accept", &["*json*"]),
                field("X-A", &["1", "2"]),
            ]]),
            MatchCondition::Arguments(vec![vec![field("q%20x", &["a"])], vec![field("b", &["c"])]]),
            MatchCondition::Cookies(vec![vec![field("sid", &["!"])]]),
            MatchCondition::Scheme(Scheme::Https),
            MatchCondition::Source(vec![address("10.0.0.1-10.0.0.9:80"), address("!unix")]),
            MatchCondition::Destination(vec![address("*:443")]),
            MatchCondition::If(Condition {
                negated: true,
                template: template("$arg_skip"),
            }),
        ]),
    );
    check(
        r#"{"routes": [{"match": {"scheme": "http", "if": "$host"}, "action": {"return": 200}}]}"#,
        one_step(vec![
            MatchCondition::Scheme(Scheme::Http),
            MatchCondition::If(Condition {
                negated: false,
                template: template("$host"),
            }),
        ]),
    );
    check(
        r#"{"routes": [{"match": {}, "action": {"return": 200}}]}"#,
        one_step(Vec::new()),
    );
}

#[test]
fn actions() {
    let step = |action: RouteAction| Step {
        conditions: Vec::new(),
        action,
    };
    let plain = |kind: ActionKind| RouteAction {
        kind,
        rewrite: None,
        response_headers: Vec::new(),
    };
    let default_share = |paths: &[&str]| Share {
        paths: paths.iter().map(|path| template(path)).collect(),
        index: "index.html".to_owned(),
        types: None,
        fallback: None,
        chroot: None,
        follow_symlinks: true,
        traverse_mounts: true,
    };
    check(
        r#"{"routes": {"main": [
            {"action": {"pass": "routes/other", "rewrite": "/new$uri",
                        "response_headers": {"X-Host": "$host", "Server": null}}},
            {"action": {"return": 301, "location": "https://$host$request_uri"}},
            {"action": {"return": 0}},
            {"action": {"share": "/srv$uri"}},
            {"action": {"share": ["/a$uri", "/b/"], "index": "home.html", "types": "image/*",
                        "chroot": "/srv/$host", "follow_symlinks": false,
                        "traverse_mounts": false, "fallback": {"proxy": "http://unix:/run/b.sock"}}},
            {"action": {"proxy": "http://127.0.0.1:8080"}},
            {"action": {"proxy": "http://[::1]:9000"}},
            {"action": {"proxy": "http://unix:@backend"}}
        ], "other": []}}"#,
        Conf {
            routes: Some(Routes::Named(vec![
                Route {
                    name: "main".to_owned(),
                    steps: vec![
                        step(RouteAction {
                            kind: ActionKind::Pass(template("routes/other")),
                            rewrite: Some(template("/new$uri")),
                            response_headers: vec![
                                ResponseHeader {
                                    name: "X-Host".to_owned(),
                                    value: Some(template("$host")),
                                },
                                ResponseHeader {
                                    name: "Server".to_owned(),
                                    value: None,
                                },
                            ],
                        }),
                        step(plain(ActionKind::Return {
                            status: 301,
                            location: Some(template("https://$host$request_uri")),
                        })),
                        step(return_action(0)),
                        step(plain(ActionKind::Share(default_share(&["/srv$uri"])))),
                        step(plain(ActionKind::Share(Share {
                            index: "home.html".to_owned(),
                            types: Some(strings(&["image/*"])),
                            fallback: Some(Box::new(plain(ActionKind::Proxy(
                                ServerAddress::Unix(PathBuf::from("/run/b.sock")),
                            )))),
                            chroot: Some(template("/srv/$host")),
                            follow_symlinks: false,
                            traverse_mounts: false,
                            ..default_share(&["/a$uri", "/b/"])
                        }))),
                        step(plain(ActionKind::Proxy(ServerAddress::Inet(socket(
                            "127.0.0.1:8080",
                        ))))),
                        step(plain(ActionKind::Proxy(ServerAddress::Inet(socket(
                            "[::1]:9000",
                        ))))),
                        step(plain(ActionKind::Proxy(ServerAddress::Abstract(
                            "backend".to_owned(),
                        )))),
                    ],
                },
                Route {
                    name: "other".to_owned(),
                    steps: Vec::new(),
                },
            ])),
            ..Conf::default()
        },
    );
}

#[test]
fn upstreams() {
    check(
        r#"{"upstreams": {
            "pool": {"servers": {"127.0.0.1:8001": {}, "[::1]:8002": {"weight": 2.5}}},
            "local": {"servers": {"unix:/run/a.sock": {"weight": 0}, "unix:@b": {}}},
            "none": {"servers": {}}
        }}"#,
        Conf {
            upstreams: vec![
                Upstream {
                    name: "pool".to_owned(),
                    servers: vec![
                        UpstreamServer {
                            address: ServerAddress::Inet(socket("127.0.0.1:8001")),
                            weight: 1.0,
                        },
                        UpstreamServer {
                            address: ServerAddress::Inet(socket("[::1]:8002")),
                            weight: 2.5,
                        },
                    ],
                },
                Upstream {
                    name: "local".to_owned(),
                    servers: vec![
                        UpstreamServer {
                            address: ServerAddress::Unix(PathBuf::from("/run/a.sock")),
                            weight: 0.0,
                        },
                        UpstreamServer {
                            address: ServerAddress::Abstract("b".to_owned()),
                            weight: 1.0,
                        },
                    ],
                },
                Upstream {
                    name: "none".to_owned(),
                    servers: Vec::new(),
                },
            ],
            ..Conf::default()
        },
    );
}

#[test]
fn applications() {
    let minimal = serde_json::json!({"type": "external", "executable": "/bin/app"});
    check(
        &format!(r#"{{"applications": {{"app": {minimal}}}}}"#),
        Conf {
            applications: vec![application(minimal.clone())],
            ..Conf::default()
        },
    );
    let full = serde_json::json!({
        "type": "external 1.2",
        "executable": "/bin/app",
        "arguments": ["--port", "3"],
        "processes": {"max": 8, "spare": 2, "idle_timeout": 20},
        "limits": {"timeout": 10, "requests": 1000, "shm": 4096},
        "user": "www",
        "group": "www-data",
        "working_directory": "/srv/app",
        "environment": {"B": "2", "A": "1"},
        "stdout": "/var/log/app.out",
        "stderr": "/var/log/app.err",
        "isolation": {"namespaces": {"pid": true}}
    });
    check(
        &format!(r#"{{"applications": {{"app": {full}}}}}"#),
        Conf {
            applications: vec![Application {
                application_type: "external 1.2".to_owned(),
                kind: ApplicationKind::External {
                    executable: PathBuf::from("/bin/app"),
                    arguments: strings(&["--port", "3"]),
                },
                processes: Processes::Dynamic {
                    max: 8,
                    spare: 2,
                    idle_timeout: Duration::from_secs(20),
                },
                limits: Limits {
                    timeout: Some(Duration::from_secs(10)),
                    requests: Some(1000),
                    shm: 4096,
                },
                user: Some("www".to_owned()),
                group: Some("www-data".to_owned()),
                working_directory: Some(PathBuf::from("/srv/app")),
                environment: vec![
                    ("B".to_owned(), "2".to_owned()),
                    ("A".to_owned(), "1".to_owned()),
                ],
                stdout: Some(PathBuf::from("/var/log/app.out")),
                stderr: Some(PathBuf::from("/var/log/app.err")),
                isolation: Isolation {
                    namespaces: Namespaces {
                        pid: true,
                        ..Namespaces::default()
                    },
                    ..Isolation::default()
                },
                ..application(full.clone())
            }],
            ..Conf::default()
        },
    );
    for (processes, limits, expected_processes, expected_limits) in [
        (r#"4"#, r#"{}"#, Processes::Fixed(4), Limits::default()),
        (
            r#"{}"#,
            r#"{"timeout": 0, "requests": 0}"#,
            Processes::Dynamic {
                max: 1,
                spare: 0,
                idle_timeout: Duration::from_secs(15),
            },
            Limits::default(),
        ),
        (
            r#"{"spare": 1, "max": 3}"#,
            r#"{"requests": 1}"#,
            Processes::Dynamic {
                max: 3,
                spare: 1,
                idle_timeout: Duration::from_secs(15),
            },
            Limits {
                requests: Some(1),
                ..Limits::default()
            },
        ),
    ] {
        let raw: Value = serde_json::from_str(&format!(
            r#"{{"type": "external", "executable": "/bin/app", "processes": {processes}, "limits": {limits}}}"#
        ))
        .expect("test JSON parses");
        check(
            &format!(r#"{{"applications": {{"app": {raw}}}}}"#),
            Conf {
                applications: vec![Application {
                    processes: expected_processes,
                    limits: expected_limits,
                    ..application(raw.clone())
                }],
                ..Conf::default()
            },
        );
    }
}

#[test]
fn isolation() {
    let check_isolation = |isolation: &str, expected: Isolation| {
        let value: Value = serde_json::from_str(isolation).expect("test JSON parses");
        assert_eq!(parse_isolation(&value), Ok(expected.clone()), "{isolation}");
        let raw =
            serde_json::json!({"type": "external", "executable": "/bin/app", "isolation": value});
        check(
            &format!(r#"{{"applications": {{"app": {raw}}}}}"#),
            Conf {
                applications: vec![Application {
                    isolation: expected,
                    ..application(raw.clone())
                }],
                ..Conf::default()
            },
        );
    };
    check_isolation("{}", Isolation::default());
    check_isolation(
        r#"{
            "namespaces": {"credential": true, "pid": true, "network": true, "mount": true, "uname": true, "cgroup": true},
            "uidmap": [{"container": 0, "host": 1000, "size": 10}, {"container": 10, "host": 2000, "size": 1}],
            "gidmap": [{"container": 0, "host": 1000, "size": 1}],
            "rootfs": "/srv/root/",
            "automount": {"language_deps": false, "procfs": false},
            "new_privs": false,
            "cgroup": {"path": "unit/app"}
        }"#,
        Isolation {
            namespaces: Namespaces {
                credential: true,
                pid: true,
                network: true,
                mount: true,
                uname: true,
                cgroup: true,
            },
            uidmap: vec![
                IdMapping {
                    container: 0,
                    host: 1000,
                    size: 10,
                },
                IdMapping {
                    container: 10,
                    host: 2000,
                    size: 1,
                },
            ],
            gidmap: vec![IdMapping {
                container: 0,
                host: 1000,
                size: 1,
            }],
            rootfs: Some("/srv/root/".to_owned()),
            automount: Automount {
                language_deps: false,
                tmpfs: true,
                procfs: false,
            },
            new_privs: false,
            cgroup: Some("unit/app".to_owned()),
        },
    );
    check_isolation(
        r#"{"namespaces": {"uname": true, "network": false}}"#,
        Isolation {
            namespaces: Namespaces {
                uname: true,
                ..Namespaces::default()
            },
            ..Isolation::default()
        },
    );
    // Main reads the object the router sends it with the validator's messages.
    for (isolation, detail) in [
        (
            "[]",
            r#"The "isolation" value must be an object, but not an array."#,
        ),
        (
            r#"{"cgroup": {"path": ""}}"#,
            r#"The cgroup path "" is invalid."#,
        ),
        (
            r#"{"namespaces": {"ipc": true}}"#,
            r#"Unknown parameter "ipc"."#,
        ),
    ] {
        let value: Value = serde_json::from_str(isolation).expect("test JSON parses");
        assert_eq!(
            parse_isolation(&value).map_err(|error| error.detail),
            Err(detail.to_owned()),
            "{isolation}"
        );
    }
}

/// Python 3.11.2 and 3.9.18, as main would have discovered them.
fn python_modules() -> Modules {
    let python = |version: &str| crate::Module {
        module_type: "python".to_owned(),
        version: version.to_owned(),
        file: PathBuf::from(format!("/usr/lib/unit/modules/python{version}.unit")),
    };
    Modules::new(vec![python("3.9.18"), python("3.11.2")])
}

/// The model of `application` (a `python` one) with `modules` discovered.
fn python_kind(modules: &Modules, raw: &Value) -> Result<PythonApplication, String> {
    let conf = serde_json::json!({"applications": {"app": raw}});
    let application = parse_config(&conf, &Available::modules(modules))
        .map_err(|error| error.detail)?
        .applications
        .into_iter()
        .next()
        .ok_or("no application")?;
    match application.kind {
        ApplicationKind::Python(python) => Ok(python),
        other => Err(format!("not a python application: {other:?}")),
    }
}

#[test]
fn python_applications() {
    let modules = python_modules();
    let minimal = serde_json::json!({"type": "python 3.11", "path": "/srv/app", "module": "wsgi"});
    let defaults = PythonApplication {
        module_file: PathBuf::from("/usr/lib/unit/modules/python3.11.2.unit"),
        version: "3.11.2".to_owned(),
        home: None,
        path: vec![PathBuf::from("/srv/app")],
        module: Some("wsgi".to_owned()),
        callable: None,
        factory: false,
        prefix: None,
        protocol: None,
        targets: Vec::new(),
        threads: 1,
        thread_stack_size: None,
    };
    assert_eq!(python_kind(&modules, &minimal), Ok(defaults.clone()));
    // The application keeps its type as written and its object as configured.
    let conf = serde_json::json!({"applications": {"app": minimal}});
    let application = parse_config(&conf, &Available::modules(&modules))
        .ok()
        .and_then(|conf| conf.applications.into_iter().next());
    assert_eq!(
        application.map(|application| (application.application_type, application.raw)),
        Some(("python 3.11".to_owned(), minimal.clone()))
    );

    let older = serde_json::json!({"type": "python3.9", "module": "wsgi"});
    assert_eq!(
        python_kind(&modules, &older),
        Ok(PythonApplication {
            module_file: PathBuf::from("/usr/lib/unit/modules/python3.9.18.unit"),
            version: "3.9.18".to_owned(),
            path: Vec::new(),
            ..defaults.clone()
        })
    );

    let full = serde_json::json!({
        "type": "python",
        "home": "/srv/venv",
        "path": ["/srv/a", "/srv/b"],
        "module": "asgi",
        "callable": "make_app",
        "factory": true,
        "prefix": "/app",
        "protocol": "asgi",
        "threads": 8,
        "thread_stack_size": 1048576,
    });
    assert_eq!(
        python_kind(&modules, &full),
        Ok(PythonApplication {
            home: Some(PathBuf::from("/srv/venv")),
            path: vec![PathBuf::from("/srv/a"), PathBuf::from("/srv/b")],
            module: Some("asgi".to_owned()),
            callable: Some("make_app".to_owned()),
            factory: true,
            prefix: Some("/app".to_owned()),
            protocol: Some(Protocol::Asgi),
            threads: 8,
            thread_stack_size: Some(1048576),
            ..defaults.clone()
        })
    );

    let targets = serde_json::json!({
        "type": "python",
        "protocol": "wsgi",
        "targets": {
            "foo": {"module": "foo.wsgi", "prefix": "/app"},
            "bar": {"module": "bar.wsgi", "callable": "bar", "factory": true},
        },
    });
    assert_eq!(
        python_kind(&modules, &targets),
        Ok(PythonApplication {
            path: Vec::new(),
            module: None,
            protocol: Some(Protocol::Wsgi),
            targets: vec![
                PythonTarget {
                    name: "foo".to_owned(),
                    module: "foo.wsgi".to_owned(),
                    callable: None,
                    factory: false,
                    prefix: Some("/app".to_owned()),
                },
                PythonTarget {
                    name: "bar".to_owned(),
                    module: "bar.wsgi".to_owned(),
                    callable: Some("bar".to_owned()),
                    factory: true,
                    prefix: None,
                },
            ],
            ..defaults.clone()
        })
    );

    assert_eq!(
        python_kind(
            &modules,
            &serde_json::json!({"type": "python 4", "module": "wsgi"})
        ),
        Err(
            r#"The module to run "python 4" is not found among the available application modules."#
                .to_owned()
        )
    );
    assert_eq!(
        python_kind(&Modules::default(), &minimal),
        Err(
            r#"The module to run "python 3.11" is not found among the available application modules."#
                .to_owned()
        )
    );
}

#[test]
fn access_logs() {
    let access_log = |path: &str, format: LogFormat, condition: Option<Condition>| Conf {
        access_log: Some(AccessLog {
            path: PathBuf::from(path),
            format,
            condition,
        }),
        ..Conf::default()
    };
    check(
        r#"{"access_log": "/var/log/access.log"}"#,
        access_log("/var/log/access.log", LogFormat::default(), None),
    );
    check(
        r#"{"access_log": {"path": "/a.log"}}"#,
        access_log("/a.log", LogFormat::default(), None),
    );
    check(
        r#"{"access_log": {"path": "/a.log", "format": "$uri $status", "if": "$arg_log"}}"#,
        access_log(
            "/a.log",
            LogFormat::Text(template("$uri $status")),
            Some(Condition {
                negated: false,
                template: template("$arg_log"),
            }),
        ),
    );
    check(
        r#"{"access_log": {"path": "/a.log", "format": {"uri": "$uri", "n": "1"}, "if": "!0"}}"#,
        access_log(
            "/a.log",
            LogFormat::Json(vec![
                ("uri".to_owned(), template("$uri")),
                ("n".to_owned(), template("1")),
            ]),
            Some(Condition {
                negated: true,
                template: template("0"),
            }),
        ),
    );
}

/// Found by fuzzing (`config`): `-0` is an integer the validator reads as 0, but the
/// model read unsigned numbers by their spelling and refused it, "although it was
/// validated".
#[test]
fn minus_zero_is_zero() {
    check(
        r#"{"routes": [{"action": {"return": -0}}]}"#,
        Conf {
            routes: Some(Routes::Steps(vec![Step {
                conditions: Vec::new(),
                action: return_action(0),
            }])),
            ..Conf::default()
        },
    );
    check(
        r#"{"settings": {"http": {"idle_timeout": -0, "max_body_size": -0}}}"#,
        Conf {
            settings: GlobalSettings {
                http: HttpSettings {
                    idle_timeout: Duration::ZERO,
                    max_body_size: 0,
                    ..HttpSettings::default()
                },
                ..GlobalSettings::default()
            },
            ..Conf::default()
        },
    );
}

#[test]
fn validation_errors_come_first() {
    check_error(
        "[]",
        "The configuration must be an object, but not an array.",
    );
    check_error(r#"{"foo": 1}"#, "Unknown parameter \"foo\".");
    check_error(
        r#"{"settings": {"http": {"idle_timeout": -1}}}"#,
        "The \"idle_timeout\" number must not be less than 0.",
    );
    check_error(
        r#"{"listeners": {"*:80": {"pass": "routes"}}}"#,
        "Request \"pass\" points to invalid location \"routes\".",
    );
}
