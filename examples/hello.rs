//! A tiny HTTP/1.1 application for unitd, standard library only: it serves on the
//! listening socket it inherits as descriptor 3 (`LISTEN_FDS=1`, the systemd
//! convention unitd follows), one thread per connection.
//!
//! Build it with `rustc -O examples/hello.rs -o hello` (or let `cargo xtask run
//! --example` do it). Paths it answers, for trying unitd's process management out:
//!
//! - `/` — a greeting with the process's pid;
//! - `/env/<NAME>` — the value of an environment variable;
//! - `/args`, `/cwd`, `/uid` — its arguments, working directory and user id;
//! - `/sleep/<ms>` — answers after a while;
//! - `/echo` — the request body back;
//! - `/exit` — exits the process at once, without answering;
//! - an `Upgrade` request — switches protocols and echoes bytes until the close.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpListener;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::time::Duration;

/// The descriptor unitd hands the listening socket over as.
const LISTEN_FD: i32 = 3;

fn main() {
    if std::env::var("LISTEN_FDS").as_deref() != Ok("1") {
        eprintln!("hello: start me from unitd: no LISTEN_FDS=1 socket");
        std::process::exit(2);
    }
    // unitd hands over a unix socket; a TCP one works too, to measure the
    // application without unitd in front.
    let unix = UnixListener::from(inherited_socket());
    if unix.local_addr().is_ok() {
        serve_all(|| unix.accept().map(|(stream, _)| stream));
    } else {
        let tcp = TcpListener::from(OwnedFd::from(unix));
        serve_all(|| {
            let (stream, _) = tcp.accept()?;
            stream.set_nodelay(true)?;
            Ok(stream)
        });
    }
}

/// The listening socket at descriptor 3.
#[allow(unsafe_code)]
fn inherited_socket() -> OwnedFd {
    // SAFETY: LISTEN_FDS=1 says descriptor 3 is a listening socket handed to this
    // process to own, and nothing else in it uses that number.
    unsafe { OwnedFd::from_raw_fd(LISTEN_FD) }
}

/// A connection: read from one handle, written through another.
trait Connection: Read + Write + Send + Sized + 'static {
    fn duplicate(&self) -> std::io::Result<Self>;
}

impl Connection for std::os::unix::net::UnixStream {
    fn duplicate(&self) -> std::io::Result<Self> {
        self.try_clone()
    }
}

impl Connection for std::net::TcpStream {
    fn duplicate(&self) -> std::io::Result<Self> {
        self.try_clone()
    }
}

/// Accepts connections, one thread each, until accepting fails for good.
fn serve_all<C: Connection>(mut accept: impl FnMut() -> std::io::Result<C>) {
    loop {
        match accept() {
            Ok(stream) => {
                std::thread::spawn(move || serve(stream));
            }
            Err(error)
                if matches!(
                    error.kind(),
                    ErrorKind::Interrupted | ErrorKind::ConnectionAborted
                ) => {}
            Err(error) => {
                eprintln!("hello: accept failed: {error}");
                std::process::exit(1);
            }
        }
    }
}

/// Serves the requests of one connection until it closes.
fn serve<C: Connection>(stream: C) {
    let Ok(mut writer) = stream.duplicate() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let Some((target, headers)) = read_head(&mut reader) else {
            return;
        };
        let header = |name: &str| {
            headers
                .iter()
                .find(|(field, _)| field.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.as_str())
        };
        let length: usize = header("Content-Length")
            .and_then(|value| value.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if header("Upgrade").is_some() {
            let _ = writer.write_all(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n",
            );
            echo_until_close(&mut reader, &mut writer);
            return;
        }
        let answer = match answer(&target, &body) {
            Some(answer) => answer,
            None => std::process::exit(0),
        };
        // Head and body in one write, so no segment waits for the other's ack.
        let mut response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            answer.len()
        )
        .into_bytes();
        response.extend_from_slice(&answer);
        if writer.write_all(&response).is_err() {
            return;
        }
    }
}

/// The request target and fields of the next request, or `None` at the close.
fn read_head(reader: &mut impl BufRead) -> Option<(String, Vec<(String, String)>)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let target = line.split(' ').nth(1)?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            return Some((target, headers));
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
}

/// What a path answers; `None` for `/exit`.
fn answer(target: &str, body: &[u8]) -> Option<Vec<u8>> {
    let text = if let Some(name) = target.strip_prefix("/env/") {
        std::env::var(name).unwrap_or_else(|_| "(unset)".to_owned())
    } else if let Some(millis) = target.strip_prefix("/sleep/") {
        std::thread::sleep(Duration::from_millis(millis.parse().unwrap_or(0)));
        format!("slept {millis} ms in {}", std::process::id())
    } else {
        match target {
            "/args" => std::env::args().skip(1).collect::<Vec<_>>().join(" "),
            "/cwd" => std::env::current_dir()
                .map(|dir| dir.display().to_string())
                .unwrap_or_default(),
            "/uid" => std::fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|status| {
                    status
                        .lines()
                        .find_map(|line| line.strip_prefix("Uid:"))
                        .and_then(|ids| ids.split_whitespace().next())
                        .map(str::to_owned)
                })
                .unwrap_or_default(),
            "/echo" => return Some(body.to_vec()),
            "/exit" => return None,
            _ => format!("hello from {}", std::process::id()),
        }
    };
    Some(text.into_bytes())
}

/// Copies what arrives back until the client closes.
fn echo_until_close<C: Connection>(reader: &mut BufReader<C>, writer: &mut C) {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match reader.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if writer.write_all(&buffer[..n]).is_err() {
                    return;
                }
            }
        }
    }
}
