//! The main process: start-up in Unit's order, then one engine loop that supervises the
//! controller and the router, answers their requests, and handles signals.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::stat::{Mode, umask};
use nix::unistd::{Pid, geteuid, getpid, setsid};
use unit_conf::{Action, Settings, VERSION, parse_command_line, version_number};
use unit_engine::{Engine, Event, Interest, Token};
use unit_log::{LogHandle, alert, notice};
use unit_port::{
    Message, MsgType, NewPort, PortId, PortKey, PortReceiver, PortSender, PortTable, ProcessType,
    encode_pid, port_pair,
};
use unit_process::{
    Credentials, ExitStatus, InheritedFds, Process, ProcessRegistry, ProcessState, StartSpec,
    reap_exited, spawn, take_inherited_fds,
};

use crate::control_socket::ControlSocket;
use crate::error::RuntimeError;
use crate::inherited::{
    InheritSource, LISTEN_FDS_ENV, LISTEN_PID_ENV, NGINX_ENV, take_inherited_sockets,
};
use crate::launcher::{ARGV_ENV, NOTIFY_FD_NAME, READY_NOTE};
use crate::listen::{ListenSockets, open_access_log};
use crate::pid_file::PidFile;
use crate::state::StateDir;

/// The configuration a fresh state directory starts with.
const DEFAULT_CONF: &str = r#"{"listeners":{},"applications":{}}"#;
/// Main's own port id.
const MAIN_PORT_ID: PortId = 0;
/// The engine token of main's port.
const MAIN_PORT: Token = Token(0);
/// Timer: children that did not quit in time are killed.
const QUIT_DEADLINE: u64 = 1;
/// Timer keys at and above this restart the process type `key - RESTART_TIMER_BASE`.
const RESTART_TIMER_BASE: u64 = 100;
/// How long children get to quit before they are killed.
const QUIT_GRACE: Duration = Duration::from_secs(5);
/// A child that dies sooner than this after starting is restarted only when this much
/// time has passed since its start, so a crash loop does not spin.
const RESTART_INTERVAL: Duration = Duration::from_secs(1);
/// The environment variable carrying the credentials a child drops to.
pub const CREDENTIALS_ENV: &str = "UNITD_CREDENTIALS";
/// The names children find their descriptors under.
pub const PORT_FD_NAME: &str = "port";
/// The name of main's port sender in a child.
pub const MAIN_FD_NAME: &str = "main";
/// The name of the control socket in the controller.
pub const CONTROL_FD_NAME: &str = "control";
/// Signals main handles.
const SIGNALS: [Signal; 8] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGCHLD,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGHUP,
    Signal::SIGPIPE,
];

/// Runs the main process (role `main`): returns the exit status.
pub fn run_main() -> i32 {
    unit_log::init();
    let argv: Vec<String> = std::env::var(ARGV_ENV)
        .ok()
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_default();
    let settings = match parse_command_line(&argv).outcome {
        Ok(Action::Run(settings)) => settings,
        _ => {
            alert!("the main process was started without a valid command line");
            return 1;
        }
    };
    let mut reporter = StartupReporter::new();
    let runtime = match MainProcess::start(settings, &mut reporter) {
        Ok(runtime) => runtime,
        Err(error) => {
            reporter.fatal(&error);
            return 1;
        }
    };
    match runtime.run(reporter) {
        Ok(()) => 0,
        Err(error) => {
            alert!("{error}");
            1
        }
    }
}

// === impl StartupReporter ===

/// Carries start-up failures to whoever started unitd: the original stderr stays open
/// until start-up ends, so a failure after the log file took over stderr is still shown.
struct StartupReporter {
    original_stderr: Option<File>,
    stderr_redirected: bool,
    notify: Option<File>,
}

