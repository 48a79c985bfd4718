//! The controller's state and its engine loop: control connections, the queue of
//! changes, and the RPCs that carry them to the router and to main. Uploads and
//! deletions of certificate bundles queue with the changes, so each is checked against
//! the configuration and the store as the changes before it left them.

use std::collections::VecDeque;
use std::io;
use std::os::fd::OwnedFd;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use serde_json::Value;
use unit_conf::{Available, Modules, parse_json, validate_config};
use unit_engine::{
    ACCEPT_PAUSE, AcceptBackoff, AcceptFailure, Engine, Event, HashMap, Interest, Listener,
    TimerId, Token, WORKER_SIGNALS,
};
use unit_log::alert;
use unit_port::{
    ChildEvent, ChildPort, ProcessType, Reply as PortReply, RpcStreams, ToChild, ToMain, ToRouter,
};

use crate::api::{self, ApiResponse, Plan};
use crate::certificates::Certificates;
use crate::connection::{Connection, Phase, ReadOutcome, Request, Timeouts};
use crate::error::ControllerError;

/// The engine token of the controller's port.
const PORT: Token = Token(0);
/// The token watching the link to main, to notice main's death.
const MAIN_LINK: Token = Token(1);
/// The token of the control socket.
const LISTENER: Token = Token(2);
/// Connections get tokens (and timer keys) from here on.
const FIRST_CONNECTION: usize = 16;
/// Timer key of the RPC in flight.
const RPC_TIMER: u64 = 1;
/// Timer key that resumes accepting after the process ran out of descriptors.
const ACCEPT_RETRY_TIMER: u64 = 2;
/// How long the router or main may take to answer an RPC.
const RPC_TIMEOUT: Duration = Duration::from_secs(30);

/// What the controller is handed at start.
#[derive(Debug)]
pub struct ControllerSetup {
    /// This process's ports: its own, main's, and its peers' as main introduces them.
    pub port: ChildPort,
    /// The listening control socket.
    pub listener: OwnedFd,
}

/// An RPC to send: to main or to the router.
#[derive(Debug)]
enum Call {
    Main(ToMain),
    Router(ToRouter),
}

/// The RPC in flight and what its reply finishes.
#[derive(Debug)]
enum InFlight {
    /// Giving the current configuration to a router that lacks it.
    Sync,
    /// A change, waiting for the router to apply it.
    Apply { token: usize, conf: Value },
    /// An applied change, waiting for main to store it.
    Store { token: usize, conf: Value },
    /// A status read.
    Status {
        token: usize,
        segments: Vec<String>,
        root: bool,
    },
    /// An application restart.
    Restart { token: usize },
    /// An upload, waiting for main to store the bundle.
    CertificateStore {
        token: usize,
        name: String,
        info: Value,
    },
    /// A deletion, waiting for main to remove the bundle.
    CertificateDelete { token: usize, name: String },
}

/// How an RPC ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reply {
    /// The peer answered ready.
    Ready,
    /// The peer answered with an error.
    Refused,
    /// No answer: the peer exited, could not be reached, or stayed silent too long.
    Lost,
}

/// The controller's state.
struct Controller {
    port: ChildPort,
    listener: Listener,
    accepting: bool,
    /// Accepting pauses when the process runs out of descriptors.
    backoff: AcceptBackoff,
    /// The configuration the router runs; `None` until main sends the stored one.
    conf: Option<Value>,
    /// The router that has the current configuration.
    conf_sent_to: Option<Pid>,
    rpc: RpcStreams<InFlight>,
    /// The stream of the RPC in flight and its timeout; one at a time.
    in_flight: Option<(u32, TimerId)>,
    queue: VecDeque<(usize, Request)>,
    connections: HashMap<usize, Connection>,
    next_token: usize,
    timeouts: Timeouts,
    /// The language modules main discovered, which applications may use.
    modules: Modules,
    /// The certificate bundles main has stored.
    certificates: Certificates,
}

