//! Application processes as main starts them for the router: each gets a listening unix
//! socket of its own, made by main in a private directory and handed to the process as
//! descriptor 3, a clean environment, and the configured user, group, working directory
//! and output files.
//!
//! The directory (`<tmpdir>/unit-apps.<main pid>`, mode 0700) belongs to the router's
//! user, so the router can connect to every socket in it and no other user can, whatever
//! user an application runs as; the application itself needs no path, it has the
//! socket. A process's socket file is removed when the process is gone, and the
//! directory when main exits.
//!
//! An application with an `isolation` object gets it resolved (`crate::isolation`):
//! its process is then cloned from main into its namespaces, and what main mounted or
//! made for it is let go of when it is gone.
//!
//! What it does not do: decide when to start or stop processes (the router does) or
//! supervise them (the supervisor does).

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, UnixAddr, bind, listen, socket,
};
use nix::unistd::{Uid, User, chown, geteuid};
use unit_conf::Settings;
use unit_port::AppStart;
use unit_process::{Credentials, Launch, ProgramSpec, StartSpec};

use crate::error::RuntimeError;
use crate::isolation::{Held, Isolations, StartContext};

/// The `PATH` an application process starts with, unless its configuration sets one.
pub(crate) const BASE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The listen backlog of an application's socket.
const APP_BACKLOG: i32 = 511;

/// Where main makes the sockets of application processes, and what it starts them with.
#[derive(Debug)]
pub(crate) struct Applications {
    dir: PathBuf,
    /// The router's user and group, who own `dir` when main runs as root.
    dir_owner: Option<(Uid, nix::unistd::Gid)>,
    /// The sockets made so far; each name is the next number.
    next_socket: u64,
    /// unitd's `--user` and `--group`, the default of every application.
    default_user: String,
    default_group: Option<String>,
    /// Whether main runs as root, so applications run as their users.
    privileged: bool,
    /// Whether unitd stays in the foreground: applications keep its stdout and stderr
    /// then, whatever their configuration says, as in Unit.
    no_daemon: bool,
    /// What isolated processes were given, and the mounts main made for them.
    isolations: Isolations,
}

/// An application process ready to be started: its socket and its start specification.
#[derive(Debug)]
pub(crate) struct PreparedStart {
    pub(crate) socket: OwnedFd,
    pub(crate) socket_path: PathBuf,
    pub(crate) spec: StartSpec,
    /// The process's standard error is the unit log (not a file of its own).
    pub(crate) stderr_is_log: bool,
    /// What main holds for it when it is isolated, for [`Applications::started`] or
    /// [`Applications::not_started`].
    pub(crate) held: Option<Held>,
}

impl Applications {
    /// Makes the socket directory, owned by the router's user (`router_credentials`
    /// when main is root).
    pub(crate) fn create(
        settings: &Settings,
        router_credentials: Option<&Credentials>,
        main_pid: nix::unistd::Pid,
    ) -> Result<Applications, RuntimeError> {
        let dir = settings.tmpdir.join(format!("unit-apps.{main_pid}"));
        let _ = fs::remove_dir_all(&dir);
        let applications = Applications {
            dir,
            dir_owner: router_credentials.map(|credentials| (credentials.uid, credentials.gid)),
            next_socket: 0,
            default_user: settings.user.clone(),
            default_group: settings.group.clone(),
            privileged: geteuid().is_root(),
            no_daemon: settings.no_daemon,
            isolations: Isolations::default(),
        };
        applications.make_dir()?;
        Ok(applications)
    }

