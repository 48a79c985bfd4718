//! Router actions and options end to end (UNIT-COMPAT 3.2-3.7): the rarer match
//! conditions and pattern forms, share options, error pages, `forwarded` and
//! `client_ip`, `discard_unsafe_fields`, `send_timeout`, unix sockets on either side of
//! a proxy, resending to an upstream that closed a pooled connection, and `listen_threads`.

mod support;

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::unistd::Pid;
use serde_json::json;
use support::http::{
    HttpReply, backend, backend_answer, connect, connect_with_receive_buffer, exchange,
    exchange_from, free_port, get, get_request, read_reply, received_heads, start_with,
    unix_backend, unix_backend_on, write_public, www,
};
use support::{TestUnit, proc_status_field, wait_until};

/// The usual client address.
const LOCAL_CLIENT: Ipv4Addr = Ipv4Addr::LOCALHOST;
/// Another loopback address, so the router sees a second client.
const OTHER_CLIENT: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 7);

/// Extra request header lines, as name and value.
type HeaderLines<'a> = &'a [(&'a str, &'a str)];

/// Unit's error page for `status`.
fn error_page(status: u16) -> String {
    format!("<!DOCTYPE html><title>Error {status}</title><p>Error {status}.\r\n")
}

fn assert_error_page(reply: &HttpReply, status: u16) {
    assert_eq!(reply.status, status, "{}", reply.head);
    assert_eq!(
        reply.header("Content-Type").as_deref(),
        Some("text/html"),
        "{}",
        reply.head
    );
    assert_eq!(reply.text(), error_page(status));
}

