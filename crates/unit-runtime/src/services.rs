//! What main does for its children over its port: store the configuration the
//! controller gives it, bind listen sockets and open access logs for the router, and
//! note that a child is ready.
//!
//! Each request is taken only from the kind of child that may make it, as the kernel
//! names the sender: the configuration from the controller, sockets and access logs from
//! the router. Anything else is logged and dropped, and the messages behind it are still
//! read.

use std::os::fd::OwnedFd;

use unit_conf::version_number;
use unit_engine::Engine;
use unit_log::alert;
use unit_port::{Message, PortError, Reply, ToMain};
use unit_process::ChildKind;

use crate::listen::open_access_log;
use crate::main_process::MainProcess;

impl MainProcess {
    /// Reads main's port until it is drained.
    pub(crate) fn receive_messages(&mut self, engine: &mut Engine<MainProcess>) {
        loop {
            match self.own_port.receive() {
                Ok(Some(message)) => self.on_message(engine, message),
                Ok(None) => return,
                Err(error) => {
                    tracing::warn!("reading main port failed: {error}");
                    return;
                }
            }
        }
    }

    fn on_message(&mut self, _engine: &mut Engine<MainProcess>, mut message: Message) {
        let sender = message.sender;
        let Some(kind) = self
            .supervisor
            .child(sender)
            .map(|process| process.kind.clone())
        else {
            tracing::warn!(
                "dropping {:?} from process {sender}, which is not a child of main",
                message.msg_type
            );
            return;
        };
        let request = match ToMain::from_message(&mut message) {
            Ok(Some(request)) => request,
            Ok(None) => {
                tracing::warn!(
                    "dropping {:?} from {} {sender}",
                    message.msg_type,
                    kind.name()
                );
                return;
            }
            Err(error) => {
                tracing::warn!("dropping a message from {} {sender}: {error}", kind.name());
                return;
            }
        };
        let reply = match (request, &kind) {
            (ToMain::ProcessReady, _) => {
                self.supervisor.mark_running(sender);
                if kind == ChildKind::Controller
                    && let Some(mut reporter) = self.reporter.take()
                {
                    reporter.ready();
                }
                None
            }
            (ToMain::ConfStore(conf), ChildKind::Controller) => Some(self.store_conf(conf)),
            (ToMain::Socket { address, backlog }, ChildKind::Router) => Some(
                match self.listen_sockets.open(&address, backlog.unwrap_or(-1)) {
                    Ok(fd) => Reply::ready_with_fd(fd),
                    Err(error) => {
                        alert!("{}", error.0);
                        Reply::Error(error.0)
                    }
                },
            ),
            (ToMain::SocketClose(address), ChildKind::Router) => {
                self.listen_sockets.release(&address);
                None
            }
            (ToMain::AccessLog(path), ChildKind::Router) => Some(self.open_access_log(path)),
            (request, kind) => {
                tracing::warn!(
                    "dropping {request:?} from {} {sender}: {}",
                    kind.name(),
                    PortError::WrongSender
                );
                None
            }
        };
        if let Some(reply) = reply {
            self.supervisor.send_to_port(
                sender,
                message.reply_port,
                reply.into_message(message.stream),
            );
        }
    }

    /// Persists the configuration the router has applied.
    fn store_conf(&mut self, conf: Vec<u8>) -> Reply {
        match self.state_dir.store_conf(&conf, version_number()) {
            Ok(()) => {
                self.initial_conf = String::from_utf8_lossy(&conf).into_owned();
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
