//! Proxying, upstreams and listen sockets through the real binary (UNIT-COMPAT 3.2,
//! 3.4, 3.5): a request in flight keeps its configuration, upstream connections are
//! reused, chunked and streamed bodies pass through unbuffered, smooth weighted round
//! robin picks in order, reconfigurations under load take effect at once, a listener
//! keeps its socket when its `pass` changes, systemd sockets serve, unix listener files
//! go at exit, and main opens privileged ports and log files for an unprivileged router.

mod support;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::{Pid, User};
use serde_json::{Value, json};
use support::http::{HttpReply, connect, free_port, get, read_reply, start_with};
use support::{Paths, TestUnit, proc_status_field, start_with_fd3, wait_until};

/// How long one thread waits for a step another thread signals before the test fails.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// A request as an upstream received it, its body decoded.
#[derive(Debug, Clone)]
struct UpstreamRequest {
    head: String,
    body: Vec<u8>,
}

/// Every request the named upstreams of a test received, in order, by upstream name.
type RequestLog = Arc<Mutex<Vec<(&'static str, UpstreamRequest)>>>;

/// An upstream answering every request with its name as the body, on connections it
/// keeps alive.
struct NamedUpstream {
    name: &'static str,
    port: u16,
    /// How many connections it accepted.
    connections: Arc<AtomicUsize>,
}

/// Starts a [`NamedUpstream`] that logs what it receives in `log` before answering.
fn named_upstream(name: &'static str, log: &RequestLog) -> NamedUpstream {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an upstream");
    let port = listener.local_addr().expect("upstream address").port();
    let connections = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::clone(&connections);
    let log = Arc::clone(log);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            accepted.fetch_add(1, Ordering::SeqCst);
            let log = Arc::clone(&log);
            thread::spawn(move || serve_named(stream, name, &log));
        }
    });
    NamedUpstream {
        name,
        port,
        connections,
    }
}

/// Answers requests on one upstream connection until the router closes it.
fn serve_named(mut stream: TcpStream, name: &'static str, log: &RequestLog) {
    let Ok(reading) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(reading);
    while let Some(request) = read_request(&mut reader) {
        log.lock().expect("the request log").push((name, request));
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{name}",
            name.len()
        );
        if stream.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// The requests in `log` so far.
fn logged(log: &RequestLog) -> Vec<(&'static str, UpstreamRequest)> {
    log.lock().expect("the request log").clone()
}

/// Reads a request head up to its blank line; None when the peer closes first.
fn read_request_head(reader: &mut impl BufRead) -> Option<String> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        head.push_str(&line);
        if line == "\r\n" {
            return Some(head);
        }
    }
}

/// The value of the first header field `name` in `head` (case-insensitive).
fn header_field(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

/// Reads one request, decoding a chunked body; None when the peer closes or the
/// framing is broken.
fn read_request(reader: &mut impl BufRead) -> Option<UpstreamRequest> {
    let head = read_request_head(reader)?;
    let chunked = header_field(&head, "Transfer-Encoding")
        .is_some_and(|coding| coding.eq_ignore_ascii_case("chunked"));
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line).ok()?;
            let size_digits = size_line.trim_end().split(';').next()?.trim();
            let size = usize::from_str_radix(size_digits, 16).ok()?;
            if size == 0 {
                // Trailer fields, up to the blank line.
                read_request_head(reader)?;
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..]).ok()?;
            let mut line_end = [0u8; 2];
            reader.read_exact(&mut line_end).ok()?;
            if &line_end != b"\r\n" {
                return None;
            }
        }
    } else if let Some(length) = header_field(&head, "Content-Length") {
        body.resize(length.parse().ok()?, 0);
        reader.read_exact(&mut body).ok()?;
    }
    Some(UpstreamRequest { head, body })
}

/// Sends a kept-alive GET of `path` on `stream` and reads the answer.
fn get_on<S: Read + Write>(stream: &mut S, path: &str) -> HttpReply {
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .expect("send a request");
    read_reply(stream, false).unwrap_or_else(|error| panic!("GET {path}: {error}"))
}