#[test]
fn match_conditions_and_pattern_forms() {
    let port = free_port();
    let _unit = start_with(
        "match-forms",
        &json!({
            "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
            "routes": [
                {"match": {"uri": "/query", "query": "mode=exact"}, "action": {"return": 210}},
                {"match": {"uri": "/query-set", "query": ["a=*", "!a=bad*"]}, "action": {"return": 211}},
                {"match": {"uri": "/arguments", "arguments": [{"x": "1"}, {"y": "2", "z": "3"}]}, "action": {"return": 212}},
                {"match": {"uri": "/headers", "headers": [{"X-A": "1"}, {"X-B": "2", "X-C": "3"}]}, "action": {"return": 213}},
                {"match": {"uri": "/a*b"}, "action": {"return": 214}},
                {"match": {"uri": "/scheme", "scheme": "http"}, "action": {"return": 215}},
                {"match": {"uri": "/scheme-https", "scheme": "https"}, "action": {"return": 216}},
                {"match": {"uri": "/range", "source": "127.0.0.1-127.0.0.5"}, "action": {"return": 217}},
                {"match": {"uri": "/negated", "source": "!127.0.0.1"}, "action": {"return": 218}},
                {"match": {"uri": "/destination", "destination": format!("127.0.0.1:1-{}", port - 1)}, "action": {"return": 219}},
                {"match": {"uri": "/destination", "destination": format!("127.0.0.1:{port}-65535")}, "action": {"return": 220}}
            ]
        }),
    );
    let rows: &[(&str, HeaderLines<'_>, u16)] = &[
        // `query` is the whole decoded query string.
        ("/query?mode=exact", &[], 210),
        ("/query?mode=%65xact", &[], 210),
        ("/query?mode=exact&more", &[], 404),
        ("/query", &[], 404),
        ("/query-set?a=good", &[], 211),
        ("/query-set?a=bad1", &[], 404),
        ("/query-set?b=1", &[], 404),
        // An array of objects: any object, all of its members.
        ("/arguments?x=1", &[], 212),
        ("/arguments?x=%31", &[], 212),
        ("/arguments?z=3&y=2", &[], 212),
        ("/arguments?y=2", &[], 404),
        ("/arguments?x=2", &[], 404),
        ("/headers", &[("X-A", "1")], 213),
        ("/headers", &[("x-b", "2"), ("X-C", "3")], 213),
        ("/headers", &[("X-B", "2")], 404),
        ("/headers", &[("X-A", "1"), ("X-A", "9")], 404),
        ("/headers", &[], 404),
        // A `*` in the middle.
        ("/ab", &[], 214),
        ("/a-middle-b", &[], 214),
        ("/abc", &[], 404),
        ("/xab", &[], 404),
        ("/scheme", &[], 215),
        ("/scheme-https", &[], 404),
        ("/range", &[], 217),
        ("/negated", &[], 404),
        ("/destination", &[], 220),
    ];
    for (path, headers, status) in rows {
        let reply = exchange(port, &get_request(path, headers));
        assert_eq!(reply.status, *status, "{path} {headers:?}");
    }
    // Another loopback client is outside the range and passes the negation.
    let from_other = |path: &str| exchange_from(OTHER_CLIENT, port, &get_request(path, &[]));
    assert_eq!(from_other("/range").status, 404);
    assert_eq!(from_other("/negated").status, 218);
    assert_eq!(
        exchange_from(LOCAL_CLIENT, port, &get_request("/range", &[])).status,
        217
    );
    // No step matches: 404 with the error page.
    assert_error_page(&get(port, "/nowhere"), 404);
}

#[test]
fn share_paths_in_order_with_index_and_types() {
    let port = free_port();
    let unit = TestUnit::start("share-options", &[]);
    let root = www(&unit);
    write_public(&root, "alt/hello.txt", "alternative hello\n");
    write_public(&root, "custom/start.txt", "custom start\n");
    write_public(&root, "custom/html-only/index.html", "not the index here");
    write_public(&root, "typed/plain.txt", "plain");
    write_public(&root, "typed/page.html", "<p>page</p>");
    write_public(&root, "typed/data.unknownext", "data");
    let root = root.display();
    let conf = json!({
        "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
        "routes": [
            {"match": {"uri": "/custom/*"}, "action": {"share": format!("{root}$uri"), "index": "start.txt"}},
            {"match": {"uri": "/typed/*"}, "action": {"share": format!("{root}$uri"), "types": ["text/plain"]}},
            {"action": {"share": [format!("{root}/missing$uri"), format!("{root}/alt$uri"), format!("{root}$uri")]}}
        ]
    });
    let response = unit.put("/config", &conf.to_string());
    assert_eq!(response.status, 200, "{}", response.body);

    // The first path that exists wins; a missing one is skipped.
    assert_eq!(get(port, "/hello.txt").text(), "alternative hello\n");
    assert_eq!(get(port, "/index.html").text(), "<h1>index</h1>");
    assert_error_page(&get(port, "/nothing.txt"), 404);

    let custom = get(port, "/custom/");
    assert_eq!(custom.status, 200);
    assert_eq!(custom.text(), "custom start\n");
    assert_eq!(custom.header("Content-Type").as_deref(), Some("text/plain"));
    assert_eq!(
        get(port, "/custom/html-only/").status,
        404,
        "index.html is not the index when another is configured"
    );

    assert_eq!(get(port, "/typed/plain.txt").text(), "plain");
    assert_error_page(&get(port, "/typed/page.html"), 403);
    assert_error_page(&get(port, "/typed/data.unknownext"), 403);
}

#[test]
fn mime_types_setting_names_content_types() {
    let port = free_port();
    let unit = TestUnit::start("mime-types", &[]);
    let root = www(&unit);
    write_public(&root, "page.cst", "custom page");
    write_public(&root, "LOUD.CST", "loud page");
    write_public(&root, "README", "read me");
    let root = root.display();
    let conf = json!({
        "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
        "routes": [
            {"match": {"uri": "/only-custom/*"}, "action": {"rewrite": "/page.cst", "share": format!("{root}$uri"), "types": "text/x-custom"}},
            {"action": {"share": format!("{root}$uri")}}
        ],
        "settings": {"http": {"static": {"mime_types": {
            "text/x-custom": [".cst"],
            "text/x-readme": "README"
        }}}}
    });
    let response = unit.put("/config", &conf.to_string());
    assert_eq!(response.status, 200, "{}", response.body);

    let content_type = |path: &str| {
        let reply = get(port, path);
        assert_eq!(reply.status, 200, "{path}");
        reply.header("Content-Type")
    };
    assert_eq!(content_type("/page.cst").as_deref(), Some("text/x-custom"));
    assert_eq!(
        content_type("/LOUD.CST").as_deref(),
        Some("text/x-custom"),
        "extensions match without regard to case"
    );
    assert_eq!(content_type("/README").as_deref(), Some("text/x-readme"));
    assert_eq!(
        content_type("/hello.txt").as_deref(),
        Some("text/plain"),
        "the built-in table still applies"
    );
    // `types` sees the configured type.
    assert_eq!(get(port, "/only-custom/x").text(), "custom page");
}

/// Whether `/proc` is a mount point of its own in this mount namespace.
fn proc_is_a_mount_point() -> bool {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|line| line.split(' ').nth(4) == Some("/proc"))
}

