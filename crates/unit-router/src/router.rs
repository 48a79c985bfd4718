//! The router's main thread: it takes configurations from the controller, gets listen
//! sockets and access logs from main, swaps each new configuration into the workers,
//! and answers status and restart requests.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mio::unix::SourceFd;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use serde_json::{Value, json};
use unit_engine::{Engine, Event, HashMap, Interest, Remote, Token, WORKER_SIGNALS};
use unit_port::{
    Message, MsgType, PortId, PortKey, PortReceiver, PortSender, PortTable, RpcStreams,
};

use crate::access_log::{AccessLog, LogFormat};
use crate::conf::{ActiveConf, Compiled};
use crate::error::RouterError;
use crate::worker::{WorkerHandle, spawn_worker};

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

/// One worker's counters since the router started, for `/status`, which adds up every
/// worker's. Each worker writes only its own, on a cache line of its own, so counting
/// never makes the workers' cores pass a line back and forth.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Counters {
    pub(crate) accepted: AtomicU64,
    pub(crate) idle: AtomicU64,
    pub(crate) closed: AtomicU64,
    pub(crate) requests: AtomicU64,
}

/// Who asked for the configuration being applied, to answer them.
#[derive(Debug, Clone, Copy)]
struct Requester {
    pid: Pid,
    reply_port: PortId,
    stream: u32,
}

/// A configuration waiting for main's sockets and access log.
#[derive(Debug)]
struct Applying {
    requester: Requester,
    conf: Value,
    compiled: Compiled,
    waiting: usize,
    failed: Option<String>,
    new_sockets: HashMap<String, Arc<OwnedFd>>,
    access_log: Option<Arc<AccessLog>>,
}

/// An applied configuration on its way into the workers: its requester is answered
/// once every worker uses it, so a request sent after the answer runs on it.
#[derive(Debug)]
struct Swapping {
    requester: Requester,
    /// Which configuration this is, so a late worker's word on an older one is ignored.
    generation: u64,
    /// Workers that have not taken it yet.
    n_workers_left: usize,
}

/// What an RPC to main was for.
#[derive(Debug)]
enum MainRpc {
    Socket(String),
    AccessLog(String, LogFormat),
}