impl StartupReporter {
    fn new() -> StartupReporter {
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

    fn fatal(&mut self, error: &RuntimeError) {
        alert!("{error}");
        if self.stderr_redirected
            && let Some(original_stderr) = &mut self.original_stderr
        {
            let _ = original_stderr
                .write_all(unit_log::format_line("alert", &error.to_string()).as_bytes());
        }
    }

    /// Start-up is over: tell the launcher and let go of its stderr.
    fn ready(&mut self) {
        if let Some(mut notify) = self.notify.take() {
            let _ = notify.write_all(READY_NOTE);
        }
        self.original_stderr = None;
    }
}

// === impl MainProcess ===

/// What to do when a pending restart timer fires, and bookkeeping for quitting.
#[derive(Debug, Default)]
struct Lifecycle {
    quitting: bool,
    restart_pending: [bool; ProcessType::COUNT],
}

/// The main process's state.
struct MainProcess {
    credentials: Option<Credentials>,
    log: LogHandle,
    state_dir: StateDir,
    control_socket: ControlSocket,
    // Binds listeners for the router, adopting inherited sockets on the same address.
    listen_sockets: ListenSockets,
    // The access log the router asked for, reopened on SIGUSR1.
    access_log_path: Option<String>,
    own_pid: Pid,
    own_port: PortReceiver,
    own_sender: PortSender,
    ports: PortTable,
    processes: ProcessRegistry,
    lifecycle: Lifecycle,
    initial_conf: String,
    reporter: Option<StartupReporter>,
    // Declared last so it is removed after the children are gone.
    _pid_file: PidFile,
}

impl MainProcess {
    /// Start-up in Unit's observable order (UNIT-COMPAT 1.4).
    fn start(
        settings: Settings,
        reporter: &mut StartupReporter,
    ) -> Result<MainProcess, RuntimeError> {
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
        let mut ports = PortTable::new();
        ports.insert(
            PortKey {
                pid: own_pid,
                id: MAIN_PORT_ID,
            },
            ProcessType::Main,
            own_sender.try_clone()?,
        );
        let mut processes = ProcessRegistry::new();
        processes.insert(Process {
            pid: own_pid,
            process_type: ProcessType::Main,
            state: ProcessState::Running,
            ports: vec![MAIN_PORT_ID],
            start: None,
            started_at: Instant::now(),
        });

        Ok(MainProcess {
            log: LogHandle::new(settings.log.clone()),
            credentials,
            state_dir,
            control_socket,
            listen_sockets: ListenSockets::new(inherited_sockets),
            access_log_path: None,
            own_pid,
            own_port,
            own_sender,
            ports,
            processes,
            lifecycle: Lifecycle::default(),
            initial_conf,
            reporter: None,
            _pid_file: pid_file,
        })
    }

    /// Starts the children and runs until a quit signal has been carried out.
    fn run(mut self, reporter: StartupReporter) -> Result<(), RuntimeError> {
        self.reporter = Some(reporter);
        let mut engine: Engine<MainProcess> = Engine::new()?;
        engine.watch_signals(&SIGNALS)?;
        engine
            .registry()
            .register(&mut self.own_port, MAIN_PORT, Interest::READABLE)
            .map_err(RuntimeError::Register)?;
        for process_type in [ProcessType::Controller, ProcessType::Router] {
            self.start_child(&mut engine, process_type);
        }
        engine.run(&mut self, |main, engine, event| {
            main.on_event(engine, event)
        })?;
        Ok(())
    }

    fn on_event(&mut self, engine: &mut Engine<MainProcess>, event: Event) {
        match event {
            Event::Io {
                token: MAIN_PORT, ..
            } => self.receive_messages(engine),
            Event::Io { .. } => {}
            Event::Signal(signal) => self.on_signal(engine, signal),
            Event::Timer {
                key: QUIT_DEADLINE, ..
            } => self.kill_stragglers(engine),
            Event::Timer { key, .. } => {
                let type_number = key.saturating_sub(RESTART_TIMER_BASE);
                if let Some(process_type) = u8::try_from(type_number)
                    .ok()
                    .and_then(ProcessType::from_u8)
                {
                    self.lifecycle.restart_pending[process_type as usize] = false;
                    if !self.lifecycle.quitting {
                        self.start_child(engine, process_type);
                    }
                }
            }
        }
    }

