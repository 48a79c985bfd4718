//! Start-up of the main process, in Unit's observable order (UNIT-COMPAT 1.4): inherited
//! sockets, privileges and the user to run children as, the state directory, the
//! control socket, the `started` line, the log over stderr, the pid file, the
//! configuration to start with, and the language modules.
//!
//! A failure at any step is one line naming the path or value, and the guard types
//! remove what was created. The original stderr is kept until start-up ends, so a
//! failure after the log file took over stderr is still shown to whoever started unitd.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;

use nix::sys::stat::{Mode, umask};
use nix::unistd::{geteuid, getpid, setsid};
use unit_conf::{Modules, Settings, VERSION};
use unit_log::{LogHandle, alert};
use unit_port::{PortReceiver, port_pair};
use unit_process::{Credentials, take_inherited_fds};

use crate::applications::Applications;
use crate::control_socket::ControlSocket;
use crate::discovery::discover_modules;
use crate::error::RuntimeError;
use crate::inherited::{InheritSource, take_inherited_sockets};
use crate::launcher::{NOTIFY_FD_NAME, READY_NOTE};
use crate::listen::ListenSockets;
use crate::pid_file::PidFile;
use crate::services::Services;
use crate::state::StateDir;
use crate::supervisor::Supervisor;

/// The configuration a fresh state directory starts with.
const DEFAULT_CONF: &str = r#"{"listeners":{},"applications":{}}"#;

// === impl StartupReporter ===

/// Carries start-up failures to whoever started unitd: the original stderr stays open
/// until start-up ends, so a failure after the log file took over stderr is still shown.
pub(crate) struct StartupReporter {
    original_stderr: Option<File>,
    stderr_redirected: bool,
    notify: Option<File>,
}

impl StartupReporter {
    pub(crate) fn new() -> StartupReporter {
        StartupReporter {
            original_stderr: std::io::stderr()
                .as_fd()
                .try_clone_to_owned()
                .ok()
                .map(File::from),
            stderr_redirected: false,
            notify: None,
        }
    }

    pub(crate) fn fatal(&mut self, error: &RuntimeError) {
        alert!("{error}");
        if self.stderr_redirected
            && let Some(original_stderr) = &mut self.original_stderr
        {
            let _ = original_stderr
                .write_all(unit_log::format_line("alert", &error.to_string()).as_bytes());
        }
    }

    /// Start-up is over: tell the launcher and let go of its stderr.
    pub(crate) fn ready(&mut self) {
        if let Some(mut notify) = self.notify.take() {
            let _ = notify.write_all(READY_NOTE);
        }
        self.original_stderr = None;
    }
}

// === Started ===

/// What start-up made: everything the main process runs with.
pub(crate) struct Started {
    /// The user and group children drop to, when main is root.
    pub(crate) credentials: Option<Credentials>,
    /// The log file, to reopen.
    pub(crate) log: LogHandle,
    /// The control socket, for the controller.
    pub(crate) control_socket: ControlSocket,
    /// Main's own port.
    pub(crate) own_port: PortReceiver,
    /// The children, none started yet.
    pub(crate) supervisor: Supervisor,
    /// What main does for its children.
    pub(crate) services: Services,
    /// Where application processes get their sockets, and what they start with.
    pub(crate) applications: Applications,
    /// The language modules found in `--modulesdir`.
    pub(crate) modules: Modules,
    /// Removed at exit, after the children are gone.
    pub(crate) pid_file: PidFile,
}

impl Started {
    /// Start-up in Unit's observable order (UNIT-COMPAT 1.4).
    pub(crate) fn start(
        settings: Settings,
        reporter: &mut StartupReporter,
    ) -> Result<Started, RuntimeError> {
        let mut handed_fds = take_inherited_fds()?;
        if let Some(notify) = handed_fds.remove(NOTIFY_FD_NAME) {
            become_daemon();
            reporter.notify = Some(File::from(notify));
        }

        let inherited_sockets = match take_inherited_sockets()? {
            Some((InheritSource::Nginx(value), sockets)) => {
                alert!("using inherited listen sockets: {value}");
                sockets
            }
            Some((InheritSource::Systemd(count), sockets)) => {
                tracing::info!("using {count} systemd listen sockets");
                sockets
            }
            None => Vec::new(),
        };

        let credentials = if geteuid().is_root() {
            Some(Credentials::resolve(
                &settings.user,
                settings.group.as_deref(),
            )?)
        } else {
            tracing::warn!(
                "Unit is running unprivileged, then it cannot use arbitrary user and group."
            );
            None
        };

        let state_dir = StateDir::new(settings.statedir.clone());
        state_dir.prepare()?;
        let control_socket = ControlSocket::create(&settings)?;

        tracing::info!("unit {VERSION} started");
        let log_file = unit_log::open_log_file(&settings.log)?;
        unit_log::redirect_stderr(&log_file)?;
        reporter.stderr_redirected = true;
        drop(log_file);

        let own_pid = getpid();
        let pid_file = PidFile::write(&settings.pid, own_pid.as_raw() as u32)?;
        let initial_conf = initial_conf(&state_dir, &settings)?;

        let (own_port, own_sender) = port_pair()?;
        let supervisor = Supervisor::new(own_pid, own_sender);
        let mut applications = Applications::create(&settings, credentials.as_ref(), own_pid)?;
        let discovered = discover_modules(&settings.modulesdir, credentials.as_ref());
        applications.set_language_deps(discovered.language_deps);
        let modules = discovered.modules;

        Ok(Started {
            credentials,
            log: LogHandle::new(settings.log.clone()),
            control_socket,
            own_port,
            supervisor,
            services: Services::new(
                state_dir,
                ListenSockets::new(inherited_sockets),
                initial_conf,
            ),
            applications,
            modules,
            pid_file,
        })
    }
}

/// The configuration to start with: `conf.json`, else `--config FILE`, else the default.
fn initial_conf(state_dir: &StateDir, settings: &Settings) -> Result<String, RuntimeError> {
    match state_dir.load_conf() {
        Ok(Some(text)) => return Ok(text),
        Ok(None) => {}
        Err(error) => alert!("failed to restore previous configuration: {error}"),
    }
    match &settings.config {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|source| RuntimeError::path("open", path, source))
        }
        None => Ok(DEFAULT_CONF.to_owned()),
    }
}

/// Detaches from the launcher's session: a daemon has no controlling terminal, a umask of
/// 022, and stdin and stdout on /dev/null (stderr is the log file soon).
fn become_daemon() {
    let _ = setsid();
    umask(Mode::from_bits_truncate(0o022));
    match File::options().read(true).write(true).open("/dev/null") {
        Ok(null) => {
            let _ = nix::unistd::dup2_stdin(&null);
            let _ = nix::unistd::dup2_stdout(&null);
        }
        Err(error) => tracing::warn!("opening /dev/null failed: {error}"),
    }
}