#[test]
fn traverse_mounts_false_stays_on_one_mount() {
    let port = free_port();
    let unit = TestUnit::start("traverse-mounts", &[]);
    let root = www(&unit);
    let root = root.display();
    let conf = json!({
        "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
        "routes": [
            // Under a chroot, resolution starts at the chroot, which is on the share's
            // mount wherever the temporary directory lives.
            {"match": {"uri": "/dir/*"}, "action": {"share": format!("{root}$uri"), "chroot": root.to_string(), "traverse_mounts": false}},
            {"match": {"uri": "/crossing"}, "action": {"share": "/proc/version", "traverse_mounts": false}},
            {"match": {"uri": "/allowed"}, "action": {"share": "/proc/version"}}
        ]
    });
    let response = unit.put("/config", &conf.to_string());
    assert_eq!(response.status, 200, "{}", response.body);

    assert_eq!(get(port, "/dir/index.html").text(), "dir index");
    if proc_is_a_mount_point() {
        assert_eq!(get(port, "/allowed").status, 200);
        assert_error_page(&get(port, "/crossing"), 403);
    }
}

/// Whether `pid` may read files regardless of their permission bits (CAP_DAC_OVERRIDE
/// or CAP_DAC_READ_SEARCH in its effective set).
fn bypasses_file_permissions(pid: Pid) -> bool {
    const DAC_CAPABILITIES: u64 = 1 << 1 | 1 << 2;
    proc_status_field(pid, "CapEff")
        .and_then(|hex| u64::from_str_radix(&hex, 16).ok())
        .is_none_or(|capabilities| capabilities & DAC_CAPABILITIES != 0)
}

#[test]
fn an_unreadable_file_is_forbidden() {
    let port = free_port();
    let unit = TestUnit::start("unreadable", &[]);
    let root = www(&unit);
    let locked = root.join("locked.txt");
    fs::write(&locked, "locked").expect("write");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).expect("chmod");
    let conf = json!({
        "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
        "routes": [{"action": {"share": format!("{}$uri", root.display())}}]
    });
    let response = unit.put("/config", &conf.to_string());
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(get(port, "/hello.txt").status, 200);

    // Started as root the router runs as nobody, otherwise as the invoking user: either
    // way mode 000 keeps it out. Only a router that kept root's capabilities reads it.
    let router = unit.child_titled("unit: router");
    if bypasses_file_permissions(router) {
        return;
    }
    let refused = get(port, "/locked.txt");
    assert_error_page(&refused, 403);
}

