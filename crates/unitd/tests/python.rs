//! Python applications through the real binary and the real runner: WSGI's environ,
//! input and output, threads, prefix, targets, failures with their tracebacks, and
//! ASGI's HTTP, lifespan and WebSocket.

mod support;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::TestUnit;
use support::apps::configure_app;
use support::http::{connect, dechunk, exchange, free_port, get, read_reply};
use support::python::{start_unit, write_app};
use support::websocket::{client_frame, server_frame};

/// A python application of one module `module` with `source`, plus `members`.
fn python_app(unit: &TestUnit, module: &str, source: &str, members: Value) -> Value {
    let dir = write_app(
        unit.paths.dir.path(),
        "app",
        &[(&format!("{module}.py"), source)],
    );
    let mut app = json!({
        "type": "python",
        "path": dir.display().to_string(),
        "module": module,
    });
    if let (Some(app), Some(members)) = (app.as_object_mut(), members.as_object()) {
        app.extend(members.clone());
    }
    app
}

const ENVIRON_APP: &str = r#"
def application(environ, start_response):
    keys = ['REQUEST_METHOD', 'REQUEST_URI', 'PATH_INFO', 'SCRIPT_NAME', 'QUERY_STRING',
            'SERVER_NAME', 'SERVER_PORT', 'SERVER_PROTOCOL', 'REMOTE_ADDR',
            'SERVER_SOFTWARE', 'CONTENT_LENGTH', 'CONTENT_TYPE', 'HTTP_X_MANY',
            'HTTP_HOST', 'wsgi.url_scheme', 'wsgi.multithread', 'wsgi.version']
    body = '\n'.join(f'{key}={environ.get(key)}' for key in keys).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
"#;

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

