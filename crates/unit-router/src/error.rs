//! The error type of the router process.

use std::io;

/// What stops the router.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// The event engine failed.
    #[error(transparent)]
    Engine(#[from] unit_engine::EngineError),
    /// Registering a socket with the engine failed.
    #[error("registering with the event engine failed")]
    Register(#[source] io::Error),
}
