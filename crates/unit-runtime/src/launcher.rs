//! What the `unitd` command does once its command line is parsed: become the main process
//! under its `ps` title, in the foreground or as a daemon.
//!
//! The main process is this binary executed again with `argv[0]` set to
//! `unit: main v<version> [<argv>]` and the original argv in [`ARGV_ENV`]. In the
//! foreground (`--no-daemon`, or inherited sockets) the launcher execs in place, keeping
//! its pid, so `LISTEN_PID` still matches. Otherwise it starts the daemon as a child and
//! waits: it exits 0 once the daemon's controller accepts on the control socket, and 1 if
//! the daemon dies or stays silent, its reason already printed to the shared stderr.

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::unistd::pipe2;
use unit_conf::{Settings, VERSION};
use unit_process::{InheritedFds, Launch, ROLE_ENV, StartSpec, spawn};

use crate::error::RuntimeError;
use crate::inherited::sockets_inherited;

/// The environment variable carrying the original argv (a JSON array) to the main process.
pub const ARGV_ENV: &str = "UNITD_ARGV";
/// The role value of the main process.
pub(crate) const MAIN_ROLE: &str = "main";
/// The name under which the daemon receives the pipe it reports readiness on.
pub(crate) const NOTIFY_FD_NAME: &str = "notify";
/// What the daemon writes on that pipe once it is ready.
pub(crate) const READY_NOTE: &[u8] = b"ready\n";
/// How long the launcher waits for the daemon.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The main process's title, as `ps` shows it.
pub fn main_title(argv: &[String]) -> String {
    format!("unit: main v{VERSION} [{}]", argv.join(" "))
}

/// Starts the main process for `settings` (parsed from `argv`). Returns only on failure
/// in the foreground; as a daemon launcher returns `Ok` once the daemon is ready.
pub fn launch(settings: &Settings, argv: &[String]) -> Result<(), RuntimeError> {
    let argv_json = serde_json::Value::from(argv.to_vec()).to_string();
    let title = main_title(argv);
    if settings.no_daemon || sockets_inherited() {
        let error = Command::new("/proc/self/exe")
            .arg0(&title)
            .env(ROLE_ENV, MAIN_ROLE)
            .env(ARGV_ENV, &argv_json)
            .exec();
        return Err(RuntimeError::Exec(error));
    }

    let (ready_end, notify_end) =
        pipe2(OFlag::O_CLOEXEC).map_err(|errno| RuntimeError::Exec(errno.into()))?;
    let spec = StartSpec {
        title,
        launch: Launch::Role(MAIN_ROLE.to_owned()),
        env: vec![(ARGV_ENV.to_owned(), argv_json)],
        env_remove: Vec::new(),
    };
    spawn(
        &spec,
        &InheritedFds::new().with(NOTIFY_FD_NAME, notify_end.as_fd()),
    )?;
    drop(notify_end);
    wait_for_ready(&mut std::fs::File::from(ready_end), settings)
}

fn wait_for_ready(ready_pipe: &mut std::fs::File, settings: &Settings) -> Result<(), RuntimeError> {
    let deadline = Instant::now() + START_TIMEOUT;
    let mut note = Vec::new();
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(RuntimeError::DaemonTimeout {
                seconds: START_TIMEOUT.as_secs(),
                log: settings.log.clone(),
            });
        }
        let millis = u16::try_from(remaining.as_millis()).unwrap_or(u16::MAX);
        let mut poll_fds = [PollFd::new(ready_pipe.as_fd(), PollFlags::POLLIN)];
        match poll(&mut poll_fds, PollTimeout::from(millis)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(errno) => return Err(RuntimeError::Exec(errno.into())),
        }
        let mut chunk = [0u8; 64];
        match ready_pipe.read(&mut chunk) {
            Ok(0) => return Err(RuntimeError::DaemonFailed(settings.log.clone())),
            Ok(n) => {
                note.extend_from_slice(&chunk[..n]);
                if note.starts_with(READY_NOTE) {
                    return Ok(());
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Err(RuntimeError::DaemonFailed(settings.log.clone())),
        }
    }
}
