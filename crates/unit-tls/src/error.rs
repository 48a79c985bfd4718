//! Why a PEM file is not a usable certificate bundle.

/// Why a PEM file is not a bundle.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
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
    /// A certificate that is not valid X.509 (`index` counts from 0 in file order).
    #[error("certificate {index} of the chain cannot be parsed")]
    Certificate {
        /// Its place in the chain.
        index: usize,
        /// What the parser found wrong.
        #[source]
        error: x509_parser::error::X509Error,
    },
    /// A private key TLS cannot sign with: not RSA, ECDSA P-256/P-384 or Ed25519, or
    /// not a valid key of its kind.
    #[error("the private key is not supported")]
    UnsupportedKey(#[source] rustls::Error),
    /// The private key is not the one of the first certificate's public key.
    #[error("the private key does not match the certificate")]
    KeyMismatch,
}
