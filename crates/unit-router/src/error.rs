//! The error types of the router process: what stops it, and why a configuration
//! cannot be compiled.

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

/// Why a configuration unit-conf accepted cannot be served. Most variants are checks
/// the validator makes too, repeated where the router builds what it matches with, so
/// the two can never silently disagree; the message goes back to the controller, which
/// answers it with a 500.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CompileError {
    /// A `~` pattern the regex engine refuses (with the case folding of its condition).
    #[error("the regular expression \"{expression}\" is invalid: {error}")]
    Regex {
        /// The text after the `~`.
        expression: String,
        /// Why the engine refuses it.
        error: regex::Error,
    },
    /// A wildcard pattern with `**`.
    #[error("the match pattern \"{pattern}\" contains double \"*\" markers")]
    DoubleStar {
        /// The pattern after its `!`.
        pattern: String,
    },
    /// A wildcard pattern whose percent escapes do not decode.
    #[error("the match pattern \"{pattern}\" has an invalid percent-encoded sequence")]
    PatternEncoding {
        /// The pattern after its `!`.
        pattern: String,
    },
    /// An `arguments` name whose percent escapes do not decode to UTF-8.
    #[error("the name \"{name}\" has an invalid percent-encoded sequence")]
    FieldNameEncoding {
        /// The name as configured.
        name: String,
    },
    /// A listener with neither `pass` nor `application`.
    #[error("listener \"{address}\" has nothing to pass to")]
    NoPass {
        /// The listener's address.
        address: String,
    },
    /// A listener whose socket main did not hand over.
    #[error("no socket for \"{address}\"")]
    NoSocket {
        /// The listener's address.
        address: String,
    },
    /// A `tls` listener whose TLS configuration was not made.
    #[error("no TLS configuration for \"{address}\"")]
    NoTls {
        /// The listener's address.
        address: String,
    },
}
