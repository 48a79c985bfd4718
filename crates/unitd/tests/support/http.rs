//! HTTP over the router's listeners: raw requests on TCP and unix sockets, a reader for
//! one response, a shared tree of files to serve, and scripted upstreams that record
//! what they received.

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::socket::{
    AddressFamily, SockFlag, SockType, SockaddrIn, bind, connect as connect_socket, setsockopt,
    socket, sockopt,
};
use serde_json::Value;

use super::TestUnit;

/// How long a client waits for a byte before giving up.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A free loopback port for unitd to listen on.
///
/// Ports come from below the kernel's ephemeral range (32768 up by default), so a
/// client connection made meanwhile cannot take one before unitd binds it, and in
/// turn from a start that depends on the process, so tests running at once never
/// get the same one.
pub(crate) fn free_port() -> u16 {
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id() % SPAN;
    for _ in 0..SPAN {
        let turn = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = u16::try_from(FIRST + (start + turn) % SPAN).expect("a port number");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {FIRST} and {}", FIRST + SPAN);
}

/// One HTTP response read off a stream.
#[derive(Debug)]
pub(crate) struct HttpReply {
    pub(crate) status: u16,
    pub(crate) head: String,
    pub(crate) body: Vec<u8>,
}

impl HttpReply {
    /// The first header with this name (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads exactly one response (by Content-Length; no length means none or to close).
pub(crate) fn read_reply<S: Read>(
    stream: &mut S,
    head_request: bool,
) -> std::io::Result<HttpReply> {
    let mut buffered = Vec::new();
    let mut byte = [0u8; 1];
    while !buffered.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
        }
        buffered.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buffered).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let mut reply = HttpReply {
        status,
        head,
        body: Vec::new(),
    };
    if head_request || matches!(status, 100..=199 | 204 | 304) {
        return Ok(reply);
    }
    match reply
        .header("Content-Length")
        .and_then(|length| length.parse::<usize>().ok())
    {
        Some(length) => {
            reply.body = vec![0; length];
            stream.read_exact(&mut reply.body)?;
        }
        None => {
            stream.read_to_end(&mut reply.body)?;
        }
    }
    Ok(reply)
}

/// A connection to a loopback port.
pub(crate) fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .expect("timeout");
    stream
}

/// A connection to 127.0.0.1:`port` made from the loopback address `source`, so the
/// router sees another client address.
pub(crate) fn connect_from(source: Ipv4Addr, port: u16) -> TcpStream {
    connect_socket_with(port, Some(source), None)
}

/// A connection to 127.0.0.1:`port` whose receive buffer is about `bytes` (set before
/// connecting, so the advertised window stays small too).
pub(crate) fn connect_with_receive_buffer(port: u16, bytes: usize) -> TcpStream {
    connect_socket_with(port, None, Some(bytes))
}

fn connect_socket_with(
    port: u16,
    source: Option<Ipv4Addr>,
    receive_buffer: Option<usize>,
) -> TcpStream {
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .expect("socket");
    if let Some(bytes) = receive_buffer {
        setsockopt(&fd, sockopt::RcvBuf, &bytes).expect("SO_RCVBUF");
    }
    if let Some(source) = source {
        bind(
            fd.as_raw_fd(),
            &SockaddrIn::from(SocketAddrV4::new(source, 0)),
        )
        .expect("bind the client address");
    }
    connect_socket(
        fd.as_raw_fd(),
        &SockaddrIn::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)),
    )
    .expect("connect");
    let stream = TcpStream::from(fd);
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .expect("timeout");
    stream
}

/// Sends raw bytes on a new connection and reads one response.
pub(crate) fn exchange(port: u16, request: &str) -> HttpReply {
    exchange_on(connect(port), request)
}

/// Like [`exchange`], from the loopback address `source`.
pub(crate) fn exchange_from(source: Ipv4Addr, port: u16, request: &str) -> HttpReply {
    exchange_on(connect_from(source, port), request)
}

fn exchange_on(mut stream: TcpStream, request: &str) -> HttpReply {
    stream.write_all(request.as_bytes()).expect("send");
    read_reply(&mut stream, request.starts_with("HEAD ")).expect("a response")
}

/// A GET of `path` with these extra header lines, closing the connection afterwards.
pub(crate) fn get_request(path: &str, headers: &[(&str, &str)]) -> String {
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("Connection: close\r\n\r\n");
    request
}

pub(crate) fn get(port: u16, path: &str) -> HttpReply {
    exchange(port, &get_request(path, &[]))
}

/// Starts unitd and applies `conf`.
pub(crate) fn start_with(name: &str, conf: &Value) -> TestUnit {
    let unit = TestUnit::start(name, &[]);
    let response = unit.put("/config", &conf.to_string());
    assert_eq!(response.status, 200, "{}", response.body);
    unit
}