/// Runs the controller until main says quit or goes away.
pub fn run(setup: ControllerSetup) -> Result<(), ControllerError> {
    let mut engine: Engine<Controller> = Engine::new()?;
    engine.watch_signals(&WORKER_SIGNALS)?;
    let mut controller = Controller {
        port: setup.port,
        listener: Listener::from_fd(setup.listener).map_err(ControllerError::Socket)?,
        accepting: false,
        backoff: AcceptBackoff::default(),
        conf: None,
        conf_sent_to: None,
        rpc: RpcStreams::new(),
        in_flight: None,
        queue: VecDeque::new(),
        connections: HashMap::default(),
        next_token: FIRST_CONNECTION,
        timeouts: Timeouts::from_env(),
        modules: Modules::from_env(),
        certificates: Certificates::default(),
    };
    controller
        .port
        .register(engine.registry(), PORT, MAIN_LINK)
        .map_err(ControllerError::Socket)?;
    engine.run(&mut controller, |controller, engine, event| {
        controller.on_event(engine, event)
    })?;
    Ok(())
}

impl Controller {
    fn on_event(&mut self, engine: &mut Engine<Controller>, event: Event) {
        match event {
            Event::Io { token: PORT, .. } => self.receive_messages(engine),
            Event::Io {
                token: MAIN_LINK,
                closed: true,
                ..
            } => {
                tracing::info!("main process is gone, exiting");
                engine.stop();
            }
            Event::Io {
                token: MAIN_LINK, ..
            } => {}
            Event::Io {
                token: LISTENER, ..
            } if !self.backoff.is_paused() => self.accept_connections(engine),
            Event::Io {
                token: LISTENER, ..
            } => {}
            Event::Timer {
                key: ACCEPT_RETRY_TIMER,
                ..
            } => {
                self.backoff.resume();
                self.accept_connections(engine);
            }
            Event::Io { token, .. } => self.drive_connection(engine, token.0),
            Event::Timer { key: RPC_TIMER, .. } => self.rpc_timed_out(engine),
            Event::Timer { key, .. } => {
                if let Ok(token) = usize::try_from(key) {
                    tracing::info!("control connection timed out");
                    self.close_connection(engine, token);
                }
            }
            Event::Signal(Signal::SIGTERM | Signal::SIGINT | Signal::SIGQUIT) => engine.stop(),
            Event::Signal(_) => {}
        }
    }

    // --- Ports ---

    /// The configuration in force (the empty one until main has sent the stored one).
    fn current_conf(&self) -> &Value {
        static EMPTY: std::sync::LazyLock<Value> = std::sync::LazyLock::new(empty_conf);
        self.conf.as_ref().unwrap_or(&EMPTY)
    }

    /// The pid of the router known now, if any.
    fn router_pid(&self) -> Option<Pid> {
        self.port.peer(ProcessType::Router)
    }

    fn receive_messages(&mut self, engine: &mut Engine<Controller>) {
        while let Some(event) = self.port.next_event() {
            self.on_port_event(engine, event);
        }
    }

    fn on_port_event(&mut self, engine: &mut Engine<Controller>, event: ChildEvent) {
        match event {
            ChildEvent::Quit | ChildEvent::MainGone => engine.stop(),
            ChildEvent::FromMain(ToChild::StoredCertificates(stored)) => {
                self.certificates = Certificates::load(stored);
            }
            ChildEvent::FromMain(ToChild::StoredConf(conf)) => {
                self.conf = Some(stored_conf(&conf, &self.modules, &self.certificates));
                self.pump(engine);
            }
            ChildEvent::PeerAdded(peer) if peer.process_type == ProcessType::Router => {
                self.pump(engine)
            }
            ChildEvent::PeerGone(pid) => self.peer_gone(engine, pid),
            ChildEvent::LogFile(file) => {
                if let Err(error) = unit_log::redirect_stderr(&file) {
                    tracing::warn!("{error}");
                }
            }
            ChildEvent::Reply {
                stream,
                from,
                reply,
            } => match self.rpc.take_from(stream, from) {
                Some(in_flight) => {
                    self.end_rpc(engine, stream);
                    let (reply, payload) = match reply {
                        PortReply::Ready { payload, .. } => (Reply::Ready, payload),
                        PortReply::Error(reason) => (Reply::Refused, reason.into_bytes()),
                    };
                    self.finish(engine, in_flight, reply, &payload);
                }
                None => tracing::debug!("reply on unknown stream {stream} from {from}"),
            },
            other => tracing::debug!("ignoring {other:?}"),
        }
    }