#[test]
fn the_wsgi_environ_is_unit_s() {
    let Some(unit) = start_unit("python_environ") else {
        return;
    };
    let port = configure_app(&unit, python_app(&unit, "wsgi", ENVIRON_APP, json!({})));
    let reply = exchange(
        port,
        "POST /a%20b/c?x=1&y HTTP/1.1\r\nHost: Example.com:8080\r\nX-Many: 1\r\nx-many: 2\r\n\
         Content-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let text = reply.text();
    assert_eq!(
        lines(&text),
        [
            "REQUEST_METHOD=POST",
            "REQUEST_URI=/a%20b/c?x=1&y",
            "PATH_INFO=/a b/c",
            "SCRIPT_NAME=None",
            "QUERY_STRING=x=1&y",
            "SERVER_NAME=example.com",
            &format!("SERVER_PORT={port}"),
            "SERVER_PROTOCOL=HTTP/1.1",
            "REMOTE_ADDR=127.0.0.1",
            &format!("SERVER_SOFTWARE=Unit/{}", env!("CARGO_PKG_VERSION")),
            "CONTENT_LENGTH=3",
            "CONTENT_TYPE=text/plain",
            "HTTP_X_MANY=1, 2",
            "HTTP_HOST=Example.com:8080",
            "wsgi.url_scheme=http",
            "wsgi.multithread=False",
            "wsgi.version=(1, 0)",
        ]
    );
    let log = unit.log_text();
    assert!(log.contains("module: python 3."), "{log}");
}

const INPUT_APP: &str = r#"
def application(environ, start_response):
    stream = environ['wsgi.input']
    how = environ['PATH_INFO']
    if how == '/read':
        parts = [stream.read(3), stream.read()]
    elif how == '/readline':
        parts = [stream.readline(), stream.readline(2), stream.readline()]
    elif how == '/readlines':
        parts = stream.readlines()
    else:
        parts = list(stream)
    body = repr(parts).encode()
    start_response('200 OK', [('Content-Length', str(len(body)))])
    return [body]
"#;

#[test]
fn wsgi_input_reads_the_body_every_way_by_length_and_chunked_whole() {
    let Some(unit) = start_unit("python_input") else {
        return;
    };
    let port = configure_app(&unit, python_app(&unit, "wsgi", INPUT_APP, json!({})));
    let response = unit.put(
        "/config/settings",
        r#"{"http": {"chunked_transform": true}}"#,
    );
    assert_eq!(response.status, 200, "{}", response.body);
    let body = "one\ntwo\nthree";
    let post = |path: &str| {
        exchange(
            port,
            &format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        )
        .text()
    };
    assert_eq!(post("/read"), "[b'one', b'\\ntwo\\nthree']");
    assert_eq!(post("/readline"), "[b'one\\n', b'tw', b'o\\n']");
    assert_eq!(post("/readlines"), "[b'one\\n', b'two\\n', b'three']");
    assert_eq!(post("/iter"), "[b'one\\n', b'two\\n', b'three']");
    let chunked = exchange(
        port,
        "POST /readlines HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         6\r\none\ntw\r\n8\r\no\nthree!\r\n0\r\n\r\n",
    );
    assert_eq!(chunked.text(), "[b'one\\n', b'two\\n', b'three!']");
}

const STREAM_APP: &str = r#"
import sys, time

class Body:
    def __init__(self):
        self.parts = [b'first ', b'second ']
    def __iter__(self):
        return iter(self.parts)
    def close(self):
        sys.stderr.write('body closed\n')
        sys.stderr.flush()

def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/write':
        write = start_response('200 OK', [('X-Kind', 'write')])
        write(b'written ')
        return [b'returned']
    if path == '/slow':
        def slow():
            yield b'now '
            time.sleep(1)
            yield b'later'
        start_response('200 OK', [])
        return slow()
    if path == '/raise':
        raise RuntimeError('request failed on purpose')
    if path == '/errors':
        environ['wsgi.errors'].write('a line for the log\n')
        start_response('204 No Content', [])
        return []
    if path == '/file':
        start_response('200 OK', [])
        return environ['wsgi.file_wrapper'](open(__file__, 'rb'), 16)
    start_response('200 OK', [])
    return Body()
"#;

#[test]
fn wsgi_answers_stream_write_close_and_fail_with_a_traceback_and_503() {
    let Some(unit) = start_unit("python_stream") else {
        return;
    };
    let port = configure_app(&unit, python_app(&unit, "wsgi", STREAM_APP, json!({})));
    let written = get(port, "/write");
    assert_eq!(dechunk(&written.text()), "written returned");
    assert_eq!(written.header("X-Kind").as_deref(), Some("write"));
    assert_eq!(dechunk(&get(port, "/").text()), "first second ");
    assert!(unit.wait_for_log("body closed", 1), "{}", unit.log_text());
    // A generator's first part reaches the client before the second is made.
    let mut stream = connect(port);
    stream
        .write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("send");
    let started = Instant::now();
    let mut first = [0u8; 512];
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("now ") {
        let read = stream.read(&mut first).expect("read");
        assert!(read > 0, "closed early");
        seen.extend_from_slice(&first[..read]);
    }
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "the first part waited"
    );
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).expect("read the rest");
    seen.extend_from_slice(&rest);
    let all = String::from_utf8_lossy(&seen).into_owned();
    assert!(all.contains("Transfer-Encoding: chunked"), "{all}");
    assert!(all.contains("later"), "{all}");
    let source = dechunk(&get(port, "/file").text());
    assert!(source.contains("def application"), "{source}");
    assert_eq!(get(port, "/errors").status, 204);
    assert!(unit.wait_for_log("[error]", 1));
    assert!(unit.log_text().contains("a line for the log"));
    assert_eq!(get(port, "/raise").status, 503);
    assert!(unit.wait_for_log("RuntimeError: request failed on purpose", 1));
    assert!(
        unit.log_text()
            .contains("Traceback (most recent call last)")
    );
    // The process goes on serving after the exception.
    assert_eq!(get(port, "/").status, 200);
}

const SLOW_APP: &str = r#"
import os, threading, time