    // --- Signals ---

    fn on_signal(&mut self, engine: &mut Engine<MainProcess>, signal: Signal) {
        let number = signal as i32;
        match signal {
            Signal::SIGTERM | Signal::SIGINT | Signal::SIGQUIT => {
                notice!("signal {number} ({signal}) received, exiting");
                self.begin_quit(engine);
            }
            Signal::SIGCHLD => self.reap_children(engine),
            Signal::SIGUSR1 => {
                notice!("signal {number} ({signal}) received, log files rotation");
                self.reopen_log_files();
            }
            Signal::SIGHUP | Signal::SIGUSR2 => {
                notice!("signal {number} ({signal}) received, ignored")
            }
            _ => {}
        }
    }

    fn reopen_log_files(&mut self) {
        self.reopen_access_log();
        // On failure LogHandle keeps the old file and logs why.
        let Ok(file) = self.log.reopen() else { return };
        for pid in self.child_pids() {
            match file.try_clone() {
                Ok(copy) => self.send(
                    pid,
                    Message::new(MsgType::ChangeFile).with_fd(OwnedFd::from(copy)),
                ),
                Err(error) => {
                    tracing::warn!("passing the reopened log to process {pid} failed: {error}")
                }
            }
        }
    }

    fn reopen_access_log(&self) {
        let Some(path) = &self.access_log_path else {
            return;
        };
        let Some((PortKey { pid, .. }, _)) = self.ports.by_type(ProcessType::Router) else {
            return;
        };
        match open_access_log(path) {
            Ok(file) => self.send(
                pid,
                Message::new(MsgType::AccessLog)
                    .with_payload(path.clone())
                    .with_fd(OwnedFd::from(file)),
            ),
            Err(error) => alert!(
                "open(\"{path}\") failed{}",
                unit_log::os_error_suffix(&error)
            ),
        }
    }

    // --- Children ---

    fn child_pids(&self) -> Vec<Pid> {
        self.processes
            .iter()
            .filter(|process| process.pid != self.own_pid)
            .map(|process| process.pid)
            .collect()
    }

    fn start_spec(&self, process_type: ProcessType) -> StartSpec {
        let mut env = Vec::new();
        if let Some(credentials) = &self.credentials {
            env.push((CREDENTIALS_ENV.to_owned(), credentials.to_env()));
        }
        StartSpec {
            process_type,
            title: format!("unit: {}", process_type.name()),
            role: process_type.name().to_owned(),
            env,
            env_remove: [NGINX_ENV, LISTEN_FDS_ENV, LISTEN_PID_ENV, ARGV_ENV]
                .iter()
                .map(|name| (*name).to_owned())
                .collect(),
        }
    }

    fn start_child(&mut self, engine: &mut Engine<MainProcess>, process_type: ProcessType) {
        if let Err(error) = self.try_start_child(process_type) {
            alert!("failed to start {}: {error}", process_type.name());
            self.schedule_restart(engine, process_type, RESTART_INTERVAL);
        }
    }