    /// A process is gone: what it was answering fails, and a new router gets the
    /// configuration once it is introduced.
    fn peer_gone(&mut self, engine: &mut Engine<Controller>, pid: Pid) {
        if self.conf_sent_to == Some(pid) {
            self.conf_sent_to = None;
        }
        for in_flight in self.rpc.take_for_peer(pid) {
            if let Some((stream, _)) = self.in_flight {
                self.end_rpc(engine, stream);
            }
            self.finish(
                engine,
                in_flight,
                Reply::Lost,
                b"the process answering it exited",
            );
        }
        self.pump(engine);
    }

    fn rpc_timed_out(&mut self, engine: &mut Engine<Controller>) {
        let Some((stream, _)) = self.in_flight.take() else {
            return;
        };
        if let Some(in_flight) = self.rpc.take(stream) {
            self.finish(engine, in_flight, Reply::Lost, b"no answer in time");
        }
    }

    fn end_rpc(&mut self, engine: &mut Engine<Controller>, stream: u32) {
        if let Some((in_flight_stream, timer)) = self.in_flight
            && in_flight_stream == stream
        {
            engine.cancel_timer(timer);
            self.in_flight = None;
        }
    }

    /// Sends an RPC; on failure, finishes it as failed at once.
    fn start_rpc(&mut self, engine: &mut Engine<Controller>, call: Call, in_flight: InFlight) {
        let peer = match &call {
            Call::Main(_) => Some(self.port.main_pid()),
            Call::Router(_) => self.router_pid(),
        };
        let Some(peer) = peer else {
            self.finish(
                engine,
                in_flight,
                Reply::Lost,
                b"the process is not running",
            );
            return;
        };
        let stream = self.rpc.register(peer, in_flight);
        let sent = match call {
            Call::Main(message) => self.port.send_main(message, stream),
            Call::Router(message) => self
                .port
                .send_peer(
                    ProcessType::Router,
                    message.into_message().with_stream(stream),
                )
                .map(drop),
        };
        match sent {
            Ok(()) => {
                let timer = engine.add_timer(RPC_TIMEOUT, RPC_TIMER);
                self.in_flight = Some((stream, timer));
            }
            Err(error) => {
                let reason = error.to_string();
                if let Some(in_flight) = self.rpc.take(stream) {
                    self.finish(engine, in_flight, Reply::Lost, reason.as_bytes());
                }
            }
        }
    }

