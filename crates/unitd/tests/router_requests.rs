//! Requests at the edges of the router (UNIT-COMPAT 3.2-3.9): HEAD answers without a
//! body, the header buffer limits, each client timeout on its own, refused requests and
//! bad request lines closing the connection, a unix listener, route conditions that
//! must not match, a large file sent whole, how share errors map to statuses, and
//! variables in `share`, `pass`, `rewrite`, `chroot`, `location` and `response_headers`.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::symlink;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::TestUnit;
use support::http::{
    HttpReply, backend, backend_answer, connect, exchange, free_port, get, get_request, read_reply,
    received_heads, start_with, write_public, www,
};

/// A valid request sent right behind a refused one: it must never be answered.
const PIPELINED_GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

/// Unit's error page for `status`.
fn error_page(status: u16) -> String {
    format!("<!DOCTYPE html><title>Error {status}</title><p>Error {status}.\r\n")
}

/// `len` pseudo-random bytes (xorshift): a chunk sent twice, skipped or out of place
/// would not compare equal.
fn non_repeating_bytes(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 32) as u8
        })
        .collect()
}

/// Starts unitd serving `root` as a share on `port`, for every request.
fn start_share(name: &str, port: u16) -> (TestUnit, PathBuf) {
    let unit = TestUnit::start(name, &[]);
    let root = www(&unit);
    let conf = json!({
        "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
        "routes": [{"action": {"share": format!("{}$uri", root.display())}}]
    });
    let response = unit.put("/config", &conf.to_string());
    assert_eq!(response.status, 200, "{}", response.body);
    (unit, root)
}

/// Sends `request` with [`PIPELINED_GET`] behind it and reads the one answer, then
/// checks the server closed the connection: EOF, the pipelined request never served.
fn refused<S: Read + Write>(mut stream: S, request: &[u8]) -> HttpReply {
    stream
        .write_all(&[request, PIPELINED_GET].concat())
        .expect("send");
    let reply = read_reply(&mut stream, false).expect("an answer");
    assert_eq!(
        reply.header("Connection").as_deref(),
        Some("close"),
        "{}",
        reply.head
    );
    let mut rest = Vec::new();
    let read = stream.read_to_end(&mut rest);
    assert!(
        matches!(read, Ok(0)),
        "the connection is not closed after {}: {read:?} {:?}",
        reply.status,
        String::from_utf8_lossy(&rest)
    );
    reply
}