    fn try_start_child(&mut self, process_type: ProcessType) -> Result<(), RuntimeError> {
        let spec = self.start_spec(process_type);
        let (child_port, child_sender) = port_pair()?;
        let mut fds = InheritedFds::new()
            .with(PORT_FD_NAME, child_port.as_fd())
            .with(MAIN_FD_NAME, self.own_sender.as_fd());
        if process_type == ProcessType::Controller {
            fds = fds.with(CONTROL_FD_NAME, self.control_socket.as_fd());
        }
        let pid = spawn(&spec, &fds)?;
        drop(child_port);
        if process_type == ProcessType::Controller {
            tracing::info!("controller started");
        }
        tracing::debug!(pid = %pid, kind = process_type.name(), "process spawned");

        // Introduce the newcomer and its peers to each other.
        let peers: Vec<(PortKey, ProcessType)> = self
            .ports
            .iter()
            .filter(|(key, kind, _)| {
                key.pid != self.own_pid
                    && matches!(kind, ProcessType::Controller | ProcessType::Router)
            })
            .map(|(key, kind, _)| (key, kind))
            .collect();
        let key = PortKey { pid, id: 0 };
        self.ports.insert(key, process_type, child_sender);
        self.processes.insert(Process {
            pid,
            process_type,
            state: ProcessState::Starting,
            ports: vec![0],
            start: Some(spec),
            started_at: Instant::now(),
        });
        // The newcomer learns its peers first: by the time a peer hears of it and sends it
        // a request, the newcomer's queue already holds the peer's port to reply to.
        for (peer_key, peer_type) in peers {
            self.introduce(peer_key, peer_type, pid);
            self.introduce(key, process_type, peer_key.pid);
        }
        if process_type == ProcessType::Controller {
            self.send(
                pid,
                Message::new(MsgType::Data).with_payload(self.initial_conf.clone()),
            );
        }
        Ok(())
    }

    /// Tells `to` about the port `key` (owned by a process of `kind`), passing its sender.
    fn introduce(&self, key: PortKey, kind: ProcessType, to: Pid) {
        let Some(sender) = self.ports.get(key) else {
            return;
        };
        let copy = match sender.try_clone() {
            Ok(copy) => copy,
            Err(error) => {
                tracing::warn!("introducing process {} to {to} failed: {error}", key.pid);
                return;
            }
        };
        let new_port = NewPort {
            pid: key.pid,
            id: key.id,
            process_type: kind,
        };
        self.send(
            to,
            Message::new(MsgType::NewPort)
                .with_payload(new_port.encode())
                .with_fd(copy.into_fd()),
        );
    }

    fn send(&self, pid: Pid, message: Message) {
        let Some(sender) = self.ports.get(PortKey { pid, id: 0 }) else {
            return;
        };
        if let Err(error) = sender.send(&message, MAIN_PORT_ID) {
            tracing::warn!(
                "sending {:?} to process {pid} failed: {error}",
                message.msg_type
            );
        }
    }

    fn reap_children(&mut self, engine: &mut Engine<MainProcess>) {
        for (pid, status) in reap_exited() {
            let Some(process) = self.processes.remove(pid) else {
                continue;
            };
            let description = status.describe(pid);
            match status {
                ExitStatus::Signal { .. } => alert!("{description}"),
                ExitStatus::Code(_) => notice!("{description}"),
            }
            self.ports.remove_pid(pid);
            self.own_port.forget_sender(pid);
            if !self.lifecycle.quitting {
                for other in self.child_pids() {
                    self.send(
                        other,
                        Message::new(MsgType::RemovePid).with_payload(encode_pid(pid)),
                    );
                }
            }
            if !self.lifecycle.quitting
                && matches!(
                    process.process_type,
                    ProcessType::Controller | ProcessType::Router
                )
            {
                let delay = RESTART_INTERVAL.saturating_sub(process.started_at.elapsed());
                self.schedule_restart(engine, process.process_type, delay);
            }
        }
        if self.lifecycle.quitting && self.child_pids().is_empty() {
            engine.stop();
        }
    }

    fn schedule_restart(
        &mut self,
        engine: &mut Engine<MainProcess>,
        process_type: ProcessType,
        delay: Duration,
    ) {
        let pending = &mut self.lifecycle.restart_pending[process_type as usize];
        if !*pending {
            *pending = true;
            engine.add_timer(delay, RESTART_TIMER_BASE + process_type as u64);
        }
    }

    // --- Quitting ---

