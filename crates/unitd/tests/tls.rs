//! TLS listeners end to end: certificates uploaded to the control API, clients that
//! verify the chain, SNI, session resumption, `conf_commands`, everything the router does
//! over TLS, a certificate change under load, and bad input.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustls::HandshakeKind;
use serde_json::{Value, json};
use support::http::{backend, backend_answer, free_port, write_public};
use support::tls::{Authority, exchange, get_request, read_to_close, upload};
use support::{TestUnit, wait_until};

/// Starts unitd, uploads `bundles`, then applies the configuration `conf` makes (it
/// may name paths in the unit's directory).
fn start(name: &str, bundles: &[(&str, &str)], conf: impl FnOnce(&TestUnit) -> Value) -> TestUnit {
    let unit = TestUnit::start(name, &[]);
    for (certificate, bundle) in bundles {
        let response = upload(&unit, certificate, bundle);
        assert_eq!(
            response.status, 200,
            "upload of {certificate}: {}",
            response.body
        );
    }
    let response = unit.put("/config", &conf(&unit).to_string());
    assert_eq!(response.status, 200, "{}", response.body);
    unit
}

fn address(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

#[test]
fn https_with_a_verified_chain_the_scheme_match_and_tls_variables() {
    let authority = Authority::new("Test Root");
    let leaf = authority.leaf("localhost", &["localhost"]);
    let (tls_port, plain_port) = (free_port(), free_port());
    let unit = start("tls-basic", &[("bundle", &leaf.bundle)], |unit| {
        json!({
            "listeners": {
                address(tls_port): {"pass": "routes", "tls": {"certificate": "bundle"}},
                address(plain_port): {"pass": "routes"}
            },
            "routes": [
                {"match": {"scheme": "https"}, "action": {"return": 201}},
                {"action": {"return": 200}}
            ],
            "access_log": {
                "path": unit.paths.dir.path().join("access.log"),
                "format": "$tls_protocol $tls_server_name $status"
            }
        })
    });
    let client = authority.client();
    let tls = exchange(
        &client,
        tls_port,
        "localhost",
        &get_request("/", "localhost"),
    )
    .expect("an HTTPS exchange with a verified chain");
    assert_eq!(tls.reply.status, 201, "scheme https");
    assert_eq!(tls.certificate, leaf.der);
    assert_eq!(tls.version, rustls::ProtocolVersion::TLSv1_3);
    assert_eq!(
        support::http::get(plain_port, "/").status,
        200,
        "scheme http"
    );
    // A client that trusts another authority refuses the chain.
    let stranger = Authority::new("Another Root").client();
    assert!(
        exchange(
            &stranger,
            tls_port,
            "localhost",
            &get_request("/", "localhost")
        )
        .is_err()
    );
    let log = unit.paths.dir.path().join("access.log");
    assert!(wait_until(|| {
        std::fs::read_to_string(&log).is_ok_and(|text| text.contains("TLSv1.3 localhost 201"))
    }));
    assert!(std::fs::read_to_string(&log).is_ok_and(|text| text.contains("- - 200")));
}

#[test]
fn sni_chooses_exact_wildcard_or_the_first_certificate() {
    let authority = Authority::new("Test Root");
    let first = authority.leaf("default", &["default.test"]);
    let exact = authority.leaf("localhost.test", &["alt1.localhost.test", "localhost.test"]);
    let wildcard = authority.leaf("example.test", &["*.example.test"]);
    let port = free_port();
    let _unit = start(
        "tls-sni",
        &[
            ("first", &first.bundle),
            ("exact", &exact.bundle),
            ("wildcard", &wildcard.bundle),
        ],
        |_| {
            json!({
                "listeners": {address(port): {"pass": "routes", "tls": {"certificate": ["first", "exact", "wildcard"]}}},
                "routes": [{"action": {"return": 200}}]
            })
        },
    );
    let client = authority.client();
    let served = |name: &str| {
        exchange(&client, port, name, &get_request("/", name)).map(|tls| tls.certificate)
    };
    assert_eq!(served("alt1.localhost.test").expect("exact"), exact.der);
    assert_eq!(
        served("LOCALHOST.test").expect("exact, any case"),
        exact.der
    );
    assert_eq!(served("www.example.test").expect("wildcard"), wildcard.der);
    assert_eq!(served("default.test").expect("first by name"), first.der);
    // No name matches, or none is sent: the first certificate, which the verifying
    // client then refuses for the name it asked for.
    assert!(served("a.b.example.test").is_err());
    let by_address = exchange(&client, port, "127.0.0.1", &get_request("/", "x"));
    assert!(by_address.is_err(), "the first certificate has no IP name");
}

#[test]
fn sessions_resume_from_the_cache_and_by_ticket_keys_shared_between_daemons() {
    let authority = Authority::new("Test Root");
    let leaf = authority.leaf("localhost", &["localhost"]);
    let key = "U1oDTh11mMxODuw12gS0EXX1E/PkZG13cJNQ6m5+6BGlfPTjNlIEw7PSVU3X1gTE";
    let (cached_port, first_port, second_port) = (free_port(), free_port(), free_port());
    let _cached = start("tls-cache", &[("bundle", &leaf.bundle)], |_| {
        json!({
            "listeners": {address(cached_port): {"pass": "routes", "tls": {"certificate": "bundle", "session": {"cache_size": 10, "timeout": 60}}}},
            "routes": [{"action": {"return": 200}}]
        })
    });
    let ticketing = |port: u16| {
        move |_: &TestUnit| {
            json!({
                "listeners": {address(port): {"pass": "routes", "tls": {"certificate": "bundle", "session": {"tickets": key}}}},
                "routes": [{"action": {"return": 200}}]
            })
        }
    };
    let _first = start(
        "tls-tickets-a",
        &[("bundle", &leaf.bundle)],
        ticketing(first_port),
    );
    let _second = start(
        "tls-tickets-b",
        &[("bundle", &leaf.bundle)],
        ticketing(second_port),
    );
    let kind = |client: &Arc<rustls::ClientConfig>, port: u16| {
        exchange(client, port, "localhost", &get_request("/", "localhost"))
            .map(|tls| (tls.reply.status, tls.kind))
            .expect("an exchange")
    };
    for client in [authority.client_tls12(), authority.client()] {
        assert_eq!(kind(&client, cached_port), (200, HandshakeKind::Full));
        assert_eq!(
            kind(&client, cached_port),
            (200, HandshakeKind::Resumed),
            "from the cache"
        );
    }
    for client in [authority.client_tls12(), authority.client()] {
        assert_eq!(kind(&client, first_port), (200, HandshakeKind::Full));
        assert_eq!(
            kind(&client, second_port),
            (200, HandshakeKind::Resumed),
            "a ticket of one daemon resumes on the other"
        );
    }
}

#[test]
fn conf_commands_apply_and_unknown_ones_are_refused() {
    let authority = Authority::new("Test Root");
    let leaf = authority.leaf("localhost", &["localhost"]);
    let port = free_port();
    let unit = start("tls-commands", &[("bundle", &leaf.bundle)], |_| {
        json!({
            "listeners": {address(port): {"pass": "routes", "tls": {
                "certificate": "bundle",
                "conf_commands": {"protocol": "-TLSv1.3", "CipherString": "ECDHE+AESGCM:!AES256"}
            }}},
            "routes": [{"action": {"return": 200}}]
        })
    });
    let tls = exchange(
        &authority.client(),
        port,
        "localhost",
        &get_request("/", "localhost"),
    )
    .expect("an exchange");
    assert_eq!(tls.version, rustls::ProtocolVersion::TLSv1_2);
    let before = unit.get("/config");
    let refused = unit.put(
        &format!("/config/listeners/{}/tls/conf_commands", address(port)),
        r#"{"protocol": "TLSv1.2", "SignatureAlgorithms": "RSA+SHA256"}"#,
    );
    assert_eq!(refused.status, 400);
    assert!(
        refused.body.contains("SignatureAlgorithms"),
        "{}",
        refused.body
    );
    let refused = unit.put(
        &format!("/config/listeners/{}/tls/conf_commands", address(port)),
        r#"{"protocol": "blah"}"#,
    );
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("blah"), "{}", refused.body);
    assert_eq!(
        unit.get("/config").body,
        before.body,
        "the configuration is unchanged"
    );
}