/// A listener on 127.0.0.1:`port` passing to `pass`, with the rest of the configuration.
fn conf_with_listener(port: u16, pass: &str, rest: Value) -> Value {
    let mut conf = json!({"listeners": {format!("127.0.0.1:{port}"): {"pass": pass}}});
    if let (Some(conf), Value::Object(rest)) = (conf.as_object_mut(), rest) {
        conf.extend(rest);
    }
    conf
}

/// A listener on 127.0.0.1:`port` whose only route proxies to the upstream port.
fn proxy_conf(port: u16, upstream_port: u16) -> Value {
    conf_with_listener(
        port,
        "routes",
        json!({"routes": [{"action": {"proxy": format!("http://127.0.0.1:{upstream_port}")}}]}),
    )
}

/// Reads from `stream` until what arrived contains `needle`; the bytes read, or the
/// error (such as the read timeout) that came first.
fn read_until_contains(stream: &mut TcpStream, needle: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    while !received
        .windows(needle.len())
        .any(|window| window == needle)
    {
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        received.extend_from_slice(&buffer[..read]);
    }
    Ok(received)
}

#[test]
fn a_request_in_flight_finishes_on_the_configuration_it_started_with() {
    // The upstream holds its answer until the test releases it.
    let upstream = TcpListener::bind("127.0.0.1:0").expect("bind the upstream");
    let upstream_port = upstream.local_addr().expect("upstream address").port();
    let (received_sender, received) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    thread::spawn(move || {
        let Ok((mut stream, _)) = upstream.accept() else {
            return;
        };
        let Ok(reading) = stream.try_clone() else {
            return;
        };
        let Some(request) = read_request(&mut BufReader::new(reading)) else {
            return;
        };
        let _ = received_sender.send(request.head);
        if released.recv_timeout(STEP_TIMEOUT).is_ok() {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nupstream");
        }
    });
    let port = free_port();
    let unit = start_with("in-flight", &proxy_conf(port, upstream_port));

    let mut client = connect(port);
    client
        .write_all(b"GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("send");
    let head = received
        .recv_timeout(STEP_TIMEOUT)
        .expect("the request reached the upstream");
    assert!(head.starts_with("GET /slow HTTP/1.1\r\n"), "{head:?}");

    let response = unit.put("/config/routes/0/action", r#"{"return": 204}"#);
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(
        get(port, "/new").status,
        204,
        "a request started after the change runs on the new configuration"
    );

    release.send(()).expect("release the upstream");
    let reply = read_reply(&mut client, false).expect("the answer in flight");
    assert_eq!(
        (reply.status, reply.text()),
        (200, "upstream".to_owned()),
        "the request in flight is answered by the upstream"
    );
    assert_eq!(
        get_on(&mut client, "/next").status,
        204,
        "the connection's next request runs on the new configuration"
    );
}

#[test]
fn upstream_connections_are_kept_alive_and_reused() {
    let log = RequestLog::default();
    let upstream = named_upstream("kept", &log);
    let port = free_port();
    // Each worker keeps a pool of its own: with one worker, every client connection
    // draws from the same pool.
    let mut conf = proxy_conf(port, upstream.port);
    conf["settings"] = json!({"listen_threads": 1});
    let _unit = start_with("upstream-keep-alive", &conf);

    let mut client = connect(port);
    for n in 0..5 {
        let reply = get_on(&mut client, &format!("/kept-alive/{n}"));
        assert_eq!((reply.status, reply.text()), (200, "kept".to_owned()));
    }
    drop(client);
    for n in 0..3 {
        let reply = get(port, &format!("/one-each/{n}"));
        assert_eq!((reply.status, reply.text()), (200, "kept".to_owned()));
    }

    assert_eq!(logged(&log).len(), 8);
    assert_eq!(
        upstream.connections.load(Ordering::SeqCst),
        1,
        "every request went over one upstream connection"
    );
}

#[test]
fn a_chunked_request_body_reaches_the_upstream_intact() {
    let log = RequestLog::default();
    let upstream = named_upstream("chunked", &log);
    let port = free_port();
    let _unit = start_with("chunked-body", &proxy_conf(port, upstream.port));

    // The second chunk looks like framing and holds every byte value; it carries an
    // extension, and the body ends with a trailer field.
    let first = b"hello ".to_vec();
    let mut second = b"\r\n0\r\n\r\n".to_vec();
    second.extend(0..=255u8);
    let mut request =
        b"POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    request.extend_from_slice(format!("{:x}\r\n", first.len()).as_bytes());
    request.extend_from_slice(&first);
    request.extend_from_slice(format!("\r\n{:X};name=value\r\n", second.len()).as_bytes());
    request.extend_from_slice(&second);
    request.extend_from_slice(b"\r\n0\r\nX-Trailer: end\r\n\r\n");
    let mut client = connect(port);
    client.write_all(&request).expect("send");
    let reply = read_reply(&mut client, false).expect("a reply");
    assert_eq!((reply.status, reply.text()), (200, "chunked".to_owned()));
    // The request after it is read from where the chunked body ended.
    assert_eq!(get_on(&mut client, "/after").text(), "chunked");

    let requests = logged(&log);
    assert_eq!(requests.len(), 2, "{requests:?}");
    let upload = &requests[0].1;
    assert!(upload.head.starts_with("POST /upload HTTP/1.1\r\n"));
    assert_eq!(upload.body, [first, second].concat());
    assert!(requests[1].1.head.starts_with("GET /after HTTP/1.1\r\n"));
}

#[test]
fn a_response_body_streams_to_the_client_as_the_upstream_sends_it() {
    // What the upstream sends before and after the client has the first part, framed
    // by length and chunked.
    let framings = [
        ("Content-Length: 22\r\n\r\nfirst part|", "second part"),
        (
            "Transfer-Encoding: chunked\r\n\r\nb\r\nfirst part|\r\n",
            "b\r\nsecond part\r\n0\r\n\r\n",
        ),
    ];
    for (framed, rest) in framings {
        // The upstream sends the head and a first part, then holds the rest until the
        // client has the first part.
        let upstream = TcpListener::bind("127.0.0.1:0").expect("bind the upstream");
        let upstream_port = upstream.local_addr().expect("upstream address").port();
        let (send_rest, rest_wanted) = mpsc::channel::<()>();
        thread::spawn(move || {
            let Ok((mut stream, _)) = upstream.accept() else {
                return;
            };
            let Ok(reading) = stream.try_clone() else {
                return;
            };
            if read_request(&mut BufReader::new(reading)).is_none()
                || stream
                    .write_all(format!("HTTP/1.1 200 OK\r\n{framed}").as_bytes())
                    .is_err()
            {
                return;
            }
            if rest_wanted.recv_timeout(STEP_TIMEOUT).is_ok() {
                let _ = stream.write_all(rest.as_bytes());
            }
        });
        let port = free_port();
        let _unit = start_with("response-streams", &proxy_conf(port, upstream_port));

        let mut client = connect(port);
        client
            .set_read_timeout(Some(STEP_TIMEOUT))
            .expect("read timeout");
        client
            .write_all(b"GET /stream HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .expect("send");
        let first = read_until_contains(&mut client, b"first part|").unwrap_or_else(|error| {
            panic!("the first part arrives while the upstream holds the rest ({framed:?}): {error}")
        });
        assert!(first.starts_with(b"HTTP/1.1 200 OK\r\n"));
        send_rest
            .send(())
            .unwrap_or_else(|_| panic!("the upstream gave up waiting ({framed:?})"));
        read_until_contains(&mut client, b"second part")
            .unwrap_or_else(|error| panic!("the rest arrives ({framed:?}): {error}"));
    }
}

#[test]
fn a_request_body_streams_to_the_upstream_as_the_client_sends_it() {
    const HALF: usize = 1000;
    // The upstream reports the head and the first half as soon as they are in, then
    // echoes the whole body.
    let upstream = TcpListener::bind("127.0.0.1:0").expect("bind the upstream");
    let upstream_port = upstream.local_addr().expect("upstream address").port();
    let (first_half_sender, first_half_arrived) = mpsc::channel();
    thread::spawn(move || {
        let Ok((mut stream, _)) = upstream.accept() else {
            return;
        };
        let Ok(reading) = stream.try_clone() else {
            return;
        };
        let mut reader = BufReader::new(reading);
        let Some(head) = read_request_head(&mut reader) else {
            return;
        };
        let mut body = vec![0u8; 2 * HALF];
        if reader.read_exact(&mut body[..HALF]).is_err() {
            return;
        }
        let _ = first_half_sender.send((head, body[..HALF].to_vec()));
        if reader.read_exact(&mut body[HALF..]).is_err() {
            return;
        }
        let mut answer = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
        answer.push_str(&String::from_utf8_lossy(&body));
        let _ = stream.write_all(answer.as_bytes());
    });
    let port = free_port();
    let _unit = start_with("request-streams", &proxy_conf(port, upstream_port));

    let first_half = "a".repeat(HALF);
    let second_half = "b".repeat(HALF);
    let mut client = connect(port);
    client
        .write_all(
            format!(
                "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n{first_half}",
                2 * HALF
            )
            .as_bytes(),
        )
        .expect("send the head and the first half");
    let (head, received) = first_half_arrived
        .recv_timeout(STEP_TIMEOUT)
        .expect("the upstream has the first half before the client sends the second");
    assert!(head.starts_with("POST /upload HTTP/1.1\r\n"), "{head:?}");
    assert_eq!(
        header_field(&head, "Content-Length"),
        Some("2000".to_owned())
    );
    assert_eq!(received, first_half.as_bytes());

    client
        .write_all(second_half.as_bytes())
        .expect("send the second half");
    let reply = read_reply(&mut client, false).expect("a reply");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), format!("{first_half}{second_half}"));
}

#[test]
fn upstream_servers_take_turns_by_smooth_weighted_round_robin() {
    let log = RequestLog::default();
    let mut weighted = [named_upstream("x", &log), named_upstream("y", &log)];
    let never = named_upstream("never", &log);
    // On equal scores the server listed first wins: the heavy one goes first both in
    // the object and in address order.
    let key = |upstream: &NamedUpstream| format!("127.0.0.1:{}", upstream.port);
    weighted.sort_by_key(key);
    let [heavy, light] = &weighted;
    let mut servers = serde_json::Map::new();
    servers.insert(key(heavy), json!({"weight": 3}));
    servers.insert(key(light), json!({"weight": 1}));
    servers.insert(key(&never), json!({"weight": 0}));
    let port = free_port();
    let _unit = start_with(
        "weighted-round-robin",
        &conf_with_listener(
            port,
            "upstreams/pool",
            json!({"upstreams": {"pool": {"servers": servers}}}),
        ),
    );

    for n in 0..8 {
        assert_eq!(get(port, &format!("/{n}")).status, 200);
    }
    let order: String = logged(&log)
        .iter()
        .map(|(name, _)| {
            if *name == heavy.name {
                'H'
            } else if *name == light.name {
                'L'
            } else {
                '0'
            }
        })
        .collect();
    // The scores (heavy, light) at each pick, once the weights are added: 3,1 → H;
    // 2,2 → H (listed first); 1,3 → L; 4,0 → H; then the cycle repeats.
    assert_eq!(order, "HHLHHHLH", "6 to 2 in smooth order");
    assert_eq!(
        never.connections.load(Ordering::SeqCst),
        0,
        "a server of weight 0 is never picked"
    );
}

/// What one load client saw.
#[derive(Debug, Default)]
struct LoadReport {
    served: usize,
    failed: usize,
    /// Requests started after the PUT of generation `g` was answered that still got an
    /// older generation's status, as (g, status).
    stale: Vec<(usize, u16)>,
}

/// Sends requests until `stop`, on one kept-alive connection or on a new connection
/// each; generation `g` answers `200 + g`, and `generation` is the newest answered PUT.
fn load_client(
    port: u16,
    keep_alive: bool,
    generation: &AtomicUsize,
    served: &AtomicUsize,
    stop: &AtomicBool,
) -> LoadReport {
    let mut report = LoadReport::default();
    let mut kept: Option<TcpStream> = None;
    while !stop.load(Ordering::SeqCst) {
        let started_after = generation.load(Ordering::SeqCst);
        let mut stream = match kept.take() {
            Some(stream) => stream,
            None => connect(port),
        };
        let connection = if keep_alive {
            ""
        } else {
            "Connection: close\r\n"
        };
        let reply = stream
            .write_all(format!("GET / HTTP/1.1\r\nHost: localhost\r\n{connection}\r\n").as_bytes())
            .and_then(|()| read_reply(&mut stream, false));
        match reply {
            Ok(reply) if (200..300).contains(&reply.status) => {
                report.served += 1;
                served.fetch_add(1, Ordering::SeqCst);
                if usize::from(reply.status - 200) < started_after {
                    report.stale.push((started_after, reply.status));
                }
                if keep_alive {
                    kept = Some(stream);
                }
            }
            _ => report.failed += 1,
        }
    }
    report
}

#[test]
fn requests_started_after_a_reconfiguration_under_load_see_it() {
    const GENERATIONS: usize = 6;
    let port = free_port();
    let unit = start_with(
        "reconfigure-under-load",
        &conf_with_listener(
            port,
            "routes",
            json!({"routes": [{"action": {"return": 200}}]}),
        ),
    );
    let generation = Arc::new(AtomicUsize::new(0));
    let served = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = [true, true, false, false]
        .into_iter()
        .map(|keep_alive| {
            let (generation, served, stop) = (
                Arc::clone(&generation),
                Arc::clone(&served),
                Arc::clone(&stop),
            );
            thread::spawn(move || load_client(port, keep_alive, &generation, &served, &stop))
        })
        .collect();
    // Every PUT lands among requests, and requests follow the last one.
    let wait_for_requests = || {
        let before = served.load(Ordering::SeqCst);
        assert!(
            wait_until(|| served.load(Ordering::SeqCst) >= before + 20),
            "the clients are served"
        );
    };
    for next in 1..=GENERATIONS {
        wait_for_requests();
        let response = unit.put("/config/routes/0/action/return", &(200 + next).to_string());
        assert_eq!(response.status, 200, "{}", response.body);
        generation.store(next, Ordering::SeqCst);
    }
    wait_for_requests();
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        let report = client.join().expect("a load client");
        assert!(report.served > 0, "{report:?}");
        assert_eq!(report.failed, 0, "no request failed: {report:?}");
        assert!(
            report.stale.is_empty(),
            "requests started after a PUT was answered got an older status: {report:?}"
        );
    }
}