#[test]
fn last_modified_answers_if_modified_since() {
    let port = free_port();
    let unit = TestUnit::start("if-modified-since", &[]);
    let root = www(&unit);
    let conf = json!({
        "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
        "routes": [{"action": {"share": format!("{}$uri", root.display())}}]
    });
    let response = unit.put("/config", &conf.to_string());
    assert_eq!(response.status, 200, "{}", response.body);

    let full = get(port, "/hello.txt");
    assert_eq!(full.status, 200);
    let last_modified = full
        .header("Last-Modified")
        .expect("a Last-Modified header");
    assert!(last_modified.ends_with(" GMT"), "{last_modified}");
    let etag = full.header("ETag").expect("an ETag");

    let conditional =
        |headers: HeaderLines<'_>| exchange(port, &get_request("/hello.txt", headers));
    let not_modified = conditional(&[("If-Modified-Since", &last_modified)]);
    assert_eq!(not_modified.status, 304, "{}", not_modified.head);
    assert!(not_modified.body.is_empty());
    assert_eq!(
        not_modified.header("Last-Modified").as_deref(),
        Some(last_modified.as_str())
    );
    assert_eq!(not_modified.header("ETag"), Some(etag));

    let older = conditional(&[("If-Modified-Since", "Thu, 01 Jan 1970 00:00:01 GMT")]);
    assert_eq!(
        (older.status, older.text()),
        (200, "hello world\n".to_owned())
    );
    assert_eq!(
        conditional(&[("If-Modified-Since", "not a date")]).status,
        200
    );
    // If-None-Match decides when both are sent.
    assert_eq!(
        conditional(&[
            ("If-None-Match", "\"another\""),
            ("If-Modified-Since", &last_modified)
        ])
        .status,
        200
    );
    let head = exchange(
        port,
        &format!(
            "HEAD /hello.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: {last_modified}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert_eq!(head.status, 304);
}

#[test]
fn error_statuses_carry_an_error_page() {
    let port = free_port();
    let dead = free_port();
    let _unit = start_with(
        "error-pages",
        &json!({
            "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
            "routes": [
                {"match": {"uri": "/500"}, "action": {"return": 500}},
                {"match": {"uri": "/503"}, "action": {"return": 503}},
                {"match": {"uri": "/599"}, "action": {"return": 599}},
                {"match": {"uri": "/dead"}, "action": {"proxy": format!("http://127.0.0.1:{dead}")}}
            ]
        }),
    );
    for status in [500, 503, 599] {
        assert_error_page(&get(port, &format!("/{status}")), status);
    }
    assert_error_page(&get(port, "/dead"), 502);
    // HEAD gets the page's length without the page.
    let head = exchange(
        port,
        "HEAD /503 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(head.status, 503);
    assert_eq!(
        head.header("Content-Length"),
        Some(error_page(503).len().to_string())
    );
}

/// A listener whose routes answer 200 with `$remote_addr` in `X-Remote` and, when the
/// `source` condition sees an address of 192.0.2.0/24, `X-Source: documentation`.
fn client_ip_routes() -> serde_json::Value {
    json!([
        {"match": {"source": "192.0.2.0/24"}, "action": {"return": 200, "response_headers": {"X-Remote": "$remote_addr", "X-Source": "documentation"}}},
        {"action": {"return": 200, "response_headers": {"X-Remote": "$remote_addr"}}}
    ])
}

/// The answer to a request from `source` with these X-Forwarded-For field values.
fn forwarded_for(source: Ipv4Addr, port: u16, fields: &[&str]) -> HttpReply {
    let headers: Vec<(&str, &str)> = fields
        .iter()
        .map(|value| ("X-Forwarded-For", *value))
        .collect();
    let reply = exchange_from(source, port, &get_request("/who", &headers));
    assert_eq!(reply.status, 200, "{fields:?}");
    reply
}

#[test]
fn client_ip_takes_the_address_from_a_trusted_header() {
    let port = free_port();
    let unit = TestUnit::start("client-ip", &[]);
    let log = unit.paths.dir.path().join("access.log");
    let conf = json!({
        "listeners": {format!("127.0.0.1:{port}"): {
            "pass": "routes",
            "client_ip": {"header": "X-Forwarded-For", "source": "127.0.0.1", "recursive": false}
        }},
        "routes": client_ip_routes(),
        "access_log": {"path": log.display().to_string(), "format": "$remote_addr $request_uri"}
    });
    let response = unit.put("/config", &conf.to_string());
    assert_eq!(response.status, 200, "{}", response.body);

    let rows: &[(Ipv4Addr, &[&str], &str, bool)] = &[
        (LOCAL_CLIENT, &["192.0.2.7"], "192.0.2.7", true),
        // The rightmost address of the last field is what the trusted peer saw.
        (
            LOCAL_CLIENT,
            &["198.51.100.1, 192.0.2.9"],
            "192.0.2.9",
            true,
        ),
        (LOCAL_CLIENT, &["192.0.2.1", "192.0.2.2"], "192.0.2.2", true),
        (LOCAL_CLIENT, &["192.0.2.1, 10.0.0.2"], "10.0.0.2", false),
        (LOCAL_CLIENT, &[], "127.0.0.1", false),
        (LOCAL_CLIENT, &["not-an-address"], "127.0.0.1", false),
        // A peer outside `source` is not believed.
        (OTHER_CLIENT, &["192.0.2.7"], "127.0.0.7", false),
    ];
    for (source, fields, remote, documentation) in rows {
        let reply = forwarded_for(*source, port, fields);
        assert_eq!(
            reply.header("X-Remote").as_deref(),
            Some(*remote),
            "{source} {fields:?}"
        );
        assert_eq!(
            reply.header("X-Source").is_some(),
            *documentation,
            "{source} {fields:?}"
        );
    }

    // The access log's $remote_addr is the forwarded address too.
    let logged = exchange(
        port,
        &get_request("/logged", &[("X-Forwarded-For", "192.0.2.44")]),
    );
    assert_eq!(logged.status, 200);
    assert!(
        wait_until(|| fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("192.0.2.44 /logged\n")),
        "{}",
        fs::read_to_string(&log).unwrap_or_default()
    );
}

#[test]
fn client_ip_recursive_walks_past_trusted_addresses() {
    let port = free_port();
    let key = format!("127.0.0.1:{port}");
    let unit = start_with(
        "client-ip-recursive",
        &json!({
            "listeners": {key.clone(): {
                "pass": "routes",
                "client_ip": {"header": "X-Forwarded-For", "source": ["127.0.0.1", "10.0.0.0/8"], "recursive": true}
            }},
            "routes": client_ip_routes()
        }),
    );
    let rows: &[(&[&str], &str)] = &[
        (&["192.0.2.1, 10.0.0.2"], "192.0.2.1"),
        (
            &["198.51.100.1, 192.0.2.1, 10.0.0.2, 10.0.0.3"],
            "192.0.2.1",
        ),
        (&["192.0.2.1, 127.0.0.1"], "192.0.2.1"),
        // Across fields, from the last one back.
        (&["192.0.2.5", "10.0.0.6"], "192.0.2.5"),
        // Every address trusted: the leftmost one.
        (&["10.0.0.4, 10.0.0.5"], "10.0.0.4"),
    ];
    for (fields, remote) in rows {
        let reply = forwarded_for(LOCAL_CLIENT, port, fields);
        assert_eq!(
            reply.header("X-Remote").as_deref(),
            Some(*remote),
            "{fields:?}"
        );
    }
    assert_eq!(
        forwarded_for(LOCAL_CLIENT, port, &["192.0.2.1, 10.0.0.2"])
            .header("X-Source")
            .as_deref(),
        Some("documentation"),
        "the source condition sees the forwarded address"
    );

    let response = unit.put(
        &format!("/config/listeners/{key}/client_ip/recursive"),
        "false",
    );
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(
        forwarded_for(LOCAL_CLIENT, port, &["192.0.2.1, 10.0.0.2"])
            .header("X-Remote")
            .as_deref(),
        Some("10.0.0.2")
    );
}

/// A listener trusting 127.0.0.1 for `X-Forwarded-Proto` and `X-Real-IP` (through
/// `forwarded`, with the `source` patterns given), whose routes tell the scheme in
/// `X-Scheme` and the client in `X-Remote`.
fn start_forwarded(name: &str, port: u16, source: &serde_json::Value) -> TestUnit {
    let action = |scheme: &str| json!({"return": 200, "response_headers": {"X-Scheme": scheme, "X-Remote": "$remote_addr"}});
    start_with(
        name,
        &json!({
            "listeners": {format!("127.0.0.1:{port}"): {
                "pass": "routes",
                "forwarded": {"client_ip": "X-Real-IP", "protocol": "X-Forwarded-Proto", "source": source}
            }},
            "routes": [
                {"match": {"scheme": "https"}, "action": action("https")},
                {"match": {"scheme": "http"}, "action": action("http")}
            ]
        }),
    )
}

/// The scheme routing saw for a request from `source` with these header lines.
fn scheme_seen(source: Ipv4Addr, port: u16, headers: HeaderLines<'_>) -> Option<String> {
    let reply = exchange_from(source, port, &get_request("/", headers));
    assert_eq!(reply.status, 200, "{headers:?}");
    reply.header("X-Scheme")
}

#[test]
fn forwarded_protocol_decides_the_scheme() {
    let port = free_port();
    let _unit = start_forwarded("forwarded-protocol", port, &json!("127.0.0.1"));
    let rows: &[(Ipv4Addr, HeaderLines<'_>, &str)] = &[
        (LOCAL_CLIENT, &[("X-Forwarded-Proto", "https")], "https"),
        (LOCAL_CLIENT, &[("X-Forwarded-Proto", "HTTPS")], "https"),
        (LOCAL_CLIENT, &[("X-Forwarded-Proto", "http")], "http"),
        (LOCAL_CLIENT, &[], "http"),
        // One value, from the first field only.
        (
            LOCAL_CLIENT,
            &[("X-Forwarded-Proto", "http, https")],
            "http",
        ),
        (
            LOCAL_CLIENT,
            &[
                ("X-Forwarded-Proto", "http"),
                ("X-Forwarded-Proto", "https"),
            ],
            "http",
        ),
        (OTHER_CLIENT, &[("X-Forwarded-Proto", "https")], "http"),
    ];
    for (source, headers, scheme) in rows {
        assert_eq!(
            scheme_seen(*source, port, headers).as_deref(),
            Some(*scheme),
            "{source} {headers:?}"
        );
    }
    let reply = exchange(port, &get_request("/", &[("X-Real-IP", "192.0.2.3")]));
    assert_eq!(reply.header("X-Remote").as_deref(), Some("192.0.2.3"));
}

#[test]
fn forwarded_protocol_on_means_https() {
    let port = free_port();
    let _unit = start_forwarded("forwarded-on", port, &json!("127.0.0.1"));
    for value in ["on", "oN"] {
        assert_eq!(
            scheme_seen(LOCAL_CLIENT, port, &[("X-Forwarded-Proto", value)]).as_deref(),
            Some("https"),
            "{value}"
        );
    }
}

#[test]
fn forwarded_with_an_empty_source_trusts_no_peer() {
    let port = free_port();
    let _unit = start_forwarded("forwarded-empty", port, &json!([]));
    assert_eq!(
        scheme_seen(LOCAL_CLIENT, port, &[("X-Forwarded-Proto", "https")]).as_deref(),
        Some("http")
    );
    let reply = exchange(port, &get_request("/", &[("X-Real-IP", "192.0.2.3")]));
    assert_eq!(reply.header("X-Remote").as_deref(), Some("127.0.0.1"));
}

#[test]
fn unsafe_header_fields_reach_the_upstream_only_when_allowed() {
    let (backend_port, seen) = backend(backend_answer);
    let port = free_port();
    let unit = start_with(
        "unsafe-fields",
        &json!({
            "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
            "routes": [{"action": {"proxy": format!("http://127.0.0.1:{backend_port}")}}]
        }),
    );
    let headers = [
        ("Custom_Header", "underscore"),
        ("X.Dotted", "dot"),
        ("X-Safe", "safe"),
    ];
    let head_of = |path: &str| {
        let reply = exchange(port, &get_request(path, &headers));
        assert_eq!(reply.text(), format!("path {path}"));
        received_heads(&seen)
            .into_iter()
            .find(|head| head.starts_with(&format!("GET {path} ")))
            .expect("the upstream saw the request")
    };

    let discarded = head_of("/discarded");
    assert!(discarded.contains("\r\nX-Safe: safe\r\n"), "{discarded}");
    assert!(!discarded.contains("Custom_Header"), "{discarded}");
    assert!(!discarded.contains("X.Dotted"), "{discarded}");

    let response = unit.put(
        "/config/settings",
        r#"{"http": {"discard_unsafe_fields": false}}"#,
    );
    assert_eq!(response.status, 200, "{}", response.body);
    let kept = head_of("/kept");
    assert!(kept.contains("\r\nCustom_Header: underscore\r\n"), "{kept}");
    assert!(kept.contains("\r\nX.Dotted: dot\r\n"), "{kept}");
    assert!(kept.contains("\r\nX-Safe: safe\r\n"), "{kept}");
}

/// The router's count of closed client connections.
fn closed_connections(unit: &TestUnit) -> u64 {
    unit.get("/status/connections/closed")
        .json()
        .as_u64()
        .unwrap_or(0)
}

#[test]
fn send_timeout_closes_a_client_that_stops_reading() {
    // Far more than the socket buffers of both ends hold.
    const BIG_FILE: u64 = 16 * 1024 * 1024;
    let port = free_port();
    let unit = TestUnit::start("send-timeout", &[]);
    let root = www(&unit);
    let big = root.join("big.bin");
    fs::File::create(&big)
        .and_then(|file| file.set_len(BIG_FILE))
        .expect("a sparse big file");
    fs::set_permissions(&big, fs::Permissions::from_mode(0o644)).expect("chmod");
    let conf = json!({
        "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
        "routes": [{"action": {"share": format!("{}$uri", root.display())}}],
        "settings": {"http": {"send_timeout": 1}}
    });
    let response = unit.put("/config", &conf.to_string());
    assert_eq!(response.status, 200, "{}", response.body);

    let closed_before = closed_connections(&unit);
    let mut stream = connect_with_receive_buffer(port, 4096);
    stream
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    let sent = Instant::now();
    // Nothing is read until the router has given up on the connection.
    assert!(
        wait_until(|| closed_connections(&unit) > closed_before),
        "the stalled connection was not closed"
    );
    let elapsed = sent.elapsed();
    assert!(
        elapsed >= Duration::from_millis(500) && elapsed < Duration::from_secs(8),
        "closed after {elapsed:?}"
    );

    let mut received = 0u64;
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => received += read as u64,
            Err(error) if error.kind() == ErrorKind::ConnectionReset => break,
            Err(error) => panic!("reading what was sent before the close: {error}"),
        }
    }
    assert!(received > 0, "the answer had started");
    assert!(
        received < BIG_FILE,
        "{received} bytes arrived: the answer should have been cut short"
    );
}

/// Sends GETs for `paths` on one kept-alive connection and checks the scripted answers.
fn get_each_kept_alive<S: Read + Write>(stream: &mut S, paths: &[&str]) {
    for path in paths {
        stream
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .expect("send");
        let reply = read_reply(stream, false).expect("reply");
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.text(), format!("path {path}"));
        assert_eq!(reply.header("X-Backend").as_deref(), Some("yes"));
    }
}

/// Posts `length` bytes to `/echo-length` and returns what the upstream says it got.
fn post_echo_length<S: Read + Write>(stream: &mut S, length: usize) -> String {
    stream
        .write_all(
            format!("POST /echo-length HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n")
                .as_bytes(),
        )
        .expect("head");
    stream.write_all(&vec![b'b'; length]).expect("body");
    read_reply(stream, false).expect("reply").text()
}

#[test]
fn proxy_to_a_unix_socket_upstream() {
    let port = free_port();
    let unit = TestUnit::start("unix-upstream", &[]);
    let socket = unit.paths.dir.path().join("upstream.sock");
    let seen = unix_backend(&socket, backend_answer);
    let conf = json!({
        "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
        "routes": [{"action": {"proxy": format!("http://unix:{}", socket.display())}}]
    });
    let response = unit.put("/config", &conf.to_string());
    assert_eq!(response.status, 200, "{}", response.body);

    let mut stream = connect(port);
    get_each_kept_alive(&mut stream, &["/first", "/second?x=1"]);
    assert_eq!(post_echo_length(&mut stream, 10_000), "10000");
    let heads = received_heads(&seen);
    assert!(
        heads
            .iter()
            .any(|head| head.starts_with("GET /second?x=1 HTTP/1.1\r\n")),
        "{heads:?}"
    );
}

/// Reads one request head from `stream`; false when the peer closed first.
fn read_head(stream: &mut TcpStream) -> bool {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return false,
        }
    }
    true
}