#[test]
fn shares_proxies_and_large_bodies_over_tls() {
    let authority = Authority::new("Test Root");
    let leaf = authority.leaf("localhost", &["localhost"]);
    let (upstream, _received) = backend(backend_answer);
    let port = free_port();
    let big: Vec<u8> = (0..3_000_000u32).map(|n| (n % 251) as u8).collect();
    let unit = start("tls-actions", &[("bundle", &leaf.bundle)], |unit| {
        let root = unit.paths.dir.path().join("www");
        write_public(&root, "big.bin", &big);
        write_public(&root, "sub/index.html", "inside");
        json!({
            "listeners": {address(port): {"pass": "routes", "tls": {"certificate": "bundle"}}},
            "routes": [
                {"match": {"uri": "/echo-length"}, "action": {"proxy": format!("http://127.0.0.1:{upstream}")}},
                {"action": {"share": format!("{}$uri", root.display())}}
            ]
        })
    });
    let client = authority.client();
    let file = exchange(
        &client,
        port,
        "localhost",
        &get_request("/big.bin", "localhost"),
    )
    .expect("a file over TLS");
    assert_eq!(file.reply.status, 200);
    assert!(file.reply.body == big, "the file arrives whole");
    // A directory's redirect is relative, so it stays on https.
    let redirect = exchange(
        &client,
        port,
        "localhost",
        &get_request("/sub", "localhost"),
    )
    .expect("a redirect");
    assert_eq!(redirect.reply.status, 301);
    assert_eq!(redirect.reply.header("Location").as_deref(), Some("/sub/"));
    let body = "x".repeat(500_000);
    let post = format!(
        "POST /echo-length HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let proxied = exchange(&client, port, "localhost", &post).expect("a proxied request");
    assert_eq!(proxied.reply.status, 200);
    assert_eq!(proxied.reply.text(), body.len().to_string());
    // Keep-alive and pipelined requests on one TLS connection.
    let mut stream = support::tls::connect(&client, port, "localhost").expect("connect");
    stream
        .write_all(b"GET /missing HTTP/1.1\r\nHost: localhost\r\n\r\nGET /echo-length HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("send");
    assert_eq!(
        support::http::read_reply(&mut stream, false)
            .expect("first")
            .status,
        404
    );
    assert_eq!(
        support::http::read_reply(&mut stream, false)
            .expect("second")
            .status,
        200
    );
    drop(unit);
}

#[test]
fn a_certificate_change_under_load_fails_no_request() {
    let authority = Authority::new("Test Root");
    let first = authority.leaf("localhost", &["localhost"]);
    let second = authority.leaf("localhost", &["localhost"]);
    let port = free_port();
    let unit = start(
        "tls-change",
        &[("first", &first.bundle), ("second", &second.bundle)],
        |_| {
            json!({
                "listeners": {address(port): {"pass": "routes", "tls": {"certificate": "first"}}},
                "routes": [{"action": {"return": 200}}]
            })
        },
    );
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..3)
        .map(|n| {
            let stop = Arc::clone(&stop);
            let client = authority.client();
            std::thread::spawn(move || {
                let (mut served, mut failed) = (0, 0);
                let mut kept = None;
                while !stop.load(Ordering::Relaxed) && served < 5_000 {
                    // One client keeps its connection; the others make new ones.
                    let ok = if n == 0 {
                        let stream = match kept.take() {
                            Some(stream) => Some(stream),
                            None => support::tls::connect(&client, port, "localhost").ok(),
                        };
                        stream
                            .and_then(|mut stream| {
                                let ok = stream
                                    .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
                                    .and_then(|()| support::http::read_reply(&mut stream, false))
                                    .is_ok_and(|reply| reply.status == 200);
                                kept = ok.then_some(stream);
                                ok.then_some(())
                            })
                            .is_some()
                    } else {
                        exchange(&client, port, "localhost", &get_request("/", "localhost"))
                            .is_ok_and(|tls| tls.reply.status == 200)
                    };
                    if ok {
                        served += 1;
                    } else {
                        failed += 1;
                    }
                }
                (served, failed)
            })
        })
        .collect();
    let path = format!("/config/listeners/{}/tls/certificate", address(port));
    for round in 0..10 {
        let name = if round % 2 == 0 {
            "\"second\""
        } else {
            "\"first\""
        };
        assert_eq!(unit.put(&path, name).status, 200);
        std::thread::sleep(Duration::from_millis(50));
    }
    let client = authority.client();
    let served = exchange(&client, port, "localhost", &get_request("/", "localhost"))
        .expect("after the changes");
    assert_eq!(
        served.certificate, first.der,
        "new connections get the last one"
    );
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        let (served, failed) = client.join().expect("a client");
        assert!(served > 0);
        assert_eq!(failed, 0, "no request failed while the certificate changed");
    }
}