/// The router's state.
struct Router {
    own_port: PortReceiver,
    main: PortSender,
    main_pid: Pid,
    ports: PortTable,
    conf: Value,
    active: Option<Arc<ActiveConf>>,
    sockets: HashMap<String, Arc<OwnedFd>>,
    applying: Option<Applying>,
    swapping: Option<Swapping>,
    /// How many configurations have been handed to the workers.
    generation: u64,
    /// This thread's engine, for workers to report back on.
    remote: Remote<Router>,
    rpc: RpcStreams<MainRpc>,
    workers: Vec<WorkerHandle>,
    /// Every worker's counters by worker number, kept when a worker stops so the
    /// totals never go back.
    counters: Vec<Arc<Counters>>,
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
        conf: json!({}),
        active: None,
        sockets: HashMap::default(),
        applying: None,
        swapping: None,
        generation: 0,
        remote: engine.remote(),
        rpc: RpcStreams::new(),
        workers: Vec::new(),
        counters: Vec::new(),
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
    let result = engine.run(&mut router, |router, engine, event| {
        router.on_event(engine, event)
    });
    for worker in router.workers.drain(..) {
        worker.stop();
    }
    result?;
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
            MsgType::Data => self.begin_apply(&message),
            MsgType::Status => {
                let status = self.status().to_string();
                self.reply_to(
                    requester_of(&message),
                    Message::new(MsgType::RpcReady).with_payload(status),
                );
            }
            MsgType::AppRestart => {
                let app = message.payload_text().into_owned();
                let known = self
                    .conf
                    .get("applications")
                    .and_then(|apps| apps.get(&app))
                    .is_some();
                let reply = if known {
                    *self.generations.entry(app).or_default() += 1;
                    Message::new(MsgType::RpcReady)
                } else {
                    Message::new(MsgType::RpcError)
                        .with_payload(format!("no application \"{app}\""))
                };
                self.reply_to(requester_of(&message), reply);
            }
            MsgType::RpcReady | MsgType::RpcError if message.sender == self.main_pid => {
                let ready = message.msg_type == MsgType::RpcReady;
                if let Some(rpc) = self.rpc.take(message.stream) {
                    self.on_main_reply(rpc, ready, &mut message);
                }
            }
            MsgType::AccessLog if message.sender == self.main_pid => {
                // Main reopened the access log (SIGUSR1).
                let path = message.payload_text().into_owned();
                if let (Some(fd), Some(access_log)) = (message.fds.pop(), self.access_log())
                    && access_log.path == path
                {
                    access_log.replace_file(File::from(fd));
                }
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

    fn access_log(&self) -> Option<&Arc<AccessLog>> {
        self.active
            .as_ref()
            .and_then(|active| active.access_log.as_ref())
    }

    // --- Applying a configuration ---

    fn begin_apply(&mut self, message: &Message) {
        let requester = requester_of(message);
        if self.applying.is_some() {
            return self.reply_to(
                requester,
                error_reply("another configuration is being applied"),
            );
        }
        let conf: Value = match serde_json::from_slice(&message.payload) {
            Ok(conf) => conf,
            Err(error) => return self.reply_to(requester, error_reply(&error.to_string())),
        };
        // The controller validated it already; parsing again gives the typed model, and
        // Unit's message should a configuration arrive that is not valid.
        let parsed = match unit_conf::parse_config(&conf) {
            Ok(parsed) => parsed,
            Err(validation_error) => {
                unit_log::alert!("failed to apply new conf");
                return self.reply_to(requester, error_reply(&validation_error.detail));
            }
        };
        let mut compiled = match Compiled::compile(&parsed) {
            Ok(compiled) => compiled,
            Err(compile_error) => {
                unit_log::alert!("failed to apply new conf");
                return self.reply_to(requester, error_reply(&compile_error.to_string()));
            }
        };
        let mut calls: Vec<(Message, MainRpc)> = compiled
            .listeners
            .iter()
            .filter(|listener| !self.sockets.contains_key(&listener.address))
            .map(|listener| {
                // Main reads -1 as the system default.
                let backlog = listener.backlog.map_or(-1, i64::from);
                let message = Message::new(MsgType::Socket)
                    .with_payload(format!("{backlog} {}", listener.address));
                (message, MainRpc::Socket(listener.address.clone()))
            })
            .collect();
        if let Some((path, format)) = compiled.access_log.take() {
            let message = Message::new(MsgType::AccessLog).with_payload(path.clone());
            calls.push((message, MainRpc::AccessLog(path, format)));
        }
        let mut waiting = 0;
        let mut failed = None;
        for (message, rpc) in calls {
            if self.call_main(message, rpc) {
                waiting += 1;
            } else {
                failed = Some("main is not reachable".to_owned());
            }
        }
        let applying = Applying {
            requester,
            conf,
            compiled,
            waiting,
            failed,
            new_sockets: HashMap::default(),
            access_log: None,
        };
        self.applying = Some(applying);
        self.maybe_finish_apply();
    }

    fn call_main(&mut self, message: Message, rpc: MainRpc) -> bool {
        let stream = self.rpc.register(self.main_pid, rpc);
        match self.main.send(&message.with_stream(stream), 0) {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!("asking main failed: {error}");
                self.rpc.take(stream);
                false
            }
        }
    }

    fn on_main_reply(&mut self, rpc: MainRpc, ready: bool, message: &mut Message) {
        let Some(applying) = &mut self.applying else {
            return;
        };
        applying.waiting = applying.waiting.saturating_sub(1);
        let fd = message.fds.pop();
        match (rpc, ready, fd) {
            (MainRpc::Socket(address), true, Some(fd)) => {
                applying.new_sockets.insert(address, Arc::new(fd));
            }
            (MainRpc::AccessLog(path, format), true, Some(fd)) => {
                applying.access_log = Some(Arc::new(AccessLog::new(path, format, File::from(fd))));
            }
            _ => {
                let reason = message.payload_text().into_owned();
                applying.failed.get_or_insert(reason);
            }
        }
        self.maybe_finish_apply();
    }

