//! Applications through the real binary (UNIT-COMPAT 3.6, 2.5, 4): main starts the
//! example applications on descriptor 3 with their arguments, environment, working
//! directory and user; the router keeps their processes as configured, queues requests
//! while all are busy, applies `limits`, replaces processes that die, restarts and
//! removes applications without failing requests, and passes upgraded connections.

mod support;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use support::apps::{configure_app, python_example, rust_example};
use support::http::{connect, free_port, get, read_reply};
use support::websocket::{client_frame, server_frame};
use support::{TestUnit, is_root, process_alive, wait_until};

/// A unitd with one listener passing to application `app` configured so.
fn start_app(name: &str, app: Value) -> (TestUnit, u16) {
    let unit = TestUnit::start(name, &[]);
    let port = configure_app(&unit, app);
    (unit, port)
}

/// The Rust example application, with extra members.
fn rust_app(unit_dir: &std::path::Path, members: Value) -> Value {
    let mut app = json!({
        "type": "external",
        "executable": rust_example(unit_dir).display().to_string(),
    });
    if let (Some(app), Some(members)) = (app.as_object_mut(), members.as_object()) {
        app.extend(members.clone());
    }
    app
}

/// Starts unitd, then configures the Rust example with `members`.
fn start_rust_app(name: &str, members: Value) -> (TestUnit, u16) {
    let unit = TestUnit::start(name, &[]);
    let port = configure_app(&unit, rust_app(unit.paths.dir.path(), members));
    (unit, port)
}

/// The body of a GET, or the status when it is not 200.
fn text(port: u16, path: &str) -> Result<String, u16> {
    let reply = get(port, path);
    if reply.status == 200 {
        Ok(reply.text())
    } else {
        Err(reply.status)
    }
}

/// Whether something accepts connections on 127.0.0.1:`port`.
fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// The pid a greeting names (`hello from 1234`).
fn pid_of(greeting: &str) -> Pid {
    let number = greeting
        .rsplit(' ')
        .next()
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {greeting:?}"));
    Pid::from_raw(number)
}

/// The application's `/status` entry.
fn app_status(unit: &TestUnit) -> Value {
    unit.get("/status/applications/app").json()
}

fn running(unit: &TestUnit) -> u64 {
    app_status(unit)["processes"]["running"]
        .as_u64()
        .unwrap_or(u64::MAX)
}

/// The processes of the application, as main's children whose command is `program`.
fn app_pids(unit: &TestUnit, program: &str) -> BTreeSet<Pid> {
    unit.children()
        .into_iter()
        .filter(|(_, cmdline)| cmdline.contains(program))
        .map(|(pid, _)| pid)
        .collect()
}

/// GETs `path` on `n` connections at once; the bodies (or statuses) in order.
fn concurrently(port: u16, path: &str, n: usize) -> Vec<Result<String, u16>> {
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let path = path.to_owned();
            thread::spawn(move || text(port, &path))
        })
        .collect();
    handles
        .into_iter()
        .map(|handle| handle.join().expect("a client thread"))
        .collect()
}

/// A client that GETs `/` in a loop until stopped; counts answers and failures.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Load {
    fn start(port: u16, clients: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        let threads = (0..clients)
            .map(|_| {
                let (stop, ok, failed) = (Arc::clone(&stop), Arc::clone(&ok), Arc::clone(&failed));
                thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        match text(port, "/") {
                            Ok(_) => ok.fetch_add(1, Ordering::SeqCst),
                            Err(_) => failed.fetch_add(1, Ordering::SeqCst),
                        };
                    }
                })
            })
            .collect();
        Load {
            stop,
            ok,
            failed,
            threads,
        }
    }

    /// Waits until `n` more requests succeeded.
    fn wait_for(&self, n: usize) {
        let target = self.ok.load(Ordering::SeqCst) + n;
        assert!(
            wait_until(|| self.ok.load(Ordering::SeqCst) >= target),
            "the load stalled"
        );
    }

    /// Stops the clients; (succeeded, failed).
    fn finish(self) -> (usize, usize) {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads {
            thread.join().expect("a load thread");
        }
        (
            self.ok.load(Ordering::SeqCst),
            self.failed.load(Ordering::SeqCst),
        )
    }
}