#[test]
fn bad_input_on_a_tls_listener_closes_the_connection() {
    let authority = Authority::new("Test Root");
    let leaf = authority.leaf("localhost", &["localhost"]);
    let port = free_port();
    let unit = start("tls-bad", &[("bundle", &leaf.bundle)], |_| {
        json!({
            "listeners": {address(port): {"pass": "routes", "tls": {"certificate": "bundle"}}},
            "routes": [{"action": {"return": 200}}],
            "settings": {"http": {"header_read_timeout": 2}}
        })
    });
    // Plain HTTP gets a TLS alert record and the close.
    let mut plain = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("send");
    let answer = read_to_close(&mut plain);
    assert_eq!(answer.first(), Some(&0x15), "an alert record: {answer:?}");
    // Garbage that looks like a record.
    let mut garbage = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    garbage
        .write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5])
        .expect("send");
    let _ = read_to_close(&mut garbage);
    // A client that never starts its handshake is closed at header_read_timeout.
    let started = Instant::now();
    let mut silent = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    assert!(read_to_close(&mut silent).is_empty());
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(8),
        "{waited:?}"
    );
    // A client offering no suite the listener has.
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites.retain(|suite| {
        suite.suite() == rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
    });
    let mut roots = rustls::RootCertStore::empty();
    roots.add(leaf.der.clone()).expect("a root");
    let no_common = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS12])
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    assert!(
        exchange(
            &Arc::new(no_common),
            port,
            "localhost",
            &get_request("/", "localhost")
        )
        .is_err(),
        "an ECDSA certificate cannot serve an RSA-only suite"
    );
    // The listener still serves, and nothing of this was worse than info in the log.
    let served = exchange(
        &authority.client(),
        port,
        "localhost",
        &get_request("/", "localhost"),
    )
    .expect("a good client after the bad ones");
    assert_eq!(served.reply.status, 200);
    let log = unit.log_text();
    for level in ["[alert]", "[error]", "[crit]", "[emerg]"] {
        assert!(!log.contains(level), "{level} in the log:\n{log}");
    }
}
