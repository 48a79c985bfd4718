//! The errors of this crate's command line (a bad control socket address, a bad command
//! line) and of reading a module list. (The configuration's errors are `ValidationError`, and the typed model's own
//! `BuildError` lives with the model.)
//!
//! The `Display` texts are the exact lines `unitd` prints, so the caller writes them to
//! stderr as they are, followed by a newline.

/// A control socket address that [`ControlAddress::parse`](crate::ControlAddress::parse)
/// rejects. Each variant holds the text as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// `unix:` followed by a path that does not start with `/`.
    #[error("invalid control socket address \"{0}\": a unix socket path must be absolute")]
    RelativeUnixPath(String),
    /// `unix:@` with nothing after the `@`.
    #[error("invalid control socket address \"{0}\": the abstract socket name is empty")]
    EmptyAbstractName(String),
    /// An IP address without `:port`.
    #[error("invalid control socket address \"{0}\": a port is required")]
    MissingPort(String),
    /// A port that is not a number from 1 to 65535.
    #[error("invalid control socket address \"{0}\": the port must be a number from 1 to 65535")]
    InvalidPort(String),
    /// Something before the port that is neither `*`, an IPv4 address nor a bracketed
    /// IPv6 address.
    #[error(
        "invalid control socket address \"{0}\": expected unix:/path, unix:@name, IPv4:port, *:port or [IPv6]:port"
    )]
    InvalidHost(String),
}

/// Why the command line cannot be used. `Display` gives the exact line `unitd` prints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CliError {
    /// An option that takes a value was the last word.
    #[error("option \"{option}\" requires {what}")]
    MissingValue {
        /// The option as the message names it (the new name for a deprecated synonym).
        option: &'static str,
        /// What the value is, as the message words it, e.g. `socket address`.
        what: &'static str,
    },
    /// A word that is not an option.
    #[error("unknown option \"{option}\", try \"{argv0} -h\" for available options")]
    UnknownOption {
        /// The word as given.
        option: String,
        /// The program name as invoked (argv\[0\]).
        argv0: String,
    },
    /// The `--control` value is not a valid address.
    #[error(transparent)]
    InvalidAddress(#[from] AddressError),
}

/// Why a module list (the JSON main passes in `UNITD_MODULES`) cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ModulesError {
    /// The text is not JSON.
    #[error("the module list is not JSON")]
    Json(#[from] serde_json::Error),
    /// The JSON is not an array.
    #[error("the module list is not an array")]
    NotAnArray,
    /// An entry lacks a string `type`, `version` or `file`.
    #[error("module list entry {0} is not an object of strings \"type\", \"version\" and \"file\"")]
    Entry(usize),
}
