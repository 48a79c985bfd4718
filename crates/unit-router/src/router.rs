//! The router's state and its engine loop.

use std::os::fd::{AsFd, AsRawFd};

use mio::unix::SourceFd;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use serde_json::{Value, json};
use unit_engine::{Engine, Event, HashMap, Interest, Token, WORKER_SIGNALS};
use unit_port::{Message, MsgType, PortKey, PortReceiver, PortSender, PortTable};

use crate::error::RouterError;

/// The engine token of the router's port.
const PORT: Token = Token(0);
/// The token watching the link to main, to notice main's death.
const MAIN_LINK: Token = Token(1);

/// What the router is handed at start.
#[derive(Debug)]
pub struct RouterSetup {
    /// This process's port.
    pub port: PortReceiver,
    /// Main's port.
    pub main: PortSender,
    /// Main's pid.
    pub main_pid: Pid,
}

/// Router-wide counters since the router started, for `/status`.
#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    accepted: u64,
    idle: u64,
    closed: u64,
    requests: u64,
}

/// The router's state.
struct Router {
    own_port: PortReceiver,
    main: PortSender,
    main_pid: Pid,
    ports: PortTable,
    conf: Value,
    counters: Counters,
    /// Each application's process generation; a restart starts a new one.
    generations: HashMap<String, u64>,
}

/// Runs the router until main says quit or goes away.
pub fn run(setup: RouterSetup) -> Result<(), RouterError> {
    let mut engine: Engine<Router> = Engine::new()?;
    engine.watch_signals(&WORKER_SIGNALS)?;
    let mut router = Router {
        own_port: setup.port,
        main: setup.main,
        main_pid: setup.main_pid,
        ports: PortTable::new(),
        conf: serde_json::json!({}),
        counters: Counters::default(),
        generations: HashMap::default(),
    };
    let registry = engine.registry();
    registry
        .register(&mut router.own_port, PORT, Interest::READABLE)
        .map_err(RouterError::Register)?;
    let main_fd = router.main.as_fd().as_raw_fd();
    registry
        .register(&mut SourceFd(&main_fd), MAIN_LINK, Interest::READABLE)
        .map_err(RouterError::Register)?;
    tracing::info!("router started");
    if let Err(error) = router.main.send(
        &Message::new(MsgType::ProcessReady).with_payload("router"),
        0,
    ) {
        tracing::warn!("telling main the router is ready failed: {error}");
    }
    engine.run(&mut router, |router, engine, event| {
        router.on_event(engine, event)
    })?;
    Ok(())
}

impl Router {
    fn on_event(&mut self, engine: &mut Engine<Router>, event: Event) {
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
            Event::Signal(Signal::SIGTERM | Signal::SIGINT | Signal::SIGQUIT) => engine.stop(),
            Event::Io { .. } | Event::Timer { .. } | Event::Signal(_) => {}
        }
    }

    fn receive_messages(&mut self, engine: &mut Engine<Router>) {
        loop {
            match self.own_port.receive() {
                Ok(Some(message)) => self.on_message(engine, message),
                Ok(None) => return,
                Err(error) => {
                    tracing::warn!("reading router port failed: {error}");
                    return;
                }
            }
        }
    }

    fn on_message(&mut self, engine: &mut Engine<Router>, mut message: Message) {
        match message.msg_type {
            MsgType::Quit if message.sender == self.main_pid => engine.stop(),
            MsgType::Data => {
                let reply = match self.apply(&message.payload) {
                    Ok(()) => Message::new(MsgType::RpcReady),
                    Err(reason) => {
                        unit_log::alert!("failed to apply new conf");
                        Message::new(MsgType::RpcError).with_payload(reason)
                    }
                };
                self.reply(&message, reply);
            }
            MsgType::Status => {
                let status = self.status().to_string();
                self.reply(
                    &message,
                    Message::new(MsgType::RpcReady).with_payload(status),
                );
            }
            MsgType::AppRestart => {
                let app = message.payload_text().into_owned();
                let reply = if self
                    .applications()
                    .is_some_and(|apps| apps.contains_key(&app))
                {
                    *self.generations.entry(app).or_default() += 1;
                    Message::new(MsgType::RpcReady)
                } else {
                    Message::new(MsgType::RpcError)
                        .with_payload(format!("no application \"{app}\""))
                };
                self.reply(&message, reply);
            }
            MsgType::NewPort => {
                if let Err(error) = self.ports.apply_new_port(&mut message) {
                    tracing::warn!("bad NEW_PORT message: {error}");
                }
            }
            MsgType::RemovePid => {
                if let Err(error) = self.ports.apply_remove_pid(&message) {
                    tracing::warn!("bad REMOVE_PID message: {error}");
                }
            }
            MsgType::ChangeFile => {
                if let Some(file) = message.fds.first()
                    && let Err(error) = unit_log::redirect_stderr(file)
                {
                    tracing::warn!("{error}");
                }
            }
            other => tracing::debug!("ignoring message {other:?} from {}", message.sender),
        }
    }

    /// Takes a new configuration.
    fn apply(&mut self, payload: &[u8]) -> Result<(), String> {
        let conf: Value = serde_json::from_slice(payload).map_err(|error| error.to_string())?;
        if !conf.is_object() {
            return Err("the configuration is not an object".to_owned());
        }
        self.conf = conf;
        Ok(())
    }

    fn applications(&self) -> Option<&serde_json::Map<String, Value>> {
        self.conf.get("applications").and_then(Value::as_object)
    }

    /// The status document (UNIT-COMPAT 4): connection and request counters and one
    /// entry per configured application.
    fn status(&self) -> Value {
        let counters = self.counters;
        let active = counters
            .accepted
            .saturating_sub(counters.closed)
            .saturating_sub(counters.idle);
        let applications: serde_json::Map<String, Value> = self
            .applications()
            .map(|apps| {
                apps.keys()
                    .map(|name| {
                        let entry = json!({
                            "processes": {"running": 0, "starting": 0, "idle": 0},
                            "requests": {"active": 0},
                        });
                        (name.clone(), entry)
                    })
                    .collect()
            })
            .unwrap_or_default();
        json!({
            "modules": {},
            "connections": {
                "accepted": counters.accepted,
                "active": active,
                "idle": counters.idle,
                "closed": counters.closed,
            },
            "requests": {"total": counters.requests},
            "applications": applications,
        })
    }

    fn reply(&self, request: &Message, reply: Message) {
        let key = PortKey {
            pid: request.sender,
            id: request.reply_port,
        };
        let Some(sender) = self.ports.get(key) else {
            tracing::warn!("no port to reply to process {}", request.sender);
            return;
        };
        if let Err(error) = sender.send(&reply.with_stream(request.stream), 0) {
            tracing::warn!("replying to process {} failed: {error}", request.sender);
        }
    }
}