    /// Makes the socket directory if it is not there (a cleaner may have removed what
    /// it found in the temporary directory while unitd ran).
    fn make_dir(&self) -> Result<(), RuntimeError> {
        let dir = &self.dir;
        match fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
            Err(error) => return Err(RuntimeError::path("mkdir", dir, error)),
        }
        if let Some((uid, gid)) = self.dir_owner {
            chown(dir, Some(uid), Some(gid))
                .map_err(|errno| RuntimeError::path("chown", dir, errno.into()))?;
        }
        Ok(())
    }

    /// Takes what discovery found each language runner needs in a root directory.
    pub(crate) fn set_language_deps(
        &mut self,
        language_deps: unit_engine::HashMap<PathBuf, Vec<PathBuf>>,
    ) {
        self.isolations.set_language_deps(language_deps);
    }

    /// Resolves what `start` asks for and makes the process's socket; the errors are
    /// the log lines that say why the process cannot start.
    pub(crate) fn prepare(&mut self, start: &AppStart) -> Result<PreparedStart, RuntimeError> {
        let user = start.user.as_deref().unwrap_or(&self.default_user);
        let group = start.group.as_deref().or(self.default_group.as_deref());
        let credentials = if self.privileged {
            Some(Credentials::resolve(user, group)?)
        } else {
            None
        };
        let resolved = match &start.isolation {
            None => None,
            Some(isolation) => self.isolations.resolve(
                isolation,
                StartContext {
                    name: &start.name,
                    executable: Path::new(&start.executable),
                    credentials: credentials.as_ref(),
                    privileged: self.privileged,
                },
            )?,
        };
        let (isolation, held) = match resolved {
            Some(resolved) => (Some(Box::new(resolved.isolation)), Some(resolved.held)),
            None => (None, None),
        };
        let (socket, socket_path) = match self.make_socket() {
            Ok(made) => made,
            Err(error) => {
                if let Some(held) = held {
                    self.isolations.release_held(held);
                }
                return Err(error);
            }
        };
        let mut environment = base_environment(credentials.as_ref());
        for (name, value) in &start.environment {
            environment.retain(|(existing, _)| existing != name);
            environment.push((name.clone(), value.clone()));
        }
        let output = |path: &Option<String>| {
            if self.no_daemon {
                None
            } else {
                path.as_ref().map(PathBuf::from)
            }
        };
        let title = format!("unit: \"{}\" application", start.name);
        let stderr_is_log = output(&start.stderr).is_none();
        let program = ProgramSpec {
            executable: start.executable.clone(),
            // A language runner is titled as Unit titles an application process; any
            // other program keeps its own name.
            argv0: start.reports_ready.then(|| title.clone()),
            arguments: start.arguments.clone(),
            environment,
            working_directory: start.working_directory.as_ref().map(PathBuf::from),
            credentials,
            stdout: output(&start.stdout),
            stderr: output(&start.stderr),
            isolation,
        };
        let spec = StartSpec {
            title,
            launch: Launch::Program(program),
            env: Vec::new(),
            env_remove: Vec::new(),
        };
        Ok(PreparedStart {
            socket,
            socket_path,
            spec,
            stderr_is_log,
            held,
        })
    }

    /// A prepared process started as `pid`: what is held for it is kept until it is
    /// gone.
    pub(crate) fn started(&mut self, pid: nix::unistd::Pid, held: Option<Held>) {
        if let Some(held) = held {
            self.isolations.hold(pid, held);
        }
    }

    /// A prepared process did not start: what was held for it goes.
    pub(crate) fn not_started(&mut self, held: Option<Held>) {
        if let Some(held) = held {
            self.isolations.release_held(held);
        }
    }

    /// A process is gone: what was held for its isolation goes.
    pub(crate) fn process_gone(&mut self, pid: nix::unistd::Pid) {
        self.isolations.release(pid);
    }

    /// A listening unix socket for one process, readable and writable by its owner.
    fn make_socket(&mut self) -> Result<(OwnedFd, PathBuf), RuntimeError> {
        self.make_dir()?;
        let path = self.dir.join(format!("{}.sock", self.next_socket));
        self.next_socket += 1;
        let failed = |error: io::Error| RuntimeError::socket("bind", path.display(), error);
        let fd = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(|errno| failed(errno.into()))?;
        let address = UnixAddr::new(&path).map_err(|errno| failed(errno.into()))?;
        bind(fd.as_raw_fd(), &address).map_err(|errno| failed(errno.into()))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
            .map_err(|error| RuntimeError::path("chmod", &path, error))?;
        if let Ok(metadata) = fs::metadata(&self.dir) {
            use std::os::unix::fs::MetadataExt;
            let owner = Uid::from_raw(metadata.uid());
            if owner != geteuid() {
                chown(&path, Some(owner), None)
                    .map_err(|errno| RuntimeError::path("chown", &path, errno.into()))?;
            }
        }
        let backlog = Backlog::new(APP_BACKLOG).map_err(|errno| failed(errno.into()))?;
        listen(&fd, backlog).map_err(|errno| failed(errno.into()))?;
        Ok((fd, path))
    }

    /// A process is gone: its socket file goes too.
    pub(crate) fn remove_socket(&self, path: &Path) {
        if let Err(error) = fs::remove_file(path)
            && error.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!("removing \"{}\" failed: {error}", path.display());
        }
    }
}