#[test]
fn a_pooled_upstream_closed_on_the_next_request_gets_it_again_on_a_fresh_one() {
    // The upstream keeps each connection alive after its first answer, then closes it
    // when a second request arrives, without answering: the race a pooled connection
    // loses when its upstream closes it just as it is reused.
    let upstream = TcpListener::bind("127.0.0.1:0").expect("bind upstream");
    let upstream_port = upstream.local_addr().expect("address").port();
    let connections = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::clone(&connections);
    std::thread::spawn(move || {
        while let Ok((mut stream, _)) = upstream.accept() {
            accepted.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                if read_head(&mut stream)
                    && stream
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                        .is_ok()
                {
                    read_head(&mut stream);
                }
            });
        }
    });
    let port = free_port();
    let _unit = start_with(
        "upstream-reused-closed",
        &json!({
            "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
            "routes": [{"action": {"proxy": format!("http://127.0.0.1:{upstream_port}")}}]
        }),
    );

    let mut stream = connect(port);
    for round in 1..=3 {
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .expect("send");
        let reply = read_reply(&mut stream, false)
            .unwrap_or_else(|error| panic!("request {round}: {error}"));
        assert_eq!(
            (reply.status, reply.text()),
            (200, "ok".to_owned()),
            "request {round}"
        );
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        3,
        "each request after the first was sent again on a new connection"
    );
}

