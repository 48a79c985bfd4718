//! What main does for its children over its port: store the configuration the
//! controller gives it, bind listen sockets and open access logs for the router, start
//! and stop application processes when the router asks, and note that a child is ready.
//!
//! Each request is taken only from the kind of child that may make it, as the kernel
//! names the sender: the configuration from the controller; sockets, access logs and
//! application processes from the router. Anything else is refused.

use std::os::fd::OwnedFd;

use nix::unistd::Pid;
use unit_conf::version_number;
use unit_log::alert;
use unit_port::{AppStart, PortError, Reply, ToMain};
use unit_process::ChildKind;

use crate::listen::{ListenSockets, open_access_log};
use crate::state::StateDir;

/// What main keeps to serve its children.
#[derive(Debug)]
pub(crate) struct Services {
    state_dir: StateDir,
    /// Binds listeners for the router, adopting inherited sockets on the same address.
    listen_sockets: ListenSockets,
    /// The access log the router asked for, reopened on SIGUSR1.
    access_log_path: Option<String>,
    /// The configuration a new controller starts with: the stored one.
    stored_conf: String,
}

/// What handling a request came to.
#[derive(Debug)]
pub(crate) enum Handled {
    /// Answer the request so.
    Reply(Reply),
    /// The child is ready.
    Ready,
    /// Start an application process (and answer when it is started or failed).
    Start(AppStart),
    /// Stop an application process.
    Stop(Pid),
    /// Nothing to answer.
    Done,
}

impl Services {
    pub(crate) fn new(
        state_dir: StateDir,
        listen_sockets: ListenSockets,
        stored_conf: String,
    ) -> Services {
        Services {
            state_dir,
            listen_sockets,
            access_log_path: None,
            stored_conf,
        }
    }

    /// The configuration a new controller starts with.
    pub(crate) fn stored_conf(&self) -> &str {
        &self.stored_conf
    }

    /// The access log the router has open, if any.
    pub(crate) fn access_log_path(&self) -> Option<&str> {
        self.access_log_path.as_deref()
    }

    /// Handles `request` from a child of `kind`, or refuses it when that kind may not
    /// make it.
    pub(crate) fn handle(
        &mut self,
        kind: &ChildKind,
        request: ToMain,
    ) -> Result<Handled, PortError> {
        let handled = match (request, kind) {
            (ToMain::ProcessReady, _) => Handled::Ready,
            (ToMain::ConfStore(conf), ChildKind::Controller) => {
                Handled::Reply(self.store_conf(conf))
            }
            (ToMain::Socket { address, backlog }, ChildKind::Router) => Handled::Reply(match self
                .listen_sockets
                .open(&address, backlog.unwrap_or(-1))
            {
                Ok(fd) => Reply::ready_with_fd(fd),
                Err(error) => {
                    alert!("{}", error.0);
                    Reply::Error(error.0)
                }
            }),
            (ToMain::SocketClose(address), ChildKind::Router) => {
                self.listen_sockets.release(&address);
                Handled::Done
            }
            (ToMain::AccessLog(path), ChildKind::Router) => {
                Handled::Reply(self.open_access_log(path))
            }
            (ToMain::StartProcess(start), ChildKind::Router) => Handled::Start(start),
            (ToMain::StopProcess(pid), ChildKind::Router) => Handled::Stop(pid),
            _ => return Err(PortError::WrongSender),
        };
        Ok(handled)
    }

    /// Persists the configuration the router has applied.
    fn store_conf(&mut self, conf: Vec<u8>) -> Reply {
        match self.state_dir.store_conf(&conf, version_number()) {
            Ok(()) => {
                self.stored_conf = String::from_utf8_lossy(&conf).into_owned();
                Reply::ready()
            }
            Err(error) => {
                alert!("failed to store current configuration: {error}");
                Reply::Error(error.to_string())
            }
        }
    }

    /// Opens the router's access log, which main reopens on SIGUSR1.
    fn open_access_log(&mut self, path: String) -> Reply {
        match open_access_log(&path) {
            Ok(file) => {
                self.access_log_path = Some(path);
                Reply::ready_with_fd(OwnedFd::from(file))
            }
            Err(error) => {
                let text = format!(
                    "open(\"{path}\") failed{}",
                    unit_log::os_error_suffix(&error)
                );
                alert!("{text}");
                Reply::Error(text)
            }
        }
    }
}
