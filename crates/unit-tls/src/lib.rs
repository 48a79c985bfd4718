//! TLS for unitd: certificate bundles and server configuration on rustls.
//!
//! - [`Bundle`]: a PEM bundle as uploaded to `/certificates/<name>`, parsed into its
//!   chain and key and checked (every certificate parses, the key signs and is the
//!   first certificate's), with what the control API shows of it ([`Bundle::info`]) and
//!   the names SNI is matched against ([`Bundle::server_names`]).
//! - [`server_config`]: a listener's rustls configuration from its `tls` object and its
//!   bundles: certificates chosen by SNI, `conf_commands`, the session cache and tickets.
//!
//! It does no I/O: callers hand it bytes.
#![forbid(unsafe_code)]

mod bundle;
mod error;
mod info;
mod server;

pub use bundle::Bundle;
pub use error::BundleError;
pub use server::{ListenerCertificate, ServerError, server_config};