#[test]
fn proxy_to_an_abstract_unix_socket_upstream() {
    use std::os::linux::net::SocketAddrExt;
    let port = free_port();
    let name = format!("unitd-test-upstream-{}-{port}", std::process::id());
    let address =
        std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).expect("a name");
    let listener =
        std::os::unix::net::UnixListener::bind_addr(&address).expect("bind an abstract socket");
    let seen = unix_backend_on(listener, backend_answer);
    let _unit = start_with(
        "abstract-upstream",
        &json!({
            "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
            "routes": [{"action": {"proxy": format!("http://unix:@{name}")}}]
        }),
    );
    let reply = get(port, "/abstract");
    assert_eq!(
        (reply.status, reply.text()),
        (200, "path /abstract".to_owned())
    );
    assert_eq!(received_heads(&seen).len(), 1);
}

#[test]
fn a_request_on_a_unix_listener_is_proxied() {
    let (backend_port, seen) = backend(backend_answer);
    let unit = TestUnit::start("unix-listener-proxy", &[]);
    let socket = unit.paths.dir.path().join("http.sock");
    let conf = json!({
        "listeners": {format!("unix:{}", socket.display()): {"pass": "routes"}},
        "routes": [{"action": {"proxy": format!("http://127.0.0.1:{backend_port}")}}]
    });
    let response = unit.put("/config", &conf.to_string());
    assert_eq!(response.status, 200, "{}", response.body);

    let mut stream = UnixStream::connect(&socket).expect("the unix listener");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    get_each_kept_alive(&mut stream, &["/from-unix", "/again"]);
    assert_eq!(post_echo_length(&mut stream, 5000), "5000");
    stream
        .write_all(b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("send");
    let last = read_reply(&mut stream, false).expect("reply");
    assert_eq!(last.text(), "path /last");
    let mut rest = Vec::new();
    assert_eq!(
        stream.read_to_end(&mut rest).ok(),
        Some(0),
        "closed after the last"
    );

    let log = seen.lock().map(|log| log.clone()).unwrap_or_default();
    assert!(
        log.iter()
            .any(|(head, _)| head.starts_with("GET /from-unix HTTP/1.1\r\n")),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|(head, length)| head.starts_with("POST /echo-length ") && *length == 5000),
        "{log:?}"
    );
}