    fn begin_quit(&mut self, engine: &mut Engine<MainProcess>) {
        if self.lifecycle.quitting {
            return;
        }
        self.lifecycle.quitting = true;
        let children = self.child_pids();
        if children.is_empty() {
            engine.stop();
            return;
        }
        for pid in children {
            if let Some(process) = self.processes.get_mut(pid) {
                process.state = ProcessState::Quitting;
            }
            self.send(pid, Message::new(MsgType::Quit));
        }
        engine.add_timer(QUIT_GRACE, QUIT_DEADLINE);
    }

    fn kill_stragglers(&mut self, engine: &mut Engine<MainProcess>) {
        for pid in self.child_pids() {
            tracing::warn!("process {pid} did not quit in time, killing it");
            let _ = kill(pid, Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
            self.processes.remove(pid);
        }
        engine.stop();
    }

    // --- Messages ---

    fn receive_messages(&mut self, engine: &mut Engine<MainProcess>) {
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

    fn on_message(&mut self, _engine: &mut Engine<MainProcess>, message: Message) {
        let sender = message.sender;
        let Some(process_type) = self
            .processes
            .get(sender)
            .map(|process| process.process_type)
        else {
            tracing::debug!(
                "message {:?} from unknown process {sender}",
                message.msg_type
            );
            return;
        };
        match message.msg_type {
            MsgType::ProcessReady => {
                if let Some(process) = self.processes.get_mut(sender) {
                    process.state = ProcessState::Running;
                }
                if process_type == ProcessType::Controller
                    && let Some(mut reporter) = self.reporter.take()
                {
                    reporter.ready();
                }
            }
            MsgType::ConfStore => {
                let reply = match self
                    .state_dir
                    .store_conf(&message.payload, version_number())
                {
                    Ok(()) => {
                        self.initial_conf = message.payload_text().into_owned();
                        Message::new(MsgType::RpcReady)
                    }
                    Err(error) => {
                        alert!("failed to store current configuration: {error}");
                        Message::new(MsgType::RpcError).with_payload(error.to_string())
                    }
                };
                self.reply(&message, reply);
            }
            MsgType::Socket if process_type == ProcessType::Router => {
                let request = message.payload_text().into_owned();
                let (backlog, address) =
                    request.split_once(' ').unwrap_or(("-1", request.as_str()));
                let reply = match self
                    .listen_sockets
                    .open(address, backlog.parse().unwrap_or(-1))
                {
                    Ok(fd) => Message::new(MsgType::RpcReady).with_fd(fd),
                    Err(error) => {
                        alert!("{}", error.0);
                        Message::new(MsgType::RpcError).with_payload(error.0)
                    }
                };
                self.reply(&message, reply);
            }
            MsgType::SocketClose if process_type == ProcessType::Router => {
                self.listen_sockets.release(&message.payload_text());
            }
            MsgType::AccessLog if process_type == ProcessType::Router => {
                let path = message.payload_text().into_owned();
                let reply = match open_access_log(&path) {
                    Ok(file) => {
                        self.access_log_path = Some(path);
                        Message::new(MsgType::RpcReady).with_fd(OwnedFd::from(file))
                    }
                    Err(error) => {
                        let text = format!(
                            "open(\"{path}\") failed{}",
                            unit_log::os_error_suffix(&error)
                        );
                        alert!("{text}");
                        Message::new(MsgType::RpcError).with_payload(text)
                    }
                };
                self.reply(&message, reply);
            }
            other => tracing::debug!(
                "ignoring message {other:?} from {} {sender}",
                process_type.name()
            ),
        }
    }

    fn reply(&self, request: &Message, reply: Message) {
        let key = PortKey {
            pid: request.sender,
            id: request.reply_port,
        };
        let Some(sender) = self.ports.get(key) else {
            return;
        };
        if let Err(error) = sender.send(&reply.with_stream(request.stream), MAIN_PORT_ID) {
            tracing::warn!("replying to process {} failed: {error}", request.sender);
        }
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