impl Drop for Applications {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The environment every application process starts with, before its configured
/// `environment`: a `PATH`, and `HOME`, `USER` and `LOGNAME` of the user it runs as.
/// Nothing of unitd's own environment is passed on.
fn base_environment(credentials: Option<&Credentials>) -> Vec<(String, String)> {
    let user = match credentials {
        Some(credentials) => User::from_uid(credentials.uid).ok().flatten(),
        None => User::from_uid(geteuid()).ok().flatten(),
    };
    let mut environment = vec![("PATH".to_owned(), BASE_PATH.to_owned())];
    if let Some(user) = user {
        environment.push(("HOME".to_owned(), user.dir.display().to_string()));
        environment.push(("USER".to_owned(), user.name.clone()));
        environment.push(("LOGNAME".to_owned(), user.name));
    }
    environment
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(environment: &[(&str, &str)]) -> AppStart {
        AppStart {
            name: "app".into(),
            generation: 0,
            executable: "/bin/true".into(),
            arguments: vec!["a".into()],
            environment: environment
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
            working_directory: Some("/".into()),
            user: None,
            group: None,
            stdout: Some("/dev/null".into()),
            stderr: None,
            reports_ready: false,
            isolation: None,
        }
    }

    fn applications(dir: &Path, no_daemon: bool) -> Applications {
        let settings = Settings {
            tmpdir: dir.to_path_buf(),
            no_daemon,
            user: User::from_uid(geteuid())
                .ok()
                .flatten()
                .map_or_else(|| "root".to_owned(), |user| user.name),
            ..Settings::default()
        };
        Applications::create(&settings, None, nix::unistd::getpid()).expect("the socket directory")
    }

    #[test]
    fn a_process_gets_a_private_socket_and_a_clean_environment() {
        let dir = std::env::temp_dir().join(format!("unit-apps-test-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("a directory");
        let mut apps = applications(&dir, false);
        let prepared = apps
            .prepare(&start(&[("PATH", "/opt/bin"), ("APP_MODE", "test")]))
            .expect("prepared");
        let dir_mode = fs::metadata(&apps.dir)
            .expect("the directory")
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        let socket_mode = fs::metadata(&prepared.socket_path)
            .expect("the socket")
            .permissions();
        assert_eq!(socket_mode.mode() & 0o777, 0o600);
        let Launch::Program(program) = &prepared.spec.launch else {
            panic!("an application is a program");
        };
        let names: Vec<&str> = program
            .environment
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        assert!(
            names.contains(&"HOME") && names.contains(&"USER"),
            "{names:?}"
        );
        assert!(
            !names.contains(&"UNITD_ROLE") && !names.contains(&"CARGO"),
            "{names:?}"
        );
        let path = program.environment.iter().find(|(name, _)| name == "PATH");
        assert_eq!(path.map(|(_, value)| value.as_str()), Some("/opt/bin"));
        assert!(
            program
                .environment
                .contains(&("APP_MODE".into(), "test".into()))
        );
        assert_eq!(program.stdout.as_deref(), Some(Path::new("/dev/null")));
        assert_eq!(prepared.spec.title, "unit: \"app\" application");
        let second = apps.prepare(&start(&[])).expect("another");
        assert_ne!(second.socket_path, prepared.socket_path);
        apps.remove_socket(&prepared.socket_path);
        assert!(!prepared.socket_path.exists());
        let app_dir = apps.dir.clone();
        drop(apps);
        assert!(!app_dir.exists(), "the directory goes with main");
        // In the foreground, applications keep unitd's stdout and stderr.
        let mut apps = applications(&dir, true);
        let prepared = apps.prepare(&start(&[])).expect("prepared");
        let Launch::Program(program) = &prepared.spec.launch else {
            panic!("an application is a program");
        };
        assert_eq!(program.stdout, None);
        drop(apps);
        let _ = fs::remove_dir_all(&dir);
    }
}
