//! Behaviour that NGINX Unit's own test suite showed we had wrong, one test per cause,
//! so our suite catches a regression without Unit's. The causes that live in one
//! function (Location encoding, MIME keys, cookie and argument parsing, chroot prefixes,
//! regular expression validation, chunked trailers) are tested beside that function;
//! these run the binary.

mod support;

use std::fs;
use std::io::{Read, Write};
use std::time::Duration;

use serde_json::json;
use support::http::{
    backend, backend_answer, connect, exchange, free_port, get, read_reply, start_with,
    write_public, www,
};
use support::{TestUnit, wait_until};

/// How many descriptors a process holds.
fn descriptor_count(pid: nix::unistd::Pid) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

fn put_conf(unit: &TestUnit, conf: &serde_json::Value) {
    let response = unit.put("/config", &conf.to_string());
    assert_eq!(response.status, 200, "{}", response.body);
}

fn listener(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

#[test]
fn the_router_holds_no_descriptor_of_an_old_configuration() {
    let port = free_port();
    let second_port = free_port();
    let (upstream, _) = backend(backend_answer);
    let unit = TestUnit::start("fds", &[]);
    let router = unit.child_titled("unit: router");
    let empty = json!({"listeners": {}, "applications": {}});
    put_conf(&unit, &empty);
    let baseline = descriptor_count(router);

    let root = www(&unit);
    write_public(&root, "big.bin", vec![7u8; 64 * 1024]);
    put_conf(
        &unit,
        &json!({
            "listeners": {
                listener(port): {"pass": "routes/main"},
                listener(second_port): {"pass": "routes/up"},
            },
            "routes": {
                "main": [
                    {
                        "match": {"uri": "/proxy"},
                        "action": {"proxy": format!("http://127.0.0.1:{upstream}")},
                    },
                    {"action": {"share": format!("{}$uri", root.display())}},
                ],
                "up": [{"action": {"return": 204}}],
            },
            "applications": {},
        }),
    );
    // A cached small file, a cached large one, and a kept-alive upstream connection.
    assert_eq!(get(port, "/hello.txt").status, 200);
    assert_eq!(get(port, "/big.bin").status, 200);
    assert_eq!(get(port, "/proxy").status, 200);
    assert!(descriptor_count(router) > baseline);

    put_conf(&unit, &empty);
    assert!(
        wait_until(|| descriptor_count(router) == baseline),
        "the router holds {} descriptors, {baseline} before",
        descriptor_count(router)
    );
}

#[test]
fn http_1_0_answers_say_keep_alive_and_never_close() {
    let port = free_port();
    let _unit = start_with(
        "http10",
        &json!({
            "listeners": {listener(port): {"pass": "routes"}},
            "routes": [{"action": {"return": 200}}],
        }),
    );
    let reply = exchange(port, "GET / HTTP/1.0\r\nConnection: close\r\n\r\n");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("Connection"), None, "{}", reply.head);

    let mut stream = connect(port);
    stream
        .write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .expect("send");
    let reply = read_reply(&mut stream, false).expect("an answer");
    assert_eq!(
        reply.header("Connection").as_deref(),
        Some("keep-alive"),
        "{}",
        reply.head
    );
    // The connection stays open for the next request.
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("send");
    let reply = read_reply(&mut stream, false).expect("a second answer");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("Connection"), None, "{}", reply.head);

    let reply = get(port, "/");
    assert_eq!(reply.header("Connection").as_deref(), Some("close"));
}

#[test]
fn response_headers_change_only_successful_and_redirecting_answers() {
    let port = free_port();
    let unit = TestUnit::start("response-headers", &[]);
    let root = www(&unit);
    let route = |share: String| {
        json!({
            "listeners": {listener(port): {"pass": "routes"}},
            "routes": [{"action": {"share": share, "response_headers": {"X-Foo": "foo"}}}],
        })
    };
    put_conf(&unit, &route(format!("{}/hello.txt", root.display())));
    assert_eq!(get(port, "/").header("X-Foo").as_deref(), Some("foo"));
    put_conf(&unit, &route(format!("{}/dir", root.display())));
    let redirect = get(port, "/");
    assert_eq!(redirect.status, 301);
    assert_eq!(redirect.header("X-Foo").as_deref(), Some("foo"));
    put_conf(&unit, &route("/nonexistent".to_owned()));
    let missing = get(port, "/");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("X-Foo"), None, "{}", missing.head);
}