    /// Completes an RPC with its reply and the reply's payload (or why it was lost).
    fn finish(
        &mut self,
        engine: &mut Engine<Controller>,
        in_flight: InFlight,
        reply: Reply,
        payload: &[u8],
    ) {
        let ready = reply == Reply::Ready;
        let reason = String::from_utf8_lossy(payload).into_owned();
        match in_flight {
            InFlight::Sync => {
                match reply {
                    Reply::Ready => {
                        self.conf_sent_to = self.router_pid();
                    }
                    Reply::Refused => {
                        alert!("failed to apply previous configuration: {reason}");
                        // Start from the empty configuration rather than retrying a refused one.
                        self.conf = Some(empty_conf());
                        self.conf_sent_to = None;
                    }
                    // The router went away (or stayed silent): the configuration is
                    // fine, and is sent again to the router that comes next.
                    Reply::Lost => self.conf_sent_to = None,
                }
                self.start_accepting(engine);
            }
            InFlight::Apply { token, conf } if ready => {
                self.conf_sent_to = self.router_pid();
                let message = Call::Main(ToMain::ConfStore(conf.to_string().into_bytes()));
                self.start_rpc(engine, message, InFlight::Store { token, conf });
            }
            InFlight::Apply { token, .. } => {
                alert!("failed to apply new conf: {reason}");
                self.respond(
                    engine,
                    token,
                    ApiResponse::error_with_detail(
                        500,
                        "Failed to apply new configuration.",
                        &reason,
                    ),
                );
            }
            InFlight::Store { token, conf } => {
                // The router runs it either way; the answer says whether it is stored.
                self.conf = Some(conf);
                let response = if ready {
                    ApiResponse::success("Reconfiguration done.")
                } else {
                    ApiResponse::error_with_detail(500, "Failed to store configuration.", &reason)
                };
                self.respond(engine, token, response);
            }
            InFlight::Status {
                token,
                segments,
                root,
            } => {
                let status = if ready {
                    serde_json::from_slice::<Value>(payload).ok()
                } else {
                    None
                };
                let response = match status {
                    Some(status) => api::status_answer(
                        &status,
                        &segments,
                        root,
                        self.current_conf(),
                        &self.certificates,
                    ),
                    None => ApiResponse::error(500, "Failed to get status."),
                };
                self.respond(engine, token, response);
            }
            InFlight::Restart { token } => {
                let response = if ready {
                    ApiResponse::success("Ok")
                } else {
                    ApiResponse::error_with_detail(500, "Failed to restart app.", &reason)
                };
                self.respond(engine, token, response);
            }
            InFlight::CertificateStore { token, name, info } => {
                let response = if ready {
                    self.certificates.insert(name, info);
                    ApiResponse::success("Certificate chain uploaded.")
                } else {
                    ApiResponse::error_with_detail(500, "Failed to store certificate.", &reason)
                };
                self.respond(engine, token, response);
            }
            InFlight::CertificateDelete { token, name } => {
                // A bundle whose file main could not remove stays, so that the store
                // and certs/ agree after a restart.
                let response = if ready {
                    self.certificates.remove(&name);
                    ApiResponse::success("Certificate deleted.")
                } else {
                    ApiResponse::error_with_detail(500, "Failed to delete certificate.", &reason)
                };
                self.respond(engine, token, response);
            }
        }
        self.pump(engine);
    }

    /// Starts the next piece of work if nothing is in flight: first a router that lacks
    /// the current configuration gets it, then queued requests run in order.
    fn pump(&mut self, engine: &mut Engine<Controller>) {
        while self.in_flight.is_none() {
            let Some(conf) = &self.conf else { return };
            let Some(router) = self.router_pid() else {
                return;
            };
            if self.conf_sent_to != Some(router) {
                let message = Call::Router(ToRouter::Apply(conf.to_string().into_bytes()));
                self.start_rpc(engine, message, InFlight::Sync);
                continue;
            }
            let Some((token, request)) = self.queue.pop_front() else {
                return;
            };
            if !self.connections.contains_key(&token) {
                continue;
            }
            let plan = api::plan(
                &request.api_request(),
                self.current_conf(),
                &self.modules,
                &self.certificates,
            );
            match plan {
                Plan::Respond(response) => self.respond(engine, token, response),
                Plan::Apply(conf) => {
                    let message = Call::Router(ToRouter::Apply(conf.to_string().into_bytes()));
                    self.start_rpc(engine, message, InFlight::Apply { token, conf });
                }
                Plan::Status { segments, root } => {
                    self.start_rpc(
                        engine,
                        Call::Router(ToRouter::Status),
                        InFlight::Status {
                            token,
                            segments,
                            root,
                        },
                    );
                }
                Plan::Restart(app) => {
                    self.start_rpc(
                        engine,
                        Call::Router(ToRouter::AppRestart(app)),
                        InFlight::Restart { token },
                    );
                }
                Plan::StoreCertificate { name, pem, info } => {
                    let message = Call::Main(ToMain::CertificateStore {
                        name: name.clone(),
                        pem,
                    });
                    self.start_rpc(
                        engine,
                        message,
                        InFlight::CertificateStore { token, name, info },
                    );
                }
                Plan::DeleteCertificate(name) => {
                    let message = Call::Main(ToMain::CertificateDelete { name: name.clone() });
                    self.start_rpc(engine, message, InFlight::CertificateDelete { token, name });
                }
            }
        }
    }

