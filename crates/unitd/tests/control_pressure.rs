//! The control API under memory pressure: bodies at the 32 MiB limit, deeply nested JSON
//! and a configuration of 100,000 routes are each answered or refused clearly, no process
//! of the daemon dies, and a refusal leaves the running configuration and `conf.json` as
//! they were.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use nix::unistd::Pid;
use serde_json::{Value, json};
use support::http::{free_port, get};
use support::{Response, TestUnit, parse_response};

/// The largest body the control API takes.
const MAX_BODY: usize = 32 * 1024 * 1024;
/// How long a large request may take; a debug build needs seconds, and this only bounds
/// a daemon that never answers.
const SLOW_REQUEST: Duration = Duration::from_secs(300);
/// The detail of the answer to a body nested too deeply.
const TOO_DEEP: &str =
    "The JSON value is nested too deeply. At most 400 levels of arrays and objects are allowed.";

/// Sends one request with `body` and reads the answer; the body may be refused unread,
/// so a failed write of it (the daemon answered and closed) is not an error, and the
/// answer is read up to a reset.
fn big_request(unit: &TestUnit, method: &str, path: &str, body: &[u8]) -> Response {
    let mut stream = UnixStream::connect(&unit.paths.control).expect("connect to control");
    stream
        .set_read_timeout(Some(SLOW_REQUEST))
        .expect("read timeout");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("send the head");
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let mut chunk = vec![0; 64 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n_read) => raw.extend_from_slice(&chunk[..n_read]),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    parse_response(&raw).expect("an HTTP answer")
}

/// `prefix`, then `fill` repeated, then `suffix`, exactly `len` bytes long.
fn padded(prefix: &str, fill: char, suffix: &str, len: usize) -> String {
    let mut text = String::with_capacity(len);
    text.push_str(prefix);
    text.extend(std::iter::repeat_n(fill, len - prefix.len() - suffix.len()));
    text.push_str(suffix);
    text
}

/// What a refusal must leave as it was: `conf.json` and the configuration the controller
/// shows, compared as text (a deep value is beyond serde_json's recursion limit).
fn snapshot(unit: &TestUnit) -> (Vec<u8>, String) {
    let shown = unit.get("/config");
    assert_eq!(shown.status, 200);
    (unit.conf_json(), shown.body)
}

/// The pids of the controller and the router.
fn role_pids(unit: &TestUnit) -> Vec<Pid> {
    ["unit: controller", "unit: router"]
        .iter()
        .map(|title| unit.child_titled(title))
        .collect()
}

/// Reads a whole answer from the router, however large its head.
fn fetch_all(port: u16, path: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the router");
    stream
        .set_read_timeout(Some(SLOW_REQUEST))
        .expect("read timeout");
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read the answer");
    answer
}

