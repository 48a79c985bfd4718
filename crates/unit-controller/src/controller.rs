//! The controller's state and its engine loop.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use mio::net::{TcpListener, UnixListener};
use mio::unix::SourceFd;
use nix::sys::signal::Signal;
use nix::sys::socket::{AddressFamily, SockaddrLike, SockaddrStorage, getsockname};
use nix::unistd::Pid;
use serde_json::Value;
use unit_engine::{Engine, Event, HashMap, Interest, Token};
use unit_log::alert;
use unit_port::{
    Message, MsgType, PortKey, PortReceiver, PortSender, PortTable, ProcessType, RpcStreams,
};

use crate::api;
use crate::connection::{Connection, ReadOutcome, Stream};
use crate::error::ControllerError;

/// The engine token of the controller's port.
const PORT: Token = Token(0);
/// The token watching the link to main, to notice main's death.
const MAIN_LINK: Token = Token(1);
/// The token of the control socket.
const LISTENER: Token = Token(2);
/// Connections get tokens from here on.
const FIRST_CONNECTION: usize = 16;
/// A control connection must be done within this time.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);

/// What the controller is handed at start.
#[derive(Debug)]
pub struct ControllerSetup {
    /// This process's port.
    pub port: PortReceiver,
    /// Main's port.
    pub main: PortSender,
    /// Main's pid.
    pub main_pid: Pid,
    /// The listening control socket.
    pub listener: OwnedFd,
}

/// What an RPC to the router was for.
#[derive(Debug)]
enum Pending {
    /// Sending the current configuration to a (new) router.
    Apply,
}

/// The control socket, unix or TCP.
#[derive(Debug)]
enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

impl Listener {
    fn from_fd(fd: OwnedFd) -> Result<Listener, ControllerError> {
        let storage: SockaddrStorage =
            getsockname(fd.as_raw_fd()).map_err(|errno| ControllerError::Socket(errno.into()))?;
        if storage.family() == Some(AddressFamily::Unix) {
            let listener = std::os::unix::net::UnixListener::from(fd);
            listener
                .set_nonblocking(true)
                .map_err(ControllerError::Socket)?;
            Ok(Listener::Unix(UnixListener::from_std(listener)))
        } else {
            let listener = std::net::TcpListener::from(fd);
            listener
                .set_nonblocking(true)
                .map_err(ControllerError::Socket)?;
            Ok(Listener::Tcp(TcpListener::from_std(listener)))
        }
    }

    fn accept(&self) -> io::Result<Stream> {
        match self {
            Listener::Unix(listener) => listener.accept().map(|(stream, _)| Stream::Unix(stream)),
            Listener::Tcp(listener) => listener.accept().map(|(stream, _)| Stream::Tcp(stream)),
        }
    }

    fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Listener::Unix(listener) => listener,
            Listener::Tcp(listener) => listener,
        }
    }
}

/// The controller's state.
struct Controller {
    own_port: PortReceiver,
    main: PortSender,
    main_pid: Pid,
    ports: PortTable,
    listener: Listener,
    accepting: bool,
    conf: Option<Value>,
    conf_sent_to: Option<Pid>,
    rpc: RpcStreams<Pending>,
    connections: HashMap<usize, Connection>,
    next_token: usize,
}

