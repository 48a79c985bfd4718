//! The router over real TCP and unix sockets (UNIT-COMPAT 3.2-3.9): listeners, HTTP/1.1,
//! routes, actions, static files, limits, the access log and status counters.

mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::{Value, json};
use support::http::{
    backend, backend_answer, connect, exchange, free_port, get, read_reply, start_with, www,
};
use support::{TestUnit, wait_until};

#[test]
fn return_action_with_keep_alive_and_pipelining() {
    let port = free_port();
    let unit = start_with(
        "return",
        &json!({
            "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
            "routes": [
                {"match": {"uri": "/redirect"}, "action": {"return": 301, "location": "https://example.com$uri"}},
                {"match": {"uri": "/missing"}, "action": {"return": 404}},
                {"action": {"return": 200}}
            ]
        }),
    );
    let reply = get(port, "/");
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("Server"),
        Some(format!("Unit/{}", env!("CARGO_PKG_VERSION")))
    );
    assert!(
        reply
            .header("Date")
            .is_some_and(|date| date.ends_with("GMT"))
    );
    assert_eq!(reply.header("Content-Length").as_deref(), Some("0"));

    let redirect = get(port, "/redirect");
    assert_eq!(redirect.status, 301);
    assert_eq!(
        redirect.header("Location").as_deref(),
        Some("https://example.com/redirect")
    );
    let missing = get(port, "/missing");
    assert_eq!(missing.status, 404);
    assert!(missing.text().contains("Error 404"));

    // Keep-alive: several requests on one connection, then three pipelined at once.
    let mut stream = connect(port);
    for _ in 0..3 {
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("send");
        assert_eq!(read_reply(&mut stream, false).expect("reply").status, 200);
    }
    stream
        .write_all(b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\nHEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("send");
    assert_eq!(read_reply(&mut stream, false).expect("reply").status, 404);
    assert_eq!(read_reply(&mut stream, true).expect("reply").status, 200);
    let last = read_reply(&mut stream, false).expect("reply");
    assert_eq!(last.header("Connection").as_deref(), Some("close"));
    let mut rest = Vec::new();
    assert_eq!(
        stream.read_to_end(&mut rest).ok(),
        Some(0),
        "closed after Connection: close"
    );

    // HTTP/1.0 closes by default.
    let reply = exchange(port, "GET / HTTP/1.0\r\n\r\n");
    assert_eq!(reply.status, 200);

    // The server_version setting.
    assert_eq!(
        unit.put("/config/settings", r#"{"http": {"server_version": false}}"#)
            .status,
        200
    );
    assert_eq!(get(port, "/").header("Server").as_deref(), Some("Unit"));
}

#[test]
fn routes_match_conditions() {
    let port = free_port();
    let unit = start_with(
        "match",
        &json!({
            "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes/main"}},
            "routes": {
                "main": [
                    {"match": {"host": "*.example.com", "uri": "/api/*"}, "action": {"return": 201}},
                    {"match": {"method": ["POST", "PUT"]}, "action": {"return": 202}},
                    {"match": {"headers": {"X-Flag": "on"}}, "action": {"return": 203}},
                    {"match": {"arguments": {"mode": "fast"}}, "action": {"return": 204}},
                    {"match": {"cookies": {"session": "~^s[0-9]+$"}}, "action": {"return": 205}},
                    {"match": {"uri": "!/public/*", "source": "127.0.0.0/8"}, "action": {"pass": "routes/local"}},
                    {"action": {"return": 200}}
                ],
                "local": [{"match": {"destination": format!("*:{port}")}, "action": {"return": 206}}]
            }
        }),
    );
    let request = |method: &str, path: &str, headers: &str| {
        exchange(port, &format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n")).status
    };
    assert_eq!(
        exchange(
            port,
            "GET /api/x HTTP/1.1\r\nHost: WWW.Example.com:8080\r\nConnection: close\r\n\r\n"
        )
        .status,
        201
    );
    assert_eq!(request("PUT", "/public/x", ""), 202);
    assert_eq!(request("GET", "/public/x", "X-Flag: on\r\n"), 203);
    assert_eq!(request("GET", "/public/x?mode=fast", ""), 204);
    assert_eq!(
        request("GET", "/public/x", "Cookie: a=1; session=s42\r\n"),
        205
    );
    assert_eq!(request("GET", "/private", ""), 206);
    assert_eq!(request("GET", "/public/x", ""), 200);
    let _ = unit;
}

