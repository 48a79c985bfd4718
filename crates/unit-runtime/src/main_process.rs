//! The main process: after start-up, one engine loop that supervises the children,
//! answers what they ask of it, and handles signals.
//!
//! Start-up is in `startup`, the children's lives in `supervisor`, and what main does
//! for them over its port (storing the configuration, binding listen sockets, opening
//! access logs) in `services`; this module ties them to the engine: signals, timers and
//! the port.

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::Signal;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use nix::unistd::Pid;
use unit_conf::{Action, MODULES_ENV, parse_command_line};
use unit_engine::HashMap;
use unit_engine::{Engine, Event, Interest, Token};
use unit_log::{LogHandle, alert, notice};
use unit_port::{
    AppStart, AppStarted, Message, PortError, PortId, PortReceiver, ProcessType, Reply, ToChild,
    ToMain,
};
use unit_process::{ChildKind, Credentials, ExitStatus, Launch, ProcessState, StartSpec};

use crate::applications::Applications;
use crate::control_socket::ControlSocket;
use crate::error::RuntimeError;
use crate::inherited::{LISTEN_FDS_ENV, LISTEN_PID_ENV, NGINX_ENV};
use crate::launcher::ARGV_ENV;
use crate::listen::open_access_log;
use crate::pid_file::PidFile;
use crate::readiness::{PendingReady, READY_TIMEOUT, Readiness};
use crate::services::{Handled, Services};
use crate::startup::{Started, StartupReporter};
use crate::supervisor::{
    CONTROL_FD_NAME, CREDENTIALS_ENV, QUIT_GRACE, RESTART_INTERVAL, Supervisor,
};

/// The engine token of main's port.
const MAIN_PORT: Token = Token(0);
/// Timer: children that did not quit in time are killed.
const QUIT_DEADLINE: u64 = 1;
/// Timer: start the controller again.
const RESTART_CONTROLLER: u64 = 2;
/// Timer: start the router again.
const RESTART_ROUTER: u64 = 3;
/// Timers at and above this start an application process whose back-off is over
/// (`key - DELAYED_START_BASE` numbers the start).
const DELAYED_START_BASE: u64 = 1 << 32;
/// Timers at and above this kill an application process told to stop that is still
/// there (`key - KILL_BASE` is its pid).
const KILL_BASE: u64 = 1 << 48;
/// Timers at and above this (and below `DELAYED_START_BASE`) end the wait for a
/// runner's readiness (`key - READY_DEADLINE_BASE` numbers the wait).
const READY_DEADLINE_BASE: u64 = 1 << 24;
/// Tokens at and above this watch a runner's readiness pipe (`token - READY_TOKEN_BASE`
/// numbers the wait).
const READY_TOKEN_BASE: usize = 1 << 20;
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
    raise_descriptor_limit();
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
    let runtime = match Started::start(settings, &mut reporter) {
        Ok(started) => MainProcess::new(started),
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

/// Raises the soft descriptor limit to the hard one, as nginx users expect: a distribution's
/// default soft limit (often 1024) is far below what a router holding thousands of
/// connections needs. The controller, the router and applications inherit it.
fn raise_descriptor_limit() {
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if let Err(error) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                alert!("raising the descriptor limit from {soft} to {hard} failed: {error}");
            }
        }
        Ok(_) => {}
        Err(error) => alert!("reading the descriptor limit failed: {error}"),
    }
}

/// The main process's state.
struct MainProcess {
    credentials: Option<Credentials>,
    log: LogHandle,
    control_socket: ControlSocket,
    own_port: PortReceiver,
    supervisor: Supervisor,
    services: Services,
    applications: Applications,
    /// The discovered language modules as the controller and the router are told of
    /// them (`MODULES_ENV`).
    modules_json: String,
    /// The socket file of each application process, removed when it is gone.
    app_sockets: HashMap<Pid, PathBuf>,
    /// Application starts waiting out a back-off, by number.
    delayed_starts: HashMap<u64, DelayedStart>,
    next_delayed_start: u64,
    /// Runner processes started and not ready yet, by number.
    pending_ready: HashMap<usize, PendingReady>,
    /// Main's end of each ready runner's socket whose stderr is the unit log: a
    /// reopened log goes to it.
    log_channels: HashMap<Pid, OwnedFd>,
    next_pending_ready: usize,
    reporter: Option<StartupReporter>,
    /// Declared last so it is removed after the children are gone.
    _pid_file: PidFile,
}