#[test]
fn arguments_environment_working_directory_and_user_reach_the_application() {
    let unit = TestUnit::start("app-env", &[]);
    let workdir = unit.paths.dir.path().join("work");
    std::fs::create_dir(&workdir).expect("mkdir");
    std::fs::set_permissions(
        &workdir,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let port = free_port();
    let app = rust_app(
        unit.paths.dir.path(),
        json!({
            "arguments": ["--flag", "two words"],
            "environment": {"GREETING": "hello", "PATH": "/opt/custom/bin"},
            "working_directory": workdir.display().to_string(),
        }),
    );
    let conf = json!({
        "listeners": {format!("127.0.0.1:{port}"): {"pass": "applications/app"}},
        "applications": {"app": app},
    });
    assert_eq!(unit.put("/config", &conf.to_string()).status, 200);
    assert_eq!(text(port, "/args"), Ok("--flag two words".into()));
    assert_eq!(text(port, "/env/GREETING"), Ok("hello".into()));
    assert_eq!(text(port, "/env/PATH"), Ok("/opt/custom/bin".into()));
    assert_eq!(text(port, "/env/LISTEN_FDS"), Ok("1".into()));
    assert_eq!(text(port, "/env/LISTEN_FDNAMES"), Ok("unit".into()));
    // Nothing of unitd's own environment leaks in.
    assert_eq!(text(port, "/env/CARGO_MANIFEST_DIR"), Ok("(unset)".into()));
    assert_eq!(text(port, "/env/UNITD_ROLE"), Ok("(unset)".into()));
    assert_eq!(text(port, "/cwd"), Ok(workdir.display().to_string()));
    if is_root() {
        // The default user is unitd's --user, nobody.
        assert_eq!(text(port, "/uid"), Ok("65534".into()));
    }
    assert!(unit.log_text().contains("\"app\" application started"));
}

#[test]
fn a_configured_user_runs_the_application_when_main_is_root() {
    if !is_root() {
        support::skip(
            "a_configured_user_runs_the_application_when_main_is_root",
            "switching users needs root",
        );
        return;
    }
    let (_unit, port) = start_rust_app("app-user", json!({"user": "daemon"}));
    let daemon = nix::unistd::User::from_name("daemon")
        .ok()
        .flatten()
        .expect("the daemon user");
    assert_eq!(text(port, "/uid"), Ok(daemon.uid.to_string()));
}

#[test]
fn a_fixed_number_of_processes_is_kept() {
    let (unit, port) = start_rust_app("app-fixed", json!({"processes": 3}));
    assert!(wait_until(|| running(&unit) == 3), "{}", app_status(&unit));
    let pids: BTreeSet<Pid> = concurrently(port, "/sleep/300", 3)
        .into_iter()
        .map(|answer| pid_of(&answer.expect("served")))
        .collect();
    assert_eq!(
        pids.len(),
        3,
        "three requests at once went to three processes"
    );
    assert_eq!(app_pids(&unit, "hello-app").len(), 3);
}

#[test]
fn dynamic_processes_start_on_demand_up_to_max_and_idle_out_to_spare() {
    let (unit, port) = start_rust_app(
        "app-dynamic",
        json!({"processes": {"max": 3, "spare": 1, "idle_timeout": 1}}),
    );
    assert!(wait_until(|| running(&unit) == 1), "{}", app_status(&unit));
    let answers = concurrently(port, "/sleep/500", 5);
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    let pids: BTreeSet<Pid> = answers
        .iter()
        .filter_map(|answer| answer.as_ref().ok())
        .map(|answer| pid_of(answer))
        .collect();
    assert_eq!(pids.len(), 3, "up to max processes served: {answers:?}");
    // Idle for the idle timeout: back to the spare one.
    assert!(wait_until(|| running(&unit) == 1), "{}", app_status(&unit));
    assert!(wait_until(|| app_pids(&unit, "hello-app").len() == 1));
}

#[test]
fn requests_wait_while_every_process_is_busy_and_the_queue_is_bounded() {
    let (unit, port) = start_rust_app("app-queue", json!({"processes": 1}));
    assert!(wait_until(|| running(&unit) == 1));
    // One slow request holds the only process; the next waits for it, then is served.
    let slow = thread::spawn(move || text(port, "/sleep/700"));
    thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    assert!(text(port, "/").is_ok());
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "it waited its turn"
    );
    assert!(slow.join().expect("the slow client").is_ok());
    // Past the bound of waiting requests, an answer comes at once: 503.
    let holders: Vec<_> = (0..257)
        .map(|_| {
            let mut stream = connect(port);
            stream
                .write_all(b"GET /sleep/4000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .expect("send");
            stream
        })
        .collect();
    assert!(wait_until(|| app_status(&unit)["requests"]["active"]
        .as_u64()
        >= Some(257)));
    assert_eq!(text(port, "/"), Err(503));
    drop(holders);
}

#[test]
fn limits_answer_slow_requests_503_and_replace_processes_after_their_requests() {
    let (unit, port) = start_rust_app(
        "app-limits",
        json!({"limits": {"timeout": 1, "requests": 2}}),
    );
    let started = Instant::now();
    assert_eq!(text(port, "/sleep/5000"), Err(503));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "answered at the timeout"
    );
    // Every two requests a new process; none of them fails.
    let pids: Vec<Pid> = (0..6)
        .map(|_| pid_of(&text(port, "/").expect("served")))
        .collect();
    let distinct: BTreeSet<Pid> = pids.iter().copied().collect();
    assert!(distinct.len() >= 3, "{pids:?}");
    assert!(
        pids.windows(3)
            .all(|window| !(window[0] == window[1] && window[1] == window[2])),
        "{pids:?}"
    );
    drop(unit);
}

