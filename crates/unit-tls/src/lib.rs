//! TLS for unitd: certificate bundles and server configuration on rustls.
//!
//! - [`Bundle`]: a PEM bundle as uploaded to `/certificates/<name>`, parsed into its
//!   chain and key.
//!
//! It does no I/O: callers hand it bytes.
#![forbid(unsafe_code)]

mod bundle;

pub use bundle::{Bundle, BundleError};
