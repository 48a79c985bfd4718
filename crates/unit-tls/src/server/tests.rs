//! Handshakes between a rustls client and [`server_config`]'s server, in memory.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::Resumption;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, HandshakeKind, RootCertStore, ServerConnection};
use unit_conf::{ListenerTls, SessionTickets, TlsCommands, TlsSession, TlsVersion};

use super::*;

/// A self-signed ECDSA certificate for `names`, as a bundle, and its DER.
fn bundle(names: &[&str]) -> (Bundle, CertificateDer<'static>) {
    let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
    let generated = rcgen::generate_simple_self_signed(names).expect("a certificate");
    let pem = format!(
        "{}{}",
        generated.signing_key.serialize_pem(),
        generated.cert.pem()
    );
    let bundle = Bundle::from_pem(pem.as_bytes()).expect("a bundle");
    let der = generated.cert.der().clone();
    (bundle, der)
}

fn tls(certificates: usize, session: TlsSession, commands: TlsCommands) -> ListenerTls {
    ListenerTls {
        certificates: (0..certificates).map(|n| format!("cert{n}")).collect(),
        commands,
        session,
    }
}

/// The server configuration for `bundles`, each known by its SAN names.
fn server(
    tls: &ListenerTls,
    bundles: &[(Bundle, CertificateDer<'static>, Vec<&str>)],
) -> Arc<ServerConfig> {
    let certificates: Vec<ListenerCertificate<'_>> = bundles
        .iter()
        .enumerate()
        .map(|(n, (bundle, _, names))| ListenerCertificate {
            name: tls.certificates.get(n).map_or("extra", String::as_str),
            server_names: names.iter().map(|name| (*name).to_owned()).collect(),
            bundle,
        })
        .collect();
    server_config(tls, &certificates).expect("a server configuration")
}

/// Accepts whatever certificate the server sends, so a test sees which one it chose
/// whatever name it asked for; signatures are still checked.
#[derive(Debug)]
struct AnyCertificate;

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = provider::default_provider().signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, &algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = provider::default_provider().signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, &algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        provider::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A client keeping sessions and speaking `versions`; with `roots` it verifies the
/// server's certificate against them, without it takes any.
fn client(
    roots: &[&CertificateDer<'static>],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let builder = ClientConfig::builder_with_protocol_versions(versions);
    let mut config = if roots.is_empty() {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate))
            .with_no_client_auth()
    } else {
        let mut store = RootCertStore::empty();
        for root in roots {
            store.add((*root).clone()).expect("a root");
        }
        builder.with_root_certificates(store).with_no_client_auth()
    };
    config.resumption = Resumption::in_memory_sessions(16);
    Arc::new(config)
}

/// Runs one handshake of `client` as `name` against `server`; the server's
/// certificate and how the handshake went, or `None` when it failed.
fn handshake(
    client: &Arc<ClientConfig>,
    server: &Arc<ServerConfig>,
    name: &str,
) -> Option<(
    CertificateDer<'static>,
    HandshakeKind,
    rustls::ProtocolVersion,
)> {
    let name = ServerName::try_from(name.to_owned()).expect("a server name");
    let mut client = ClientConnection::new(Arc::clone(client), name).expect("a client");
    let mut server = ServerConnection::new(Arc::clone(server)).expect("a server");
    let mut buffer = Vec::new();
    for _ in 0..20 {
        buffer.clear();
        while client.wants_write() {
            client.write_tls(&mut buffer).expect("client writes");
        }
        let mut input = buffer.as_slice();
        while !input.is_empty() {
            server.read_tls(&mut input).expect("server reads");
        }
        server.process_new_packets().ok()?;
        buffer.clear();
        while server.wants_write() {
            server.write_tls(&mut buffer).expect("server writes");
        }
        let mut input = buffer.as_slice();
        while !input.is_empty() {
            client.read_tls(&mut input).expect("client reads");
        }
        client.process_new_packets().ok()?;
        if !client.is_handshaking() && !server.is_handshaking() && !server.wants_write() {
            break;
        }
    }
    let certificate = client.peer_certificates()?.first()?.clone();
    Some((
        certificate,
        client.handshake_kind()?,
        client.protocol_version()?,
    ))
}

const TLS12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
const BOTH: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

#[test]
fn sni_picks_exact_wildcard_then_the_first() {
    let (first, first_der) = bundle(&["default.test"]);
    let (exact, exact_der) = bundle(&["alt1.localhost.test", "localhost.test"]);
    let (wildcard, wildcard_der) = bundle(&["*.example.test"]);
    let bundles = vec![
        (first, first_der.clone(), vec!["default.test"]),
        (
            exact,
            exact_der.clone(),
            vec!["alt1.localhost.test", "localhost.test"],
        ),
        (wildcard, wildcard_der.clone(), vec!["*.EXAMPLE.test"]),
    ];
    let server = server(
        &tls(3, TlsSession::default(), TlsCommands::default()),
        &bundles,
    );
    let chosen = |name: &str, roots: &[&CertificateDer<'static>]| {
        handshake(&client(roots, BOTH), &server, name).map(|(certificate, _, _)| certificate)
    };
    // A client that verifies the chain and the name accepts what it is given.
    let all = [&first_der, &exact_der, &wildcard_der];
    assert_eq!(chosen("ALT1.localhost.test", &all), Some(exact_der.clone()));
    assert_eq!(chosen("www.example.test", &all), Some(wildcard_der.clone()));
    // The wildcard stands for exactly one label; what matches nothing gets the first.
    assert_eq!(chosen("a.b.example.test", &[]), Some(first_der.clone()));
    assert_eq!(chosen("example.test", &[]), Some(first_der.clone()));
    assert_eq!(chosen("blah", &[]), Some(first_der.clone()));
    // An IP address sends no server name.
    assert_eq!(chosen("127.0.0.1", &[]), Some(first_der.clone()));
}

#[test]
fn one_certificate_serves_every_name() {
    let (only, only_der) = bundle(&["only.test", "other.test"]);
    let server = server(
        &tls(1, TlsSession::default(), TlsCommands::default()),
        &[(only, only_der.clone(), vec!["only.test"])],
    );
    let result = handshake(&client(&[&only_der], BOTH), &server, "other.test");
    assert_eq!(
        result.map(|(certificate, _, _)| certificate),
        Some(only_der)
    );
}

fn session(cache_size: usize, timeout: u64, tickets: SessionTickets) -> TlsSession {
    TlsSession {
        cache_size,
        timeout: Duration::from_secs(timeout),
        tickets,
    }
}

#[test]
fn the_session_cache_resumes_and_forgets_the_oldest() {
    let (only, der) = bundle(&["cache.test"]);
    let bundles = [(only, der.clone(), vec!["cache.test"])];
    let no_cache = server(
        &tls(
            1,
            session(0, 300, SessionTickets::Off),
            TlsCommands::default(),
        ),
        &bundles,
    );
    let client_config = client(&[&der], TLS12);
    let kind = |server: &Arc<ServerConfig>, client: &Arc<ClientConfig>| {
        handshake(client, server, "cache.test").map(|(_, kind, _)| kind)
    };
    assert_eq!(kind(&no_cache, &client_config), Some(HandshakeKind::Full));
    assert_eq!(kind(&no_cache, &client_config), Some(HandshakeKind::Full));

    let cached = server(
        &tls(
            1,
            session(2, 300, SessionTickets::Off),
            TlsCommands::default(),
        ),
        &bundles,
    );
    let client_config = client(&[&der], TLS12);
    assert_eq!(kind(&cached, &client_config), Some(HandshakeKind::Full));
    assert_eq!(kind(&cached, &client_config), Some(HandshakeKind::Resumed));
    // Three other clients push the first one's session out of a cache of two.
    for _ in 0..3 {
        let other = client(&[&der], TLS12);
        assert_eq!(kind(&cached, &other), Some(HandshakeKind::Full));
    }
    assert_eq!(kind(&cached, &client_config), Some(HandshakeKind::Full));
}

#[test]
fn tickets_resume_across_servers_sharing_a_key() {
    let (only, der) = bundle(&["tickets.test"]);
    let bundles = [(only, der.clone(), vec!["tickets.test"])];
    let key_a = vec![7u8; 48];
    let key_b = vec![9u8; 80];
    let with_keys = |keys: Vec<Vec<u8>>| {
        server(
            &tls(
                1,
                session(0, 300, SessionTickets::Keys(keys)),
                TlsCommands::default(),
            ),
            &bundles,
        )
    };
    let kind = |server: &Arc<ServerConfig>, client: &Arc<ClientConfig>| {
        handshake(client, server, "tickets.test").map(|(_, kind, _)| kind)
    };
    for versions in [TLS12, BOTH] {
        // A ticket from a server issuing under `a` resumes on another holding `a`
        // among its keys, and not on one holding only `b`.
        let issuing_a = with_keys(vec![key_b.clone(), key_a.clone()]);
        let client_config = client(&[&der], versions);
        assert_eq!(kind(&issuing_a, &client_config), Some(HandshakeKind::Full));
        assert_eq!(
            kind(&with_keys(vec![key_b.clone()]), &client_config),
            Some(HandshakeKind::Full)
        );
        let client_config = client(&[&der], versions);
        assert_eq!(kind(&issuing_a, &client_config), Some(HandshakeKind::Full));
        assert_eq!(
            kind(&with_keys(vec![key_a.clone()]), &client_config),
            Some(HandshakeKind::Resumed),
            "{versions:?}"
        );
    }
    // `true` keys are each server's own.
    let own = || {
        server(
            &tls(
                1,
                session(0, 300, SessionTickets::On),
                TlsCommands::default(),
            ),
            &bundles,
        )
    };
    let (first, second) = (own(), own());
    let client_config = client(&[&der], TLS12);
    assert_eq!(kind(&first, &client_config), Some(HandshakeKind::Full));
    assert_eq!(kind(&first, &client_config), Some(HandshakeKind::Resumed));
    let client_config = client(&[&der], TLS12);
    assert_eq!(kind(&first, &client_config), Some(HandshakeKind::Full));
    assert_eq!(kind(&second, &client_config), Some(HandshakeKind::Full));
}

#[test]
fn expired_tickets_and_sessions_are_not_resumed() {
    let ticketer = Ticketer::new(
        vec![TicketKey::new(&[1u8; 48]).expect("a key")],
        Duration::from_secs(1),
    );
    let ticket = ticketer.encrypt(b"session").expect("sealed");
    assert_eq!(ticketer.decrypt(&ticket).as_deref(), Some(&b"session"[..]));
    let mut forged = ticket.clone();
    if let Some(last) = forged.last_mut() {
        *last ^= 1;
    }
    assert_eq!(ticketer.decrypt(&forged), None);
    let other = Ticketer::new(
        vec![TicketKey::new(&[2u8; 80]).expect("a key")],
        Duration::from_secs(1),
    );
    assert_eq!(other.decrypt(&ticket), None);

    let cache = SessionCache::new(4, Duration::from_millis(50));
    assert!(cache.put(b"id".to_vec(), b"value".to_vec()));
    assert_eq!(cache.get(b"id").as_deref(), Some(&b"value"[..]));
    std::thread::sleep(Duration::from_millis(80));
    assert_eq!(cache.get(b"id"), None);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(ticketer.decrypt(&ticket), None, "older than the timeout");
}

#[test]
fn conf_commands_choose_the_protocol() {
    let (only, der) = bundle(&["versions.test"]);
    let bundles = [(only, der.clone(), vec!["versions.test"])];
    let only_12 = TlsCommands {
        versions: vec![TlsVersion::Tls12],
        ..TlsCommands::default()
    };
    let server_12 = server(&tls(1, TlsSession::default(), only_12), &bundles);
    let server_any = server(
        &tls(1, TlsSession::default(), TlsCommands::default()),
        &bundles,
    );
    let version = |server: &Arc<ServerConfig>, versions| {
        handshake(&client(&[&der], versions), server, "versions.test")
            .map(|(_, _, version)| version)
    };
    assert_eq!(
        version(&server_12, BOTH),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    assert_eq!(
        version(&server_any, BOTH),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    assert_eq!(
        version(&server_12, &[&rustls::version::TLS13]),
        None,
        "no common version"
    );
}
