//! The control API over the real control socket (UNIT-COMPAT 2-4): methods, errors,
//! ETags, ordering, persistence and robustness.

mod support;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use serde_json::{Value, json};
use support::{Paths, TestUnit, parse_response, send_request_with, wait_until};

const APP_CONF: &str = r#"{
    "listeners": {"127.0.0.1:8080": {"pass": "routes"}},
    "routes": [{"match": {"uri": "/health"}, "action": {"return": 204}}],
    "applications": {"app": {"type": "external", "executable": "/bin/true"}}
}"#;

/// `APP_CONF` with its listener on a free port; returns the text and the listener key.
fn app_conf() -> (String, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port");
    let key = format!("127.0.0.1:{port}");
    (APP_CONF.replace("127.0.0.1:8080", &key), key)
}

fn assert_answer(response: &support::Response, status: u16, body: Value) {
    assert_eq!(
        (response.status, response.json()),
        (status, body),
        "{}",
        response.body
    );
}

#[test]
fn put_get_post_delete_on_paths() {
    let unit = TestUnit::start("methods", &[]);
    let (conf, key) = app_conf();
    assert_answer(
        &unit.put("/config", &conf),
        200,
        json!({"success": "Reconfiguration done."}),
    );
    assert_eq!(
        unit.get("/config/routes/0/action/return").json(),
        json!(204)
    );
    assert_eq!(
        unit.get(&format!("/config/listeners/{key}/pass")).json(),
        json!("routes")
    );

    // POST appends to an array; PUT at the array's length appends too.
    let step = r#"{"action": {"return": 200}}"#;
    assert_answer(
        &unit.request("POST", "/config/routes", Some(step)),
        200,
        json!({"success": "Reconfiguration done."}),
    );
    assert_eq!(
        unit.put("/config/routes/2", r#"{"action": {"return": 201}}"#)
            .status,
        200
    );
    assert_eq!(
        unit.get("/config/routes").json().as_array().map(Vec::len),
        Some(3)
    );
    assert_eq!(unit.put("/config/routes/9", step).status, 404);

    // A unix listener is addressed with %2F inside its name.
    let socket = unit.paths.dir.path().join("app.sock");
    let escaped = socket.display().to_string().replace('/', "%2F");
    let listener_path = format!("/config/listeners/unix:{escaped}");
    assert_eq!(
        unit.put(&listener_path, r#"{"pass": "routes"}"#).status,
        200
    );
    assert_eq!(
        unit.get(&format!("{listener_path}/pass")).json(),
        json!("routes")
    );

    // DELETE shifts later array elements down and keeps member order elsewhere.
    assert_eq!(unit.request("DELETE", "/config/routes/0", None).status, 200);
    assert_eq!(
        unit.get("/config/routes/0/action/return").json(),
        json!(200)
    );
    assert_eq!(unit.request("DELETE", &listener_path, None).status, 200);
    let listeners = unit.get("/config/listeners").json();
    assert_eq!(listeners, json!({key: {"pass": "routes"}}));

    // Key order is kept as written.
    let ordered = r#"{"z": {"type": "external", "executable": "/z"}, "a": {"type": "external", "executable": "/a"}}"#;
    assert_eq!(unit.put("/config/applications", ordered).status, 200);
    let body = unit.get("/config/applications").body;
    assert!(body.find("\"z\"") < body.find("\"a\""), "{body}");

    // DELETE /config leaves an empty configuration.
    assert_eq!(unit.request("DELETE", "/config", None).status, 200);
    assert_eq!(unit.get("/config").json(), json!({}));
}

#[test]
fn error_classes() {
    let unit = TestUnit::start("errors", &[]);
    assert_answer(
        &unit.get("/config/nothing"),
        404,
        json!({"error": "Value doesn't exist."}),
    );
    assert_answer(
        &unit.get("/nothing"),
        404,
        json!({"error": "Value doesn't exist."}),
    );
    assert_answer(
        &unit.request("POST", "/config", Some("{}")),
        405,
        json!({"error": "Method isn't allowed."}),
    );
    assert_answer(
        &unit.request("PATCH", "/config", Some("{}")),
        405,
        json!({"error": "Method isn't allowed."}),
    );
    assert_answer(
        &unit.request("POST", "/config/listeners", Some("{}")),
        405,
        json!({"error": "Method isn't allowed."}),
    );
    assert_answer(
        &unit.request("PUT", "/status", Some("{}")),
        405,
        json!({"error": "Invalid method."}),
    );
    assert_answer(
        &unit.request("DELETE", "/", None),
        405,
        json!({"error": "Invalid method."}),
    );
    assert_answer(
        &unit.get("/status/nothing"),
        404,
        json!({"error": "Invalid path."}),
    );
    assert_answer(
        &unit.put("/config/nothing/deeper", "1"),
        404,
        json!({"error": "Value doesn't exist."}),
    );

    let syntax = unit.put("/config", "{\n\t\"listeners\": {,}\n}");
    assert_eq!(syntax.status, 400);
    let body = syntax.json();
    assert_eq!(body["error"], "Invalid JSON.");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|detail| detail.ends_with('.'))
    );
    assert_eq!(
        body["location"],
        json!({"offset": 17, "line": 2, "column": 16})
    );
    let empty = unit.put("/config", "");
    assert_eq!(empty.status, 400);
    assert!(
        empty.json()["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("An empty JSON payload isn't allowed."))
    );
    let duplicate = unit.put("/config", r#"{"listeners": {}, "listeners": {}}"#);
    assert_eq!(duplicate.json()["detail"], "Duplicate object member.");

    assert_answer(
        &unit.put("/config", r#"{"listeners": {}, "bogus": 1}"#),
        400,
        json!({"error": "Invalid configuration.", "detail": "Unknown parameter \"bogus\"."}),
    );
    assert_answer(
        &unit.put(
            "/config/listeners/*:8080",
            r#"{"pass": "applications/none"}"#,
        ),
        400,
        json!({"error": "Invalid configuration.", "detail": "Request \"pass\" points to invalid location \"applications/none\"."}),
    );
    assert_answer(
        &unit.put(
            "/config",
            r#"{"listeners": {"nonsense": {"pass": "routes"}}, "routes": []}"#,
        ),
        400,
        json!({"error": "Invalid configuration.", "detail": "The listener address \"nonsense\" is invalid."}),
    );
    assert_answer(
        &unit.put("/config/routes", r#"[{"action": {"return": 1000}}]"#),
        400,
        json!({"error": "Invalid configuration.", "detail": "The \"return\" value is out of allowed HTTP status code range 0-999."}),
    );
    // Nothing of the above changed the configuration.
    assert_eq!(
        unit.get("/config").json(),
        json!({"listeners": {}, "applications": {}})
    );
}

#[test]
fn root_status_and_restart() {
    let unit = TestUnit::start("status", &[]);
    assert_eq!(unit.put("/config", &app_conf().0).status, 200);
    let root = unit.get("/").json();
    assert_eq!(root["config"], unit.get("/config").json());
    let status = &root["status"];
    for counter in ["accepted", "active", "idle", "closed"] {
        assert!(status["connections"][counter].is_u64(), "{status}");
    }
    assert!(status["requests"]["total"].is_u64());
    assert_eq!(unit.get("/status/connections/active").json(), json!(0));
    assert_answer(
        &unit.get("/control/applications/none/restart"),
        404,
        json!({"error": "Value doesn't exist."}),
    );
    assert_answer(
        &unit.request("POST", "/control/applications/app/restart", None),
        405,
        json!({"error": "Method isn't allowed."}),
    );
}

#[test]
fn etag_and_if_match() {
    let unit = TestUnit::start("etag", &[]);
    assert_eq!(unit.put("/config", &app_conf().0).status, 200);
    let read = unit.get("/config/routes");
    let etag = read.header("ETag").expect("an ETag on GET");
    assert!(etag.starts_with('"') && etag.ends_with('"'));
    assert_eq!(
        unit.get("/config/routes").header("ETag").as_deref(),
        Some(etag.as_str()),
        "stable"
    );

    let with_if_match = |tag: &str, body: &str| {
        let mut stream = UnixStream::connect(&unit.paths.control).expect("connect");
        send_request_with(
            &mut stream,
            "PUT",
            "/config/routes",
            Some(body),
            &format!("If-Match: {tag}\r\n"),
        )
        .expect("request")
    };
    let before = unit.conf_json();
    let stale = with_if_match("\"0000000000000000\"", "[]");
    assert_eq!(stale.status, 412);
    assert_eq!(stale.json()["error"], "Precondition failed.");
    assert_eq!(unit.conf_json(), before, "a refused write changes nothing");

    let new_routes = r#"[{"action": {"return": 200}}]"#;
    assert_eq!(with_if_match(&etag, new_routes).status, 200);
    assert_ne!(
        unit.get("/config/routes").header("ETag").as_deref(),
        Some(etag.as_str())
    );
    // The old tag is stale now.
    assert_eq!(with_if_match(&etag, "[]").status, 412);
    assert_eq!(with_if_match("*", "[]").status, 200);
}

#[test]
fn rejected_changes_leave_conf_json_byte_for_byte() {
    let unit = TestUnit::start("bytes", &[]);
    assert_eq!(unit.put("/config", &app_conf().0).status, 200);
    let stored = unit.conf_json();
    let parsed: Value = serde_json::from_slice(&stored).expect("conf.json is JSON");
    assert_eq!(parsed, unit.get("/config").json());
    let mode = fs::metadata(unit.paths.state.join("conf.json"))
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777);
    assert_eq!(mode.ok(), Some(0o600));
    let version = fs::read_to_string(unit.paths.state.join("version")).expect("version file");
    assert!(version.chars().all(|c| c.is_ascii_digit()) && !version.is_empty());

    for (method, path, body) in [
        ("PUT", "/config", "{"),
        ("PUT", "/config", r#"{"unknown": 1}"#),
        ("PUT", "/config/missing/x", "1"),
        ("POST", "/config/listeners", "{}"),
        ("DELETE", "/config/nothing", ""),
        (
            "PUT",
            "/config/routes/0/action",
            r#"{"return": 200, "share": "/x"}"#,
        ),
    ] {
        let response = unit.request(method, path, Some(body));
        assert!(
            response.status >= 400,
            "{method} {path}: {}",
            response.status
        );
        assert_eq!(
            unit.conf_json(),
            stored,
            "{method} {path} left conf.json as it was"
        );
        assert_eq!(unit.get("/config").json(), parsed);
    }
    assert!(!unit.paths.state.join("conf.json.tmp").exists());
}

#[test]
fn configuration_persists_across_a_restart() {
    let unit = TestUnit::start("persist", &[]);
    assert_eq!(unit.put("/config", &app_conf().0).status, 200);
    let expected = unit.get("/config").json();
    let paths = unit.stop();
    let unit = TestUnit::start_with(paths, &[]);
    assert_eq!(unit.get("/config").json(), expected);
}

#[test]
fn an_invalid_conf_json_is_kept_and_unitd_starts_empty() {
    let paths = Paths::new("bad-conf");
    let bad = br#"{"listeners": {"nonsense": {}}}"#;
    fs::write(paths.state.join("conf.json"), bad).expect("writing conf.json");
    let unit = TestUnit::start_with(paths, &[]);
    assert_eq!(
        unit.get("/config").json(),
        json!({"listeners": {}, "applications": {}})
    );
    assert!(unit.wait_for_log(
        "the previous configuration is invalid: The listener address \"nonsense\" is invalid.",
        1
    ));
    assert_eq!(
        unit.conf_json(),
        bad.to_vec(),
        "the file is kept for the operator"
    );
}

#[test]
fn config_option_seeds_an_empty_state() {
    let paths = Paths::new("seed");
    let seed = paths.dir.path().join("seed.json");
    fs::write(&seed, format!("// seeded\n{}", app_conf().0)).expect("writing the seed");
    let seed_arg = seed.display().to_string();
    let unit = TestUnit::start_with(paths, &["--config", &seed_arg]);
    assert_eq!(
        unit.get("/config/routes/0/action/return").json(),
        json!(204)
    );
    // Once a conf.json exists, it wins over --config.
    assert_eq!(
        unit.put("/config/routes/0/action/return", "200").status,
        200
    );
    let paths = unit.stop();
    let unit = TestUnit::start_with(paths, &["--config", &seed_arg]);
    assert_eq!(
        unit.get("/config/routes/0/action/return").json(),
        json!(200)
    );
}

#[test]
fn changes_apply_one_at_a_time_in_order() {
    let unit = TestUnit::start("order", &[]);
    assert_eq!(
        unit.put("/config", r#"{"listeners": {}, "routes": []}"#)
            .status,
        200
    );
    let control = unit.paths.control.clone();
    let threads: Vec<_> = (0..8)
        .map(|n| {
            let control = control.clone();
            std::thread::spawn(move || {
                let body = format!(r#"{{"action": {{"return": {}}}}}"#, 200 + n);
                support::try_request(&control, "POST", "/config/routes", Some(&body))
                    .map(|r| r.status)
            })
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().expect("thread").ok(), Some(200));
    }
    let routes = unit.get("/config/routes").json();
    let mut codes: Vec<i64> = routes
        .as_array()
        .map(|steps| {
            steps
                .iter()
                .filter_map(|step| step["action"]["return"].as_i64())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(codes.len(), 8, "every change was applied: {routes}");
    codes.sort_unstable();
    assert_eq!(codes, (200..208).collect::<Vec<_>>());
    let stored: Value = serde_json::from_slice(&unit.conf_json()).expect("conf.json");
    assert_eq!(stored["routes"], routes);
}

#[test]
fn killing_the_controller_mid_put_never_tears_conf_json() {
    let unit = TestUnit::start("torn", &[]);
    let old = json!({"listeners": {}, "routes": [{"action": {"return": 200}}]});
    assert_eq!(unit.put("/config", &old.to_string()).status, 200);
    // A large configuration, so the write has something to tear.
    let steps: Vec<Value> = (0..2000)
        .map(|n| json!({"match": {"uri": format!("/path/{n}")}, "action": {"return": 200 + n % 100}}))
        .collect();
    let new = json!({"listeners": {}, "routes": steps});
    for _ in 0..3 {
        let controller = unit.child_titled("unit: controller");
        let control = unit.paths.control.clone();
        let body = new.to_string();
        let writer = std::thread::spawn(move || {
            support::try_request(&control, "PUT", "/config", Some(&body))
        });
        std::thread::sleep(Duration::from_millis(5));
        let _ = kill(controller, Signal::SIGKILL);
        let _ = writer.join();
        assert!(wait_until(|| unit.children().iter().any(
            |(pid, title)| title == "unit: controller" && *pid != controller
        )));
        unit.wait_ready();
        let stored: Value = serde_json::from_slice(&unit.conf_json()).expect("conf.json is whole");
        assert!(
            stored == old || stored == new,
            "conf.json is the old or the new configuration"
        );
        assert_eq!(
            unit.get("/config").json(),
            stored,
            "the new controller serves what is stored"
        );
    }
}

#[test]
fn oversized_and_malformed_requests_get_clear_answers() {
    let unit = TestUnit::start("robust", &[]);
    let long_header = format!(
        "GET /config HTTP/1.1\r\nHost: x\r\nX-Long: {}\r\n\r\n",
        "a".repeat(2000)
    );
    let answer = parse_response(&unit.raw(long_header.as_bytes()).expect("answer")).expect("HTTP");
    assert_eq!(answer.status, 431);
    assert_eq!(answer.json()["error"], "Request headers are too large.");

    let huge_body = "PUT /config HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n\r\n{";
    let answer = parse_response(&unit.raw(huge_body.as_bytes()).expect("answer")).expect("HTTP");
    assert_eq!(answer.status, 413);

    for garbage in [
        "GARBAGE\r\n\r\n",
        "GET /config HTTP/9.9\r\n\r\n",
        "GET /config HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    ] {
        let answer = parse_response(&unit.raw(garbage.as_bytes()).expect("answer")).expect("HTTP");
        assert!(
            (400..500).contains(&answer.status) || answer.status == 505,
            "{garbage:?}: {}",
            answer.status
        );
    }
    // The daemon is unharmed.
    assert_eq!(unit.get("/config").status, 200);
}

#[test]
fn slow_clients_are_timed_out_without_blocking_others() {
    let paths = Paths::new("slow");
    let unit = TestUnit::start_with_env(paths, &[], &[("UNITD_CONTROL_TIMEOUT", "1")]);
    let mut slow_head = UnixStream::connect(&unit.paths.control).expect("connect");
    slow_head
        .write_all(b"GET /config HTTP/1.1\r\nHost:")
        .expect("partial head");
    let mut slow_body = UnixStream::connect(&unit.paths.control).expect("connect");
    slow_body
        .write_all(b"PUT /config HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        .expect("partial body");
    // Others are served meanwhile, reads and changes alike.
    assert_eq!(unit.get("/config").status, 200);
    assert_eq!(unit.put("/config/listeners", "{}").status, 200);
    for stream in [&mut slow_head, &mut slow_body] {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut rest = Vec::new();
        let closed = stream.read_to_end(&mut rest);
        assert!(closed.is_ok(), "the server closed the slow connection");
    }
}