#[test]
fn head_sends_no_body_so_a_pipelined_get_follows_its_head() {
    let port = free_port();
    let (_unit, root) = start_share("head-pipelined", port);
    // Past the size kept in memory, so the GET goes out with sendfile.
    let big = non_repeating_bytes(256 * 1024);
    write_public(&root, "big.bin", &big);
    let rows: &[(&str, u16, Vec<u8>)] = &[
        ("/hello.txt", 200, b"hello world\n".to_vec()),
        ("/big.bin", 200, big),
        ("/missing.txt", 404, error_page(404).into_bytes()),
    ];
    for (path, status, body) in rows {
        let mut stream = connect(port);
        stream
            .write_all(
                format!(
                    "HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\nGET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            )
            .expect("send");
        let mut received = Vec::new();
        stream.read_to_end(&mut received).expect("both answers");
        let mut rest = received.as_slice();

        let head = read_reply(&mut rest, true).expect("the HEAD answer");
        assert_eq!(head.status, *status, "HEAD {path}");
        assert_eq!(
            head.header("Content-Length"),
            Some(body.len().to_string()),
            "HEAD {path}"
        );
        // The GET's answer starts right where the HEAD's head ends.
        assert!(
            rest.starts_with(format!("HTTP/1.1 {status} ").as_bytes()),
            "HEAD {path} sent body bytes: {:?}",
            String::from_utf8_lossy(&rest[..rest.len().min(64)])
        );
        let get = read_reply(&mut rest, false).expect("the GET answer");
        assert_eq!(get.status, *status, "GET {path}");
        assert!(get.body == *body, "GET {path}: the body differs");
        assert!(rest.is_empty(), "GET {path}: {} bytes too many", rest.len());
    }
}

#[test]
fn a_large_file_is_sent_whole_byte_for_byte() {
    let port = free_port();
    let (_unit, root) = start_share("large-file", port);
    let contents = non_repeating_bytes(3 * 1024 * 1024);
    write_public(&root, "large.bin", &contents);

    let mut stream = connect(port);
    for round in 1..=2 {
        stream
            .write_all(b"GET /large.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("send");
        let reply = read_reply(&mut stream, false).expect("the file");
        assert_eq!(reply.status, 200, "round {round}");
        assert_eq!(reply.body.len(), contents.len(), "round {round}");
        let first_difference = reply
            .body
            .iter()
            .zip(&contents)
            .position(|(sent, expected)| sent != expected);
        assert_eq!(first_difference, None, "round {round}");
    }
    // The connection stays in step after two sendfile answers.
    stream
        .write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    assert_eq!(
        read_reply(&mut stream, false).expect("reply").text(),
        "hello world\n"
    );
}

#[test]
fn header_buffers_limit_each_field_and_how_many_a_head_takes() {
    let port = free_port();
    let _unit = start_with(
        "header-buffers",
        &json!({
            "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
            "routes": [{"action": {"return": 200}}],
            "settings": {"http": {"large_header_buffer_size": 4096, "large_header_buffers": 2}}
        }),
    );
    let head_with = |fields: &str| format!("GET / HTTP/1.1\r\nHost: x\r\n{fields}\r\n");
    let fields_of_1000_bytes = |count: usize| -> String {
        (0..count)
            .map(|field_idx| format!("X-Fill-{field_idx:02}: {}\r\n", "v".repeat(987)))
            .collect()
    };
    assert_eq!(fields_of_1000_bytes(1).len(), 1000);
    let total_of_large_buffers = 4096 * 2;

    // As in Unit, a head starts in a 2048-byte buffer that holds two of these fields;
    // each large buffer holds four more, so ten fit although the head is larger than
    // the large buffers together.
    let ten_fields = head_with(&fields_of_1000_bytes(10));
    assert!(ten_fields.len() > total_of_large_buffers);
    let mut stream = connect(port);
    for round in 1..=2 {
        stream.write_all(ten_fields.as_bytes()).expect("send");
        let reply = read_reply(&mut stream, false).expect("reply");
        assert_eq!(reply.status, 200, "round {round}");
    }

    // An eleventh needs a third large buffer.
    let eleven_fields = head_with(&fields_of_1000_bytes(11));
    let reply = refused(connect(port), eleven_fields.as_bytes());
    assert_eq!(reply.status, 431);
    assert_eq!(reply.text(), error_page(431));

    // One field larger than a large buffer, in a head well under the total.
    let big_field = head_with(&format!("X-Big: {}\r\n", "v".repeat(4990)));
    assert!(big_field.len() < total_of_large_buffers);
    assert_eq!(refused(connect(port), big_field.as_bytes()).status, 431);
    let fitting_field = head_with(&format!("X-Big: {}\r\n", "v".repeat(3900)));
    assert_eq!(exchange(port, &fitting_field).status, 200);
}

/// What a connection waits for from its client, each with its own timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiting {
    /// The rest of a request head (`header_read_timeout`).
    Head,
    /// The rest of a request body (`body_read_timeout`).
    Body,
    /// The next request on a kept-alive connection (`idle_timeout`).
    NextRequest,
}

impl Waiting {
    const ALL: [Waiting; 3] = [Waiting::Head, Waiting::Body, Waiting::NextRequest];

    fn setting(self) -> &'static str {
        match self {
            Waiting::Head => "header_read_timeout",
            Waiting::Body => "body_read_timeout",
            Waiting::NextRequest => "idle_timeout",
        }
    }

    /// A new connection left waiting this way.
    fn start(self, port: u16) -> TcpStream {
        let mut stream = connect(port);
        let sent: &[u8] = match self {
            Waiting::Head => b"GET / HTTP/1.1\r\nHost:",
            Waiting::Body => b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab",
            Waiting::NextRequest => PIPELINED_GET,
        };
        stream.write_all(sent).expect("send");
        if self == Waiting::NextRequest {
            assert_eq!(read_reply(&mut stream, false).expect("reply").status, 200);
        }
        stream
    }

    /// Sends what the connection waits for and checks the request is answered.
    fn finish(self, stream: &mut TcpStream) {
        let rest: &[u8] = match self {
            Waiting::Head => b" x\r\n\r\n",
            Waiting::Body => b"cd",
            Waiting::NextRequest => PIPELINED_GET,
        };
        stream.write_all(rest).expect("send");
        let reply = read_reply(stream, false)
            .unwrap_or_else(|error| panic!("{self:?} was cut short: {error}"));
        assert_eq!(reply.status, 200, "{self:?}");
    }
}

/// Sets the timeout of `timed` to 1 s and the others to 30 s, and checks that a
/// connection waiting that way is closed after about a second while connections
/// waiting the other ways, though opened earlier, are still served.
fn check_timeout_alone(name: &str, timed: Waiting) {
    let port = free_port();
    let timeouts: serde_json::Map<String, Value> = Waiting::ALL
        .into_iter()
        .map(|waiting| {
            let seconds = if waiting == timed { 1 } else { 30 };
            (waiting.setting().to_owned(), json!(seconds))
        })
        .collect();
    let _unit = start_with(
        name,
        &json!({
            "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
            "routes": [{"action": {"return": 200}}],
            "settings": {"http": timeouts}
        }),
    );
    let mut others: Vec<(Waiting, TcpStream)> = Waiting::ALL
        .into_iter()
        .filter(|waiting| *waiting != timed)
        .map(|waiting| (waiting, waiting.start(port)))
        .collect();

    let mut stream = timed.start(port);
    let started = Instant::now();
    let mut rest = Vec::new();
    let closed = stream.read_to_end(&mut rest);
    let elapsed = started.elapsed();
    assert!(closed.is_ok(), "{timed:?} was not closed: {closed:?}");
    assert!(
        elapsed >= Duration::from_millis(500) && elapsed < Duration::from_secs(8),
        "{timed:?} closed after {elapsed:?}"
    );
    assert_timed_out(&rest, timed);
    for (waiting, other) in &mut others {
        waiting.finish(other);
    }
}

/// Checks that `rest`, all a connection got before it closed, is Unit's 408: the error
/// page when a request was under way, an empty answer when the connection was idle.
fn assert_timed_out(rest: &[u8], timed: Waiting) {
    let reply = read_reply(&mut &rest[..], false)
        .unwrap_or_else(|error| panic!("{timed:?}: no 408 before the close: {error}"));
    assert_eq!(reply.status, 408, "{timed:?}: {}", reply.head);
    assert_eq!(
        reply.header("Connection").as_deref(),
        Some("close"),
        "{}",
        reply.head
    );
    let expected_body = match timed {
        Waiting::NextRequest => String::new(),
        Waiting::Head | Waiting::Body => error_page(408),
    };
    assert_eq!(reply.text(), expected_body, "{timed:?}");
}

#[test]
fn a_new_connection_waits_for_its_first_byte_by_idle_timeout() {
    let port = free_port();
    let _unit = start_with(
        "first-byte-idle",
        &json!({
            "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
            "routes": [{"action": {"return": 200}}],
            "settings": {"http": {"header_read_timeout": 1, "idle_timeout": 30}}
        }),
    );
    let mut silent = connect(port);
    // A partial head opened later times out by header_read_timeout...
    let mut slow_head = Waiting::Head.start(port);
    let mut rest = Vec::new();
    slow_head.read_to_end(&mut rest).expect("closed");
    assert_timed_out(&rest, Waiting::Head);
    // ...while the connection that has sent nothing yet is still served.
    Waiting::NextRequest.finish(&mut silent);
}

#[test]
fn a_head_trickling_in_does_not_extend_its_timeout() {
    let port = free_port();
    let _unit = start_with(
        "head-trickle",
        &json!({
            "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
            "routes": [{"action": {"return": 200}}],
            "settings": {"http": {"header_read_timeout": 1, "idle_timeout": 30}}
        }),
    );
    let mut stream = connect(port);
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let started = Instant::now();
    let mut rest = Vec::new();
    // One byte of a never-ending field every 200 ms: each read resets nothing.
    stream
        .write_all(b"GET / HTTP/1.1\r\nX-Slow: ")
        .expect("send");
    loop {
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => rest.extend_from_slice(&chunk[..n]),
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(error) => panic!("reading: {error}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "a trickling head was not timed out"
        );
        // The server may have closed already; a refused write ends the loop at the read.
        let _ = stream.write_all(b"a");
    }
    assert_timed_out(&rest, Waiting::Head);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn header_read_timeout_alone_closes_a_slow_head() {
    check_timeout_alone("header-read-timeout", Waiting::Head);
}

#[test]
fn body_read_timeout_alone_closes_a_slow_body() {
    check_timeout_alone("body-read-timeout", Waiting::Body);
}

#[test]
fn idle_timeout_alone_closes_a_kept_alive_connection() {
    check_timeout_alone("idle-timeout", Waiting::NextRequest);
}

#[test]
fn refused_requests_close_the_connection() {
    let port = free_port();
    let _unit = start_with(
        "refused-close",
        &json!({
            "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
            "routes": [{"action": {"return": 200}}],
            "settings": {"http": {"max_body_size": 100}}
        }),
    );
    let rows: &[(&[u8], u16)] = &[
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
        ),
        (b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n",
            413,
        ),
    ];
    for (request, status) in rows {
        let reply = refused(connect(port), request);
        assert_eq!(
            reply.status,
            *status,
            "{:?}",
            String::from_utf8_lossy(request)
        );
    }
}

#[test]
fn bad_request_lines_are_refused() {
    let port = free_port();
    let _unit = start_with(
        "bad-request-lines",
        &json!({
            "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
            "routes": [{"action": {"return": 200}}]
        }),
    );
    let rows: &[(&[u8], u16)] = &[
        // Versions: one that looks like HTTP but is not spoken, and ones that do not.
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        (b"GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505),
        (b"GET / HTTX/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET / http/1.1\r\nHost: x\r\n\r\n", 400),
        // Methods with characters no method has.
        (b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GE(T) / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        // No target, and control characters in the target.
        (b"GET HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET /a\x7fb HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ];
    for (request, status) in rows {
        let reply = refused(connect(port), request);
        let shown = String::from_utf8_lossy(request);
        assert_eq!(reply.status, *status, "{shown:?}");
        assert_eq!(reply.text(), error_page(*status), "{shown:?}");
    }
}

#[test]
fn a_unix_listener_serves_files_and_refuses_malformed_requests() {
    let unit = TestUnit::start("unix-listener-share", &[]);
    let root = www(&unit);
    let socket = unit.paths.dir.path().join("http.sock");
    let conf = json!({
        "listeners": {format!("unix:{}", socket.display()): {"pass": "routes"}},
        "routes": [{"action": {"share": format!("{}$uri", root.display())}}]
    });
    let response = unit.put("/config", &conf.to_string());
    assert_eq!(response.status, 200, "{}", response.body);
    let unix_connect = || {
        let stream = UnixStream::connect(&socket).expect("the unix listener");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream
    };

    let mut stream = unix_connect();
    for (path, status, body) in [
        ("/hello.txt", 200, "hello world\n".to_owned()),
        ("/dir/", 200, "dir index".to_owned()),
        ("/missing.txt", 404, error_page(404)),
    ] {
        stream
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .expect("send");
        let reply = read_reply(&mut stream, false).expect("reply");
        assert_eq!((reply.status, reply.text()), (status, body), "{path}");
    }

    let conflicting =
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(refused(unix_connect(), conflicting).status, 400);
    assert_eq!(
        refused(unix_connect(), b"GET / HTTP/2.0\r\nHost: x\r\n\r\n").status,
        505
    );
}

#[test]
fn conditions_that_do_not_match_fall_through() {
    let port = free_port();
    let _unit = start_with(
        "no-match",
        &json!({
            "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
            "routes": [
                {"match": {"host": "*.example.com"}, "action": {"return": 201}},
                {"match": {"host": "exact.test"}, "action": {"return": 202}},
                {"match": {"uri": "~^/api/v[0-9]+$"}, "action": {"return": 203}},
                {"match": {"uri": "/fallthrough"}, "action": {"return": 204}}
            ]
        }),
    );
    let rows: &[(&str, &str, u16)] = &[
        ("www.example.com", "/x", 201),
        // `*.` needs something before the dot, and another domain is another domain.
        ("example.com", "/fallthrough", 204),
        ("www.example.org", "/fallthrough", 204),
        ("example.com.evil", "/x", 404),
        ("Exact.Test:8080", "/x", 202),
        ("sub.exact.test", "/x", 404),
        ("exact.test.evil", "/fallthrough", 204),
        ("localhost", "/api/v2", 203),
        ("localhost", "/api/v10", 203),
        // The regex is anchored at both ends and wants digits.
        ("localhost", "/api/vx", 404),
        ("localhost", "/api/v", 404),
        ("localhost", "/api/v2/more", 404),
        ("localhost", "/old/api/v2", 404),
    ];
    for (host, path, status) in rows {
        let reply = exchange(
            port,
            &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        );
        assert_eq!(reply.status, *status, "{host} {path}");
    }
}

#[test]
fn share_errors_map_to_statuses() {
    let port = free_port();
    let unit = TestUnit::start("share-errors", &[]);
    let root = www(&unit);
    symlink("loop-b", root.join("loop-a")).expect("symlink");
    symlink("loop-a", root.join("loop-b")).expect("symlink");
    symlink("dir", root.join("linked")).expect("symlink");
    let root_text = root.display();
    let conf = json!({
        "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
        "routes": [
            {"match": {"uri": "/no-symlinks"}, "action": {"share": format!("{root_text}/linked/index.html"), "follow_symlinks": false}},
            {"match": {"uri": "/jailed"}, "action": {"share": format!("{root_text}/jail/$arg_file"), "chroot": format!("{root_text}/jail")}},
            {"match": {"uri": "/outside-chroot"}, "action": {"share": format!("{root_text}/hello.txt"), "chroot": format!("{root_text}/jail")}},
            {"action": {"share": format!("{root_text}$uri")}}
        ]
    });
    let response = unit.put("/config", &conf.to_string());
    assert_eq!(response.status, 200, "{}", response.body);

    let rows: &[(&str, u16)] = &[
        // ENOTDIR: a path through a regular file.
        ("/hello.txt/x", 404),
        // ELOOP: links that point at each other.
        ("/loop-a", 403),
        // A symlinked directory in the middle of the path: followed by default, not
        // with follow_symlinks false.
        ("/linked/index.html", 200),
        ("/no-symlinks", 403),
        ("/jailed?file=ok.txt", 200),
        // `..` stops at the chroot as at a real root: the file outside is never found,
        // the one inside is.
        ("/jailed?file=../../secret.txt", 404),
        ("/jailed?file=../ok.txt", 200),
        ("/outside-chroot", 403),
    ];
    for (path, status) in rows {
        let reply = get(port, path);
        assert_eq!(reply.status, *status, "{path}");
        assert!(!reply.text().contains("secret"), "{path} escaped");
        if *status != 200 {
            assert_eq!(reply.text(), error_page(*status), "{path}");
        }
    }
    assert_eq!(get(port, "/linked/index.html").text(), "dir index");
    assert_eq!(get(port, "/jailed?file=../ok.txt").text(), "inside");
}

#[test]
fn variables_choose_the_share_the_route_and_the_chroot() {
    let port = free_port();
    let unit = TestUnit::start("variable-targets", &[]);
    let root = www(&unit);
    write_public(&root, "hosts/share.test/page.txt", b"page of share.test");
    let root_text = root.display();
    let conf = json!({
        "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes/$host"}},
        "routes": {
            "share.test": [{"action": {"share": format!("{root_text}/hosts/$host$uri")}}],
            "pass.test": [{"action": {"pass": "routes/${arg_to}"}}],
            "first": [{"action": {"return": 211}}],
            "second": [{"action": {"return": 212}}],
            "chroot.test": [{"action": {"share": format!("{root_text}$uri"), "chroot": format!("{root_text}/${{arg_jail}}")}}]
        }
    });
    let response = unit.put("/config", &conf.to_string());
    assert_eq!(response.status, 200, "{}", response.body);

    let request = |host: &str, target: &str| {
        exchange(
            port,
            &format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        )
    };
    let page = request("Share.Test:8080", "/page.txt");
    assert_eq!(
        (page.status, page.text()),
        (200, "page of share.test".to_owned())
    );
    assert_eq!(request("share.test", "/hello.txt").status, 404);
    // Routes named by no host or argument: 404, as in Unit.
    assert_eq!(request("nowhere.test", "/").status, 404);
    assert_eq!(request("pass.test", "/?to=first").status, 211);
    assert_eq!(request("pass.test", "/?to=second").status, 212);
    assert_eq!(request("pass.test", "/?to=missing").status, 404);
    assert_eq!(request("pass.test", "/").status, 404);

    let jailed = request("chroot.test", "/jail/ok.txt?jail=jail");
    assert_eq!((jailed.status, jailed.text()), (200, "inside".to_owned()));
    assert_eq!(
        request("chroot.test", "/jail/ok.txt?jail=dir").status,
        403,
        "the file is outside this chroot"
    );
    assert_eq!(
        request("chroot.test", "/dir/index.html?jail=dir").status,
        200
    );
}

#[test]
fn variables_in_rewrite_location_and_response_headers() {
    let (backend_port, seen) = backend(backend_answer);
    let port = free_port();
    let _unit = start_with(
        "variable-values",
        &json!({
            "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
            "routes": [
                {"match": {"uri": "/rewrite-by-arg"}, "action": {
                    "rewrite": "/by-arg/${arg_name}",
                    "return": 200,
                    "response_headers": {"X-Uri": "$uri", "X-Request-Uri": "$request_uri"}
                }},
                {"match": {"uri": "/rewrite-with-query"}, "action": {
                    "rewrite": "/target?added=1",
                    "return": 200,
                    "response_headers": {"X-Uri": "$uri", "X-Request-Uri": "$request_uri", "X-Added": "[$arg_added]", "X-Orig": "$arg_orig"}
                }},
                {"match": {"uri": "/proxied"}, "action": {
                    "rewrite": "/upstream$uri?added=1",
                    "proxy": format!("http://127.0.0.1:{backend_port}")
                }},
                {"match": {"uri": "/encoded/*"}, "action": {
                    "rewrite": "/upstream$uri",
                    "proxy": format!("http://127.0.0.1:{backend_port}")
                }},
                {"match": {"uri": "/redirect"}, "action": {
                    "return": 302,
                    "location": "https://$host/to/${arg_a}?c=$cookie_c"
                }},
                {"action": {
                    "return": 200,
                    "response_headers": {
                        "X-Header": "$header_x_custom_thing",
                        "X-Arg": "$arg_a",
                        "X-Cookie": "$cookie_c",
                        "X-Host": "$host",
                        "X-Absent": "[$header_x_absent]"
                    }
                }}
            ]
        }),
    );

    let by_arg = get(port, "/rewrite-by-arg?name=abc");
    assert_eq!(by_arg.header("X-Uri").as_deref(), Some("/by-arg/abc"));
    assert_eq!(
        by_arg.header("X-Request-Uri").as_deref(),
        Some("/rewrite-by-arg?name=abc")
    );

    // A rewrite replaces the path only: a query in it is dropped, the request's own
    // query stays, and `$request_uri` is still the target as the client sent it.
    let with_query = get(port, "/rewrite-with-query?orig=2");
    assert_eq!(with_query.header("X-Uri").as_deref(), Some("/target"));
    assert_eq!(
        with_query.header("X-Request-Uri").as_deref(),
        Some("/rewrite-with-query?orig=2")
    );
    assert_eq!(with_query.header("X-Added").as_deref(), Some("[]"));
    assert_eq!(with_query.header("X-Orig").as_deref(), Some("2"));

    let proxied = get(port, "/proxied?orig=2");
    assert_eq!(
        (proxied.status, proxied.text()),
        (200, "path /upstream/proxied?orig=2".to_owned())
    );
    let heads = received_heads(&seen);
    assert!(
        heads
            .iter()
            .any(|head| head.starts_with("GET /upstream/proxied?orig=2 HTTP/1.1\r\n")),
        "{heads:?}"
    );

    // The rewritten path is decoded (`$uri`, and the rewrite decodes its value once
    // more, hence `%2525` for a `%`); it reaches the upstream encoded again, so no
    // space, `%` or line break in it can change the request line or add a header.
    let encoded = get(port, "/encoded/a%20b%2525c%0D%0AX-Injected:%201?q=1");
    assert_eq!(encoded.status, 200, "{}", encoded.head);
    let heads = received_heads(&seen);
    assert!(
        heads.iter().any(|head| head
            .starts_with("GET /upstream/encoded/a%20b%25c%0D%0AX-Injected:%201?q=1 HTTP/1.1\r\n")),
        "{heads:?}"
    );
    assert!(
        !heads
            .iter()
            .any(|head| head.lines().any(|line| line.starts_with("X-Injected"))),
        "{heads:?}"
    );

    let redirect = exchange(
        port,
        "GET /redirect?a=there HTTP/1.1\r\nHost: Site.Test:8080\r\nCookie: a=1; c=choc\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(redirect.status, 302);
    assert_eq!(
        redirect.header("Location").as_deref(),
        Some("https://site.test/to/there?c=choc")
    );

    let echoed = exchange(
        port,
        &get_request(
            "/echo?b=2&a=one",
            &[
                ("X-Custom-Thing", "custom value"),
                ("Cookie", "a=1; c=choc"),
            ],
        ),
    );
    assert_eq!(echoed.status, 200);
    let rows = [
        ("X-Header", "custom value"),
        ("X-Arg", "one"),
        ("X-Cookie", "choc"),
        ("X-Host", "localhost"),
        ("X-Absent", "[]"),
    ];
    for (name, value) in rows {
        assert_eq!(echoed.header(name).as_deref(), Some(value), "{name}");
    }
}