/// Runs the controller until main says quit or goes away.
pub fn run(setup: ControllerSetup) -> Result<(), ControllerError> {
    let mut engine: Engine<Controller> = Engine::new()?;
    engine.watch_signals(&[
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGHUP,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGPIPE,
    ])?;
    let mut controller = Controller {
        own_port: setup.port,
        main: setup.main,
        main_pid: setup.main_pid,
        ports: PortTable::new(),
        listener: Listener::from_fd(setup.listener)?,
        accepting: false,
        conf: None,
        conf_sent_to: None,
        rpc: RpcStreams::new(),
        connections: HashMap::default(),
        next_token: FIRST_CONNECTION,
    };
    let registry = engine.registry();
    registry
        .register(&mut controller.own_port, PORT, Interest::READABLE)
        .map_err(ControllerError::Socket)?;
    let main_fd = std::os::fd::AsFd::as_fd(&controller.main).as_raw_fd();
    registry
        .register(&mut SourceFd(&main_fd), MAIN_LINK, Interest::READABLE)
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
            } => self.accept_connections(engine),
            Event::Io { token, .. } => self.drive_connection(engine, token.0),
            Event::Timer { key, .. } => {
                if let Ok(token) = usize::try_from(key) {
                    self.close_connection(engine, token);
                }
            }
            Event::Signal(Signal::SIGTERM | Signal::SIGINT | Signal::SIGQUIT) => engine.stop(),
            Event::Signal(_) => {}
        }
    }

    // --- Ports ---

    fn receive_messages(&mut self, engine: &mut Engine<Controller>) {
        loop {
            match self.own_port.receive() {
                Ok(Some(message)) => self.on_message(engine, message),
                Ok(None) => return,
                Err(error) => {
                    tracing::warn!("reading controller port failed: {error}");
                    return;
                }
            }
        }
    }

    fn on_message(&mut self, engine: &mut Engine<Controller>, mut message: Message) {
        match message.msg_type {
            MsgType::Quit => engine.stop(),
            MsgType::Data if message.sender == self.main_pid => {
                self.conf = Some(stored_conf(&message.payload_text()));
                self.apply_to_router(engine);
            }
            MsgType::NewPort => match self.ports.apply_new_port(&mut message) {
                Ok(new_port) if new_port.process_type == ProcessType::Router => {
                    self.apply_to_router(engine)
                }
                Ok(_) => {}
                Err(error) => tracing::warn!("bad NEW_PORT message: {error}"),
            },
            MsgType::RemovePid => match self.ports.apply_remove_pid(&message) {
                Ok(pid) => {
                    if self.conf_sent_to == Some(pid) {
                        self.conf_sent_to = None;
                    }
                    self.rpc.take_for_peer(pid);
                }
                Err(error) => tracing::warn!("bad REMOVE_PID message: {error}"),
            },
            MsgType::ChangeFile => {
                if let Some(file) = message.fds.first()
                    && let Err(error) = unit_log::redirect_stderr(file)
                {
                    tracing::warn!("{error}");
                }
            }
            MsgType::RpcReady | MsgType::RpcError => {
                let ready = message.msg_type == MsgType::RpcReady;
                match self.rpc.take(message.stream) {
                    Some(Pending::Apply) => self.on_applied(engine, ready, &message.payload_text()),
                    None => tracing::debug!("reply on unknown stream {}", message.stream),
                }
            }
            other => tracing::debug!("ignoring message {other:?} from {}", message.sender),
        }
    }

    /// Sends the current configuration to the router, once both are known.
    fn apply_to_router(&mut self, engine: &mut Engine<Controller>) {
        let Some(conf) = &self.conf else { return };
        let Some((PortKey { pid, .. }, router)) = self.ports.by_type(ProcessType::Router) else {
            return;
        };
        if self.conf_sent_to == Some(pid) {
            return;
        }
        let stream = self.rpc.register(pid, Pending::Apply);
        let message = Message::new(MsgType::Data)
            .with_stream(stream)
            .with_payload(conf.to_string());
        match router.send(&message, 0) {
            Ok(()) => self.conf_sent_to = Some(pid),
            Err(error) => {
                self.rpc.take(stream);
                alert!("sending the configuration to the router failed: {error}");
                self.start_accepting(engine);
            }
        }
    }

    fn on_applied(&mut self, engine: &mut Engine<Controller>, ready: bool, reason: &str) {
        if !ready {
            alert!("failed to apply previous configuration: {reason}");
        }
        self.start_accepting(engine);
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
        if let Err(error) = self.main.send(
            &Message::new(MsgType::ProcessReady).with_payload("controller"),
            0,
        ) {
            tracing::warn!("telling main the controller is ready failed: {error}");
        }
    }

    // --- Control connections ---

    fn accept_connections(&mut self, engine: &mut Engine<Controller>) {
        loop {
            let mut stream = match self.listener.accept() {
                Ok(stream) => stream,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    tracing::warn!("accept on the control socket failed: {error}");
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
            engine.add_timer(CONNECTION_TIMEOUT, token as u64);
            self.connections.insert(token, Connection::new(stream));
        }
    }

    fn drive_connection(&mut self, engine: &mut Engine<Controller>, token: usize) {
        let Some(connection) = self.connections.get_mut(&token) else {
            return;
        };
        if connection.is_responding() {
            self.flush_connection(engine, token);
            return;
        }
        let response = match connection.read_request() {
            ReadOutcome::Incomplete => return,
            ReadOutcome::Close => {
                self.close_connection(engine, token);
                return;
            }
            ReadOutcome::Refuse(response) => response,
            ReadOutcome::Request(request) => {
                let empty = empty_conf();
                api::handle(
                    &request.head.method,
                    &request.head.target,
                    self.conf.as_ref().unwrap_or(&empty),
                )
            }
        };
        if let Some(connection) = self.connections.get_mut(&token) {
            connection.respond(&response);
        }
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
            let _ = engine.registry().deregister(connection.stream.source());
        }
    }
}

/// Parses the stored configuration; an unusable one is logged and replaced by the empty
/// configuration (the file stays for the operator).
fn stored_conf(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(conf @ Value::Object(_)) => conf,
        Ok(_) => {
            alert!("the previous configuration is invalid: The configuration must be an object.");
            empty_conf()
        }
        Err(error) => {
            alert!("the previous configuration is invalid: {error}");
            empty_conf()
        }
    }
}

fn empty_conf() -> Value {
    serde_json::json!({"listeners": {}, "applications": {}})
}
