//! A certificate bundle as uploaded to `/certificates/<name>`: a PEM file holding a
//! certificate chain (the server's certificate first) and one unencrypted private key.

use rustls::pki_types::pem::{PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why a PEM file is not a bundle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// The PEM syntax is broken.
    #[error("the PEM data is malformed: {0}")]
    Pem(String),
    /// More than one private key.
    #[error("multiple private keys in PEM")]
    MultipleKeys,
    /// No private key.
    #[error("no key found")]
    NoKey,
    /// No certificate.
    #[error("no certificates found")]
    NoCertificates,
}

/// A parsed bundle: the chain in the order of the file and its private key.
#[derive(Debug)]
pub struct Bundle {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Bundle {
    /// Parses a PEM bundle: certificates (`CERTIFICATE`) in chain order and one key
    /// (`PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`), in any order.
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
        Ok(Bundle { chain, key })
    }

    /// The certificates, the server's first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The private key.
    pub fn key(&self) -> &PrivateKeyDer<'static> {
        &self.key
    }
}