def application(environ, start_response):
    time.sleep(1)
    body = f'{os.getpid()} {threading.get_ident()}'.encode()
    start_response('200 OK', [('Content-Length', str(len(body)))])
    return [body]
"#;

#[test]
fn threads_serve_slow_requests_at_once_in_one_process() {
    let Some(unit) = start_unit("python_threads") else {
        return;
    };
    let port = configure_app(
        &unit,
        python_app(
            &unit,
            "wsgi",
            SLOW_APP,
            json!({"threads": 4, "processes": 1}),
        ),
    );
    assert_eq!(get(port, "/").status, 200);
    let started = Instant::now();
    let answers: Vec<String> = (0..4)
        .map(|_| thread::spawn(move || get(port, "/").text()))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|handle| handle.join().expect("a client"))
        .collect();
    let elapsed = started.elapsed();
    let pids: std::collections::BTreeSet<&str> = answers
        .iter()
        .filter_map(|answer| answer.split(' ').next())
        .collect();
    let threads: std::collections::BTreeSet<&str> = answers
        .iter()
        .filter_map(|answer| answer.split(' ').nth(1))
        .collect();
    assert_eq!(pids.len(), 1, "{answers:?}");
    assert_eq!(threads.len(), 4, "{answers:?}");
    assert!(
        elapsed < Duration::from_millis(3500),
        "served one after another: {elapsed:?}"
    );
}

const ECHO_PATH_APP: &str = r#"
import os, time

def application(environ, start_response):
    if environ['PATH_INFO'] == '/slow':
        time.sleep(3)
    body = f"{os.getpid()} {environ['PATH_INFO']}".encode()
    start_response('200 OK', [('Content-Length', str(len(body)))])
    return [body]
"#;

/// A unitd serving `ECHO_PATH_APP` on `processes` processes of one thread each, and
/// its port, once it has answered.
fn echo_path_app(test: &str, processes: u32) -> Option<(TestUnit, u16)> {
    let unit = start_unit(test)?;
    let app = python_app(
        &unit,
        "wsgi",
        ECHO_PATH_APP,
        json!({"threads": 1, "processes": processes}),
    );
    let port = configure_app(&unit, app);
    assert_eq!(get(port, "/").status, 200);
    Some((unit, port))
}

#[test]
fn one_thread_serves_many_clients_at_once_each_its_own_answer() {
    let Some((_unit, port)) = echo_path_app("python_many_clients", 1) else {
        return;
    };
    // More clients than the process serves at once: the router sends it requests on
    // several connections, and each answer goes back on its own.
    let clients: Vec<_> = (0..24)
        .map(|client| {
            thread::spawn(move || {
                let mut stream = connect(port);
                for request in 0..20 {
                    let path = format!("/{client}/{request}");
                    let head = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
                    stream.write_all(head.as_bytes()).expect("request");
                    let reply = read_reply(&mut stream, false).expect("an answer");
                    assert_eq!(reply.status, 200);
                    let text = reply.text();
                    assert_eq!(text.split(' ').nth(1), Some(path.as_str()), "{text}");
                }
            })
        })
        .collect();
    for client in clients {
        client.join().expect("a client");
    }
}

