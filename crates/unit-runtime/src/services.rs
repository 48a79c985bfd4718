//! What main does for its children over its port: store the configuration and the
//! certificate bundles the controller gives it, bind listen sockets, open access logs
//! and stored bundles for the router, start and stop application processes when the
//! router asks, and note that a child is ready.
//!
//! Each request is taken only from the kind of child that may make it, as the kernel
//! names the sender: the configuration and storing or deleting bundles from the
//! controller; sockets, access logs, bundle files and application processes from the
//! router. Anything else is refused.

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
    Start(Box<AppStart>),
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

    /// Every stored certificate bundle, for a controller that starts.
    pub(crate) fn stored_certificates(&self) -> Vec<(String, Vec<u8>)> {
        self.state_dir.load_certificates()
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
            (ToMain::CertificateStore { name, pem }, ChildKind::Controller) => {
                Handled::Reply(self.store_certificate(&name, &pem))
            }
            (ToMain::CertificateDelete { name }, ChildKind::Controller) => {
                Handled::Reply(self.delete_certificate(&name))
            }
            (ToMain::CertificateFile { name }, ChildKind::Router) => {
                Handled::Reply(self.open_certificate(&name))
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

    /// Stores an uploaded bundle in `certs/`.
    fn store_certificate(&self, name: &str, pem: &[u8]) -> Reply {
        match self.state_dir.store_certificate(name, pem) {
            Ok(()) => Reply::ready(),
            Err(error) => {
                alert!("failed to store certificate \"{name}\": {error}");
                Reply::Error(error.to_string())
            }
        }
    }

    /// Removes a bundle from `certs/`.
    fn delete_certificate(&self, name: &str) -> Reply {
        match self.state_dir.delete_certificate(name) {
            Ok(()) => Reply::ready(),
            Err(error) => {
                alert!("failed to delete certificate \"{name}\": {error}");
                Reply::Error(error.to_string())
            }
        }
    }

    /// Opens a stored bundle for the router, which cannot read `certs/` itself once it
    /// runs as `--user`.
    fn open_certificate(&self, name: &str) -> Reply {
        match self.state_dir.open_certificate(name) {
            Ok(file) => Reply::ready_with_fd(OwnedFd::from(file)),
            Err(error) => {
                alert!("failed to open certificate \"{name}\": {error}");
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn services(name: &str) -> (Services, PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "unit-runtime-services-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(std::fs::create_dir_all(&dir).is_ok(), "{}", dir.display());
        let state_dir = StateDir::new(dir.clone());
        assert!(state_dir.prepare().is_ok());
        let services = Services::new(state_dir, ListenSockets::new(Vec::new()), String::new());
        (services, dir)
    }

    fn store(name: &str) -> ToMain {
        ToMain::CertificateStore {
            name: name.to_owned(),
            pem: b"PEM".to_vec(),
        }
    }

    #[test]
    fn certificates_are_taken_only_from_their_senders() {
        let (mut services, dir) = services("senders");
        let application = ChildKind::Application {
            name: "app".into(),
            generation: 0,
        };
        for kind in [&ChildKind::Router, &application] {
            assert!(matches!(
                services.handle(kind, store("default")),
                Err(PortError::WrongSender)
            ));
            let delete = ToMain::CertificateDelete {
                name: "default".into(),
            };
            assert!(matches!(
                services.handle(kind, delete),
                Err(PortError::WrongSender)
            ));
        }
        assert!(!dir.join("certs/default").exists());
        let file = || ToMain::CertificateFile {
            name: "default".into(),
        };
        for kind in [&ChildKind::Controller, &application] {
            assert!(matches!(
                services.handle(kind, file()),
                Err(PortError::WrongSender)
            ));
        }

        assert!(matches!(
            services.handle(&ChildKind::Controller, store("default")),
            Ok(Handled::Reply(Reply::Ready { .. }))
        ));
        assert_eq!(
            services.stored_certificates(),
            vec![("default".to_owned(), b"PEM".to_vec())]
        );
        match services.handle(&ChildKind::Router, file()) {
            Ok(Handled::Reply(Reply::Ready { fds, .. })) => assert_eq!(fds.len(), 1),
            other => panic!("expected the file, got {other:?}"),
        }
        let delete = ToMain::CertificateDelete {
            name: "default".into(),
        };
        assert!(matches!(
            services.handle(&ChildKind::Controller, delete),
            Ok(Handled::Reply(Reply::Ready { .. }))
        ));
        assert!(matches!(
            services.handle(&ChildKind::Router, file()),
            Ok(Handled::Reply(Reply::Error(_)))
        ));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn names_that_leave_the_directory_are_refused() {
        let (mut services, dir) = services("names");
        for name in ["", ".", "..", "../conf.json", "a/b"] {
            assert!(
                matches!(
                    services.handle(&ChildKind::Controller, store(name)),
                    Ok(Handled::Reply(Reply::Error(_)))
                ),
                "{name:?}"
            );
        }
        assert!(!dir.join("conf.json").exists());
        let _ = std::fs::remove_dir_all(dir);
    }
}
