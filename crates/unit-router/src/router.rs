//! The router's main thread: it takes configurations from the controller, gets listen
//! sockets and access logs from main, swaps each new configuration into the workers,
//! and answers status and restart requests.

use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::{Value, json};
use unit_conf::{Application, Modules};
use unit_engine::{Engine, Event, HashMap, Remote, TimerId, Token, WORKER_SIGNALS};
use unit_port::{
    AppStarted, ChildEvent, ChildPort, Reply, Requester, RpcStreams, ToChild, ToMain, ToRouter,
};
use unit_tls::{Bundle, ListenerCertificate};

use crate::access_log::{AccessLog, LogFormat};
use crate::applications::AppPool;
use crate::conf::{ActiveConf, Compiled};
use crate::counters::Counters;
use crate::error::RouterError;
use crate::worker::{WorkerHandle, spawn_worker};

/// The engine token of the router's port.
const PORT: Token = Token(0);
/// The token watching the link to main, to notice main's death.
const MAIN_LINK: Token = Token(1);
/// How long main may take to answer a request for a socket or an access log.
const MAIN_RPC_TIMEOUT: Duration = Duration::from_secs(30);
/// How long main may take to start an application process: longer than its longest
/// back-off between the starts of a crashing application.
const START_PROCESS_TIMEOUT: Duration = Duration::from_secs(60);
/// The timer of the periodic look at the application pools (idle processes); its key
/// is above every RPC stream's.
const APP_TICK: u64 = 1 << 40;
/// How often the application pools are looked at without an event.
const APP_TICK_INTERVAL: Duration = Duration::from_millis(100);