#[test]
fn bodies_at_the_limit_are_answered_and_larger_ones_refused() {
    let port = free_port();
    let unit = TestUnit::start("pressure-body", &[]);
    let conf = json!({
        "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
        "routes": [{"action": {"return": 204}}]
    });
    assert_eq!(unit.put("/config", &conf.to_string()).status, 200);
    let pids = role_pids(&unit);
    let before = snapshot(&unit);

    let invalid = padded(r#"{"unknown": ""#, 'b', r#""}"#, MAX_BODY);
    let response = big_request(&unit, "PUT", "/config", invalid.as_bytes());
    assert_eq!(
        (response.status, response.json()),
        (
            400,
            json!({"error": "Invalid configuration.", "detail": "Unknown parameter \"unknown\"."})
        )
    );
    assert!(
        snapshot(&unit) == before,
        "a refused configuration changed nothing"
    );

    let broken = padded(r#"[""#, 'b', "\" x", MAX_BODY);
    let response = big_request(&unit, "PUT", "/config", broken.as_bytes());
    assert_eq!(response.status, 400, "{}", response.body);
    let answer = response.json();
    assert_eq!(answer["error"], "Invalid JSON.");
    assert_eq!(
        answer["location"],
        json!({"offset": MAX_BODY - 1, "line": 1, "column": MAX_BODY})
    );
    assert!(snapshot(&unit) == before, "a refused body changed nothing");

    let one_over = padded(
        r#"{"listeners": {}, "routes": [""#,
        'c',
        r#""]}"#,
        MAX_BODY + 1,
    );
    let response = big_request(&unit, "PUT", "/config", one_over.as_bytes());
    assert_eq!(
        (response.status, response.json()),
        (413, json!({"error": "Request body is too large."}))
    );
    assert!(
        snapshot(&unit) == before,
        "a body over the limit changed nothing"
    );
    assert_eq!(get(port, "/").status, 204);

    // A string value that fills the whole body is applied, stored and served.
    let action = padded(r#"{"return": 301, "location": "/"#, 'd', r#""}"#, MAX_BODY);
    let location_len = MAX_BODY - r#"{"return": 301, "location": ""}"#.len();
    let response = big_request(&unit, "PUT", "/config/routes/0/action", action.as_bytes());
    assert_eq!(
        (response.status, response.json()),
        (200, json!({"success": "Reconfiguration done."}))
    );
    let stored: Value = serde_json::from_slice(&unit.conf_json()).expect("conf.json is JSON");
    assert_eq!(
        stored["routes"][0]["action"]["location"]
            .as_str()
            .map(str::len),
        Some(location_len)
    );
    assert_eq!(
        unit.get("/config/routes/0/action/location")
            .json()
            .as_str()
            .map(str::len),
        Some(location_len)
    );
    let answer = fetch_all(port, "/");
    assert!(answer.starts_with(b"HTTP/1.1 301 "));
    let location_line = format!("\r\nLocation: /{}\r\n", "d".repeat(location_len - 1));
    assert!(
        answer
            .windows(location_line.len())
            .any(|window| window == location_line.as_bytes()),
        "the router sends the whole location"
    );

    assert_eq!(unit.put("/config", &conf.to_string()).status, 200);
    assert!(snapshot(&unit) == before, "the large value is gone again");
    assert_eq!(get(port, "/").status, 204);
    assert_eq!(role_pids(&unit), pids, "no process of the daemon died");
}

/// A share of a path that does not exist, `n_fallbacks` times, each falling back to the
/// next, the last to `return 204`.
fn fallback_chain(n_fallbacks: usize) -> String {
    let mut chain = r#"{"share": "/nonexistent/", "fallback": "#.repeat(n_fallbacks);
    chain.push_str(r#"{"return": 204}"#);
    chain.push_str(&"}".repeat(n_fallbacks));
    chain
}

fn nested_arrays(levels: usize) -> String {
    format!("{}{}", "[".repeat(levels), "]".repeat(levels))
}

#[test]
fn nesting_is_limited_to_400_levels_with_a_clear_answer() {
    let port = free_port();
    let unit = TestUnit::start("pressure-nesting", &[]);
    // The root, `routes`, the step and its action are four levels: with 396 fallbacks
    // the innermost action is the 400th.
    let conf = |n_fallbacks: usize| {
        format!(
            r#"{{"listeners": {{"127.0.0.1:{port}": {{"pass": "routes"}}}}, "routes": [{{"action": {}}}]}}"#,
            fallback_chain(n_fallbacks)
        )
    };
    let response = unit.put("/config", &conf(396));
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(
        get(port, "/").status,
        204,
        "the router follows every fallback"
    );
    let pids = role_pids(&unit);
    let before = snapshot(&unit);
    assert_eq!(before.1.matches("\"fallback\"").count(), 396);

    // A deep value is read by its path as well.
    let path = format!("/config/routes/0/action{}", "/fallback".repeat(90));
    let deep_value = unit.get(&path);
    assert_eq!(deep_value.status, 200);
    assert!(deep_value.header("ETag").is_some());
    assert_eq!(deep_value.body.matches("\"fallback\"").count(), 396 - 90);

    let too_deep = |response: &Response| {
        assert_eq!(response.status, 400, "{}", response.body);
        let answer = response.json();
        assert_eq!(answer["error"], "Invalid JSON.");
        assert_eq!(answer["detail"], TOO_DEEP);
    };
    too_deep(&unit.put("/config", &conf(397)));
    // The levels above the path count.
    let fallback_path = "/config/routes/0/action/fallback";
    too_deep(&unit.put(fallback_path, &fallback_chain(396)));
    too_deep(&unit.put("/config/routes", &nested_arrays(400)));
    too_deep(&big_request(
        &unit,
        "PUT",
        "/config",
        "[".repeat(1_000_000).as_bytes(),
    ));
    assert!(snapshot(&unit) == before, "a body too deep changed nothing");

    // Within the limit, nesting where the configuration has none is a validation error.
    let response = unit.put(
        "/config/settings",
        &format!(r#"{{"http": {}}}"#, nested_arrays(398)),
    );
    assert_eq!(
        (response.status, response.json()),
        (
            400,
            json!({"error": "Invalid configuration.", "detail": "The \"http\" value must be an object, but not an array."})
        )
    );
    assert!(
        snapshot(&unit) == before,
        "an invalid configuration changed nothing"
    );

    let response = unit.put(fallback_path, &fallback_chain(395));
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(get(port, "/").status, 204);
    assert_eq!(role_pids(&unit), pids, "no process of the daemon died");
}

#[test]
fn a_hundred_thousand_routes_are_applied() {
    const N_ROUTES: usize = 100_000;
    let port = free_port();
    let unit = TestUnit::start("pressure-routes", &[]);
    let steps: Vec<String> = (0..N_ROUTES)
        .map(|route_idx| {
            format!(r#"{{"match": {{"uri": "/route/{route_idx}"}}, "action": {{"return": 200}}}}"#)
        })
        .collect();
    let conf = format!(
        r#"{{"listeners": {{"127.0.0.1:{port}": {{"pass": "routes"}}}}, "routes": [{}]}}"#,
        steps.join(", ")
    );
    let response = big_request(&unit, "PUT", "/config", conf.as_bytes());
    assert_eq!(
        (response.status, response.json()),
        (200, json!({"success": "Reconfiguration done."}))
    );
    let pids = role_pids(&unit);
    assert_eq!(get(port, &format!("/route/{}", N_ROUTES - 1)).status, 200);
    assert_eq!(get(port, &format!("/route/{N_ROUTES}")).status, 404);
    let stored: Value = serde_json::from_slice(&unit.conf_json()).expect("conf.json is JSON");
    assert_eq!(
        stored["routes"].as_array().map(Vec::len),
        Some(N_ROUTES),
        "conf.json holds every route"
    );

    // A change applies the whole configuration again.
    let response = big_request(&unit, "PUT", "/config/routes/0/action/return", b"201");
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(get(port, "/route/0").status, 201);

    let before = snapshot(&unit);
    let response = big_request(&unit, "PUT", "/config/routes/7/action/return", b"1000");
    assert_eq!(
        (response.status, response.json()),
        (
            400,
            json!({"error": "Invalid configuration.", "detail": "The \"return\" value is out of allowed HTTP status code range 0-999."})
        )
    );
    assert!(
        snapshot(&unit) == before,
        "a refused change changed nothing"
    );
    assert_eq!(get(port, "/route/7").status, 200);
    assert_eq!(role_pids(&unit), pids, "no process of the daemon died");
}
