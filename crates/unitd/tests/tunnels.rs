//! Upgraded connections through the real binary: a request with `Upgrade` that the
//! upstream answers `101 Switching Protocols` becomes a tunnel, bytes pass both ways
//! until a side closes, and a refused upgrade stays an ordinary answer.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};

use serde_json::json;
use support::http::{connect, free_port, read_reply, start_with};

/// An upstream that switches protocols when asked to and then echoes what it gets in
/// upper case until the client closes; it refuses requests without `Upgrade` with 426.
/// Returns its port and the request heads it saw.
fn upgrading_upstream() -> (u16, std::sync::mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let (heads, seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        while let Ok((stream, _)) = listener.accept() {
            let heads = heads.clone();
            std::thread::spawn(move || serve(stream, &heads));
        }
    });
    (port, seen)
}

fn serve(stream: TcpStream, heads: &std::sync::mpsc::Sender<String>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut writer = stream;
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let _ = heads.send(head.clone());
    let lower = head.to_ascii_lowercase();
    if !lower.contains("\r\nupgrade: websocket") || !lower.contains("\r\nconnection: upgrade") {
        let _ = writer.write_all(b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n");
        return;
    }
    let _ = writer.write_all(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nhello",
    );
    let mut buffer = [0u8; 4096];
    loop {
        match reader.read(&mut buffer) {
            Ok(0) | Err(_) => {
                let _ = writer.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                let upper = buffer[..n].to_ascii_uppercase();
                if writer.write_all(&upper).is_err() {
                    return;
                }
            }
        }
    }
}

/// Reads exactly `n` bytes.
fn read_exactly(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    stream.read_exact(&mut bytes).expect("the tunnel's bytes");
    bytes
}

#[test]
fn an_upgrade_through_a_proxy_becomes_a_tunnel() {
    let (upstream, heads) = upgrading_upstream();
    let port = free_port();
    let _unit = start_with(
        "tunnel",
        &json!({
            "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
            "routes": [{"action": {"proxy": format!("http://127.0.0.1:{upstream}")}}],
        }),
    );
    let mut client = connect(port);
    client
        .write_all(
            b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\nearly",
        )
        .expect("send the upgrade");
    let reply = read_reply(&mut client, true).expect("the 101 head");
    assert_eq!(reply.status, 101, "{}", reply.head);
    assert_eq!(reply.header("Upgrade").as_deref(), Some("websocket"));
    assert_eq!(reply.header("Connection").as_deref(), Some("Upgrade"));
    let head = heads.recv().expect("the upstream saw the request");
    assert!(head.contains("Upgrade: websocket\r\n"), "{head}");
    assert!(head.contains("Connection: upgrade\r\n"), "{head}");
    // What the upstream sent with its head, then the echo of what the client sent with
    // its request, then a round trip on the open tunnel.
    assert_eq!(read_exactly(&mut client, 5), b"hello");
    assert_eq!(read_exactly(&mut client, 5), b"EARLY");
    for message in [&b"ping"[..], &vec![b'x'; 300_000]] {
        client.write_all(message).expect("send on the tunnel");
        assert_eq!(
            read_exactly(&mut client, message.len()),
            message.to_ascii_uppercase()
        );
    }
    // The client's close goes through, and the upstream's close comes back.
    client
        .shutdown(Shutdown::Write)
        .expect("close the sending side");
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).expect("read to the close");
    assert!(rest.is_empty(), "{rest:?}");
}

#[test]
fn a_request_without_upgrade_is_an_ordinary_exchange() {
    let (upstream, _heads) = upgrading_upstream();
    let port = free_port();
    let _unit = start_with(
        "no-tunnel",
        &json!({
            "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
            "routes": [{"action": {"proxy": format!("http://127.0.0.1:{upstream}")}}],
        }),
    );
    let mut client = connect(port);
    // `Upgrade` alone, without the `Connection` token, asks for nothing.
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: close\r\n\r\n")
        .expect("send");
    let reply = read_reply(&mut client, false).expect("an answer");
    assert_eq!(reply.status, 426);
}

#[test]
fn a_websocket_handshake_unit_refuses_is_answered_and_closed_by_the_router() {
    let (upstream, heads) = upgrading_upstream();
    let port = free_port();
    let _unit = start_with(
        "bad-handshake",
        &json!({
            "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
            "routes": [{"action": {"proxy": format!("http://127.0.0.1:{upstream}")}}],
        }),
    );
    let handshake = |request_line: &str, extra: &str| {
        let mut client = connect(port);
        let request = format!(
            "{request_line}\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{extra}\r\n"
        );
        client.write_all(request.as_bytes()).expect("send");
        // The answer is followed by the close: read to the end.
        read_reply(&mut client, false).expect("an answer")
    };
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let version = "Sec-WebSocket-Version: 13\r\n";
    let wrong_method = handshake(
        "POST /chat HTTP/1.1",
        &format!("{key}{version}Content-Length: 0\r\n"),
    );
    assert_eq!(wrong_method.status, 400);
    assert_eq!(
        handshake("GET /chat HTTP/1.0", &format!("{key}{version}")).status,
        400
    );
    assert_eq!(handshake("GET /chat HTTP/1.1", version).status, 400);
    let no_version = handshake("GET /chat HTTP/1.1", key);
    assert_eq!(no_version.status, 426);
    assert_eq!(
        no_version.header("Sec-WebSocket-Version").as_deref(),
        Some("13")
    );
    assert!(
        heads.try_recv().is_err(),
        "a refused handshake reached the upstream"
    );
}

#[test]
fn an_upgrade_over_tls_becomes_a_tunnel() {
    let (upstream, _heads) = upgrading_upstream();
    let authority = support::tls::Authority::new("Test Root");
    let leaf = authority.leaf("localhost", &["localhost"]);
    let port = free_port();
    let unit = support::TestUnit::start("tunnel-tls", &[]);
    assert_eq!(
        support::tls::upload(&unit, "bundle", &leaf.bundle).status,
        200
    );
    let conf = json!({
        "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes", "tls": {"certificate": "bundle"}}},
        "routes": [{"action": {"proxy": format!("http://127.0.0.1:{upstream}")}}],
    });
    assert_eq!(unit.put("/config", &conf.to_string()).status, 200);
    let mut client =
        support::tls::connect(&authority.client(), port, "localhost").expect("a TLS connection");
    client
        .write_all(
            b"GET /chat HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .expect("send the upgrade");
    let reply = read_reply(&mut client, true).expect("the 101 head");
    assert_eq!(reply.status, 101, "{}", reply.head);
    let mut hello = [0u8; 5];
    client
        .read_exact(&mut hello)
        .expect("the upstream's first bytes");
    assert_eq!(&hello, b"hello");
    for message in [&b"ping"[..], &vec![b'y'; 300_000]] {
        client.write_all(message).expect("send on the tunnel");
        let mut echoed = vec![0u8; message.len()];
        client.read_exact(&mut echoed).expect("the echo");
        assert_eq!(echoed, message.to_ascii_uppercase());
    }
}