#[test]
fn a_killed_process_is_replaced_and_no_request_hangs() {
    let (unit, port) = start_rust_app("app-kill", json!({"processes": 2}));
    assert!(wait_until(|| running(&unit) == 2));
    let load = Load::start(port, 4);
    load.wait_for(50);
    let victim = *app_pids(&unit, "hello-app")
        .iter()
        .next()
        .expect("a process");
    kill(victim, Signal::SIGKILL).expect("kill -9");
    assert!(wait_until(|| !process_alive(victim)));
    assert!(wait_until(
        || running(&unit) == 2 && !app_pids(&unit, "hello-app").contains(&victim)
    ));
    let failed_at_kill = load.failed.load(Ordering::SeqCst);
    load.wait_for(100);
    let (ok, failed) = load.finish();
    assert!(ok > 150);
    assert_eq!(
        failed, failed_at_kill,
        "every request after the replacement succeeded"
    );
    assert!(
        unit.log_text()
            .contains(&format!("app process {victim} exited on signal 9"))
    );
}

#[test]
fn a_restart_under_load_fails_no_request() {
    let (unit, port) = start_rust_app("app-restart", json!({"processes": 2}));
    assert!(wait_until(|| running(&unit) == 2));
    let before = app_pids(&unit, "hello-app");
    let load = Load::start(port, 4);
    load.wait_for(50);
    let restart = unit.get("/control/applications/app/restart");
    assert_eq!(restart.status, 200, "{}", restart.body);
    assert_eq!(restart.json(), json!({"success": "Ok"}));
    assert!(wait_until(|| {
        let now = app_pids(&unit, "hello-app");
        now.len() == 2 && now.is_disjoint(&before)
    }));
    load.wait_for(50);
    let (ok, failed) = load.finish();
    assert!(ok > 100);
    assert_eq!(failed, 0, "no request failed across the restart");
    let unknown = unit.get("/control/applications/none/restart");
    assert_eq!(unknown.status, 404);
}

#[test]
fn removing_the_application_stops_every_process() {
    let (unit, port) = start_rust_app("app-remove", json!({"processes": 3}));
    assert!(wait_until(|| running(&unit) == 3));
    let pids = app_pids(&unit, "hello-app");
    assert_eq!(pids.len(), 3);
    let conf = json!({"listeners": {}, "applications": {}});
    assert_eq!(unit.put("/config", &conf.to_string()).status, 200);
    assert!(wait_until(|| pids.iter().all(|pid| !process_alive(*pid))));
    assert!(!listening(port));
}

#[test]
fn changing_the_options_replaces_the_processes() {
    let (unit, port) = start_rust_app("app-change", json!({"environment": {"V": "1"}}));
    assert_eq!(text(port, "/env/V"), Ok("1".into()));
    let before = app_pids(&unit, "hello-app");
    let response = unit.put("/config/applications/app/environment/V", "\"2\"");
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(text(port, "/env/V"), Ok("2".into()));
    assert!(wait_until(|| before.iter().all(|pid| !process_alive(*pid))));
}