#[test]
fn a_slow_request_does_not_hold_up_those_behind_it() {
    let Some((_unit, port)) = echo_path_app("python_slow_ahead", 2) else {
        return;
    };
    // Both processes have been idle a while, so neither counts as getting through
    // requests: nothing is queued behind the slow one.
    thread::sleep(Duration::from_millis(200));
    let slow = thread::spawn(move || get(port, "/slow").text());
    thread::sleep(Duration::from_millis(200));
    let quick: Vec<_> = (0..8)
        .map(|client| {
            thread::spawn(move || {
                (0..10)
                    .map(|request| get(port, &format!("/{client}/{request}")).text())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut quick_pids = std::collections::BTreeSet::new();
    for client in quick {
        for answer in client.join().expect("a client") {
            quick_pids.insert(answer.split(' ').next().unwrap_or_default().to_owned());
        }
        assert!(
            !slow.is_finished(),
            "the quick requests waited for the slow one"
        );
    }
    let slow_pid = slow.join().expect("the slow client");
    let slow_pid = slow_pid.split(' ').next().unwrap_or_default();
    assert_eq!(quick_pids.len(), 1, "{quick_pids:?}");
    assert!(
        !quick_pids.contains(slow_pid),
        "{quick_pids:?} and {slow_pid}"
    );
}

#[test]
fn a_prefix_splits_script_name_from_path_info() {
    let Some(unit) = start_unit("python_prefix") else {
        return;
    };
    let port = configure_app(
        &unit,
        python_app(&unit, "wsgi", ENVIRON_APP, json!({"prefix": "/api/"})),
    );
    let text = get(port, "/api/items").text();
    assert!(text.contains("SCRIPT_NAME=/api\n"), "{text}");
    assert!(text.contains("PATH_INFO=/items\n"), "{text}");
    let text = get(port, "/apis").text();
    assert!(text.contains("SCRIPT_NAME=None\n"), "{text}");
    assert!(text.contains("PATH_INFO=/apis\n"), "{text}");
}

#[test]
fn targets_are_reached_by_their_pass() {
    let Some(unit) = start_unit("python_targets") else {
        return;
    };
    let dir = write_app(
        unit.paths.dir.path(),
        "app",
        &[
            (
                "one.py",
                "def application(e, s):\n    s('200 OK', [])\n    return [b'one']\n",
            ),
            (
                "two.py",
                "def make():\n    def app(e, s):\n        s('200 OK', [])\n        return [b'two ' + e['PATH_INFO'].encode()]\n    return app\n",
            ),
        ],
    );
    let port = free_port();
    let conf = json!({
        "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
        "routes": [
            {"match": {"uri": "/one"}, "action": {"pass": "applications/app/one"}},
            {"action": {"pass": "applications/app/two"}},
        ],
        "applications": {"app": {
            "type": "python",
            "path": dir.display().to_string(),
            "targets": {
                "one": {"module": "one"},
                "two": {"module": "two", "callable": "make", "factory": true},
            },
        }},
    });
    let response = unit.put("/config", &conf.to_string());
    assert_eq!(response.status, 200, "{}", response.body);
    // Without a Content-Length the answers are chunked, as Unit sends them.
    assert_eq!(dechunk(&get(port, "/one").text()), "one");
    assert_eq!(dechunk(&get(port, "/other").text()), "two /other");
}

#[test]
fn an_import_failure_is_a_503_with_the_traceback_logged() {
    let Some(unit) = start_unit("python_import") else {
        return;
    };
    let port = configure_app(
        &unit,
        // Started on demand, so the configuration applies and the request fails.
        python_app(
            &unit,
            "wsgi",
            "import no_such_module_here\n",
            json!({"processes": {"spare": 0}}),
        ),
    );
    assert_eq!(get(port, "/").status, 503);
    assert!(unit.wait_for_log("Python failed to import module \"wsgi\"", 1));
    assert!(
        unit.wait_for_log("ModuleNotFoundError", 1),
        "{}",
        unit.log_text()
    );
}

const ASGI_APP: &str = r#"
import asyncio, os

state = {}

async def application(scope, receive, send):
    if scope['type'] == 'lifespan':
        while True:
            message = await receive()
            if message['type'] == 'lifespan.startup':
                state['started'] = True
                await send({'type': 'lifespan.startup.complete'})
            elif message['type'] == 'lifespan.shutdown':
                with open(os.environ['SHUTDOWN_FILE'], 'w') as marker:
                    marker.write('shut down')
                await send({'type': 'lifespan.shutdown.complete'})
                return
    if scope['type'] == 'websocket':
        await receive()
        await send({'type': 'websocket.accept', 'subprotocol': 'echo'})
        while True:
            message = await receive()
            if message['type'] == 'websocket.disconnect':
                return
            if message.get('text') == 'close':
                await send({'type': 'websocket.close', 'code': 4001})
                continue
            await send(dict(message, type='websocket.send'))
    if scope['path'] == '/app/forms':
        # Headers as lists and a bytearray name, a Content-Length that is no number
        # (left out), then one that cuts the body short; bodies of other buffer types.
        await send({'type': 'http.response.start', 'status': 201,
                    'headers': [[bytearray(b'x-form'), b'list'],
                                (b'content-length', b'many'),
                                (b'Content-Length', b'5')]})
        await send({'type': 'http.response.body', 'body': bytearray(b'abc'),
                    'more_body': True})
        await send({'type': 'http.response.body', 'body': memoryview(b'defgh')})
        return
    body = b''
    chunks = 0
    while True:
        message = await receive()
        body += message.get('body', b'')
        chunks += 1
        if not message.get('more_body'):
            break
    await send({'type': 'http.response.start', 'status': 200,
                'headers': [(b'x-started', str(state.get('started')).encode()),
                            (b'x-path', scope['path'].encode()),
                            (b'x-root', scope.get('root_path', '').encode())]})
    await send({'type': 'http.response.body', 'body': b'got ', 'more_body': True})
    await asyncio.sleep(0.1)
    await send({'type': 'http.response.body', 'body': body})
"#;

#[test]
fn asgi_http_streams_both_ways_after_its_lifespan_started() {
    let Some(unit) = start_unit("python_asgi") else {
        return;
    };
    // The application runs as nobody when the test runs as root: it writes where
    // anyone may.
    let markers = unit.paths.dir.path().join("markers");
    std::fs::create_dir(&markers).expect("the markers directory");
    std::fs::set_permissions(&markers, std::fs::Permissions::from_mode(0o777))
        .expect("chmod markers");
    let marker = markers.join("shutdown");
    let port = configure_app(
        &unit,
        python_app(
            &unit,
            "asgi",
            ASGI_APP,
            json!({"environment": {"SHUTDOWN_FILE": marker.display().to_string()},
                   "prefix": "/app"}),
        ),
    );
    let response = unit.put(
        "/config/settings",
        r#"{"http": {"chunked_transform": true}}"#,
    );
    assert_eq!(response.status, 200, "{}", response.body);
    let reply = exchange(
        port,
        "POST /app/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n",
    );
    assert_eq!(reply.status, 200);
    assert_eq!(dechunk(&reply.text()), "got abcdef");
    assert_eq!(reply.header("x-started").as_deref(), Some("True"));
    assert_eq!(reply.header("x-path").as_deref(), Some("/app/x"));
    assert_eq!(reply.header("x-root").as_deref(), Some("/app"));
    let forms = |method: &str| {
        let request =
            format!("{method} /app/forms HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        exchange(port, &request)
    };
    let reply = forms("GET");
    assert_eq!(reply.status, 201);
    assert_eq!(reply.header("x-form").as_deref(), Some("list"));
    assert_eq!(reply.header("content-length").as_deref(), Some("5"));
    assert_eq!(reply.text(), "abcde");
    let reply = forms("HEAD");
    assert_eq!(reply.status, 201);
    assert_eq!(reply.text(), "");
    // Removing the application stops its process: the lifespan shutdown runs.
    let response = unit.put("/config", r#"{"listeners": {}, "applications": {}}"#);
    assert_eq!(response.status, 200, "{}", response.body);
    assert!(
        support::wait_until(|| marker.is_file()),
        "no lifespan shutdown: {}",
        unit.log_text()
    );
}

#[test]
fn a_failed_asgi_startup_is_a_failed_process_start() {
    let Some(unit) = start_unit("python_asgi_startup") else {
        return;
    };
    let source = r#"
async def application(scope, receive, send):
    if scope['type'] == 'lifespan':
        await receive()
        await send({'type': 'lifespan.startup.failed', 'message': 'no database'})
"#;
    let port = configure_app(
        &unit,
        python_app(&unit, "asgi", source, json!({"processes": {"spare": 0}})),
    );
    assert_eq!(get(port, "/").status, 503);
    assert!(unit.wait_for_log("Application startup failed: no database", 1));
}

#[test]
fn asgi_websockets_echo_fragments_and_binary_and_close_with_a_code() {
    let Some(unit) = start_unit("python_websocket") else {
        return;
    };
    let port = configure_app(&unit, python_app(&unit, "asgi", ASGI_APP, json!({})));
    let mut stream = connect(port);
    stream
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
              Sec-WebSocket-Protocol: chat, echo\r\n\r\n",
        )
        .expect("handshake");
    let reply = read_reply(&mut stream, false).expect("101");
    assert_eq!(reply.status, 101);
    assert_eq!(
        reply.header("Sec-WebSocket-Accept").as_deref(),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    assert_eq!(
        reply.header("Sec-WebSocket-Protocol").as_deref(),
        Some("echo")
    );
    stream
        .write_all(&client_frame(true, 0x1, b"hello"))
        .expect("text");
    assert_eq!(server_frame(&mut stream), (0x1, b"hello".to_vec()));
    let mut fragmented = client_frame(false, 0x1, b"frag");
    fragmented.extend(client_frame(true, 0x9, b"ping"));
    fragmented.extend(client_frame(true, 0x0, b"mented"));
    stream.write_all(&fragmented).expect("fragments");
    assert_eq!(server_frame(&mut stream), (0xA, b"ping".to_vec()));
    assert_eq!(server_frame(&mut stream), (0x1, b"fragmented".to_vec()));
    let binary: Vec<u8> = (0..=255u8).cycle().take(300).collect();
    stream
        .write_all(&client_frame(true, 0x2, &binary))
        .expect("binary");
    assert_eq!(server_frame(&mut stream), (0x2, binary));
    stream
        .write_all(&client_frame(true, 0x1, b"close"))
        .expect("close request");
    let (opcode, payload) = server_frame(&mut stream);
    assert_eq!(opcode, 0x8);
    assert_eq!(payload, 4001u16.to_be_bytes());
}

/// The Python the runner was built against (`cargo xtask` names it in `PYO3_PYTHON`).
fn python() -> String {
    std::env::var("PYO3_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

#[test]
fn home_is_a_virtual_environment_whose_packages_are_used() {
    let Some(unit) = start_unit("python_home") else {
        return;
    };
    let venv = unit.paths.dir.path().join("venv");
    let made = std::process::Command::new(python())
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status()
        .expect("running python -m venv");
    assert!(made.success(), "python -m venv failed");
    let site_packages = std::fs::read_dir(venv.join("lib"))
        .expect("the venv's lib")
        .flatten()
        .map(|entry| entry.path().join("site-packages"))
        .find(|path| path.is_dir())
        .expect("site-packages");
    std::fs::write(
        site_packages.join("only_in_venv.py"),
        "GREETING = 'from the virtual environment'\n",
    )
    .expect("a package in the venv");
    let source = r#"
import sys, only_in_venv

def application(environ, start_response):
    body = f'{only_in_venv.GREETING} {sys.prefix}'.encode()
    start_response('200 OK', [('Content-Length', str(len(body)))])
    return [body]
"#;
    let port = configure_app(
        &unit,
        python_app(
            &unit,
            "wsgi",
            source,
            json!({"home": venv.display().to_string()}),
        ),
    );
    let reply = get(port, "/");
    assert_eq!(reply.status, 200, "{}", unit.log_text());
    assert_eq!(
        reply.text(),
        format!("from the virtual environment {}", venv.display())
    );
}

#[test]
fn a_chunked_body_needs_chunked_transform() {
    let Some(unit) = start_unit("python_chunked") else {
        return;
    };
    let port = configure_app(&unit, python_app(&unit, "wsgi", ENVIRON_APP, json!({})));
    let request = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
                   3\r\nabc\r\n0\r\n\r\n";
    assert_eq!(exchange(port, request).status, 411);
    let response = unit.put(
        "/config/settings",
        r#"{"http": {"chunked_transform": true}}"#,
    );
    assert_eq!(response.status, 200, "{}", response.body);
    let text = exchange(port, request).text();
    assert!(text.contains("CONTENT_LENGTH=3\n"), "{text}");
}

#[test]
fn an_application_that_cannot_start_fails_its_configuration() {
    let Some(unit) = start_unit("python_refused") else {
        return;
    };
    let port = configure_app(&unit, python_app(&unit, "wsgi", ENVIRON_APP, json!({})));
    let before = unit.get("/config").body;
    let broken = python_app(&unit, "broken", "raise ImportError('no')\n", json!({}));
    let response = unit.put("/config/applications/app", &broken.to_string());
    assert_eq!(response.status, 500, "{}", response.body);
    assert!(response.body.contains("error"), "{}", response.body);
    assert_eq!(unit.get("/config").body, before);
    // The running configuration still serves.
    assert_eq!(get(port, "/").status, 200);
}

#[test]
fn runner_processes_are_titled_as_unit_titles_them() {
    let Some(unit) = start_unit("python_title") else {
        return;
    };
    let port = configure_app(&unit, python_app(&unit, "wsgi", ENVIRON_APP, json!({})));
    assert_eq!(get(port, "/").status, 200);
    let titled = unit
        .children()
        .into_iter()
        .filter(|(_, cmdline)| cmdline.starts_with("unit: \"app\" application"))
        .count();
    assert_eq!(titled, 1, "{:?}", unit.children());
}

#[test]
fn a_process_that_crashes_is_replaced() {
    let Some(unit) = start_unit("python_crash") else {
        return;
    };
    // A C extension's bad pointer, through ctypes: the process dies on SIGSEGV in the
    // middle of a request.
    let source = r#"
import ctypes, os

def application(environ, start_response):
    if environ['PATH_INFO'] == '/crash':
        ctypes.string_at(0)
    body = str(os.getpid()).encode()
    start_response('200 OK', [('Content-Length', str(len(body)))])
    return [body]
"#;
    let port = configure_app(&unit, python_app(&unit, "wsgi", source, json!({})));
    let before = get(port, "/").text();
    assert_eq!(get(port, "/crash").status, 503);
    let replaced = support::wait_until(|| {
        let reply = get(port, "/");
        reply.status == 200 && reply.text() != before
    });
    assert!(replaced, "no new process served; log:\n{}", unit.log_text());
    assert!(
        unit.log_text().contains("exited on signal 11"),
        "{}",
        unit.log_text()
    );
}

#[test]
fn a_reopened_log_reaches_the_runner() {
    let Some(unit) = start_unit("python_usr1") else {
        return;
    };
    let source = r#"
def application(environ, start_response):
    environ['wsgi.errors'].write(environ['PATH_INFO'][1:] + '\n')
    start_response('204 No Content', [])
    return []
"#;
    let port = configure_app(&unit, python_app(&unit, "wsgi", source, json!({})));
    assert_eq!(get(port, "/before-rotation").status, 204);
    assert!(unit.wait_for_log("before-rotation", 1));
    let rotated = unit.paths.log.with_extension("log.1");
    std::fs::rename(&unit.paths.log, &rotated).expect("rotating the log");
    unit.signal(nix::sys::signal::Signal::SIGUSR1);
    assert!(
        support::wait_until(|| unit.paths.log.is_file()),
        "no new log"
    );
    // The reopened log is handed to the runner as it is to unitd's own processes.
    let arrived = support::wait_until(|| {
        assert_eq!(get(port, "/after-rotation").status, 204);
        unit.paths.log_text().contains("after-rotation")
    });
    assert!(arrived, "the runner still writes to the rotated log");
    let old = std::fs::read_to_string(&rotated).expect("the rotated log");
    assert!(!old.contains("after-rotation"), "{old}");
}

/// Lowers its own descriptor limit at import to what the runner has open plus its
/// epoll instance, the two it holds for a new connection's pipes and one connection
/// (two pipes), and restores it 3 s later.
const FEW_DESCRIPTORS_APP: &str = r#"
import os, resource, threading

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
# The listing counts the descriptor it reads the directory with.
open_now = len(os.listdir('/proc/self/fd')) - 1
resource.setrlimit(resource.RLIMIT_NOFILE, (open_now + 5, hard))
threading.Timer(3.0, resource.setrlimit, (resource.RLIMIT_NOFILE, (soft, hard))).start()

def application(environ, start_response):
    body = str(os.getpid()).encode()
    start_response('200 OK', [('Content-Length', str(len(body)))])
    return [body]
"#;

#[test]
fn a_runner_out_of_descriptors_pauses_accepting_and_serves_again() {
    let Some(unit) = start_unit("python_few_descriptors") else {
        return;
    };
    // Two threads: the router opens a second connection at once, which the process
    // has no descriptor to accept.
    let app = python_app(
        &unit,
        "wsgi",
        FEW_DESCRIPTORS_APP,
        json!({"threads": 2, "processes": 1}),
    );
    let port = configure_app(&unit, app);
    let clients: Vec<_> = (0..8)
        .map(|_| thread::spawn(move || get(port, "/")))
        .collect();
    let answers: Vec<_> = clients
        .into_iter()
        .map(|client| client.join().expect("a client"))
        .collect();
    let pids: std::collections::BTreeSet<String> =
        answers.iter().map(support::http::HttpReply::text).collect();
    assert!(
        answers.iter().all(|answer| answer.status == 200),
        "{pids:?}"
    );
    assert_eq!(pids.len(), 1, "one process served them all: {pids:?}");
    assert!(
        unit.log_text().contains("accepting pauses"),
        "{}",
        unit.log_text()
    );
}

/// Lowers its own descriptor limit at import to what the runner has open plus six: its
/// event loop (an epoll instance and a wake-up socket pair), its listener, and the two
/// it holds for a new connection's pipes, so no connection can be taken; the limit is
/// restored 3 s later.
const FEW_DESCRIPTORS_ASGI_APP: &str = r#"
import os, resource, threading

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
open_now = len(os.listdir('/proc/self/fd')) - 1
resource.setrlimit(resource.RLIMIT_NOFILE, (open_now + 6, hard))
threading.Timer(3.0, resource.setrlimit, (resource.RLIMIT_NOFILE, (soft, hard))).start()

async def application(scope, receive, send):
    if scope['type'] != 'http':
        return
    body = str(os.getpid()).encode()
    await send({'type': 'http.response.start', 'status': 200,
                'headers': [(b'content-length', str(len(body)).encode())]})
    await send({'type': 'http.response.body', 'body': body})
"#;

#[test]
fn an_asgi_runner_out_of_descriptors_pauses_accepting_and_serves_again() {
    let Some(unit) = start_unit("python_asgi_few_descriptors") else {
        return;
    };
    let app = python_app(
        &unit,
        "asgi",
        FEW_DESCRIPTORS_ASGI_APP,
        json!({"protocol": "asgi", "processes": 1}),
    );
    let port = configure_app(&unit, app);
    let clients: Vec<_> = (0..8)
        .map(|_| thread::spawn(move || get(port, "/")))
        .collect();
    let answers: Vec<_> = clients
        .into_iter()
        .map(|client| client.join().expect("a client"))
        .collect();
    assert!(
        answers.iter().all(|answer| answer.status == 200),
        "{:?}",
        answers
            .iter()
            .map(support::http::HttpReply::text)
            .collect::<Vec<_>>()
    );
    assert!(
        unit.log_text().contains("accepting pauses"),
        "{}",
        unit.log_text()
    );
}
