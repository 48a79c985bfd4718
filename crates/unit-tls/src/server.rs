//! A listener's TLS server configuration: its certificates chosen by SNI as Unit chooses
//! them, the protocol versions, suites and groups its `conf_commands` allow, the session
//! cache and the session tickets of its `session` object.
//!
//! Certificate choice follows Unit: with one certificate it is always used; with several,
//! each is known by the DNS names of its subject alternative names (or its common name
//! when it has none), lowercased, and a wildcard `*.example.com` stands for one more
//! label in front of `.example.com`. A client's server name is looked up as it is, then
//! with its first label replaced by the wildcard; no match, or no server name, gets the
//! first certificate. A name that two certificates share belongs to the later one.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ring::aead::{AES_128_GCM, AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use rustls::crypto::ring as provider;
use rustls::server::StoresServerSessions;
use rustls::server::{ClientHello, NoServerSessionStorage, ProducesTickets, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, SupportedCipherSuite, SupportedProtocolVersion};
use unit_conf::{ListenerTls, SessionTickets, Tls12Suite, Tls13Suite, TlsGroup, TlsVersion};
use unit_engine::HashMap;

use crate::Bundle;

/// Why a listener's TLS configuration cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A certificate's key is of a kind rustls cannot sign with.
    #[error("the key of certificate \"{name}\" cannot be used: {reason}")]
    Key {
        /// The certificate's name.
        name: String,
        /// What rustls says.
        reason: String,
    },
    /// rustls refuses the combination of versions, suites and groups.
    #[error("the TLS settings cannot be used: {0}")]
    Settings(String),
    /// The system's random source failed.
    #[error("no random bytes for the session ticket key")]
    Random,
    /// A session ticket key is not 48 or 80 bytes long.
    #[error("a session ticket key of {0} bytes, not 48 or 80")]
    TicketKey(usize),
}

/// One certificate a listener serves: its name in the store, the names it answers to,
/// and its bundle.
#[derive(Debug)]
pub struct ListenerCertificate<'a> {
    /// The name in `/certificates`.
    pub name: &'a str,
    /// The names SNI is matched against ([`Bundle::server_names`]).
    pub server_names: Vec<String>,
    /// The chain and key.
    pub bundle: &'a Bundle,
}