/// The inodes of the sockets listening on 127.0.0.1:`port`, from /proc/net/tcp.
fn listening_inodes(port: u16) -> Vec<u64> {
    let table = fs::read_to_string("/proc/net/tcp").expect("reading /proc/net/tcp");
    let local = format!("0100007F:{port:04X}");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // Fields: sl, local, remote, state (0A is LISTEN), queues, timer,
            // retransmits, uid, timeout, inode.
            (fields.get(1) == Some(&local.as_str()) && fields.get(3) == Some(&"0A"))
                .then(|| fields.get(9)?.parse().ok())
                .flatten()
        })
        .collect()
}

#[test]
fn changing_a_listeners_pass_keeps_its_socket() {
    let port = free_port();
    let unit = start_with(
        "pass-keeps-socket",
        &conf_with_listener(
            port,
            "routes/a",
            json!({"routes": {"a": [{"action": {"return": 200}}], "b": [{"action": {"return": 201}}]}}),
        ),
    );
    let inodes = listening_inodes(port);
    assert_eq!(inodes.len(), 1, "one socket listens on the port");
    // Connected before the changes, it sends its request only after them.
    let mut early = connect(port);

    let served = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let (served, stop) = (Arc::clone(&served), Arc::clone(&stop));
        thread::spawn(move || {
            let mut failures = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let outcome = TcpStream::connect(("127.0.0.1", port)).and_then(|mut stream| {
                    stream.set_read_timeout(Some(STEP_TIMEOUT))?;
                    stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
                    read_reply(&mut stream, false)
                });
                match outcome {
                    Ok(reply) if matches!(reply.status, 200 | 201) => {
                        served.fetch_add(1, Ordering::SeqCst);
                    }
                    other => failures.push(format!("{other:?}")),
                }
            }
            failures
        })
    };
    let pass_path = format!("/config/listeners/127.0.0.1:{port}/pass");
    for round in 0..6 {
        let before = served.load(Ordering::SeqCst);
        assert!(
            wait_until(|| served.load(Ordering::SeqCst) >= before + 10),
            "the client is served"
        );
        let pass = if round % 2 == 0 {
            "routes/b"
        } else {
            "routes/a"
        };
        let response = unit.put(&pass_path, &json!(pass).to_string());
        assert_eq!(response.status, 200, "{}", response.body);
    }
    let before = served.load(Ordering::SeqCst);
    assert!(
        wait_until(|| served.load(Ordering::SeqCst) >= before + 10),
        "the client is served"
    );
    stop.store(true, Ordering::SeqCst);
    let failures = client.join().expect("the connecting client");
    assert!(
        failures.is_empty(),
        "every connection was accepted and answered: {failures:?}"
    );
    assert_eq!(
        listening_inodes(port),
        inodes,
        "the same socket listens after the changes"
    );
    assert_eq!(
        get_on(&mut early, "/").status,
        200,
        "a connection made before the changes is served on the last pass"
    );
}