    fn maybe_finish_apply(&mut self) {
        if self
            .applying
            .as_ref()
            .is_none_or(|applying| applying.waiting > 0)
        {
            return;
        }
        let Some(applying) = self.applying.take() else {
            return;
        };
        if let Some(reason) = applying.failed {
            for address in applying.new_sockets.keys() {
                self.tell_main(Message::new(MsgType::SocketClose).with_payload(address.clone()));
            }
            unit_log::alert!("failed to apply new conf");
            return self.reply_to(applying.requester, error_reply(&reason));
        }
        self.sockets.extend(applying.new_sockets);
        let listen_threads = applying.compiled.listen_threads;
        let wanted: Vec<String> = applying
            .compiled
            .listeners
            .iter()
            .map(|listener| listener.address.clone())
            .collect();
        let active = match applying
            .compiled
            .activate(&self.sockets, applying.access_log)
        {
            Ok(active) => Arc::new(active),
            Err(compile_error) => {
                return self.reply_to(applying.requester, error_reply(&compile_error.to_string()));
            }
        };
        let removed: Vec<String> = self
            .sockets
            .keys()
            .filter(|address| !wanted.contains(address))
            .cloned()
            .collect();
        for address in removed {
            self.sockets.remove(&address);
            self.tell_main(Message::new(MsgType::SocketClose).with_payload(address));
        }
        if let Err(error) = self.ensure_workers(listen_threads) {
            return self.reply_to(
                applying.requester,
                error_reply(&format!("starting router threads failed: {error}")),
            );
        }
        self.generation += 1;
        let generation = self.generation;
        let mut n_workers_left = 0;
        for worker in &self.workers {
            let remote = self.remote.clone();
            let posted = worker.set_conf(Arc::clone(&active), move || {
                let _ = remote.post(move |router, _| router.worker_swapped(generation));
            });
            n_workers_left += usize::from(posted);
        }
        self.active = Some(active);
        self.conf = applying.conf;
        self.swapping = Some(Swapping {
            requester: applying.requester,
            generation,
            n_workers_left,
        });
        self.maybe_finish_swap();
    }

    /// A worker took configuration `generation`.
    fn worker_swapped(&mut self, generation: u64) {
        if let Some(swapping) = &mut self.swapping
            && swapping.generation == generation
        {
            swapping.n_workers_left = swapping.n_workers_left.saturating_sub(1);
        }
        self.maybe_finish_swap();
    }

    /// Answers the requester once every worker uses the new configuration.
    fn maybe_finish_swap(&mut self) {
        if self
            .swapping
            .as_ref()
            .is_none_or(|swapping| swapping.n_workers_left > 0)
        {
            return;
        }
        if let Some(swapping) = self.swapping.take() {
            self.reply_to(swapping.requester, Message::new(MsgType::RpcReady));
        }
    }

    /// Runs `listen_threads` workers (default: one per CPU).
    fn ensure_workers(&mut self, listen_threads: Option<usize>) -> std::io::Result<()> {
        let wanted = listen_threads
            .unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
            })
            .max(1);
        while self.workers.len() < wanted {
            let index = self.workers.len();
            // A worker started again where one was stopped goes on with its counts.
            if self.counters.len() == index {
                self.counters.push(Arc::default());
            }
            let worker = spawn_worker(index, Arc::clone(&self.counters[index]))?;
            if let Some(active) = &self.active {
                worker.set_conf(Arc::clone(active), || {});
            }
            self.workers.push(worker);
        }
        while self.workers.len() > wanted {
            if let Some(worker) = self.workers.pop() {
                worker.stop();
            }
        }
        Ok(())
    }

    // --- Status ---

    /// The status document (UNIT-COMPAT 4): connection and request counters and one
    /// entry per configured application.
    fn status(&self) -> Value {
        let total = |counter: fn(&Counters) -> &AtomicU64| -> u64 {
            self.counters
                .iter()
                .map(|counters| counter(counters).load(Ordering::Relaxed))
                .sum()
        };
        let accepted = total(|counters| &counters.accepted);
        let closed = total(|counters| &counters.closed);
        let idle = total(|counters| &counters.idle);
        let applications: serde_json::Map<String, Value> = self
            .conf
            .get("applications")
            .and_then(Value::as_object)
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
                "accepted": accepted,
                "active": accepted.saturating_sub(closed).saturating_sub(idle),
                "idle": idle,
                "closed": closed,
            },
            "requests": {"total": total(|counters| &counters.requests)},
            "applications": applications,
        })
    }

    // --- Replies ---

    fn tell_main(&self, message: Message) {
        if let Err(error) = self.main.send(&message, 0) {
            tracing::warn!("telling main failed: {error}");
        }
    }

    fn reply_to(&self, requester: Requester, reply: Message) {
        let key = PortKey {
            pid: requester.pid,
            id: requester.reply_port,
        };
        let Some(sender) = self.ports.get(key) else {
            tracing::warn!("no port to reply to process {}", requester.pid);
            return;
        };
        if let Err(error) = sender.send(&reply.with_stream(requester.stream), 0) {
            tracing::warn!("replying to process {} failed: {error}", requester.pid);
        }
    }
}

fn requester_of(message: &Message) -> Requester {
    Requester {
        pid: message.sender,
        reply_port: message.reply_port,
        stream: message.stream,
    }
}

fn error_reply(reason: &str) -> Message {
    Message::new(MsgType::RpcError).with_payload(reason.to_owned())
}