    /// The first configuration attempt is over: clients may come in now.
    fn start_accepting(&mut self, engine: &mut Engine<Controller>) {
        if self.accepting {
            return;
        }
        if let Err(error) =
            engine
                .registry()
                .register(self.listener.source(), LISTENER, Interest::READABLE)
        {
            alert!("listening on the control socket failed: {error}");
            return;
        }
        self.accepting = true;
        if let Err(error) = self.port.send_main(ToMain::ProcessReady, 0) {
            tracing::warn!("telling main the controller is ready failed: {error}");
        }
    }

    // --- Control connections ---

    fn accept_connections(&mut self, engine: &mut Engine<Controller>) {
        loop {
            let mut stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    match self.backoff.failed(&error, engine.now()) {
                        // Open control connections go on; new ones wait in the backlog.
                        AcceptFailure::Paused { log } => {
                            if log {
                                tracing::error!(
                                    "accept on the control socket failed: {error}; accepting pauses for {} ms",
                                    ACCEPT_PAUSE.as_millis()
                                );
                            }
                            engine.add_timer(ACCEPT_PAUSE, ACCEPT_RETRY_TIMER);
                        }
                        AcceptFailure::Other => {
                            tracing::warn!("accept on the control socket failed: {error}");
                        }
                    }
                    return;
                }
            };
            let token = self.next_token;
            self.next_token = if token >= Engine::<Controller>::RESERVED_TOKENS_START - 1 {
                FIRST_CONNECTION
            } else {
                token + 1
            };
            if let Err(error) = engine.registry().register(
                stream.source(),
                Token(token),
                Interest::READABLE | Interest::WRITABLE,
            ) {
                tracing::warn!("registering a control connection failed: {error}");
                continue;
            }
            let mut connection = Connection::new(stream);
            connection.timer = Some(engine.add_timer(self.timeouts.header, token as u64));
            self.connections.insert(token, connection);
        }
    }

    fn drive_connection(&mut self, engine: &mut Engine<Controller>, token: usize) {
        let Some(connection) = self.connections.get_mut(&token) else {
            return;
        };
        match connection.phase {
            Phase::Writing => return self.flush_connection(engine, token),
            Phase::Waiting => return,
            Phase::Reading => {}
        }
        match connection.read_request() {
            ReadOutcome::Incomplete { head_done } => {
                if head_done {
                    // Between reads of the body the body timeout applies.
                    let timer = connection.timer.take();
                    if let Some(timer) = timer {
                        engine.cancel_timer(timer);
                    }
                    connection.timer = Some(engine.add_timer(self.timeouts.body, token as u64));
                }
            }
            ReadOutcome::Close => self.close_connection(engine, token),
            ReadOutcome::Refuse(response) => self.respond(engine, token, response),
            ReadOutcome::Request(request) => {
                if let Some(timer) = connection.timer.take() {
                    engine.cancel_timer(timer);
                }
                connection.phase = Phase::Waiting;
                let conf = self.current_conf();
                if let Some(response) =
                    api::read_at_once(&request.api_request(), conf, &self.certificates)
                {
                    self.respond(engine, token, response);
                } else {
                    self.queue.push_back((token, request));
                    self.pump(engine);
                }
            }
        }
    }

    fn respond(&mut self, engine: &mut Engine<Controller>, token: usize, response: ApiResponse) {
        let Some(connection) = self.connections.get_mut(&token) else {
            return;
        };
        connection.respond(&response);
        if let Some(timer) = connection.timer.take() {
            engine.cancel_timer(timer);
        }
        connection.timer = Some(engine.add_timer(self.timeouts.send, token as u64));
        self.flush_connection(engine, token);
    }

    fn flush_connection(&mut self, engine: &mut Engine<Controller>, token: usize) {
        let Some(connection) = self.connections.get_mut(&token) else {
            return;
        };
        match connection.flush() {
            Ok(false) => {}
            Ok(true) | Err(_) => self.close_connection(engine, token),
        }
    }

    fn close_connection(&mut self, engine: &mut Engine<Controller>, token: usize) {
        if let Some(mut connection) = self.connections.remove(&token) {
            if let Some(timer) = connection.timer.take() {
                engine.cancel_timer(timer);
            }
            let _ = engine.registry().deregister(connection.stream.source());
        }
    }
}