/// Makes the rustls configuration of a listener from its `tls` object and its
/// certificates, in the order the object names them.
pub fn server_config(
    tls: &ListenerTls,
    certificates: &[ListenerCertificate<'_>],
) -> Result<Arc<ServerConfig>, ServerError> {
    let resolver = SniResolver::new(certificates)?;
    let commands = &tls.commands;
    let mut provider = provider::default_provider();
    if let Some(suites) = &commands.tls12_suites {
        let tls13: Vec<SupportedCipherSuite> = provider
            .cipher_suites
            .iter()
            .copied()
            .filter(|suite| suite.tls13().is_some())
            .collect();
        provider.cipher_suites = tls13;
        provider
            .cipher_suites
            .extend(suites.iter().map(|suite| tls12_suite(*suite)));
    }
    if let Some(suites) = &commands.tls13_suites {
        let tls12: Vec<SupportedCipherSuite> = provider
            .cipher_suites
            .iter()
            .copied()
            .filter(|suite| suite.tls13().is_none())
            .collect();
        provider.cipher_suites = suites.iter().map(|suite| tls13_suite(*suite)).collect();
        provider.cipher_suites.extend(tls12);
    }
    if let Some(groups) = &commands.groups {
        provider.kx_groups = groups.iter().map(|group| kx_group(*group)).collect();
    }
    let versions: Vec<&'static SupportedProtocolVersion> = commands
        .versions
        .iter()
        .map(|version| match version {
            TlsVersion::Tls12 => &rustls::version::TLS12,
            TlsVersion::Tls13 => &rustls::version::TLS13,
        })
        .collect();
    let mut config = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&versions)
        .map_err(|error| ServerError::Settings(error.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.ignore_client_order = commands.server_preference;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let session = &tls.session;
    config.session_storage = if session.cache_size == 0 {
        Arc::new(NoServerSessionStorage {})
    } else {
        Arc::new(SessionCache::new(session.cache_size, session.timeout))
    };
    let keys = match &session.tickets {
        SessionTickets::Off => Vec::new(),
        SessionTickets::On => vec![random_ticket_key()?],
        SessionTickets::Keys(keys) => keys
            .iter()
            .map(|key| TicketKey::new(key))
            .collect::<Result<_, _>>()?,
    };
    if !keys.is_empty() {
        config.ticketer = Arc::new(Ticketer::new(keys, session.timeout));
    }
    // Without tickets or a cache nothing can be resumed, so TLS 1.3 sends no tickets.
    if session.cache_size == 0 && matches!(session.tickets, SessionTickets::Off) {
        config.send_tls13_tickets = 0;
    }
    Ok(Arc::new(config))
}

fn tls12_suite(suite: Tls12Suite) -> SupportedCipherSuite {
    use provider::cipher_suite as suites;
    match suite {
        Tls12Suite::EcdheEcdsaAes256GcmSha384 => suites::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        Tls12Suite::EcdheEcdsaAes128GcmSha256 => suites::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        Tls12Suite::EcdheEcdsaChacha20Poly1305 => {
            suites::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        Tls12Suite::EcdheRsaAes256GcmSha384 => suites::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        Tls12Suite::EcdheRsaAes128GcmSha256 => suites::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        Tls12Suite::EcdheRsaChacha20Poly1305 => suites::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    }
}

fn tls13_suite(suite: Tls13Suite) -> SupportedCipherSuite {
    use provider::cipher_suite as suites;
    match suite {
        Tls13Suite::Aes256GcmSha384 => suites::TLS13_AES_256_GCM_SHA384,
        Tls13Suite::Aes128GcmSha256 => suites::TLS13_AES_128_GCM_SHA256,
        Tls13Suite::Chacha20Poly1305Sha256 => suites::TLS13_CHACHA20_POLY1305_SHA256,
    }
}

fn kx_group(group: TlsGroup) -> &'static dyn rustls::crypto::SupportedKxGroup {
    match group {
        TlsGroup::X25519 => provider::kx_group::X25519,
        TlsGroup::P256 => provider::kx_group::SECP256R1,
        TlsGroup::P384 => provider::kx_group::SECP384R1,
    }
}

// === SNI ===

/// Chooses a listener's certificate by the client's server name.
#[derive(Debug)]
struct SniResolver {
    /// The first certificate, served when no name matches.
    default: Arc<CertifiedKey>,
    /// Exact names, and wildcards stored without their `*` (`.example.com`); empty when
    /// the listener has one certificate.
    names: HashMap<String, Arc<CertifiedKey>>,
}

impl SniResolver {
    fn new(certificates: &[ListenerCertificate<'_>]) -> Result<SniResolver, ServerError> {
        let mut keys = Vec::with_capacity(certificates.len());
        for certificate in certificates {
            let signing_key = provider::sign::any_supported_type(certificate.bundle.key())
                .map_err(|error| ServerError::Key {
                    name: certificate.name.to_owned(),
                    reason: error.to_string(),
                })?;
            keys.push(Arc::new(CertifiedKey::new(
                certificate.bundle.chain().to_vec(),
                signing_key,
            )));
        }
        let Some(default) = keys.first().cloned() else {
            return Err(ServerError::Settings("no certificate".to_owned()));
        };
        let mut names = HashMap::default();
        if certificates.len() > 1 {
            for (certificate, key) in certificates.iter().zip(&keys) {
                for name in &certificate.server_names {
                    let name = name.to_ascii_lowercase();
                    let stored = match name.strip_prefix('*') {
                        // `*` must be followed by a dot; Unit ignores the name otherwise.
                        Some(rest) if !rest.starts_with('.') => continue,
                        Some(rest) => rest.to_owned(),
                        None => name,
                    };
                    names.insert(stored, Arc::clone(key));
                }
            }
        }
        Ok(SniResolver { default, names })
    }

    fn lookup(&self, server_name: &str) -> Option<&Arc<CertifiedKey>> {
        if self.names.is_empty() || server_name.is_empty() || server_name.starts_with('.') {
            return None;
        }
        let name = server_name.to_ascii_lowercase();
        if let Some(key) = self.names.get(&name) {
            return Some(key);
        }
        let dot = name[1..].find('.')? + 1;
        self.names.get(&name[dot..])
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let chosen = client_hello
            .server_name()
            .and_then(|name| self.lookup(name))
            .unwrap_or(&self.default);
        Some(Arc::clone(chosen))
    }
}

// === Session cache ===

/// Sessions kept for resumption by id: at most `capacity`, the oldest dropped first,
/// each for `timeout` after it was stored. Shared by every thread serving the listener.
#[derive(Debug)]
struct SessionCache {
    capacity: usize,
    timeout: Duration,
    sessions: Mutex<CachedSessions>,
}

#[derive(Debug, Default)]
struct CachedSessions {
    by_id: HashMap<Vec<u8>, (Instant, Vec<u8>)>,
    /// Ids in the order they were stored; an id whose session was replaced or taken may
    /// still be here, and is skipped when it comes up.
    order: VecDeque<(Instant, Vec<u8>)>,
}

impl SessionCache {
    fn new(capacity: usize, timeout: Duration) -> SessionCache {
        SessionCache {
            capacity,
            timeout,
            sessions: Mutex::new(CachedSessions::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CachedSessions> {
        // A panic while holding the lock leaves nothing half-changed that matters here.
        self.sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl StoresServerSessions for SessionCache {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let now = Instant::now();
        let mut sessions = self.lock();
        sessions.by_id.insert(key.clone(), (now, value));
        sessions.order.push_back((now, key));
        while sessions.by_id.len() > self.capacity
            || sessions.order.len() > self.capacity.saturating_mul(2).max(16)
        {
            let Some((stored, oldest)) = sessions.order.pop_front() else {
                break;
            };
            if sessions
                .by_id
                .get(&oldest)
                .is_some_and(|(at, _)| *at == stored)
            {
                sessions.by_id.remove(&oldest);
            }
        }
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let mut sessions = self.lock();
        let (stored, value) = sessions.by_id.get(key)?;
        if stored.elapsed() >= self.timeout {
            sessions.by_id.remove(key);
            return None;
        }
        Some(value.clone())
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        let (stored, value) = self.lock().by_id.remove(key)?;
        (stored.elapsed() < self.timeout).then_some(value)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

// === Session tickets ===

/// The length of a ticket key's name, which starts every ticket it sealed.
const KEY_NAME_LEN: usize = 16;

/// One ticket key as Unit lays it out: 16 bytes of name, then for a 48-byte key a
/// 16-byte AES key (and 16 bytes Unit uses for HMAC), for an 80-byte key 32 bytes for
/// HMAC and a 32-byte AES key. Tickets are sealed with AES-GCM under the AES key, which
/// authenticates them as the HMAC does in Unit's CBC scheme.
struct TicketKey {
    name: [u8; KEY_NAME_LEN],
    key: LessSafeKey,
}

impl std::fmt::Debug for TicketKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketKey").finish_non_exhaustive()
    }
}

impl TicketKey {
    /// A key of 48 or 80 bytes.
    fn new(bytes: &[u8]) -> Result<TicketKey, ServerError> {
        let (algorithm, aes) = match bytes.len() {
            48 => (&AES_128_GCM, &bytes[16..32]),
            80 => (&AES_256_GCM, &bytes[48..80]),
            other => return Err(ServerError::TicketKey(other)),
        };
        let mut name = [0; KEY_NAME_LEN];
        name.copy_from_slice(&bytes[..KEY_NAME_LEN]);
        let key =
            UnboundKey::new(algorithm, aes).map_err(|_| ServerError::TicketKey(bytes.len()))?;
        Ok(TicketKey {
            name,
            key: LessSafeKey::new(key),
        })
    }
}

/// A fresh random 80-byte key, for `tickets: true`.
fn random_ticket_key() -> Result<TicketKey, ServerError> {
    let mut bytes = [0u8; 80];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| ServerError::Random)?;
    TicketKey::new(&bytes)
}

/// Seals tickets under the last key and opens them under whichever key named them.
/// A ticket carries the time it was made and is refused once `timeout` has passed.
#[derive(Debug)]
struct Ticketer {
    keys: Vec<TicketKey>,
    timeout: Duration,
    random: SystemRandom,
}

impl Ticketer {
    fn new(keys: Vec<TicketKey>, timeout: Duration) -> Ticketer {
        Ticketer {
            keys,
            timeout,
            random: SystemRandom::new(),
        }
    }
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

impl ProducesTickets for Ticketer {
    fn enabled(&self) -> bool {
        true
    }

    fn lifetime(&self) -> u32 {
        u32::try_from(self.timeout.as_secs()).unwrap_or(u32::MAX)
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let key = self.keys.last()?;
        let mut nonce = [0u8; NONCE_LEN];
        self.random.fill(&mut nonce).ok()?;
        let mut ticket = Vec::with_capacity(KEY_NAME_LEN + NONCE_LEN + 8 + plain.len() + 16);
        ticket.extend_from_slice(&key.name);
        ticket.extend_from_slice(&nonce);
        let sealed_from = ticket.len();
        ticket.extend_from_slice(&unix_seconds().to_be_bytes());
        ticket.extend_from_slice(plain);
        let mut sealed = ticket.split_off(sealed_from);
        key.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&key.name),
                &mut sealed,
            )
            .ok()?;
        ticket.extend_from_slice(&sealed);
        Some(ticket)
    }

    fn decrypt(&self, ticket: &[u8]) -> Option<Vec<u8>> {
        let (name, rest) = ticket.split_at_checked(KEY_NAME_LEN)?;
        let (nonce, sealed) = rest.split_at_checked(NONCE_LEN)?;
        let key = self.keys.iter().find(|key| key.name == name)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut sealed = sealed.to_vec();
        let plain = key
            .key
            .open_in_place(nonce, Aad::from(name), &mut sealed)
            .ok()?;
        let (made, session) = plain.split_at_checked(8)?;
        let made = u64::from_be_bytes(made.try_into().ok()?);
        let age = unix_seconds().saturating_sub(made);
        (age < self.timeout.as_secs()).then(|| session.to_vec())
    }
}

#[cfg(test)]
mod tests;
