//! The unitd router process: it takes configurations from the controller and serves them.
//!
//! The router receives each new configuration over its port as an RPC from the
//! controller, parses it into unit-conf's typed model, compiles that, checks it can serve
//! it, and answers ready or error; the controller only commits a configuration the router
//! accepted.
//!
//! Not here: binding listen sockets (main binds them, privileged, and passes them over),
//! validation rules and configuration defaults (unit-conf's, applied when it parses).

#![forbid(unsafe_code)]

mod access_log;
mod applications;
mod buffers;
mod conf;
mod connection;
mod counters;
mod error;
/// Entry points for the fuzz targets; not part of the router's interface.
#[doc(hidden)]
pub mod fuzzing;
mod handler;
mod http;
mod pattern;
mod router;
mod routes;
mod share;
mod template;
mod transport;
mod tunnel;
mod upstream;
mod worker;

pub use error::RouterError;
pub use router::{RouterSetup, run};