#[test]
fn static_files_and_traversal_attempts() {
    let port = free_port();
    let unit = TestUnit::start("share", &[]);
    let root = www(&unit);
    let conf = json!({
        "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
        "routes": [
            {"match": {"uri": "/nolinks/*"}, "action": {"share": format!("{}$uri", root.display()), "follow_symlinks": false}},
            {"match": {"uri": "/jail/*"}, "action": {"share": format!("{}$uri", root.display()), "chroot": format!("{}/jail", root.display())}},
            {"match": {"uri": "/fallback/*"}, "action": {"share": format!("{}/none$uri", root.display()), "fallback": {"return": 299}}},
            {"action": {"share": format!("{}$uri", root.display())}}
        ]
    });
    assert_eq!(
        unit.put("/config", &conf.to_string()).status,
        200,
        "{}",
        unit.get("/config").body
    );

    let hello = get(port, "/hello.txt");
    assert_eq!(hello.status, 200);
    assert_eq!(hello.text(), "hello world\n");
    assert_eq!(hello.header("Content-Type").as_deref(), Some("text/plain"));
    let etag = hello.header("ETag").expect("an ETag");
    assert!(hello.header("Last-Modified").is_some());
    let cached = exchange(
        port,
        &format!(
            "GET /hello.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert_eq!(cached.status, 304);
    let head = exchange(
        port,
        "HEAD /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        (head.status, head.header("Content-Length").as_deref()),
        (200, Some("12"))
    );

    assert_eq!(get(port, "/").text(), "<h1>index</h1>");
    let dir = get(port, "/dir?x=1");
    assert_eq!(dir.status, 301);
    assert_eq!(dir.header("Location").as_deref(), Some("/dir/?x=1"));
    assert_eq!(get(port, "/dir/").text(), "dir index");
    assert_eq!(get(port, "/nothing.txt").status, 404);
    assert_eq!(get(port, "/fallback/x").status, 299);
    assert_eq!(
        exchange(
            port,
            "POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .status,
        405
    );

    // Escapes: dot segments above the root, encoded, and symlinks where forbidden.
    for attempt in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/dir/%2E%2E/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
    ] {
        let reply = exchange(
            port,
            &format!("GET {attempt} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        );
        assert!(
            reply.status == 400 || reply.status == 404,
            "{attempt}: {}",
            reply.status
        );
        assert!(
            !reply.text().contains("secret"),
            "{attempt} escaped the share"
        );
    }
    assert_eq!(
        get(port, "/link.txt").text(),
        "secret",
        "symlinks are followed by default"
    );
    let refused = get(port, "/nolinks/link.txt");
    assert_eq!(refused.status, 403);
    assert!(!refused.text().contains("secret"));
    assert_eq!(get(port, "/nolinks/hello.txt").text(), "hello world\n");
    // Inside a chroot an absolute symlink resolves within the jail, never outside it.
    assert_eq!(get(port, "/jail/ok.txt").text(), "inside");
    let jailed = get(port, "/jail/escape.txt");
    assert!(
        jailed.status == 403 || jailed.status == 404,
        "{}",
        jailed.status
    );
    assert!(!jailed.text().contains("secret"));
}

#[test]
fn malformed_and_oversized_requests_are_refused() {
    let port = free_port();
    let _unit = start_with(
        "refuse",
        &json!({
            "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
            "routes": [{"action": {"return": 200}}],
            "settings": {"http": {"max_body_size": 100, "large_header_buffer_size": 1024, "large_header_buffers": 2}}
        }),
    );
    let rows: &[(&str, u16)] = &[
        (
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
        ),
        (
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
            400,
        ),
        (
            "GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n",
            400,
        ),
        ("GET /  HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n",
            413,
        ),
        (
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
            501,
        ),
    ];
    for (request, status) in rows {
        let reply = exchange(port, request);
        assert_eq!(reply.status, *status, "{request:?}");
        assert_eq!(
            reply.header("Connection").as_deref(),
            Some("close"),
            "{request:?}"
        );
    }
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(4096)
    );
    assert_eq!(exchange(port, &huge).status, 431);

    // Bodies are read correctly: chunked and Content-Length, keeping the connection in step.
    let mut stream = connect(port);
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nPOST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    for _ in 0..3 {
        assert_eq!(read_reply(&mut stream, false).expect("reply").status, 200);
    }
    // A chunked body over the limit.
    let reply = exchange(
        port,
        &format!(
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n{}\r\n0\r\n\r\n",
            "a".repeat(101)
        ),
    );
    assert_eq!(reply.status, 413);
    // Expect: 100-continue gets the interim answer before the body is sent.
    let mut stream = connect(port);
    stream
        .write_all(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
        )
        .expect("send");
    assert_eq!(read_reply(&mut stream, false).expect("interim").status, 100);
    stream.write_all(b"body").expect("send body");
    assert_eq!(read_reply(&mut stream, false).expect("reply").status, 200);
}

#[test]
fn slow_and_idle_clients_are_closed() {
    let port = free_port();
    let _unit = start_with(
        "timeouts",
        &json!({
            "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
            "routes": [{"action": {"return": 200}}],
            "settings": {"http": {"header_read_timeout": 1, "body_read_timeout": 1, "idle_timeout": 1}}
        }),
    );
    let closes = |setup: &[u8]| {
        let mut stream = connect(port);
        stream.write_all(setup).expect("send");
        let mut rest = Vec::new();
        let started = std::time::Instant::now();
        let _ = stream.read_to_end(&mut rest);
        (started.elapsed() < Duration::from_secs(8), rest)
    };
    assert!(
        closes(b"GET / HTTP/1.1\r\nHost:").0,
        "slow headers are timed out"
    );
    assert!(
        closes(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab").0,
        "slow bodies are timed out"
    );
    let (closed, rest) = closes(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(closed, "idle keep-alive connections are closed");
    assert!(String::from_utf8_lossy(&rest).starts_with("HTTP/1.1 200"));
}

#[test]
fn access_log_default_and_json_formats_and_reopen() {
    let port = free_port();
    let unit = TestUnit::start("access", &[]);
    let log = unit.paths.dir.path().join("access.log");
    let conf = json!({
        "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
        "routes": [{"action": {"return": 204}}],
        "access_log": log.display().to_string()
    });
    assert_eq!(unit.put("/config", &conf.to_string()).status, 200);
    exchange(
        port,
        "GET /a?b=c HTTP/1.1\r\nHost: x\r\nUser-Agent: tester\r\nReferer: http://r/\r\nConnection: close\r\n\r\n",
    );
    assert!(wait_until(|| fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("GET /a?b=c")));
    let line = fs::read_to_string(&log).unwrap_or_default();
    assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
    assert!(
        line.contains("] \"GET /a?b=c HTTP/1.1\" 204 0 \"http://r/\" \"tester\"\n"),
        "{line}"
    );

    // Rotation: SIGUSR1 makes main reopen the access log and hand it to the router.
    let rotated = unit.paths.dir.path().join("access.log.1");
    fs::rename(&log, &rotated).expect("rotate");
    unit.signal(Signal::SIGUSR1);
    assert!(wait_until(|| log.exists()));
    // Main creates the file before the router has taken it: a request served in between
    // is logged to the old one, so requests are made until one reaches the new file.
    assert!(wait_until(|| {
        exchange(
            port,
            "GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("GET /after")
    }));

    let json_conf = json!({"path": log.display().to_string(), "format": {"uri": "$uri", "status": "$status", "method": "$method", "id": "$request_id"}});
    assert_eq!(
        unit.put("/config/access_log", &json_conf.to_string())
            .status,
        200
    );
    exchange(
        port,
        "GET /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(wait_until(|| fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("/json")));
    let last: Value = fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .last()
        .and_then(|line| serde_json::from_str(line).ok())
        .expect("a JSON line");
    let id = last["id"].as_str().unwrap_or_default().to_owned();
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{last}"
    );
    assert_eq!(
        last,
        json!({"uri": "/json", "status": "204", "method": "GET", "id": id})
    );
}

#[test]
fn listeners_come_and_go_and_unix_listeners_work() {
    let port = free_port();
    let unit = TestUnit::start("listeners", &[]);
    let socket = unit.paths.dir.path().join("http.sock");
    let unix_key = format!("unix:{}", socket.display());
    let conf = json!({
        "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes/a"}, unix_key.clone(): {"pass": "routes/a"}},
        "routes": {"a": [{"action": {"return": 200}}], "b": [{"action": {"return": 202}}]}
    });
    assert_eq!(unit.put("/config", &conf.to_string()).status, 200);
    let mode = fs::metadata(&socket)
        .map(|m| m.permissions().mode() & 0o777)
        .ok();
    assert_eq!(mode, Some(0o666));
    let mut unix = UnixStream::connect(&socket).expect("unix listener");
    unix.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("send");
    assert_eq!(read_reply(&mut unix, false).expect("reply").status, 200);

    // Changing pass keeps the socket: a connection open across the change keeps working
    // and new requests see the new pass.
    let mut kept = connect(port);
    kept.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    assert_eq!(read_reply(&mut kept, false).expect("reply").status, 200);
    let key = format!("127.0.0.1:{port}");
    assert_eq!(
        unit.put(&format!("/config/listeners/{key}/pass"), "\"routes/b\"")
            .status,
        200
    );
    kept.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    assert_eq!(read_reply(&mut kept, false).expect("reply").status, 202);

    // Removing listeners closes them; the unix file goes too.
    assert_eq!(unit.put("/config/listeners", "{}").status, 200);
    assert!(
        wait_until(|| TcpStream::connect(("127.0.0.1", port)).is_err()),
        "the port is closed"
    );
    assert!(
        wait_until(|| !socket.exists()),
        "the unix listener file is removed"
    );

    // A port in use is refused with 500 and nothing changes.
    let holder = TcpListener::bind("127.0.0.1:0").expect("bind");
    let held: SocketAddr = holder.local_addr().expect("addr");
    let response = unit.put(
        &format!("/config/listeners/{held}"),
        r#"{"pass": "routes/a"}"#,
    );
    assert_eq!(response.status, 500, "{}", response.body);
    assert_eq!(
        response.json()["error"],
        "Failed to apply new configuration."
    );
    assert!(unit.wait_for_log(
        &format!("bind(\\\"{held}\\\") failed (98: Address already in use)"),
        1
    ));
    assert_eq!(unit.get("/config/listeners").json(), json!({}));
}

#[test]
fn status_counts_served_requests() {
    let port = free_port();
    let unit = start_with(
        "status-count",
        &json!({"listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}}, "routes": [{"action": {"return": 200}}]}),
    );
    let before = unit.get("/status").json();
    for _ in 0..5 {
        assert_eq!(get(port, "/").status, 200);
    }
    let mut kept = connect(port);
    kept.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    assert_eq!(read_reply(&mut kept, false).expect("reply").status, 200);
    assert!(
        wait_until(|| unit.get("/status/connections/idle").json() == json!(1)),
        "the kept-alive connection is idle"
    );
    let after = unit.get("/status").json();
    let total = |status: &Value| status["requests"]["total"].as_u64().unwrap_or(0);
    assert_eq!(total(&after) - total(&before), 6);
    let accepted = after["connections"]["accepted"].as_u64().unwrap_or(0);
    assert!(accepted >= 6, "{after}");
    drop(kept);
    assert!(wait_until(
        || unit.get("/status/connections/idle").json() == json!(0)
    ));

    // Workers stopped by a smaller listen_threads and started again keep their counts.
    for threads in [1, 3] {
        let response = unit.put(
            "/config/settings",
            &json!({"listen_threads": threads}).to_string(),
        );
        assert_eq!(response.status, 200, "{}", response.body);
        assert_eq!(get(port, "/").status, 200);
    }
    let last = unit.get("/status").json();
    assert_eq!(total(&last) - total(&before), 8, "{last}");
    let count = |status: &Value, name: &str| status["connections"][name].as_u64().unwrap_or(0);
    assert!(count(&last, "accepted") >= accepted + 2, "{last}");
    assert!(
        wait_until(|| {
            let status = unit.get("/status").json();
            count(&status, "closed") == count(&status, "accepted")
        }),
        "every connection is counted closed"
    );
}

#[test]
fn reconfiguration_under_load_drops_nothing() {
    let port = free_port();
    let unit = start_with(
        "reload",
        &json!({"listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}}, "routes": [{"action": {"return": 200}}]}),
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let stop = std::sync::Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut failures = 0;
                let mut served = 0;
                let mut stream = connect(port);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && served < 20_000 {
                    let ok = stream
                        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                        .and_then(|()| read_reply(&mut stream, false))
                        .is_ok_and(|reply| reply.status == 200 || reply.status == 204);
                    if ok {
                        served += 1;
                    } else {
                        failures += 1;
                        stream = connect(port);
                    }
                }
                (served, failures)
            })
        })
        .collect();
    for round in 0..10 {
        let status = if round % 2 == 0 { 204 } else { 200 };
        let response = unit.put("/config/routes/0/action/return", &status.to_string());
        assert_eq!(response.status, 200);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for client in clients {
        let (served, failures) = client.join().expect("client");
        assert!(served > 0);
        assert_eq!(failures, 0, "no request failed during reconfiguration");
    }
}

#[test]
fn an_inherited_socket_is_adopted_by_its_listener() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("addr");
    let paths = support::Paths::new("adopt");
    // The test keeps its own copy open, so binding the address again would fail: a 200
    // proves the router serves on the handed-over socket.
    let mut child = support::start_with_fd3(&paths, &listener, "NGINX='3;'", true);
    let ready = wait_until(|| {
        support::try_request(&paths.control, "GET", "/config", None).is_ok_and(|r| r.status == 200)
    });
    let conf = json!({"listeners": {address.to_string(): {"pass": "routes"}}, "routes": [{"action": {"return": 200}}]});
    let applied = support::try_request(&paths.control, "PUT", "/config", Some(&conf.to_string()))
        .map(|r| r.status);
    let served = if applied.as_ref().ok() == Some(&200) {
        get(address.port(), "/").status
    } else {
        0
    };
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        Signal::SIGTERM,
    );
    let _ = child.wait();
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    assert!(ready, "stderr:\n{stderr}\nlog:\n{}", paths.log_text());
    assert_eq!(applied.ok(), Some(200), "log:\n{}", paths.log_text());
    assert_eq!(served, 200);
}

#[test]
fn proxy_streams_requests_and_answers() {
    let (backend_port, seen) = backend(backend_answer);
    let port = free_port();
    let _unit = start_with(
        "proxy",
        &json!({
            "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
            "routes": [
                {"match": {"uri": "/rewritten"}, "action": {"rewrite": "/target", "proxy": format!("http://127.0.0.1:{backend_port}")}},
                {"action": {"proxy": format!("http://127.0.0.1:{backend_port}"), "response_headers": {"X-Backend": null, "X-Proxied": "by unitd"}}}
            ]
        }),
    );
    let reply = get(port, "/plain?x=1");
    assert_eq!(
        (reply.status, reply.text()),
        (200, "path /plain?x=1".to_owned())
    );
    assert_eq!(reply.header("X-Proxied").as_deref(), Some("by unitd"));
    assert_eq!(
        reply.header("X-Backend"),
        None,
        "response_headers removes fields"
    );

    let chunked = get(port, "/chunked");
    assert_eq!(
        chunked.header("Transfer-Encoding").as_deref(),
        Some("chunked")
    );
    let raw = String::from_utf8_lossy(&chunked.body).into_owned();
    assert!(raw.contains("hello") && raw.contains(" world"), "{raw:?}");

    let close = get(port, "/close");
    assert!(String::from_utf8_lossy(&close.body).contains("until close"));

    assert_eq!(get(port, "/rewritten").text(), "path /target");

    // A large body streams through: the backend sees every byte.
    let body = "x".repeat(3 * 1024 * 1024);
    let mut stream = connect(port);
    stream
        .write_all(
            format!(
                "POST /echo-length HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .expect("head");
    stream.write_all(body.as_bytes()).expect("body");
    let reply = read_reply(&mut stream, false).expect("reply");
    assert_eq!(reply.text(), body.len().to_string());
    // Keep-alive to the client goes on after a proxied exchange.
    stream
        .write_all(b"GET /again HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    assert_eq!(
        read_reply(&mut stream, false).expect("reply").text(),
        "path /again"
    );

    let log = seen.lock().map(|log| log.clone()).unwrap_or_default();
    assert!(
        log.iter()
            .any(|(head, _)| head.starts_with("GET /plain?x=1 HTTP/1.1\r\n")),
        "{log:?}"
    );
    assert!(
        log.iter()
            .all(|(head, _)| !head.to_ascii_lowercase().contains("\r\nconnection: close"))
    );
}

#[test]
fn upstreams_balance_and_a_dead_server_answers_502() {
    let (first, first_seen) = backend(backend_answer);
    let (second, second_seen) = backend(backend_answer);
    let dead = free_port();
    let port = free_port();
    let unit = start_with(
        "upstreams",
        &json!({
            "listeners": {format!("127.0.0.1:{port}"): {"pass": "upstreams/pool"}},
            "upstreams": {"pool": {"servers": {
                format!("127.0.0.1:{first}"): {"weight": 1},
                format!("127.0.0.1:{second}"): {"weight": 1}
            }}}
        }),
    );
    for n in 0..10 {
        assert_eq!(get(port, &format!("/{n}")).status, 200);
    }
    let count = |seen: &std::sync::Arc<std::sync::Mutex<Vec<(String, usize)>>>| {
        seen.lock().map(|log| log.len()).unwrap_or(0)
    };
    assert_eq!(count(&first_seen) + count(&second_seen), 10);
    assert!(
        count(&first_seen) >= 3 && count(&second_seen) >= 3,
        "both servers are used"
    );

    // As in Unit, a server that refuses connections answers 502 for its turns.
    let conf =
        json!({"servers": {format!("127.0.0.1:{dead}"): {}, format!("127.0.0.1:{first}"): {}}});
    assert_eq!(
        unit.put("/config/upstreams/pool", &conf.to_string()).status,
        200
    );
    let statuses: Vec<u16> = (0..4)
        .map(|n| get(port, &format!("/turns/{n}")).status)
        .collect();
    assert_eq!(statuses.iter().filter(|status| **status == 200).count(), 2);
    assert_eq!(statuses.iter().filter(|status| **status == 502).count(), 2);
    // None answering: 502.
    let conf = json!({"servers": {format!("127.0.0.1:{dead}"): {}}});
    assert_eq!(
        unit.put("/config/upstreams/pool", &conf.to_string()).status,
        200
    );
    assert_eq!(get(port, "/").status, 502);
}

#[test]
fn log_route_names_the_steps() {
    let port = free_port();
    let unit = start_with(
        "log-route",
        &json!({
            "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes/main"}},
            "routes": {"main": [
                {"match": {"uri": "/other"}, "action": {"return": 204}},
                {"action": {"rewrite": "/rewritten", "return": 200}}
            ]},
            "settings": {"http": {"log_route": true}}
        }),
    );
    assert_eq!(get(port, "/").status, 200);
    assert!(
        unit.wait_for_log("\"routes/main/0\" discarded", 1),
        "{}",
        unit.log_text()
    );
    assert!(unit.wait_for_log("[notice]", 1));
    assert!(unit.wait_for_log("\"routes/main/1\" selected", 1));
    assert!(unit.wait_for_log("URI rewritten to \"/rewritten\"", 1));
}

#[test]
fn a_restarted_router_serves_the_configuration_again() {
    let port = free_port();
    let unit = TestUnit::start("router-restart", &[]);
    let socket = unit.paths.dir.path().join("restart.sock");
    let conf = json!({
        "listeners": {
            format!("127.0.0.1:{port}"): {"pass": "routes"},
            format!("unix:{}", socket.display()): {"pass": "routes"}
        },
        "routes": [{"action": {"return": 200}}]
    });
    assert_eq!(unit.put("/config", &conf.to_string()).status, 200);
    assert_eq!(get(port, "/").status, 200);
    let router = unit.child_titled("unit: router");
    nix::sys::signal::kill(router, Signal::SIGKILL).expect("kill -9 the router");
    let served_again = wait_until(|| {
        TcpStream::connect(("127.0.0.1", port)).is_ok_and(|mut stream| {
            stream
                .set_read_timeout(Some(Duration::from_secs(2)))
                .is_ok()
                && stream
                    .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .is_ok()
                && read_reply(&mut stream, false).is_ok_and(|reply| reply.status == 200)
        })
    });
    assert!(
        served_again,
        "the new router serves the listener; log:\n{}",
        unit.log_text()
    );
    let mut unix = UnixStream::connect(&socket).expect("the unix listener is back");
    unix.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("send");
    assert_eq!(read_reply(&mut unix, false).expect("reply").status, 200);
    assert_eq!(unit.get("/config").json(), conf);
}
