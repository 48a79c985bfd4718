//! What a child is started with: its start specification, the descriptors handed to
//! it, and, in the child, adopting them.
//!
//! A child is unitd itself in a role (the controller, the router), or a program of the
//! user's (an application), which the `exec` role reaches from a [`ProgramSpec`] in
//! its environment ([`crate::run_program`]); descriptors go over by number, named in
//! [`INHERITED_FDS_ENV`].

use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use unit_engine::HashMap;

use crate::credentials::Credentials;
use crate::error::ProcessError;
use crate::isolation::Isolation;
use crate::sys::adopt_inherited_fd;

/// The environment variable naming the role a re-executed unitd plays.
pub const ROLE_ENV: &str = "UNITD_ROLE";
/// The environment variable listing handed-over descriptors as `name=fd,name=fd`.
pub const INHERITED_FDS_ENV: &str = "UNITD_FDS";
/// The role of the trampoline that executes a program.
pub const EXEC_ROLE: &str = "exec";
/// The environment variable carrying a [`ProgramSpec`] to the trampoline, as JSON.
pub(crate) const PROGRAM_ENV: &str = "UNITD_PROGRAM";
/// The name the trampoline finds a program's listen socket under.
pub(crate) const LISTEN_FD_NAME: &str = "listen";
/// The name a program's readiness pipe is handed over under.
pub(crate) const READY_FD_NAME: &str = "ready";

/// How to start (and restart) a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartSpec {
    /// Its title, shown by `ps` (`argv[0]`) until it executes a program.
    pub title: String,
    /// What it runs.
    pub launch: Launch,
    /// Variables to set in the environment of unitd in its role.
    pub env: Vec<(String, String)>,
    /// Variables of ours it must not see.
    pub env_remove: Vec<String>,
}

/// What a child runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launch {
    /// unitd again, in this role (the value of [`ROLE_ENV`]).
    Role(String),
    /// A program of the user's.
    Program(ProgramSpec),
}

/// A program to execute, with everything it is started with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramSpec {
    /// The file to execute (a path, or a name looked up in the `PATH` it is given).
    pub executable: String,
    /// Its `argv[0]`; the executable when `None`.
    pub argv0: Option<String>,
    /// Its arguments after `argv[0]`.
    pub arguments: Vec<String>,
    /// Its whole environment: nothing of unitd's own leaks into it.
    pub environment: Vec<(String, String)>,
    /// Where it starts.
    pub working_directory: Option<PathBuf>,
    /// Who it runs as, when main is root.
    pub credentials: Option<Credentials>,
    /// Files for its standard output and error; `None` keeps main's.
    pub stdout: Option<PathBuf>,
    /// See `stdout`.
    pub stderr: Option<PathBuf>,
    /// How it is isolated; `None` starts it through the `exec` role, `Some` clones it
    /// from main into its namespaces (which only main, with one thread, may do).
    pub isolation: Option<Box<Isolation>>,
}

/// Descriptors to hand a child, each under a name the child asks for.
#[derive(Debug, Default)]
pub struct InheritedFds<'a> {
    fds: Vec<(&'static str, BorrowedFd<'a>)>,
}

impl<'a> InheritedFds<'a> {
    /// Nothing to hand over yet.
    pub fn new() -> InheritedFds<'a> {
        InheritedFds::default()
    }

    /// Hands `fd` over as `name`.
    pub fn with(mut self, name: &'static str, fd: BorrowedFd<'a>) -> InheritedFds<'a> {
        self.fds.push((name, fd));
        self
    }

    /// Hands a program its listen socket: descriptor 3 once it runs, announced with
    /// `LISTEN_FDS=1`.
    pub fn with_listen_socket(self, fd: BorrowedFd<'a>) -> InheritedFds<'a> {
        self.with(LISTEN_FD_NAME, fd)
    }

    /// Hands a program the write end of a pipe to report readiness on: descriptor 4
    /// once it runs, announced with `UNITD_READY_FD=4`.
    pub fn with_ready_pipe(self, fd: BorrowedFd<'a>) -> InheritedFds<'a> {
        self.with(READY_FD_NAME, fd)
    }

    /// Every descriptor with the name it goes under.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&'static str, BorrowedFd<'a>)> + '_ {
        self.fds.iter().copied()
    }

    /// The descriptor handed over as `name`.
    pub(crate) fn get(&self, name: &str) -> Option<BorrowedFd<'a>> {
        self.fds
            .iter()
            .find(|(fd_name, _)| *fd_name == name)
            .map(|(_, fd)| *fd)
    }
}