/// How many worker threads the router runs (they are named `router-<n>`).
fn router_workers(router: Pid) -> usize {
    let Ok(tasks) = fs::read_dir(format!("/proc/{router}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|task| {
            fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.starts_with("router-"))
        })
        .count()
}

/// Opens `clients` connections at once, then sends a request on each and reads the
/// answers, twice over, so several connections are served side by side.
fn serve_side_by_side(port: u16, clients: usize) {
    let mut streams: Vec<_> = (0..clients).map(|_| connect(port)).collect();
    for _ in 0..2 {
        for stream in &mut streams {
            stream
                .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .expect("send");
        }
        for stream in &mut streams {
            assert_eq!(read_reply(stream, false).expect("reply").status, 200);
        }
    }
}

#[test]
fn listen_threads_of_one_and_three_both_serve() {
    let port = free_port();
    let unit = start_with(
        "listen-threads",
        &json!({
            "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
            "routes": [{"action": {"return": 200}}],
            "settings": {"listen_threads": 1}
        }),
    );
    let router = unit.child_titled("unit: router");
    assert!(
        wait_until(|| router_workers(router) == 1),
        "{} workers",
        router_workers(router)
    );
    serve_side_by_side(port, 6);

    let response = unit.put("/config/settings/listen_threads", "3");
    assert_eq!(response.status, 200, "{}", response.body);
    assert!(
        wait_until(|| router_workers(router) == 3),
        "{} workers",
        router_workers(router)
    );
    serve_side_by_side(port, 6);
    assert_eq!(unit.get("/config/settings/listen_threads").json(), json!(3));
}
