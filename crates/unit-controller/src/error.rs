//! The error type of the controller process.

use std::io;

/// What stops the controller.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// The event engine failed.
    #[error(transparent)]
    Engine(#[from] unit_engine::EngineError),
    /// A socket operation on the control socket failed.
    #[error("control socket: {0}")]
    Socket(#[source] io::Error),
    /// The port to main failed.
    #[error(transparent)]
    Port(#[from] unit_port::PortError),
}