impl MainProcess {
    fn new(started: Started) -> MainProcess {
        MainProcess {
            credentials: started.credentials,
            log: started.log,
            control_socket: started.control_socket,
            own_port: started.own_port,
            supervisor: started.supervisor,
            services: started.services,
            applications: started.applications,
            modules_json: started.modules.to_json(),
            app_sockets: HashMap::default(),
            delayed_starts: HashMap::default(),
            next_delayed_start: 0,
            pending_ready: HashMap::default(),
            log_channels: HashMap::default(),
            next_pending_ready: 0,
            reporter: None,
            _pid_file: started.pid_file,
        }
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
        for kind in [ChildKind::Controller, ChildKind::Router] {
            self.start_role(&mut engine, kind);
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
            Event::Io { token, .. } if token.0 >= READY_TOKEN_BASE => {
                self.read_readiness(engine, token.0 - READY_TOKEN_BASE)
            }
            Event::Io { .. } => {}
            Event::Signal(signal) => self.on_signal(engine, signal),
            Event::Timer {
                key: QUIT_DEADLINE, ..
            } => {
                self.supervisor.kill_stragglers();
                engine.stop();
            }
            Event::Timer {
                key: RESTART_CONTROLLER,
                ..
            } => self.start_role(engine, ChildKind::Controller),
            Event::Timer {
                key: RESTART_ROUTER,
                ..
            } => self.start_role(engine, ChildKind::Router),
            Event::Timer { key, .. } if key >= KILL_BASE => {
                if let Ok(pid) = i32::try_from(key - KILL_BASE) {
                    self.supervisor.kill_if_stopping(Pid::from_raw(pid));
                }
            }
            Event::Timer { key, .. } if key >= DELAYED_START_BASE => {
                if let Some(delayed) = self.delayed_starts.remove(&(key - DELAYED_START_BASE)) {
                    self.start_application(engine, delayed);
                }
            }
            Event::Timer { key, .. } if key >= READY_DEADLINE_BASE => {
                self.readiness_timed_out(engine, (key - READY_DEADLINE_BASE) as usize)
            }
            Event::Timer { .. } => {}
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
        self.log_channels.retain(
            |pid, channel| match crate::readiness::send_log(channel, &file) {
                Ok(()) => true,
                Err(errno) => {
                    tracing::warn!("passing the reopened log to process {pid} failed: {errno}");
                    false
                }
            },
        );
        for pid in self.supervisor.child_pids() {
            match file.try_clone() {
                Ok(copy) => self
                    .supervisor
                    .send(pid, ToChild::ChangeFile(OwnedFd::from(copy)).into_message()),
                Err(error) => {
                    tracing::warn!("passing the reopened log to process {pid} failed: {error}")
                }
            }
        }
    }

    fn reopen_access_log(&self) {
        let Some(path) = self.services.access_log_path() else {
            return;
        };
        let Some(router) = self.supervisor.latest(ProcessType::Router) else {
            return;
        };
        match open_access_log(path) {
            Ok(file) => self.supervisor.send(
                router,
                ToChild::AccessLogReopened {
                    path: path.to_owned(),
                    file: OwnedFd::from(file),
                }
                .into_message(),
            ),
            Err(error) => alert!(
                "open(\"{path}\") failed{}",
                unit_log::os_error_suffix(&error)
            ),
        }
    }

    // --- Children ---

    /// What starts a unitd role: its title, role, credentials and the modules.
    fn role_spec(&self, kind: &ChildKind) -> StartSpec {
        let mut env = vec![(MODULES_ENV.to_owned(), self.modules_json.clone())];
        if let Some(credentials) = &self.credentials {
            env.push((CREDENTIALS_ENV.to_owned(), credentials.to_env()));
        }
        StartSpec {
            title: format!("unit: {}", kind.name()),
            launch: Launch::Role(kind.name().to_owned()),
            env,
            env_remove: [NGINX_ENV, LISTEN_FDS_ENV, LISTEN_PID_ENV, ARGV_ENV]
                .iter()
                .map(|name| (*name).to_owned())
                .collect(),
        }
    }

    /// Starts the controller or the router; on failure tries again in a second.
    fn start_role(&mut self, engine: &mut Engine<MainProcess>, kind: ChildKind) {
        if self.supervisor.is_quitting() {
            return;
        }
        let spec = self.role_spec(&kind);
        let is_controller = kind == ChildKind::Controller;
        let control_fd = self.control_socket.as_fd();
        let extra_fds: &[(&'static str, _)] = if is_controller {
            &[(CONTROL_FD_NAME, control_fd)]
        } else {
            &[]
        };
        match self
            .supervisor
            .start_with_port(kind.clone(), spec, extra_fds)
        {
            Ok(pid) => {
                if is_controller {
                    tracing::info!("controller started");
                    // The bundles first: the configuration is validated against them.
                    self.supervisor.send(
                        pid,
                        ToChild::StoredCertificates(self.services.stored_certificates())
                            .into_message(),
                    );
                    self.supervisor.send(
                        pid,
                        ToChild::StoredConf(self.services.stored_conf().as_bytes().to_vec())
                            .into_message(),
                    );
                }
            }
            Err(error) => {
                alert!("failed to start {}: {error}", kind.name());
                schedule_restart(engine, &kind, RESTART_INTERVAL);
            }
        }
    }

    fn reap_children(&mut self, engine: &mut Engine<MainProcess>) {
        for exited in self.supervisor.reap() {
            let pid = exited.process.pid;
            let is_application = matches!(exited.process.kind, ChildKind::Application { .. });
            let description = if is_application {
                format!("app {}", exited.status.describe(pid))
            } else {
                exited.status.describe(pid)
            };
            // A process main told to stop may well end on the signal it was sent.
            let stopped = exited.process.state == ProcessState::Quitting;
            match exited.status {
                ExitStatus::Signal { .. } if !stopped => alert!("{description}"),
                _ => notice!("{description}"),
            }
            self.log_channels.remove(&pid);
            if let Some(socket) = self.app_sockets.remove(&pid) {
                self.applications.remove_socket(&socket);
            }
            self.applications.process_gone(pid);
            self.own_port.forget_sender(exited.process.pid);
            if let Some(delay) = exited.restart_after {
                schedule_restart(engine, &exited.process.kind, delay);
            }
        }
        if self.supervisor.is_quitting() && self.supervisor.child_pids().is_empty() {
            engine.stop();
        }
    }

    // --- Messages ---

    /// Reads main's port until it is drained.
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

    /// A child's message, from the pid the kernel reported: handled when that child
    /// may send it, dropped with a warning otherwise.
    fn on_message(&mut self, engine: &mut Engine<MainProcess>, mut message: Message) {
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
        let handled = ToMain::from_message(&mut message).and_then(|request| {
            let request = request.ok_or(PortError::Unexpected(message.msg_type as u16))?;
            self.services.handle(&kind, request)
        });
        match handled {
            Ok(Handled::Reply(reply)) => self.supervisor.send_to_port(
                sender,
                message.reply_port,
                reply.into_message(message.stream),
            ),
            Ok(Handled::Ready) => {
                self.supervisor.mark_running(sender);
                if kind == ChildKind::Controller
                    && let Some(mut reporter) = self.reporter.take()
                {
                    reporter.ready();
                }
            }
            Ok(Handled::Start(start)) => {
                let reply_to = (sender, message.reply_port, message.stream);
                let delay = self.supervisor.backoff(&start.name);
                let delayed = DelayedStart {
                    start: *start,
                    reply_to,
                };
                if delay.is_zero() {
                    self.start_application(engine, delayed);
                } else {
                    notice!(
                        "\"{}\" application processes keep exiting as they start; the next starts in {} ms",
                        delayed.start.name,
                        delay.as_millis()
                    );
                    let number = self.next_delayed_start;
                    self.next_delayed_start += 1;
                    self.delayed_starts.insert(number, delayed);
                    engine.add_timer(delay, DELAYED_START_BASE + number);
                }
            }
            Ok(Handled::Stop(pid)) => self.stop_application_process(engine, pid),
            Ok(Handled::Done) => {}
            Err(error) => tracing::warn!(
                "dropping {:?} from {} {sender}: {error}",
                message.msg_type,
                kind.name()
            ),
        }
    }

    /// Starts an application process and answers the router with it, or with why not;
    /// a runner is answered for once it reports that it is ready.
    fn start_application(&mut self, engine: &mut Engine<MainProcess>, delayed: DelayedStart) {
        let DelayedStart { start, reply_to } = delayed;
        if self.supervisor.is_quitting() {
            return;
        }
        let kind = ChildKind::Application {
            name: start.name.clone(),
            generation: start.generation,
        };
        let started = self.applications.prepare(&start).and_then(|prepared| {
            // A socket pair rather than a pipe: after the readiness line main keeps its
            // end to hand the process a reopened log (SIGUSR1).
            let ready_pipe = if start.reports_ready {
                match socketpair(
                    AddressFamily::Unix,
                    SockType::Stream,
                    None,
                    SockFlag::SOCK_CLOEXEC,
                ) {
                    Ok(pair) => Some(pair),
                    Err(errno) => {
                        self.applications.not_started(prepared.held);
                        return Err(RuntimeError::ReadyPipe(errno));
                    }
                }
            } else {
                None
            };
            let started = self.supervisor.start_program(
                kind,
                prepared.spec,
                prepared.socket.as_fd(),
                ready_pipe.as_ref().map(|(_, write)| write.as_fd()),
            );
            let pid = match started {
                Ok(pid) => {
                    self.applications.started(pid, prepared.held);
                    pid
                }
                Err(error) => {
                    self.applications.not_started(prepared.held);
                    return Err(error);
                }
            };
            // The write end is the process's alone now: its end of file is the process's.
            Ok((
                pid,
                prepared.socket_path,
                ready_pipe.map(|(read, _)| read),
                prepared.stderr_is_log,
            ))
        });
        match started {
            Ok((pid, socket_path, None, _)) => {
                tracing::info!("\"{}\" application started (process {pid})", start.name);
                self.app_sockets.insert(pid, socket_path.clone());
                self.answer_start(reply_to, pid, socket_path, 0);
            }
            Ok((pid, socket_path, Some(pipe), stderr_is_log)) => {
                self.app_sockets.insert(pid, socket_path.clone());
                let number = self.next_pending_ready;
                self.next_pending_ready += 1;
                let token = Token(READY_TOKEN_BASE + number);
                match PendingReady::register(
                    engine.registry(),
                    token,
                    pipe,
                    pid,
                    start.name.clone(),
                    socket_path,
                    reply_to,
                    stderr_is_log,
                ) {
                    Ok(pending) => {
                        self.pending_ready.insert(number, pending);
                        engine.add_timer(READY_TIMEOUT, READY_DEADLINE_BASE + number as u64);
                    }
                    Err(error) => {
                        alert!(
                            "failed to watch \"{}\" application process {pid}: {error}",
                            start.name
                        );
                        self.stop_application_process(engine, pid);
                        self.answer_start_failed(reply_to, &error.to_string());
                    }
                }
            }
            Err(error) => {
                // What an application's isolation cannot have (its configuration, its
                // root directory's contents) is an error of the application's, as Unit
                // logs it; the rest is main's own trouble.
                if error.is_application_environment() {
                    tracing::error!("failed to start \"{}\" application: {error}", start.name);
                } else {
                    alert!("failed to start \"{}\" application: {error}", start.name);
                }
                self.supervisor.note_failed_start(&start.name);
                self.answer_start_failed(reply_to, &error.to_string());
            }
        }
    }

    /// A runner's pipe has something to read.
    fn read_readiness(&mut self, engine: &mut Engine<MainProcess>, number: usize) {
        let Some(pending) = self.pending_ready.get_mut(&number) else {
            return;
        };
        let outcome = pending.read();
        if outcome == Readiness::Waiting {
            return;
        }
        let Some(pending) = self.pending_ready.remove(&number) else {
            return;
        };
        pending.deregister(engine.registry());
        match outcome {
            Readiness::Waiting => {}
            Readiness::Ready(capacity) => {
                // The runner logged its own "application started" line.
                tracing::info!(
                    "\"{}\" application process {} is ready ({capacity} at once)",
                    pending.name,
                    pending.pid
                );
                let (pid, reply_to, socket_path) =
                    (pending.pid, pending.reply_to, pending.socket_path.clone());
                if let Some(channel) = pending.into_log_channel() {
                    self.log_channels.insert(pid, channel);
                }
                self.answer_start(reply_to, pid, socket_path, capacity);
            }
            Readiness::Failed(reason) => {
                // The process logged why (an import error, a failed startup).
                tracing::warn!(
                    "\"{}\" application process {} failed to start: {reason}",
                    pending.name,
                    pending.pid
                );
                self.stop_application_process(engine, pending.pid);
                self.supervisor.note_failed_start(&pending.name);
                self.answer_start_failed(pending.reply_to, &reason);
            }
        }
    }

    /// A runner did not report in time: it is stopped and the start fails.
    fn readiness_timed_out(&mut self, engine: &mut Engine<MainProcess>, number: usize) {
        let Some(pending) = self.pending_ready.remove(&number) else {
            return;
        };
        pending.deregister(engine.registry());
        alert!(
            "\"{}\" application process {} was not ready within {} s",
            pending.name,
            pending.pid,
            READY_TIMEOUT.as_secs()
        );
        self.stop_application_process(engine, pending.pid);
        self.supervisor.note_failed_start(&pending.name);
        self.answer_start_failed(pending.reply_to, "the process was not ready in time");
    }

    /// SIGTERM to an application process, and SIGKILL if it is still there after the
    /// grace period.
    fn stop_application_process(&mut self, engine: &mut Engine<MainProcess>, pid: Pid) {
        if self.supervisor.stop_application(pid) {
            engine.add_timer(QUIT_GRACE, KILL_BASE + pid.as_raw() as u64);
        }
    }

    fn answer_start(
        &mut self,
        reply_to: (Pid, PortId, u32),
        pid: Pid,
        socket_path: PathBuf,
        capacity: u32,
    ) {
        let reply = AppStarted {
            pid,
            socket: socket_path.display().to_string(),
            capacity,
        };
        let (router, reply_port, stream) = reply_to;
        let reply = Reply::ready_with_payload(reply.encode());
        self.supervisor
            .send_to_port(router, reply_port, reply.into_message(stream));
    }

    fn answer_start_failed(&mut self, reply_to: (Pid, PortId, u32), reason: &str) {
        let (router, reply_port, stream) = reply_to;
        self.supervisor.send_to_port(
            router,
            reply_port,
            Reply::Error(reason.to_owned()).into_message(stream),
        );
    }

    fn begin_quit(&mut self, engine: &mut Engine<MainProcess>) {
        if self.supervisor.is_quitting() {
            return;
        }
        if self.supervisor.begin_quit() {
            engine.add_timer(QUIT_GRACE, QUIT_DEADLINE);
        } else {
            engine.stop();
        }
    }
}

/// An application start to carry out, and where to answer.
struct DelayedStart {
    start: AppStart,
    /// The router's pid, its reply port and the request's stream.
    reply_to: (Pid, PortId, u32),
}

/// Arms the timer that starts `kind` again after `delay`.
fn schedule_restart(
    engine: &mut Engine<MainProcess>,
    kind: &ChildKind,
    delay: std::time::Duration,
) {
    let key = match kind {
        ChildKind::Controller => RESTART_CONTROLLER,
        ChildKind::Router => RESTART_ROUTER,
        ChildKind::Main | ChildKind::Application { .. } => return,
    };
    engine.add_timer(delay, key);
}