#[test]
fn a_broken_executable_is_a_503_and_a_log_line() {
    let (unit, port) = start_app(
        "app-broken",
        json!({"type": "external", "executable": "/nonexistent/app"}),
    );
    assert_eq!(text(port, "/"), Err(503));
    assert!(
        unit.wait_for_log(
            "execve(\"/nonexistent/app\") failed (2: No such file or directory)",
            1
        ),
        "{}",
        unit.log_text()
    );
    // Configured so, the application is answered 503 and the log says why.
    let fails_with = |app: Value, line: &str| {
        let response = unit.put("/config/applications/app", &app.to_string());
        assert_eq!(response.status, 200, "{}", response.body);
        assert_eq!(text(port, "/"), Err(503));
        assert!(unit.wait_for_log(line, 1), "{}", unit.log_text());
    };
    fails_with(
        json!({"type": "external", "executable": "/bin/true", "working_directory": "/nonexistent/dir"}),
        "chdir(\"/nonexistent/dir\") failed",
    );
    if is_root() {
        // A process that cannot even be started fails the configuration that adds it,
        // as in Unit: the running one stays. (A new name: "app"'s starts wait out the
        // back-off its failures above have built up.)
        let before = unit.get("/config").body;
        let app = json!({"type": "external", "executable": "/bin/true", "user": "no-such-user-x"});
        let response = unit.put("/config/applications/unstartable", &app.to_string());
        assert_eq!(response.status, 500, "{}", response.body);
        assert!(
            response.body.contains("could not start"),
            "{}",
            response.body
        );
        assert!(unit.wait_for_log("user \"no-such-user-x\" not found", 1));
        assert_eq!(unit.get("/config").body, before);
    }
    // Main and the router are still there and serve.
    assert_eq!(unit.get("/config").status, 200);
}

#[test]
fn a_process_that_exits_at_once_is_restarted_with_backoff() {
    let (unit, port) = start_app(
        "app-backoff",
        json!({"type": "external", "executable": "/bin/false"}),
    );
    let started = Instant::now();
    assert_eq!(text(port, "/"), Err(503));
    thread::sleep(Duration::from_secs(3));
    let log = unit.log_text();
    let starts = log.matches("\"app\" application started").count();
    assert!(starts >= 2, "it is restarted: {log}");
    assert!(
        starts <= 6,
        "not in a tight loop ({starts} starts in {:?}): {log}",
        started.elapsed()
    );
    assert!(
        log.contains("keep exiting as they start; the next starts in 1000 ms"),
        "{log}"
    );
    assert!(!log.contains("[alert] failed to start \"app\""), "{log}");
    assert_eq!(unit.get("/config").status, 200);
}

#[test]
fn an_upgrade_to_an_application_becomes_a_tunnel() {
    let (_unit, port) = start_rust_app("app-tunnel", json!({}));
    let mut client = connect(port);
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
        .expect("send the upgrade");
    let reply = read_reply(&mut client, true).expect("the 101");
    assert_eq!(reply.status, 101, "{}", reply.head);
    for message in [&b"ping"[..], &vec![b'z'; 100_000]] {
        client.write_all(message).expect("send");
        let mut echoed = vec![0u8; message.len()];
        client.read_exact(&mut echoed).expect("the echo");
        assert_eq!(echoed, message);
    }
}

/// Starts unitd running the Python example with `processes`, once it serves.
fn start_python_app(name: &str, processes: u32) -> (TestUnit, u16) {
    let unit = TestUnit::start(name, &[]);
    let script = python_example(unit.paths.dir.path());
    let app = json!({
        "type": "external",
        "executable": "/usr/bin/env",
        "arguments": ["python3", script.display().to_string()],
        "processes": processes,
    });
    let port = configure_app(&unit, app);
    assert!(
        wait_until(|| text(port, "/").is_ok()),
        "{}",
        unit.log_text()
    );
    (unit, port)
}