/// What the router is handed at start.
#[derive(Debug)]
pub struct RouterSetup {
    /// This process's ports: its own, main's, and its peers' as main introduces them.
    pub port: ChildPort,
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
    /// The certificate bundles its `tls` listeners name, by name, as main handed them.
    bundles: HashMap<String, Bundle>,
    /// The pools the configuration will have, and those it leaves.
    apps: Vec<Arc<AppPool>>,
    retired: Vec<Arc<AppPool>>,
    /// The pools it adds, whose first processes (`processes` or `spare`) start before
    /// it applies, as in Unit: an application that cannot start fails the
    /// configuration.
    new_apps: Vec<Arc<AppPool>>,
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

/// What an RPC to main was for, and the timer that fails it if main stays silent.
#[derive(Debug)]
struct MainRpc {
    call: MainCall,
    deadline: Option<TimerId>,
}

/// What was asked of main.
#[derive(Debug)]
enum MainCall {
    Socket(String),
    /// A certificate bundle from the store, by name.
    Certificate(String),
    AccessLog(String, LogFormat),
    /// A process for this pool's generation.
    StartProcess(Arc<AppPool>, u64),
}

/// The router's state.
struct Router {
    port: ChildPort,
    conf: Value,
    active: Option<Arc<ActiveConf>>,
    sockets: HashMap<String, Arc<OwnedFd>>,
    applying: Option<Applying>,
    swapping: Option<Swapping>,
    /// How many configurations have been handed to the workers.
    generation: u64,
    /// This thread's engine, for workers to report back on.
    remote: Remote<Router>,
    /// The requests to main in flight.
    main_calls: RpcStreams<MainRpc>,
    workers: Vec<WorkerHandle>,
    /// Every worker's counters by worker number, kept when a worker stops so the
    /// totals never go back.
    counters: Vec<Arc<Counters>>,
    /// How long main may take to answer.
    main_rpc_timeout: Duration,
    /// The configured applications' pools, in configuration order.
    apps: Vec<Arc<AppPool>>,
    /// Pools of applications that left the configuration, until their processes are
    /// gone.
    retired_apps: Vec<Arc<AppPool>>,
    /// The language modules main discovered, which applications' types resolve to.
    modules: Modules,
}

/// The TLS configuration of every `tls` listener of `compiled`, by address, from the
/// bundles main handed over; `Err` says why one cannot be made.
fn tls_configs(
    compiled: &Compiled,
    bundles: &HashMap<String, Bundle>,
) -> Result<HashMap<String, Arc<rustls::ServerConfig>>, String> {
    let mut configs = HashMap::default();
    for listener in &compiled.listeners {
        let Some(tls) = &listener.tls else {
            continue;
        };
        let certificates = tls
            .certificates
            .iter()
            .map(|name| {
                let bundle = bundles
                    .get(name)
                    .ok_or_else(|| format!("certificate \"{name}\" was not handed over"))?;
                Ok(ListenerCertificate {
                    name,
                    server_names: bundle.server_names(),
                    bundle,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let config = unit_tls::server_config(tls, &certificates)
            .map_err(|error| format!("listener \"{}\": {error}", listener.address))?;
        configs.insert(listener.address.clone(), config);
    }
    Ok(configs)
}

/// Runs the router until main says quit or goes away.
pub fn run(setup: RouterSetup) -> Result<(), RouterError> {
    let mut engine: Engine<Router> = Engine::new()?;
    engine.watch_signals(&WORKER_SIGNALS)?;
    let mut router = Router::new(setup.port, engine.remote(), Modules::from_env());
    router
        .port
        .register(engine.registry(), PORT, MAIN_LINK)
        .map_err(RouterError::Register)?;
    engine.add_timer(APP_TICK_INTERVAL, APP_TICK);
    tracing::info!("router started");
    if let Err(error) = router.port.send_main(ToMain::ProcessReady, 0) {
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
    fn new(port: ChildPort, remote: Remote<Router>, modules: Modules) -> Router {
        Router {
            port,
            conf: json!({}),
            active: None,
            sockets: HashMap::default(),
            applying: None,
            swapping: None,
            generation: 0,
            remote,
            main_calls: RpcStreams::new(),
            workers: Vec::new(),
            counters: Vec::new(),
            main_rpc_timeout: MAIN_RPC_TIMEOUT,
            apps: Vec::new(),
            retired_apps: Vec::new(),
            modules,
        }
    }

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
            Event::Timer { key: APP_TICK, .. } => {
                self.plan_applications(engine);
                engine.add_timer(APP_TICK_INTERVAL, APP_TICK);
            }
            Event::Timer { key, .. } => {
                if let Ok(stream) = u32::try_from(key)
                    && let Some(rpc) = self.main_calls.take(stream)
                {
                    let reason = "main did not answer in time".to_owned();
                    self.on_main_reply(engine, rpc.call, Reply::Error(reason));
                }
            }
            Event::Signal(Signal::SIGTERM | Signal::SIGINT | Signal::SIGQUIT) => engine.stop(),
            Event::Io { .. } | Event::Signal(_) => {}
        }
    }

    fn receive_messages(&mut self, engine: &mut Engine<Router>) {
        while let Some(event) = self.port.next_event() {
            self.on_port_event(engine, event);
        }
    }

    fn on_port_event(&mut self, engine: &mut Engine<Router>, event: ChildEvent) {
        match event {
            ChildEvent::Quit => engine.stop(),
            ChildEvent::MainGone => {
                tracing::info!("main process is gone, exiting");
                engine.stop();
            }
            ChildEvent::Request { requester, request } => match request {
                ToRouter::Apply(conf) => self.begin_apply(engine, requester, &conf),
                ToRouter::Status => {
                    let status = self.status().to_string();
                    self.reply_to(requester, Reply::ready_with_payload(status));
                }
                ToRouter::AppRestart(app) => {
                    let pool = self
                        .apps
                        .iter()
                        .find(|pool| pool.application.name == app)
                        .cloned();
                    let reply = match pool {
                        Some(pool) => {
                            pool.restart();
                            self.plan_applications(engine);
                            Reply::ready()
                        }
                        None => Reply::Error(format!("no application \"{app}\"")),
                    };
                    self.reply_to(requester, reply);
                }
            },
            ChildEvent::Reply {
                stream,
                from,
                reply,
            } => {
                if let Some(rpc) = self.main_calls.take_from(stream, from) {
                    if let Some(deadline) = rpc.deadline {
                        engine.cancel_timer(deadline);
                    }
                    self.on_main_reply(engine, rpc.call, reply);
                }
            }
            ChildEvent::FromMain(ToChild::AccessLogReopened { path, file }) => {
                // Main reopened the access log (SIGUSR1).
                if let Some(access_log) = self.access_log()
                    && access_log.path == path
                {
                    access_log.replace_file(File::from(file));
                }
            }
            ChildEvent::PeerGone(pid) => {
                let exited = self
                    .apps
                    .iter()
                    .chain(&self.retired_apps)
                    .any(|pool| pool.process_exited(pid));
                if exited {
                    self.plan_applications(engine);
                }
            }
            ChildEvent::LogFile(file) => {
                if let Err(error) = unit_log::redirect_stderr(&file) {
                    tracing::warn!("{error}");
                }
            }
            other => tracing::debug!("ignoring {other:?}"),
        }
    }

    fn access_log(&self) -> Option<&Arc<AccessLog>> {
        self.active
            .as_ref()
            .and_then(|active| active.access_log.as_ref())
    }

    // --- Applying a configuration ---

    fn begin_apply(&mut self, engine: &mut Engine<Router>, requester: Requester, conf: &[u8]) {
        if self.applying.is_some() {
            return self.reply_to(
                requester,
                error_reply("another configuration is being applied"),
            );
        }
        // The controller's own parser, with its depth limit: serde_json's recursion limit
        // (128) is below it and would refuse a deep `fallback` chain the controller took.
        let conf: Value = match unit_conf::parse_json(conf) {
            Ok(conf) => conf,
            Err(error) => return self.reply_to(requester, error_reply(&error.to_string())),
        };
        // The controller validated it already; parsing again gives the typed model, and
        // Unit's message should a configuration arrive that is not valid.
        let parsed =
            match unit_conf::parse_config(&conf, &unit_conf::Available::modules(&self.modules)) {
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
        let mut calls: Vec<(ToMain, MainCall)> = compiled
            .listeners
            .iter()
            .filter(|listener| !self.sockets.contains_key(&listener.address))
            .map(|listener| {
                let message = ToMain::Socket {
                    address: listener.address.clone(),
                    backlog: listener
                        .backlog
                        .and_then(|backlog| i32::try_from(backlog).ok()),
                };
                (message, MainCall::Socket(listener.address.clone()))
            })
            .collect();
        if let Some((path, format)) = compiled.access_log.take() {
            let message = ToMain::AccessLog(path.clone());
            calls.push((message, MainCall::AccessLog(path, format)));
        }
        // Every bundle a `tls` listener names, once, read anew so a certificate deleted
        // and uploaded again under its name is the new one.
        let mut certificates: Vec<&String> = compiled
            .listeners
            .iter()
            .filter_map(|listener| listener.tls.as_ref())
            .flat_map(|tls| &tls.certificates)
            .collect();
        certificates.sort();
        certificates.dedup();
        for name in certificates {
            let message = ToMain::CertificateFile { name: name.clone() };
            calls.push((message, MainCall::Certificate(name.clone())));
        }
        let (apps, retired) = self.next_apps(&compiled.applications);
        let new_apps: Vec<Arc<AppPool>> = apps
            .iter()
            .filter(|pool| !self.apps.iter().any(|old| Arc::ptr_eq(old, pool)))
            .cloned()
            .collect();
        let now = std::time::Instant::now();
        for pool in &new_apps {
            for start in pool.plan(now).starts {
                let generation = start.generation;
                calls.push((
                    ToMain::StartProcess(Box::new(start)),
                    MainCall::StartProcess(Arc::clone(pool), generation),
                ));
            }
        }
        let mut waiting = 0;
        let mut failed = None;
        for (message, call) in calls {
            let start_of = match &call {
                MainCall::StartProcess(pool, _) => Some(Arc::clone(pool)),
                _ => None,
            };
            if self.call_main(engine, message, call) {
                waiting += 1;
            } else {
                if let Some(pool) = start_of {
                    pool.start_failed();
                }
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
            bundles: HashMap::default(),
            apps,
            retired,
            new_apps,
        };
        self.applying = Some(applying);
        self.maybe_finish_apply();
    }

    /// Asks main for something, with a deadline; false when main cannot be reached.
    fn call_main(&mut self, engine: &mut Engine<Router>, message: ToMain, call: MainCall) -> bool {
        let timeout = match call {
            MainCall::StartProcess(..) => START_PROCESS_TIMEOUT,
            MainCall::Socket(_) | MainCall::AccessLog(..) | MainCall::Certificate(_) => {
                self.main_rpc_timeout
            }
        };
        let main_pid = self.port.main_pid();
        // The stream is known only once registered; the timer is armed right after.
        let stream = self.main_calls.register(
            main_pid,
            MainRpc {
                call,
                deadline: None,
            },
        );
        if let Err(error) = self.port.send_main(message, stream) {
            tracing::warn!("asking main failed: {error}");
            self.main_calls.take(stream);
            return false;
        }
        let deadline = engine.add_timer(timeout, u64::from(stream));
        if let Some(rpc) = self.main_calls.get_mut(stream) {
            rpc.deadline = Some(deadline);
        }
        true
    }

    fn on_main_reply(&mut self, engine: &mut Engine<Router>, call: MainCall, reply: Reply) {
        if let MainCall::StartProcess(pool, generation) = call {
            let started = match reply {
                Reply::Ready { payload, .. } => AppStarted::decode(&payload).ok(),
                Reply::Error(_) => None,
            };
            let ok = started.is_some();
            match started {
                Some(started) => pool.started(
                    generation,
                    started.pid,
                    PathBuf::from(started.socket),
                    started.capacity,
                ),
                None => pool.start_failed(),
            }
            if let Some(applying) = &mut self.applying
                && applying.new_apps.iter().any(|new| Arc::ptr_eq(new, &pool))
            {
                applying.waiting = applying.waiting.saturating_sub(1);
                if !ok {
                    applying.failed.get_or_insert_with(|| {
                        format!(
                            "the \"{}\" application could not start",
                            pool.application.name
                        )
                    });
                }
                self.maybe_finish_apply();
                return;
            }
            self.plan_applications(engine);
            return;
        }
        let Some(applying) = &mut self.applying else {
            return;
        };
        applying.waiting = applying.waiting.saturating_sub(1);
        match (call, reply) {
            (MainCall::Socket(address), Reply::Ready { mut fds, .. }) if fds.len() == 1 => {
                if let Some(fd) = fds.pop() {
                    applying.new_sockets.insert(address, Arc::new(fd));
                }
            }
            (MainCall::Certificate(name), Reply::Ready { mut fds, .. }) if fds.len() == 1 => {
                let bundle = fds.pop().ok_or_else(String::new).and_then(|fd| {
                    let mut pem = Vec::new();
                    File::from(fd)
                        .read_to_end(&mut pem)
                        .map_err(|error| error.to_string())?;
                    Bundle::from_pem(&pem).map_err(|error| error.to_string())
                });
                match bundle {
                    Ok(bundle) => {
                        applying.bundles.insert(name, bundle);
                    }
                    Err(reason) => {
                        applying
                            .failed
                            .get_or_insert_with(|| format!("certificate \"{name}\": {reason}"));
                    }
                }
            }
            (MainCall::AccessLog(path, format), Reply::Ready { mut fds, .. }) if fds.len() == 1 => {
                if let Some(fd) = fds.pop() {
                    applying.access_log =
                        Some(Arc::new(AccessLog::new(path, format, File::from(fd))));
                }
            }
            (_, Reply::Error(reason)) => {
                applying.failed.get_or_insert(reason);
            }
            (_, Reply::Ready { .. }) => {
                applying
                    .failed
                    .get_or_insert_with(|| "main answered without the descriptor".to_owned());
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
                self.tell_main(ToMain::SocketClose(address.clone()));
            }
            // The processes the refused configuration started stop with its pools.
            for pool in applying.new_apps {
                pool.remove();
                self.retired_apps.push(pool);
            }
            self.wake_plan();
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
        let (apps, retired) = (applying.apps, applying.retired);
        let by_name: HashMap<String, Arc<AppPool>> = apps
            .iter()
            .map(|pool| (pool.application.name.clone(), Arc::clone(pool)))
            .collect();
        let tls = match tls_configs(&applying.compiled, &applying.bundles) {
            Ok(tls) => tls,
            Err(reason) => {
                for pool in applying.new_apps {
                    pool.remove();
                    self.retired_apps.push(pool);
                }
                self.wake_plan();
                unit_log::alert!("failed to apply new conf");
                return self.reply_to(applying.requester, error_reply(&reason));
            }
        };
        let active =
            match applying
                .compiled
                .activate(&self.sockets, &tls, applying.access_log, by_name)
            {
                Ok(active) => Arc::new(active),
                Err(compile_error) => {
                    for pool in applying.new_apps {
                        pool.remove();
                        self.retired_apps.push(pool);
                    }
                    self.wake_plan();
                    return self
                        .reply_to(applying.requester, error_reply(&compile_error.to_string()));
                }
            };
        // A request whose head was half read when this configuration came runs on the
        // last one, as in Unit: the applications it leaves serve until no configuration
        // that has them is in use.
        for pool in &retired {
            pool.leave();
        }
        self.apps = apps;
        self.retired_apps.extend(retired);
        self.wake_plan();
        let removed: Vec<String> = self
            .sockets
            .keys()
            .filter(|address| !wanted.contains(address))
            .cloned()
            .collect();
        for address in removed {
            self.sockets.remove(&address);
            self.tell_main(ToMain::SocketClose(address));
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
            // Every worker runs the new configuration: the applications it left that no
            // request still holds stop now, before the answer, as in Unit.
            self.stop_unused_retired();
            self.reply_to(swapping.requester, Reply::ready());
        }
    }

    /// Stops the processes of retired pools that only the list of them still holds.
    fn stop_unused_retired(&mut self) {
        let now = std::time::Instant::now();
        let mut stops = Vec::new();
        for pool in &self.retired_apps {
            if Arc::strong_count(pool) == 1 {
                pool.remove();
                stops.extend(pool.plan(now).stops);
            }
        }
        for pid in stops {
            self.tell_main(ToMain::StopProcess(pid));
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

    // --- Applications ---

    /// The pools of `applications`: an application configured as before keeps its pool
    /// (and so its processes); a new or changed one gets a new pool, and the pools left
    /// over (removed or changed applications) are returned to be retired.
    fn next_apps(&self, applications: &[Application]) -> (Vec<Arc<AppPool>>, Vec<Arc<AppPool>>) {
        let mut old = self.apps.clone();
        let mut apps = Vec::with_capacity(applications.len());
        for application in applications {
            let kept = old
                .iter()
                .position(|pool| pool.application == *application)
                .map(|index| old.swap_remove(index));
            apps.push(kept.unwrap_or_else(|| Arc::new(self.new_pool(application.clone()))));
        }
        (apps, old)
    }

    fn new_pool(&self, application: Application) -> AppPool {
        let remote = self.remote.clone();
        AppPool::new(
            application,
            Box::new(move || {
                let _ = remote.post(|router: &mut Router, engine| router.plan_applications(engine));
            }),
        )
    }

    /// Plans every pool on the next turn.
    fn wake_plan(&self) {
        let _ = self
            .remote
            .post(|router: &mut Router, engine| router.plan_applications(engine));
    }

    /// Starts and stops the processes every pool asks for.
    fn plan_applications(&mut self, engine: &mut Engine<Router>) {
        let now = std::time::Instant::now();
        // A retired pool only this list still holds is in no configuration in use, and
        // no request holds it: its processes can go.
        for pool in &self.retired_apps {
            if Arc::strong_count(pool) == 1 {
                pool.remove();
            }
        }
        let pools: Vec<Arc<AppPool>> = self
            .apps
            .iter()
            .chain(&self.retired_apps)
            .cloned()
            .collect();
        for pool in pools {
            let plan = pool.plan(now);
            for start in plan.starts {
                let generation = start.generation;
                let call = MainCall::StartProcess(Arc::clone(&pool), generation);
                if !self.call_main(engine, ToMain::StartProcess(Box::new(start)), call) {
                    pool.start_failed();
                }
            }
            for pid in plan.stops {
                self.tell_main(ToMain::StopProcess(pid));
            }
        }
        self.retired_apps.retain(|pool| !pool.is_finished());
    }

    // --- Status ---

    /// The status document (UNIT-COMPAT 4): the discovered modules, connection and
    /// request counters, and one entry per configured application.
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
            .apps
            .iter()
            .map(|pool| {
                let status = pool.status();
                let entry = json!({
                    "processes": {
                        "running": status.running,
                        "starting": status.starting,
                        "idle": status.idle,
                    },
                    "requests": {"active": status.active},
                });
                (pool.application.name.clone(), entry)
            })
            .collect();
        json!({
            "modules": self.modules.status(),
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

    fn tell_main(&self, message: ToMain) {
        if let Err(error) = self.port.send_main(message, 0) {
            tracing::warn!("telling main failed: {error}");
        }
    }

    fn reply_to(&self, requester: Requester, reply: Reply) {
        if let Err(error) = self.port.reply(requester, reply) {
            tracing::warn!("replying to process {} failed: {error}", requester.pid);
        }
    }
}

fn error_reply(reason: &str) -> Reply {
    Reply::Error(reason.to_owned())
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use nix::unistd::getpid;
    use unit_port::{Message, MsgType, PortReceiver, port_pair};

    use super::*;

    /// A router whose main is this test (it reads `main` and answers nothing unless
    /// told), with requests made as main too so their replies come back here.
    fn router() -> (Router, Engine<Router>, PortReceiver) {
        let engine: Engine<Router> = Engine::new().expect("an engine");
        let (own_port, _) = port_pair().expect("a port");
        let (main_receiver, main) = port_pair().expect("main's port");
        let mut router = Router::new(
            ChildPort::new(own_port, main, getpid()),
            engine.remote(),
            Modules::default(),
        );
        router.main_rpc_timeout = Duration::from_millis(100);
        (router, engine, main_receiver)
    }

    /// Runs the router's engine until `main` gets a message, and returns it.
    fn next_to_main(
        router: &mut Router,
        engine: &mut Engine<Router>,
        main: &mut PortReceiver,
    ) -> Message {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(message) = main.receive().expect("main's port") {
                return message;
            }
            engine
                .turn(
                    router,
                    Some(Duration::from_millis(10)),
                    |router, engine, event| router.on_event(engine, event),
                )
                .expect("a turn");
        }
        panic!("nothing reached main");
    }

    fn requester(stream: u32) -> Requester {
        Requester {
            pid: getpid(),
            reply_port: 0,
            stream,
        }
    }

    #[test]
    fn a_lost_answer_from_main_fails_that_configuration_and_the_next_applies() {
        let (mut router, mut engine, mut main) = router();
        let with_listener = br#"{"listeners": {"127.0.0.1:1": {"pass": "routes"}}, "routes": []}"#;
        router.begin_apply(&mut engine, requester(41), with_listener);
        let socket_request = next_to_main(&mut router, &mut engine, &mut main);
        assert_eq!(socket_request.msg_type, MsgType::Socket);
        // Main never answers: the deadline fails the configuration.
        let reply = next_to_main(&mut router, &mut engine, &mut main);
        assert_eq!((reply.msg_type, reply.stream), (MsgType::RpcError, 41));
        assert_eq!(reply.payload_text(), "main did not answer in time");
        // The next configuration is not refused as "being applied".
        router.begin_apply(&mut engine, requester(42), br#"{"listeners": {}}"#);
        let reply = next_to_main(&mut router, &mut engine, &mut main);
        assert_eq!((reply.msg_type, reply.stream), (MsgType::RpcReady, 42));
        for worker in router.workers.drain(..) {
            worker.stop();
        }
    }
}
