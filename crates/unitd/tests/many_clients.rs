//! Thousands of clients that hold connections without making progress: heads sent a
//! byte at a time, answers never read, keep-alive connections left idle. The router
//! closes each at its timeout, holds a bounded amount of memory meanwhile, and keeps
//! serving everyone else.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::unistd::Pid;
use serde_json::json;
use support::http::{
    HttpReply, connect, connect_with_receive_buffer, free_port, read_reply, write_public, www,
};
use support::{TestUnit, proc_status_field, skip, wait_until};

/// Connections that send their head one byte at a time, never finishing it.
const SLOW_WRITERS: usize = 1000;
/// Connections that ask for a large file and never read it.
const SLOW_READERS: usize = 1000;
/// Descriptors the test and unitd each need for the slow clients, with room to spare.
const SLOW_NOFILE: u64 = 2 * (SLOW_WRITERS + SLOW_READERS) as u64 + 512;
/// The file the slow readers ask for: far more than any socket buffers can hold, so
/// the router cannot finish sending it.
const LARGE_FILE_BYTES: usize = 16 << 20;
/// How much the router's resident memory may grow while the slow clients are open.
const RSS_GROWTH_BOUND_KIB: u64 = 64 << 10;
/// How long the clients keep trying before the test gives up on the router.
const GIVE_UP_AFTER: Duration = Duration::from_secs(60);

/// Raises this process's soft descriptor limit to at least `wanted` (unitd, started
/// after, inherits it); the reason when the hard limit does not allow it.
fn raise_descriptor_limit(wanted: u64) -> Result<(), String> {
    let (soft, hard) =
        getrlimit(Resource::RLIMIT_NOFILE).map_err(|error| format!("getrlimit: {error}"))?;
    if soft >= wanted {
        return Ok(());
    }
    if hard < wanted {
        return Err(format!(
            "the hard descriptor limit is {hard}, the test needs {wanted}"
        ));
    }
    setrlimit(Resource::RLIMIT_NOFILE, wanted, hard).map_err(|error| format!("setrlimit: {error}"))
}

/// The router's resident memory in KiB.
fn router_rss_kib(router: Pid) -> u64 {
    proc_status_field(router, "VmRSS")
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .expect("the router's VmRSS")
}

/// How many sockets the router has open (files it caches for shares are not counted).
fn router_sockets(router: Pid) -> usize {
    std::fs::read_dir(format!("/proc/{router}/fd"))
        .expect("the router's descriptors")
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}

/// One request on a fresh connection, answered in full.
fn served(port: u16, path: &str) -> HttpReply {
    let mut stream = connect(port);
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .expect("send");
    read_reply(&mut stream, false).expect("an answer")
}

/// Whether the server has closed `stream` (end of stream or a reset), reading without
/// waiting whatever it sent first (such as a 408).
fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(error) if error.kind() == ErrorKind::WouldBlock => return false,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return true,
        }
    }
}