#[test]
fn a_websocket_echo_runs_through_an_application() {
    let (_unit, port) = start_python_app("app-websocket", 1);
    let mut client = connect(port);
    // The key and its answer are RFC 6455's own example.
    client
        .write_all(
            b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .expect("send the handshake");
    let reply = read_reply(&mut client, true).expect("the 101");
    assert_eq!(reply.status, 101, "{}", reply.head);
    assert_eq!(
        reply.header("Sec-WebSocket-Accept").as_deref(),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    let large = vec![b'w'; 70_000];
    for (opcode, payload) in [
        (0x1, &b"hello"[..]),
        (0x2, &large[..]),
        (0x9, &b"are you there"[..]),
    ] {
        client
            .write_all(&client_frame(true, opcode, payload))
            .expect("send a frame");
        let (answer_opcode, answer) = server_frame(&mut client);
        let expected = if opcode == 0x9 { 0xA } else { opcode };
        assert_eq!((answer_opcode, answer.len()), (expected, payload.len()));
        assert_eq!(answer, payload);
    }
    client
        .write_all(&client_frame(true, 0x8, &1000u16.to_be_bytes()))
        .expect("send the close");
    assert_eq!(
        server_frame(&mut client),
        (0x8, 1000u16.to_be_bytes().to_vec())
    );
    let mut rest = Vec::new();
    let _ = client.read_to_end(&mut rest);
    assert!(
        rest.is_empty(),
        "the connection closes after the close frame"
    );
}

#[test]
fn one_connection_at_a_time_processes_serve_as_many_clients_as_there_are_processes() {
    let (_unit, port) = start_python_app("app-python", 3);
    // Warm every process, then three slow requests at once, one per process.
    let _ = concurrently(port, "/", 6);
    let started = Instant::now();
    let answers = concurrently(port, "/sleep/1000", 3);
    let elapsed = started.elapsed();
    let pids: BTreeSet<&str> = answers
        .iter()
        .map(|answer| {
            answer
                .as_deref()
                .expect("served")
                .rsplit(' ')
                .next()
                .unwrap_or("")
        })
        .collect();
    assert_eq!(pids.len(), 3, "{answers:?}");
    assert!(
        elapsed < Duration::from_millis(2800),
        "served side by side, in {elapsed:?}"
    );
}

#[test]
fn a_router_killed_leaves_no_application_process_behind() {
    let (unit, port) = start_rust_app("app-router", json!({"processes": 2}));
    assert!(wait_until(|| running(&unit) == 2));
    let before = app_pids(&unit, "hello-app");
    let router = unit.child_titled("unit: router");
    kill(router, Signal::SIGKILL).expect("kill the router");
    assert!(wait_until(|| before.iter().all(|pid| !process_alive(*pid))));
    // The new router listens again and starts the application again.
    assert!(wait_until(|| listening(port) && text(port, "/").is_ok()));
    assert!(wait_until(|| app_pids(&unit, "hello-app").len() == 2));
}

#[test]
fn status_counts_the_processes_and_requests_truly() {
    let (unit, port) = start_rust_app("app-status", json!({"processes": 2}));
    assert!(wait_until(|| running(&unit) == 2));
    assert_eq!(
        app_status(&unit),
        json!({"processes": {"running": 2, "starting": 0, "idle": 2}, "requests": {"active": 0}})
    );
    let slow = thread::spawn(move || text(port, "/sleep/800"));
    assert!(wait_until(
        || app_status(&unit)["requests"]["active"] == json!(1)
    ));
    assert_eq!(app_status(&unit)["processes"]["idle"], json!(1));
    assert!(slow.join().expect("the slow client").is_ok());
    assert!(wait_until(
        || app_status(&unit)["processes"]["idle"] == json!(2)
    ));
}

#[test]
fn a_main_killed_outright_takes_its_application_processes_along() {
    let (mut unit, _port) = start_rust_app("app-main-killed", json!({"processes": 2}));
    assert!(wait_until(|| running(&unit) == 2));
    // A process counts as running once main started it, a moment before it has
    // executed the program whose name is looked for.
    assert!(wait_until(|| app_pids(&unit, "hello-app").len() == 2));
    let pids = app_pids(&unit, "hello-app");
    assert_eq!(pids.len(), 2);
    unit.signal(Signal::SIGKILL);
    let _ = unit.wait_exit();
    assert!(wait_until(|| pids.iter().all(|pid| !process_alive(*pid))));
}

#[test]
fn stopping_unitd_stops_its_application_processes() {
    let (mut unit, _port) = start_rust_app("app-main-stopped", json!({"processes": 2}));
    assert!(wait_until(|| running(&unit) == 2));
    let pids = app_pids(&unit, "hello-app");
    unit.signal(Signal::SIGTERM);
    let (status, _) = unit.wait_exit();
    assert!(status.success(), "{status}");
    assert!(
        pids.iter().all(|pid| !process_alive(*pid)),
        "main waits for them"
    );
}