/// The stored configuration main sent at start. One that no longer parses or validates
/// (against the modules discovered this time and the certificate bundles main sent
/// before it) is logged and replaced by the empty configuration (the file stays for
/// the operator).
fn stored_conf(text: &[u8], modules: &Modules, certificates: &Certificates) -> Value {
    let conf = match parse_json(text) {
        Ok(conf) => conf,
        Err(error) => {
            alert!("the previous configuration is invalid: {}", error.detail);
            return empty_conf();
        }
    };
    let exists = |name: &str| certificates.contains(name);
    match validate_config(
        &conf,
        &Available::modules(modules).with_certificates(&exists),
    ) {
        Ok(()) => conf,
        Err(error) => {
            alert!("the previous configuration is invalid: {error}");
            empty_conf()
        }
    }
}

fn empty_conf() -> Value {
    serde_json::json!({"listeners": {}, "applications": {}})
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use unit_port::{PortReceiver, port_pair};

    /// A controller on real ports and a real (unix) control socket, plus the receiving
    /// end of "main's" port so its messages have somewhere to go.
    fn controller() -> (Controller, Engine<Controller>, PortReceiver) {
        let engine: Engine<Controller> = Engine::new().expect("an engine");
        let (own_port, _) = port_pair().expect("a port");
        let (main_receiver, main) = port_pair().expect("a port");
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("unit-controller-test-{}-{n}.sock", std::process::id());
        let path = std::env::temp_dir().join(name);
        let _ = std::fs::remove_file(&path);
        let socket = std::os::unix::net::UnixListener::bind(&path).expect("a control socket");
        let _ = std::fs::remove_file(&path);
        let controller = Controller {
            port: ChildPort::new(own_port, main, nix::unistd::getpid()),
            listener: Listener::from_fd(OwnedFd::from(socket)).expect("a listener"),
            accepting: false,
            backoff: AcceptBackoff::default(),
            conf: Some(json!({"listeners": {}, "routes": [{"action": {"return": 204}}]})),
            conf_sent_to: Some(Pid::from_raw(1)),
            rpc: RpcStreams::new(),
            in_flight: None,
            queue: VecDeque::new(),
            connections: HashMap::default(),
            next_token: FIRST_CONNECTION,
            timeouts: Timeouts::from_env(),
            modules: Modules::default(),
            certificates: Certificates::default(),
        };
        (controller, engine, main_receiver)
    }

    #[test]
    fn a_stored_configuration_is_checked_against_the_stored_certificates() {
        let text = br#"{"listeners": {"*:443": {"pass": "routes", "tls": {"certificate": "default"}}}, "routes": []}"#;
        let mut certificates = Certificates::default();
        assert_eq!(
            stored_conf(text, &Modules::default(), &certificates),
            empty_conf(),
            "a configuration naming a bundle that is gone is not kept"
        );
        certificates.insert("default".into(), json!({}));
        assert_eq!(
            stored_conf(text, &Modules::default(), &certificates)["listeners"]["*:443"]["tls"],
            json!({"certificate": "default"})
        );
    }

    #[test]
    fn a_lost_sync_keeps_the_configuration() {
        let (mut controller, mut engine, _main) = controller();
        let before = controller.conf.clone();
        controller.finish(
            &mut engine,
            InFlight::Sync,
            Reply::Lost,
            b"the process answering it exited",
        );
        assert_eq!(
            controller.conf, before,
            "a router that died is no reason to drop the configuration"
        );
        assert_eq!(
            controller.conf_sent_to, None,
            "the next router gets it again"
        );
        assert!(controller.accepting);
    }

    #[test]
    fn a_refused_sync_falls_back_to_the_empty_configuration() {
        let (mut controller, mut engine, _main) = controller();
        controller.finish(&mut engine, InFlight::Sync, Reply::Refused, b"bind failed");
        assert_eq!(controller.conf, Some(empty_conf()));
        assert_eq!(controller.conf_sent_to, None);
        assert!(controller.accepting);
    }
}
