//! A certificate bundle as uploaded to `/certificates/<name>`: a PEM file holding a
//! certificate chain (the server's certificate first) and one unencrypted private key.
//!
//! Parsing checks what TLS will need later: every certificate is X.509 the parser
//! understands, the key is one rustls can sign with, and it belongs to the first
//! certificate. The description the control API shows and the names SNI is matched
//! against are worked out once, here, so they cannot fail later.

use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::{PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use crate::error::BundleError;
use crate::info;

/// A parsed bundle: the chain in the order of the file and its private key.
#[derive(Debug)]
pub struct Bundle {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    info: Value,
    server_names: Vec<String>,
}

impl Bundle {
    /// Parses a PEM bundle: certificates (`CERTIFICATE`) in chain order and one key
    /// (`PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`), in any order. Refuses a
    /// certificate that does not parse, a key TLS cannot use, and a key that is not the
    /// first certificate's.
    pub fn from_pem(pem: &[u8]) -> Result<Bundle, BundleError> {
        let mut chain = Vec::new();
        let mut key = None;
        for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem) {
            let (kind, der) = section.map_err(|error| BundleError::Pem(error.to_string()))?;
            let parsed = match kind {
                SectionKind::Certificate => {
                    chain.push(CertificateDer::from(der));
                    continue;
                }
                SectionKind::PrivateKey => PrivateKeyDer::Pkcs8(der.into()),
                SectionKind::RsaPrivateKey => PrivateKeyDer::Pkcs1(der.into()),
                SectionKind::EcPrivateKey => PrivateKeyDer::Sec1(der.into()),
                _ => continue,
            };
            if key.replace(parsed).is_some() {
                return Err(BundleError::MultipleKeys);
            }
        }
        let key = key.ok_or(BundleError::NoKey)?;
        if chain.is_empty() {
            return Err(BundleError::NoCertificates);
        }
        let certificates = chain
            .iter()
            .enumerate()
            .map(|(index, der)| {
                X509Certificate::from_der(der)
                    .map(|(_rest, certificate)| certificate)
                    .map_err(|error| BundleError::Certificate {
                        index,
                        error: match error {
                            x509_parser::nom::Err::Error(error)
                            | x509_parser::nom::Err::Failure(error) => error,
                            x509_parser::nom::Err::Incomplete(_) => {
                                x509_parser::error::X509Error::InvalidCertificate
                            }
                        },
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let signing_key = any_supported_type(&key).map_err(BundleError::UnsupportedKey)?;
        let first = &certificates[0];
        // Every key rustls's ring provider loads knows its public key; one that did not
        // could not be checked, so it is refused like a mismatch.
        let key_matches = signing_key
            .public_key()
            .is_some_and(|spki| spki.as_ref() == first.public_key().raw);
        if !key_matches {
            return Err(BundleError::KeyMismatch);
        }
        let info = info::describe(&certificates);
        let server_names = info::server_names(first);
        Ok(Bundle {
            chain,
            key,
            info,
            server_names,
        })
    }

    /// The certificates, the server's first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The private key.
    pub fn key(&self) -> &PrivateKeyDer<'static> {
        &self.key
    }

    /// The bundle as `GET /certificates/<name>` shows it, in Unit's shape:
    /// `{"key": "RSA (2048 bits)", "chain": [{"subject", "issuer", "validity"}]}`.
    pub fn info(&self) -> Value {
        self.info.clone()
    }

    /// The names a client's SNI is matched against, lowercased: the DNS names of the
    /// first certificate's subjectAltName when it has that extension, else its common
    /// name, else none. Wildcards (`*.example.com`) stay as written.
    pub fn server_names(&self) -> Vec<String> {
        self.server_names.clone()
    }
}

#[cfg(test)]
mod tests;
