//! Certificates made for a test (a root and leaves it signs, with rcgen) and an HTTPS
//! client on rustls that verifies what unitd sends.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, HandshakeKind, RootCertStore, StreamOwned};

use super::TestUnit;
use super::http::{HttpReply, read_reply};

/// A certificate authority that signs the test's server certificates.
pub(crate) struct Authority {
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
    pem: String,
}

/// A server certificate: the PEM bundle unitd is given (key, leaf, authority) and the
/// leaf's DER, to tell which certificate a handshake got.
pub(crate) struct Leaf {
    pub(crate) bundle: String,
    pub(crate) der: CertificateDer<'static>,
}

impl Authority {
    pub(crate) fn new(common_name: &str) -> Authority {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let key = KeyPair::generate().expect("a CA key");
        let certificate = params.self_signed(&key).expect("the CA certificate");
        Authority {
            issuer: Issuer::new(params, key),
            der: certificate.der().clone(),
            pem: certificate.pem(),
        }
    }

    /// A leaf with common name `common_name` and DNS names `names`, signed by this
    /// authority; its bundle holds the key, the leaf and the authority's certificate.
    pub(crate) fn leaf(&self, common_name: &str, names: &[&str]) -> Leaf {
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("leaf parameters");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let key = KeyPair::generate().expect("a leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("the leaf");
        Leaf {
            bundle: format!("{}{}{}", key.serialize_pem(), cert.pem(), self.pem),
            der: cert.der().clone(),
        }
    }

    /// A client that trusts this authority and keeps sessions for resumption.
    pub(crate) fn client(&self) -> Arc<ClientConfig> {
        client_config(
            &self.der,
            &[&rustls::version::TLS13, &rustls::version::TLS12],
        )
    }

    /// The same, speaking TLS 1.2 only.
    pub(crate) fn client_tls12(&self) -> Arc<ClientConfig> {
        client_config(&self.der, &[&rustls::version::TLS12])
    }
}

fn client_config(
    root: &CertificateDer<'static>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(root.clone()).expect("the root");
    let config = ClientConfig::builder_with_protocol_versions(versions)
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// Uploads `bundle` as certificate `name`; the control API's answer.
pub(crate) fn upload(unit: &TestUnit, name: &str, bundle: &str) -> super::Response {
    unit.request("PUT", &format!("/certificates/{name}"), Some(bundle))
}

/// What one HTTPS exchange saw.
pub(crate) struct TlsReply {
    pub(crate) reply: HttpReply,
    /// The certificate the server presented.
    pub(crate) certificate: CertificateDer<'static>,
    pub(crate) kind: HandshakeKind,
    pub(crate) version: rustls::ProtocolVersion,
}

/// Connects to `port` as `server_name` (SNI; an IP address sends none), sends
/// `request` and reads one answer.
pub(crate) fn exchange(
    config: &Arc<ClientConfig>,
    port: u16,
    server_name: &str,
    request: &str,
) -> std::io::Result<TlsReply> {
    let mut stream = connect(config, port, server_name)?;
    stream.write_all(request.as_bytes())?;
    stream.flush()?;
    let reply = read_reply(&mut stream, false)?;
    let connection = &stream.conn;
    let certificate = connection
        .peer_certificates()
        .and_then(|chain| chain.first())
        .cloned()
        .ok_or_else(|| std::io::Error::other("no certificate"))?;
    Ok(TlsReply {
        reply,
        certificate,
        kind: connection
            .handshake_kind()
            .ok_or_else(|| std::io::Error::other("no handshake"))?,
        version: connection
            .protocol_version()
            .ok_or_else(|| std::io::Error::other("no version"))?,
    })
}

/// A TLS connection to `port` with its handshake done.
pub(crate) fn connect(
    config: &Arc<ClientConfig>,
    port: u16,
    server_name: &str,
) -> std::io::Result<StreamOwned<ClientConnection, TcpStream>> {
    let name = ServerName::try_from(server_name.to_owned())
        .map_err(|error| std::io::Error::other(error.to_string()))?;
    let connection =
        ClientConnection::new(Arc::clone(config), name).map_err(std::io::Error::other)?;
    let socket = TcpStream::connect(("127.0.0.1", port))?;
    socket.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut stream = StreamOwned::new(connection, socket);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(stream)
}

/// A GET of `path` with `Connection: close`.
pub(crate) fn get_request(path: &str, host: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
}

/// Reads what the server sends until it closes (or 10 s pass), as raw bytes.
pub(crate) fn read_to_close(socket: &mut TcpStream) -> Vec<u8> {
    let _ = socket.set_read_timeout(Some(Duration::from_secs(10)));
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(read) = socket.read(&mut buffer) {
        if read == 0 {
            break;
        }
        received.extend_from_slice(&buffer[..read]);
    }
    received
}