#[test]
fn a_systemd_socket_is_adopted_by_its_listener_and_serves() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let paths = Paths::new("systemd-serves");
    // The socket becomes descriptor 3 of unitd, whose pid bash's exec keeps, so
    // LISTEN_PID=$$ names it. The test keeps its own copy open, so binding the address
    // again would fail: an answer proves the router serves the handed-over socket.
    let child = start_with_fd3(&paths, &listener, "LISTEN_FDS=1 LISTEN_PID=$$", false);
    let unit = TestUnit {
        main_pid: Pid::from_raw(child.id() as i32),
        child: Some(child),
        paths,
    };
    unit.wait_ready();

    let conf = json!({
        "listeners": {address.to_string(): {"pass": "routes"}},
        "routes": [{"action": {"return": 203}}]
    });
    let response = unit.put("/config", &conf.to_string());
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(get(address.port(), "/").status, 203);
}

#[test]
fn a_unix_listeners_file_is_removed_when_unitd_exits() {
    for signal in [Signal::SIGTERM, Signal::SIGQUIT] {
        let mut unit = TestUnit::start("unix-listener-exit", &[]);
        let socket = unit.paths.dir.path().join("http.sock");
        let conf = json!({
            "listeners": {format!("unix:{}", socket.display()): {"pass": "routes"}},
            "routes": [{"action": {"return": 200}}]
        });
        let response = unit.put("/config", &conf.to_string());
        assert_eq!(response.status, 200, "{}", response.body);
        let mut stream = UnixStream::connect(&socket).expect("the unix listener");
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .expect("send");
        assert_eq!(read_reply(&mut stream, false).expect("reply").status, 200);

        unit.signal(signal);
        let (status, _) = unit.wait_exit();
        assert_eq!(status.code(), Some(0), "{signal}");
        assert!(!socket.exists(), "{signal} removes {}", socket.display());
    }
}