/// Guards against adopting the handed-over descriptors twice.
static INHERITED_TAKEN: AtomicBool = AtomicBool::new(false);

/// In a child: adopts the descriptors its parent handed over, by name. Only the first
/// call returns them; later calls return an empty map.
pub fn take_inherited_fds() -> Result<HashMap<String, OwnedFd>, ProcessError> {
    let mut fds = HashMap::default();
    if INHERITED_TAKEN.swap(true, Ordering::SeqCst) {
        return Ok(fds);
    }
    let listing = std::env::var(INHERITED_FDS_ENV).unwrap_or_default();
    for entry in listing.split(',').filter(|entry| !entry.is_empty()) {
        let bad = || ProcessError::BadInheritedFds(listing.clone());
        let (name, number) = entry.split_once('=').ok_or_else(bad)?;
        let raw_fd = number.parse().map_err(|_| bad())?;
        let fd = adopt_inherited_fd(raw_fd).ok_or_else(bad)?;
        fds.insert(name.to_owned(), fd);
    }
    Ok(fds)
}

// === impl ProgramSpec ===

impl ProgramSpec {
    /// Encodes for the trampoline's environment. The isolation is left out: an
    /// isolated program never goes through the trampoline.
    pub(crate) fn to_json(&self) -> String {
        let pairs = |pairs: &[(String, String)]| -> Vec<serde_json::Value> {
            pairs
                .iter()
                .map(|(name, value)| serde_json::json!([name, value]))
                .collect()
        };
        let path = |path: &Option<PathBuf>| path.as_ref().map(|path| path.display().to_string());
        serde_json::json!({
            "executable": self.executable,
            "argv0": self.argv0,
            "arguments": self.arguments,
            "environment": pairs(&self.environment),
            "working_directory": path(&self.working_directory),
            "credentials": self.credentials.as_ref().map(Credentials::to_env),
            "stdout": path(&self.stdout),
            "stderr": path(&self.stderr),
        })
        .to_string()
    }

    /// Decodes what [`ProgramSpec::to_json`] wrote.
    pub(crate) fn from_json(text: &str) -> Option<ProgramSpec> {
        let value: serde_json::Value = serde_json::from_str(text).ok()?;
        let string = |name: &str| value.get(name)?.as_str().map(str::to_owned);
        let path = |name: &str| string(name).map(PathBuf::from);
        let strings = |items: &serde_json::Value| -> Option<Vec<String>> {
            items
                .as_array()?
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect()
        };
        let environment = value
            .get("environment")?
            .as_array()?
            .iter()
            .map(|pair| match strings(pair)?.as_slice() {
                [name, value] => Some((name.clone(), value.clone())),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        let credentials = match value.get("credentials")? {
            serde_json::Value::Null => None,
            credentials => Some(Credentials::from_env(credentials.as_str()?)?),
        };
        Some(ProgramSpec {
            executable: string("executable")?,
            argv0: string("argv0"),
            arguments: strings(value.get("arguments")?)?,
            environment,
            working_directory: path("working_directory"),
            credentials,
            stdout: path("stdout"),
            stderr: path("stderr"),
            isolation: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use nix::unistd::{Gid, Uid};

    use super::*;

    #[test]
    fn program_specs_round_trip() {
        let full = ProgramSpec {
            executable: "/srv/app/bin/server".into(),
            argv0: Some("unit: \"app\" application".into()),
            arguments: vec!["--port".into(), "fd://3".into(), "a b".into()],
            environment: vec![
                ("PATH".into(), "/usr/bin".into()),
                ("E".into(), "=x".into()),
            ],
            working_directory: Some("/srv/app".into()),
            credentials: Some(Credentials {
                user: "www".into(),
                uid: Uid::from_raw(33),
                gid: Gid::from_raw(33),
            }),
            stdout: Some("/var/log/app.out".into()),
            stderr: None,
            isolation: None,
        };
        assert_eq!(ProgramSpec::from_json(&full.to_json()), Some(full));
        let bare = ProgramSpec {
            executable: "app".into(),
            argv0: None,
            arguments: Vec::new(),
            environment: Vec::new(),
            working_directory: None,
            credentials: None,
            stdout: None,
            stderr: None,
            isolation: None,
        };
        assert_eq!(ProgramSpec::from_json(&bare.to_json()), Some(bare));
        assert_eq!(ProgramSpec::from_json("{}"), None);
        assert_eq!(ProgramSpec::from_json("not json"), None);
    }
}