#[test]
fn a_location_is_encoded_after_its_variables_are_expanded() {
    let port = free_port();
    let _unit = start_with(
        "location",
        &json!({
            "listeners": {listener(port): {"pass": "routes"}},
            "routes": [{"action": {"return": 302, "location": "/#$host"}}],
        }),
    );
    let reply = exchange(
        port,
        "GET / HTTP/1.1\r\nHost: #foo?bar\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(reply.status, 302, "{}", reply.head);
    assert_eq!(reply.header("Location").as_deref(), Some("/#%23foo%3Fbar"));
}

#[test]
fn an_empty_rewrite_empties_the_path() {
    let port = free_port();
    let _unit = start_with(
        "empty-rewrite",
        &json!({
            "listeners": {listener(port): {"pass": "routes"}},
            "routes": [
                {"match": {"uri": "/"}, "action": {"rewrite": "", "pass": "routes"}},
                {"match": {"uri": ""}, "action": {"return": 204}},
            ],
        }),
    );
    assert_eq!(get(port, "/").status, 204);
}

#[test]
fn an_idle_connection_of_a_removed_listener_is_answered_408() {
    let port = free_port();
    let unit = start_with(
        "removed-listener",
        &json!({
            "listeners": {listener(port): {"pass": "routes"}},
            "routes": [{"action": {"return": 200}}],
        }),
    );
    let mut stream = connect(port);
    // The connection is accepted before the listener goes.
    std::thread::sleep(Duration::from_millis(300));
    put_conf(&unit, &json!({"listeners": {}, "applications": {}}));
    let reply = read_reply(&mut stream, false).expect("an answer");
    assert_eq!(reply.status, 408);
    assert_eq!(reply.header("Connection").as_deref(), Some("close"));
    assert_eq!(reply.header("Content-Length").as_deref(), Some("0"));
}

#[test]
fn a_refused_request_is_answered_while_the_client_still_sends() {
    let port = free_port();
    let _unit = start_with(
        "linger",
        &json!({
            "listeners": {listener(port): {"pass": "routes"}},
            "routes": [{"action": {"return": 200}}],
            "settings": {"http": {"max_body_size": 1024}},
        }),
    );
    let mut stream = connect(port);
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n")
        .expect("send the head");
    // The body keeps coming after the refusal: without a lingering close the unread
    // bytes would make the kernel reset the connection and lose the answer.
    let mut writer = stream.try_clone().expect("clone");
    let sender = std::thread::spawn(move || {
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..40 {
            if writer.write_all(&chunk).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = writer.shutdown(std::net::Shutdown::Write);
    });
    let reply = read_reply(&mut stream, false).expect("the 413 answer");
    assert_eq!(reply.status, 413);
    let mut rest = Vec::new();
    assert!(matches!(stream.read_to_end(&mut rest), Ok(0)), "then EOF");
    sender.join().expect("the sender");
}

#[test]
fn a_request_without_host_is_served_as_unit_does() {
    let port = free_port();
    let _unit = start_with(
        "no-host",
        &json!({
            "listeners": {listener(port): {"pass": "routes"}},
            "routes": [
                {"match": {"host": ""}, "action": {"return": 204}},
                {"action": {"return": 404}},
            ],
        }),
    );
    let reply = exchange(port, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(reply.status, 204, "{}", reply.head);
}

#[test]
fn spaces_and_a_fragment_in_the_target_are_taken() {
    let port = free_port();
    let unit = TestUnit::start("spaced-target", &[]);
    let root = www(&unit);
    write_public(&root, " di r /fi le", "blah");
    put_conf(
        &unit,
        &json!({
            "listeners": {listener(port): {"pass": "routes"}},
            "routes": [
                {"match": {"arguments": {"a": "b c"}}, "action": {"return": 204}},
                {"action": {"share": format!("{}$uri", root.display())}},
            ],
        }),
    );
    let reply = exchange(
        port,
        "GET / di r /fi%20le HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(reply.status, 200, "{}", reply.head);
    assert_eq!(reply.body, b"blah");
    assert_eq!(get(port, "/hello.txt#fragment").status, 200);
    assert_eq!(get(port, "/?a=b c").status, 204);
    assert_eq!(get(port, "/?a=b+c#x").status, 204);
}

#[test]
fn an_upstream_server_that_cannot_be_reached_answers_502() {
    let port = free_port();
    let up_port = free_port();
    let dead_port = free_port();
    let _unit = start_with(
        "dead-upstream",
        &json!({
            "listeners": {
                listener(port): {"pass": "upstreams/pool"},
                listener(up_port): {"pass": "routes"},
            },
            "upstreams": {"pool": {"servers": {
                listener(up_port): {},
                listener(dead_port): {},
            }}},
            "routes": [{"action": {"return": 200}}],
        }),
    );
    // As in Unit, the request picked for the dead server is not passed to the other.
    let statuses: Vec<u16> = (0..6).map(|_| get(port, "/").status).collect();
    assert_eq!(statuses.iter().filter(|status| **status == 200).count(), 3);
    assert_eq!(statuses.iter().filter(|status| **status == 502).count(), 3);
}

#[test]
fn a_malformed_chunked_answer_that_arrives_with_its_head_is_a_502() {
    use std::net::TcpListener;
    let port = free_port();
    let upstream = TcpListener::bind("127.0.0.1:0").expect("bind");
    let upstream_port = upstream.local_addr().expect("address").port();
    std::thread::spawn(move || {
        while let Ok((mut stream, _)) = upstream.accept() {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nXX\r\n0\r\n\r\n",
            );
        }
    });
    let _unit = start_with(
        "bad-chunks",
        &json!({
            "listeners": {listener(port): {"pass": "routes"}},
            "routes": [{"action": {"proxy": format!("http://127.0.0.1:{upstream_port}")}}],
        }),
    );
    assert_eq!(get(port, "/").status, 502);
}

#[test]
fn a_file_changed_in_place_is_served_at_once() {
    let port = free_port();
    let unit = TestUnit::start("etag", &[]);
    let root = www(&unit);
    put_conf(
        &unit,
        &json!({
            "listeners": {listener(port): {"pass": "routes"}},
            "routes": [{"action": {"share": format!("{}$uri", root.display())}}],
        }),
    );
    let first = get(port, "/hello.txt");
    fs::write(root.join("hello.txt"), "changed").expect("rewrite the file");
    let second = get(port, "/hello.txt");
    assert_eq!(second.body, b"changed");
    assert_ne!(first.header("ETag"), second.header("ETag"));
}

#[test]
fn an_index_is_served_whatever_its_type() {
    let port = free_port();
    let unit = TestUnit::start("index-types", &[]);
    let root = www(&unit);
    put_conf(
        &unit,
        &json!({
            "listeners": {listener(port): {"pass": "routes"}},
            "routes": [{"action": {
                "share": format!("{}$uri", root.display()),
                "types": "application/xml",
            }}],
        }),
    );
    assert_eq!(get(port, "/").status, 200);
    assert_eq!(get(port, "/index.html").status, 403);
}

#[test]
fn an_empty_source_set_matches_no_client() {
    let port = free_port();
    let _unit = start_with(
        "source-none",
        &json!({
            "listeners": {listener(port): {"pass": "routes"}},
            "routes": [{"match": {"source": []}, "action": {"return": 200}}],
        }),
    );
    assert_eq!(get(port, "/").status, 404);
}

#[test]
fn an_http_1_0_client_gets_a_chunked_upstream_answer_decoded() {
    let port = free_port();
    let (upstream, _) = backend(backend_answer);
    let _unit = start_with(
        "dechunk",
        &json!({
            "listeners": {listener(port): {"pass": "routes"}},
            "routes": [{"action": {"proxy": format!("http://127.0.0.1:{upstream}")}}],
        }),
    );
    let mut stream = connect(port);
    stream
        .write_all(b"GET /chunked HTTP/1.0\r\n\r\n")
        .expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read to the close");
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(!head.contains("Transfer-Encoding"), "{head}");
    assert_eq!(body, "hello world");
}

#[test]
fn the_access_log_sees_the_fields_the_server_adds_and_the_time_from_the_first_byte() {
    let port = free_port();
    let unit = TestUnit::start("access-vars", &[]);
    let log = unit.paths.dir.path().join("access.log");
    put_conf(
        &unit,
        &json!({
            "listeners": {listener(port): {"pass": "routes"}},
            "routes": [{"action": {"return": 200}}],
            "access_log": {
                "path": log.display().to_string(),
                "format": "$uri@$response_header_server@$response_header_content_length@$response_header_connection@$request_time",
            },
        }),
    );
    let mut stream = connect(port);
    stream.write_all(b"G").expect("send the first byte");
    std::thread::sleep(Duration::from_millis(1100));
    stream
        .write_all(b"ET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("send the rest");
    assert_eq!(
        read_reply(&mut stream, false).expect("an answer").status,
        200
    );
    assert!(
        wait_until(|| fs::read_to_string(&log)
            .is_ok_and(|text| text.contains("/slow@Unit/") && text.contains("@0@close@1."))),
        "{:?}",
        fs::read_to_string(&log)
    );
}

#[test]
fn log_route_logs_the_request_line() {
    let port = free_port();
    let unit = start_with(
        "log-route",
        &json!({
            "listeners": {listener(port): {"pass": "routes"}},
            "routes": [{"action": {"return": 200}}],
            "settings": {"http": {"log_route": true}},
        }),
    );
    assert_eq!(get(port, "/zero").status, 200);
    assert!(unit.wait_for_log("[notice]", 1));
    assert!(
        unit.wait_for_log("http request line \"GET /zero HTTP/1.1\"", 1),
        "{}",
        unit.log_text()
    );
}

#[test]
fn a_regular_expression_the_router_cannot_use_is_refused() {
    let unit = TestUnit::start("bad-regex", &[]);
    let response = unit.put(
        "/config",
        &json!({
            "listeners": {},
            "routes": [{"match": {"uri": "~((?1)?z)"}, "action": {"return": 200}}],
        })
        .to_string(),
    );
    assert_eq!(response.status, 400, "{}", response.body);
    assert!(response.body.contains("Invalid regular expression"));
    assert!(!unit.log_text().contains("[alert]"), "{}", unit.log_text());
}