#[test]
fn main_binds_a_privileged_port_and_opens_a_root_only_log_for_a_router_running_as_nobody() {
    if !support::is_root() {
        support::skip(
            "main_binds_a_privileged_port_and_opens_a_root_only_log_for_a_router_running_as_nobody",
            "it needs root to bind below 1024 and to run the router as nobody",
        );
        return;
    }
    let port = (900..1024)
        .rev()
        .find(|port| TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .expect("a free port below 1024");
    let unit = TestUnit::start("privileged", &[]);
    let nobody = User::from_name("nobody")
        .ok()
        .flatten()
        .expect("user nobody");
    let router = unit.child_titled("unit: router");
    let router_uid = proc_status_field(router, "Uid")
        .and_then(|uids| uids.split_whitespace().nth(1).map(str::to_owned));
    assert_eq!(
        router_uid,
        Some(nobody.uid.to_string()),
        "the router could open neither itself"
    );
    let private = unit.paths.dir.path().join("private");
    fs::create_dir(&private).expect("mkdir");
    fs::set_permissions(&private, fs::Permissions::from_mode(0o700)).expect("chmod 0700");
    let access_log = private.join("access.log");

    let conf = conf_with_listener(
        port,
        "routes",
        json!({"routes": [{"action": {"return": 200}}], "access_log": access_log}),
    );
    let response = unit.put("/config", &conf.to_string());
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(get(port, "/privileged").status, 200);
    assert!(
        wait_until(|| fs::read_to_string(&access_log)
            .is_ok_and(|text| text.contains("\"GET /privileged HTTP/1.1\" 200"))),
        "the access log records the request: {:?}",
        fs::read_to_string(&access_log)
    );
}

/// An upstream that reads a request's body in small pieces with pauses between them,
/// so the proxy's writes keep filling the socket, and answers with the length it got.
fn slow_reading_upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    thread::spawn(move || {
        while let Ok((stream, _)) = listener.accept() {
            thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let Some(head) = read_request_head(&mut reader) else {
                    return;
                };
                let length: usize = header_field(&head, "Content-Length")
                    .and_then(|value| value.parse().ok())
                    .unwrap_or(0);
                let mut piece = vec![0u8; 16 * 1024];
                let mut got = 0;
                while got < length {
                    let want = piece.len().min(length - got);
                    match reader.read(&mut piece[..want]) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got += n,
                    }
                    thread::sleep(Duration::from_micros(200));
                }
                let text = got.to_string();
                let mut writer = stream;
                let _ = writer.write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                        text.len()
                    )
                    .as_bytes(),
                );
            });
        }
    });
    port
}

#[test]
fn a_large_body_reaches_an_upstream_that_reads_slowly() {
    let upstream = slow_reading_upstream();
    let port = free_port();
    let _unit = start_with(
        "slow-upstream",
        &json!({
            "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
            "routes": [{"action": {"proxy": format!("http://127.0.0.1:{upstream}")}}],
            "settings": {"http": {"max_body_size": 33554432, "body_read_timeout": 5}}
        }),
    );
    // The client sends the whole body before it reads: the proxy's buffers fill and
    // empty many times over, and a write that empties them must take the body already
    // read from the client even though no event will come for it.
    let body = vec![b'z'; 24 * 1024 * 1024];
    let mut client = connect(port);
    let writer = {
        let mut client = client.try_clone().expect("clone");
        let body = body.clone();
        thread::spawn(move || {
            let head = format!(
                "POST /upload HTTP/1.0\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            client.write_all(head.as_bytes()).expect("send the head");
            client.write_all(&body).expect("send the body");
        })
    };
    let reply = read_reply(&mut client, false).expect("the answer");
    writer.join().expect("the sender");
    assert_eq!(reply.status, 200, "{}", reply.head);
    assert_eq!(reply.text(), body.len().to_string());
}