/// A world-readable directory tree to share.
pub(crate) fn www(unit: &TestUnit) -> PathBuf {
    let root = unit.paths.dir.path().join("www");
    fs::create_dir_all(root.join("dir")).expect("mkdir");
    fs::create_dir_all(root.join("nolinks")).expect("mkdir");
    fs::create_dir_all(root.join("jail")).expect("mkdir");
    fs::write(root.join("jail/ok.txt"), "inside").expect("write");
    std::os::unix::fs::symlink(
        unit.paths.dir.path().join("secret.txt"),
        root.join("jail/escape.txt"),
    )
    .expect("symlink");
    fs::write(root.join("nolinks/hello.txt"), "hello world\n").expect("write");
    fs::write(root.join("index.html"), "<h1>index</h1>").expect("write");
    fs::write(root.join("hello.txt"), "hello world\n").expect("write");
    fs::write(root.join("dir/index.html"), "dir index").expect("write");
    fs::write(unit.paths.dir.path().join("secret.txt"), "secret").expect("write");
    std::os::unix::fs::symlink(
        unit.paths.dir.path().join("secret.txt"),
        root.join("link.txt"),
    )
    .expect("symlink");
    std::os::unix::fs::symlink(
        unit.paths.dir.path().join("secret.txt"),
        root.join("nolinks/link.txt"),
    )
    .expect("symlink");
    for path in [
        root.clone(),
        root.join("dir"),
        root.join("nolinks"),
        root.join("jail"),
    ] {
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    for file in [
        "index.html",
        "hello.txt",
        "dir/index.html",
        "nolinks/hello.txt",
        "jail/ok.txt",
    ] {
        fs::set_permissions(root.join(file), fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    fs::set_permissions(
        unit.paths.dir.path().join("secret.txt"),
        fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");
    root
}

/// Writes a world-readable file below `root`, making world-searchable directories on
/// the way (the router may run as `nobody`).
pub(crate) fn write_public(root: &Path, relative: &str, contents: impl AsRef<[u8]>) {
    let path = root.join(relative);
    let parent = path.parent().expect("a parent directory");
    fs::create_dir_all(parent).expect("mkdir");
    for directory in parent
        .ancestors()
        .take_while(|directory| *directory != root)
    {
        fs::set_permissions(directory, fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    fs::write(&path, contents).expect("write");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
}

/// What a scripted upstream received: each request head and its body length.
pub(crate) type Received = Arc<Mutex<Vec<(String, usize)>>>;

/// How a scripted upstream answers a request head and body.
pub(crate) type Answer = fn(&str, &[u8]) -> Vec<u8>;

/// A scripted upstream on a loopback port: for each connection, reads one request (head
/// and a Content-Length body) and answers with what `answer` returns for it; keeps the
/// connection for further requests. Returns the port and a log of what it received.
pub(crate) fn backend(answer: Answer) -> (u16, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind backend");
    let port = listener.local_addr().expect("addr").port();
    let seen = serve_each(move || listener.accept().map(|(stream, _)| stream), answer);
    (port, seen)
}

/// Like [`backend`], listening on a unix socket file at `path` that anyone may connect
/// to (the router may run as another user).
pub(crate) fn unix_backend(path: &Path, answer: Answer) -> Received {
    let listener = UnixListener::bind(path).expect("bind unix backend");
    fs::set_permissions(path, fs::Permissions::from_mode(0o666)).expect("chmod the socket");
    unix_backend_on(listener, answer)
}

/// Like [`backend`], on a bound unix listener (a Linux abstract socket, say).
pub(crate) fn unix_backend_on(listener: UnixListener, answer: Answer) -> Received {
    serve_each(move || listener.accept().map(|(stream, _)| stream), answer)
}

/// Serves every connection `accept` returns on a thread of its own with
/// [`serve_scripted`], until accepting fails; returns the log of what arrived.
fn serve_each<S: Read + Write + Send + 'static>(
    mut accept: impl FnMut() -> std::io::Result<S> + Send + 'static,
    answer: Answer,
) -> Received {
    let seen = Received::default();
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        while let Ok(stream) = accept() {
            let log = Arc::clone(&log);
            std::thread::spawn(move || serve_scripted(stream, &log, answer));
        }
    });
    seen
}

/// Serves requests on one upstream connection until the peer closes or an answer says
/// `Connection: close`.
fn serve_scripted<S: Read + Write>(mut stream: S, log: &Received, answer: Answer) {
    loop {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => return,
            }
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let length = head
            .lines()
            .find_map(|line| {
                line.strip_prefix("Content-Length: ")
                    .or_else(|| line.strip_prefix("content-length: "))
            })
            .and_then(|value| value.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        if stream.read_exact(&mut body).is_err() {
            return;
        }
        if let Ok(mut log) = log.lock() {
            log.push((head.clone(), body.len()));
        }
        let reply = answer(&head, &body);
        let close = reply
            .windows(17)
            .any(|window| window == b"Connection: close");
        if stream.write_all(&reply).is_err() || close {
            return;
        }
    }
}

/// The heads a scripted upstream received so far.
pub(crate) fn received_heads(received: &Received) -> Vec<String> {
    received
        .lock()
        .map(|log| log.iter().map(|(head, _)| head.clone()).collect())
        .unwrap_or_default()
}

/// The answers of the scripted upstreams, chosen by the request path.
pub(crate) fn backend_answer(head: &str, body: &[u8]) -> Vec<u8> {
    let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
    match path.as_str() {
        "/chunked" => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Backend: yes\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n".to_vec(),
        "/close" => b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil close".to_vec(),
        "/echo-length" => {
            let text = body.len().to_string();
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{text}", text.len()).into_bytes()
        }
        other => {
            let text = format!("path {other}");
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Backend: yes\r\n\r\n{text}", text.len()).into_bytes()
        }
    }
}

/// A chunked body decoded (the test client reads bodies as they come).
pub(crate) fn dechunk(body: &str) -> String {
    let mut decoded = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size, 16).expect("a chunk size");
        if size == 0 {
            break;
        }
        decoded.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
    decoded
}