#[test]
fn slow_clients_are_closed_by_the_timeouts_and_do_not_stop_others() {
    if let Err(reason) = raise_descriptor_limit(SLOW_NOFILE) {
        return skip("slow_clients", &reason);
    }
    let unit = TestUnit::start("slow-clients", &[]);
    let root = www(&unit);
    write_public(&root, "large", vec![b'x'; LARGE_FILE_BYTES]);
    let port = free_port();
    let conf = json!({
        "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
        "routes": [
            {"match": {"uri": "/large"}, "action": {"share": format!("{}$uri", root.display())}},
            {"action": {"return": 200}}
        ],
        "settings": {"http": {"header_read_timeout": 2, "send_timeout": 2}}
    });
    let response = unit.put("/config", &conf.to_string());
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(served(port, "/").status, 200);
    let router = unit.child_titled("unit: router");
    let sockets_before = router_sockets(router);
    let rss_before = router_rss_kib(router);

    let mut readers: Vec<TcpStream> = (0..SLOW_READERS)
        .map(|_| {
            let mut stream = connect_with_receive_buffer(port, 4096);
            stream
                .write_all(b"GET /large HTTP/1.1\r\nHost: x\r\n\r\n")
                .expect("send");
            stream
        })
        .collect();
    let head: Vec<u8> = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "
        .iter()
        .copied()
        .chain(std::iter::repeat(b'a'))
        .take(4096)
        .collect();
    let mut writers: Vec<(TcpStream, usize)> = (0..SLOW_WRITERS)
        .map(|_| {
            let stream = connect(port);
            stream.set_nonblocking(true).expect("nonblocking");
            (stream, 0)
        })
        .collect();

    // A byte to every writer still open each round, until the server has closed them all;
    // a head that was never finished must not keep a connection open.
    let mut rss_peak = router_rss_kib(router);
    let mut rounds = 0;
    let started = Instant::now();
    while !writers.is_empty() && started.elapsed() < GIVE_UP_AFTER {
        writers.retain_mut(|(stream, sent)| {
            let Some(byte) = head.get(*sent) else {
                return !closed_by_server(stream);
            };
            match stream.write(std::slice::from_ref(byte)) {
                Ok(written) => *sent += written,
                Err(error) if error.kind() == ErrorKind::WouldBlock => {}
                Err(_) => return false,
            }
            !closed_by_server(stream)
        });
        rss_peak = rss_peak.max(router_rss_kib(router));
        if rounds % 4 == 0 {
            assert_eq!(
                served(port, "/").status,
                200,
                "a client served while the slow ones wait"
            );
        }
        rounds += 1;
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        writers.is_empty(),
        "{} of {SLOW_WRITERS} connections sending their head a byte at a time are still \
         open after {} s",
        writers.len(),
        GIVE_UP_AFTER.as_secs()
    );
    assert!(
        rounds > 4,
        "the slow heads were closed before 2 s had passed"
    );

    // The readers' connections are closed too: the router holds no more sockets than
    // before they came, and each reader finds the end of a stream that stopped short.
    assert!(
        wait_until(|| {
            rss_peak = rss_peak.max(router_rss_kib(router));
            router_sockets(router) <= sockets_before
        }),
        "the router still has {} sockets open, {sockets_before} before the slow clients",
        router_sockets(router)
    );
    assert_eq!(served(port, "/").status, 200);
    for reader in &mut readers {
        reader
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut received = Vec::new();
        match reader.read_to_end(&mut received) {
            Ok(_) => {}
            Err(error) if error.kind() == ErrorKind::ConnectionReset => {}
            Err(error) => panic!("a slow reader's connection was not closed: {error}"),
        }
        assert!(
            received.len() < LARGE_FILE_BYTES,
            "a reader that never read got the whole file"
        );
    }
    let growth = rss_peak.saturating_sub(rss_before);
    assert!(
        growth <= RSS_GROWTH_BOUND_KIB,
        "the router grew by {growth} KiB ({rss_before} KiB before, {rss_peak} KiB at most) \
         while {} slow clients were open",
        SLOW_WRITERS + SLOW_READERS
    );
}

/// Idle keep-alive connections held at once.
const IDLE_CONNECTIONS: usize = 300;

#[test]
fn idle_keep_alive_connections_are_all_closed_at_the_idle_timeout() {
    if let Err(reason) = raise_descriptor_limit(2 * IDLE_CONNECTIONS as u64 + 256) {
        return skip("idle_keep_alive_connections", &reason);
    }
    let port = free_port();
    let conf = json!({
        "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
        "routes": [{"action": {"return": 200}}],
        "settings": {"http": {"idle_timeout": 1}}
    });
    let unit = support::http::start_with("idle-clients", &conf);
    // Each connection is served one request, then waits for its next one.
    let mut idle: Vec<TcpStream> = (0..IDLE_CONNECTIONS)
        .map(|_| {
            let mut stream = connect(port);
            stream
                .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .expect("send");
            assert_eq!(read_reply(&mut stream, false).expect("served").status, 200);
            stream.set_nonblocking(true).expect("nonblocking");
            stream
        })
        .collect();
    assert_eq!(
        served(port, "/").status,
        200,
        "a new client is served while the idle ones are held"
    );
    let started = Instant::now();
    while !idle.is_empty() && started.elapsed() < GIVE_UP_AFTER {
        idle.retain_mut(|stream| !closed_by_server(stream));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        idle.is_empty(),
        "{} of {IDLE_CONNECTIONS} idle connections are still open after {} s",
        idle.len(),
        GIVE_UP_AFTER.as_secs()
    );
    assert_eq!(served(port, "/").status, 200);
    drop(unit);
}
