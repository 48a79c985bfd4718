//! A router worker thread: one engine that accepts on every listener and serves its
//! connections. Every worker registers every listen socket (its own duplicate of the
//! descriptor); the kernel wakes the workers in turn, which spreads connections.
//! The router's main thread hands each worker new configurations through its `Remote`.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use unit_engine::{
    ACCEPT_PAUSE, AcceptBackoff, AcceptFailure, Engine, Event, HashMap, Interest, Listener, Remote,
    TimerId, Token,
};
use unit_http::DateCache;

use crate::applications::{Lease, Unavailable};
use crate::buffers::SpareBuffers;
use crate::conf::ActiveConf;
use crate::connection::{Connection, Drive, DriveContext, GrantSink, Wait};
use crate::counters::Counters;
use crate::handler::Services;
use crate::http::{ConnAddr, RequestIds};
use crate::transport::{TlsStream, Transport};
use crate::upstream::{APP_TOKENS_START, UpstreamPool, WorkerHome};

/// Listener tokens are below this; connection tokens at and above it.
const FIRST_CONNECTION: usize = 1 << 20;
/// How long a proxied upstream may stay silent.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(60);
/// The deadline of a wait that has none (an application without `limits.timeout`).
const NO_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);
/// How long a lingering close reads what a refused client still sends.
const LINGER_TIMEOUT: Duration = Duration::from_secs(5);
/// The timer key of the periodic sweep of cached files (no connection has this token).
const SWEEP_TIMER: u64 = u64::MAX;

/// The timer that resumes accepting after the process ran out of descriptors.
const ACCEPT_RETRY_TIMER: u64 = u64::MAX - 1;

/// How often cached files are swept, and how long one may go unused before it is closed.
const SWEEP_INTERVAL: Duration = Duration::from_secs(10);

/// The main thread's handle on a worker.
#[derive(Debug)]
pub(crate) struct WorkerHandle {
    pub(crate) remote: Remote<Worker>,
    pub(crate) thread: JoinHandle<()>,
}

impl WorkerHandle {
    /// Gives the worker a new configuration; `applied` runs on the worker's thread once
    /// the worker uses it. False (and `applied` dropped unrun) when the worker is gone.
    pub(crate) fn set_conf(
        &self,
        conf: Arc<ActiveConf>,
        applied: impl FnOnce() + Send + 'static,
    ) -> bool {
        let posted = self
            .remote
            .post(move |worker, engine| {
                worker.set_conf(engine, conf);
                applied();
            })
            .is_ok();
        if !posted {
            tracing::warn!("a router worker is gone");
        }
        posted
    }

    /// Stops the worker (its connections are closed) and waits for it.
    pub(crate) fn stop(self) {
        let _ = self.remote.post(|_, engine| engine.stop());
        let _ = self.thread.join();
    }
}

/// Starts worker number `index`.
pub(crate) fn spawn_worker(index: usize, counters: Arc<Counters>) -> io::Result<WorkerHandle> {
    let (remote_sender, remote_receiver) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(format!("router-{index}"))
        .spawn(move || {
            let mut engine = match Engine::<Worker>::new() {
                Ok(engine) => engine,
                Err(error) => {
                    tracing::error!("router worker {index} could not start: {error}");
                    return;
                }
            };
            let home = match WorkerHome::of(engine.registry(), index) {
                Ok(home) => home,
                Err(error) => {
                    tracing::error!("router worker {index} could not start: {error}");
                    return;
                }
            };
            let _ = remote_sender.send(engine.remote());
            engine.add_timer(SWEEP_INTERVAL, SWEEP_TIMER);
            let remote = engine.remote();
            let grants: GrantSink = Arc::new(move |token, seq, outcome| {
                // A worker that is gone drops the closure, and with it any lease.
                let _ = remote.post(move |worker: &mut Worker, engine| {
                    worker.app_delivered(engine, token, seq, outcome)
                });
            });
            let mut worker = Worker {
                index,
                grants,
                services: Services::new(),
                counters,
                conf: None,
                listeners: HashMap::default(),
                connections: HashMap::default(),
                spares: SpareBuffers::default(),
                next_token: FIRST_CONNECTION,
                next_listener_token: 1,
                date: TurnDate::default(),
                pool: UpstreamPool::new(FIRST_CONNECTION, APP_TOKENS_START - 1, home),
                request_ids: RequestIds::new(),
                accepting: AcceptBackoff::default(),
            };
            if let Err(error) = engine.run(&mut worker, |worker, engine, event| {
                worker.on_event(engine, event)
            }) {
                tracing::error!("router worker {index} stopped: {error}");
            }
            worker.close_all(&mut engine);
        })?;
    let remote = remote_receiver
        .recv()
        .map_err(|_| io::Error::other("router worker failed to start"))?;
    Ok(WorkerHandle { remote, thread })
}

/// A connection with its timeout.
///
/// The timer is not moved on every event: activity only pushes `deadline` later, and a
/// timer that fires early is armed again for the deadline. It is re-armed at once only
/// when the deadline comes sooner than the armed time.
#[derive(Debug)]
struct Entry {
    connection: Connection,
    /// What the connection waits for, which its deadline is for.
    wait: Wait,
    deadline: Instant,
    timer: Option<(TimerId, Instant)>,
}

impl Entry {
    /// Sets the deadline, re-arming the timer only if it would fire too late.
    fn set_deadline(&mut self, engine: &mut Engine<Worker>, token: usize, deadline: Instant) {
        self.deadline = deadline;
        match self.timer {
            Some((_, armed)) if armed <= deadline => {}
            previous => {
                if let Some((id, _)) = previous {
                    engine.cancel_timer(id);
                }
                let id = engine.add_timer_at(deadline, token as u64);
                self.timer = Some((id, deadline));
            }
        }
    }
}

/// One worker's state.
pub(crate) struct Worker {
    /// Which worker thread this is (requests waiting for an application process are
    /// told apart by it).
    index: usize,
    /// Delivers processes to this worker's connections waiting for an application.
    grants: GrantSink,
    /// This worker's own static file cache (nothing in it is shared with other workers).
    services: Services,
    /// This worker's own counters.
    counters: Arc<Counters>,
    conf: Option<Arc<ActiveConf>>,
    /// Listener address → (token, socket).
    listeners: HashMap<String, (usize, Listener)>,
    /// Boxed: a connection is large, and the table has room for more than it holds.
    connections: HashMap<usize, Box<Entry>>,
    /// Buffers idle connections handed back.
    spares: SpareBuffers,
    next_token: usize,
    next_listener_token: usize,
    date: TurnDate,
    pool: UpstreamPool,
    request_ids: RequestIds,
    /// Accepting pauses when the process runs out of descriptors.
    accepting: AcceptBackoff,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("n_connections", &self.connections.len())
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// A process (or its absence) for a connection waiting on an application.
    fn app_delivered(
        &mut self,
        engine: &mut Engine<Worker>,
        token: usize,
        seq: u64,
        outcome: Result<Lease, Unavailable>,
    ) {
        let Some(entry) = self.connections.get_mut(&token) else {
            // Gone meanwhile: dropping the lease gives the process back.
            return;
        };
        if entry.connection.app_delivered(seq, outcome) {
            self.drive(engine, token);
        }
    }

    fn on_event(&mut self, engine: &mut Engine<Worker>, event: Event) {
        match event {
            Event::Io { token, .. } if token.0 < FIRST_CONNECTION => {
                if !self.accepting.is_paused() {
                    self.accept(engine, token.0);
                }
            }
            Event::Timer {
                key: ACCEPT_RETRY_TIMER,
                ..
            } => {
                // Edge-triggered listeners raise no new event for connections already
                // waiting: each is tried again.
                self.accepting.resume();
                let tokens: Vec<usize> = self.listeners.values().map(|(token, _)| *token).collect();
                for token in tokens {
                    if self.accepting.is_paused() {
                        break;
                    }
                    self.accept(engine, token);
                }
            }
            Event::Io {
                token,
                readable,
                closed,
                ..
            } => self.on_io(engine, token, readable, closed),
            Event::Timer {
                key: SWEEP_TIMER, ..
            } => {
                self.services
                    .share
                    .evict_unused(engine.now(), SWEEP_INTERVAL);
                engine.add_timer(SWEEP_INTERVAL, SWEEP_TIMER);
            }
            Event::Timer { id, key } => {
                if let Ok(token) = usize::try_from(key) {
                    self.on_timer(engine, id, token);
                }
            }
            Event::Signal(_) => {}
        }
    }

    /// A connection's timer fired: it is closed if its deadline has passed, else the
    /// timer is armed again for the deadline.
    fn on_timer(&mut self, engine: &mut Engine<Worker>, id: TimerId, token: usize) {
        let Some(entry) = self.connections.get_mut(&token) else {
            return;
        };
        if entry.timer.is_none_or(|(armed, _)| armed != id) {
            return;
        }
        entry.timer = None;
        let deadline = entry.deadline;
        if deadline <= engine.now() {
            let date = self.date.at(engine.now());
            if entry.connection.time_out(entry.wait, date) {
                self.drive(engine, token);
            } else {
                self.close(engine, token);
            }
        } else {
            entry.set_deadline(engine, token, deadline);
        }
    }

    /// Readiness of a client connection (even tokens) or of an upstream one (odd).
    fn on_io(&mut self, engine: &mut Engine<Worker>, token: Token, readable: bool, closed: bool) {
        let is_client = token.0 & 1 == 0 && token.0 < APP_TOKENS_START;
        let client = if is_client {
            if (readable || closed)
                && let Some(entry) = self.connections.get_mut(&token.0)
            {
                entry.connection.mark_readable(closed);
            }
            token.0
        } else {
            let Some(owner) = self.pool.owner(token) else {
                // An idle pooled upstream connection that speaks is dropped; a parked
                // application connection's events are looked at when it is claimed.
                if (readable || closed) && token.0 < APP_TOKENS_START {
                    self.pool.check_idle(engine.registry(), token);
                }
                return;
            };
            if (readable || closed)
                && let Some(entry) = self.connections.get_mut(&owner)
            {
                entry.connection.mark_upstream_readable(closed);
            }
            owner
        };
        self.drive(engine, client);
    }

    /// Takes a new configuration: registers new listeners, drops removed ones.
    fn set_conf(&mut self, engine: &mut Engine<Worker>, conf: Arc<ActiveConf>) {
        let removed: Vec<String> = self
            .listeners
            .keys()
            .filter(|address| conf.listener(address).is_none())
            .cloned()
            .collect();
        for address in removed {
            if let Some((_, mut listener)) = self.listeners.remove(&address) {
                let _ = engine.registry().deregister(listener.source());
            }
        }
        for active in &conf.listeners {
            if self.listeners.contains_key(&active.address) {
                continue;
            }
            let token = self.next_listener_token;
            self.next_listener_token += 1;
            let registered = active
                .socket
                .try_clone()
                .and_then(Listener::from_fd)
                .and_then(|mut listener| {
                    engine.registry().register(
                        listener.source(),
                        Token(token),
                        Interest::READABLE,
                    )?;
                    Ok(listener)
                });
            match registered {
                Ok(listener) => {
                    self.listeners
                        .insert(active.address.clone(), (token, listener));
                }
                Err(error) => {
                    tracing::error!("listening on \"{}\" failed: {error}", active.address)
                }
            }
        }
        // An idle connection of a removed listener is answered as an idle timeout
        // would be (408), as in Unit, and closed.
        let date = self.date.at(engine.now());
        let retired: Vec<usize> = self
            .connections
            .iter_mut()
            .filter(|(_, entry)| entry.connection.listener_removed(&conf))
            .filter_map(|(token, entry)| {
                let idle = entry.connection.retire();
                if idle {
                    entry.connection.time_out(Wait::Idle, date);
                }
                idle.then_some(*token)
            })
            .collect();
        for token in retired {
            self.close(engine, token);
        }
        // Connections between requests take the new configuration now rather than at
        // their next request, so an idle one holds nothing of the old (the processes of
        // an application that left it stop once nothing does).
        for entry in self.connections.values_mut() {
            entry.connection.refresh_conf(&conf);
        }
        // Cached open files and pooled upstream connections belong to the old
        // configuration: nothing of it is held open past the change.
        self.services.share.clear();
        self.pool.clear_idle(engine.registry());
        self.conf = Some(conf);
    }

    fn accept(&mut self, engine: &mut Engine<Worker>, listener_token: usize) {
        let Some(conf) = self.conf.clone() else {
            return;
        };
        let Some((address, (_, listener))) = self
            .listeners
            .iter()
            .find(|(_, (token, _))| *token == listener_token)
        else {
            return;
        };
        let tls = conf.listener(address).and_then(|active| active.tls.clone());
        let address: Arc<str> = Arc::from(address.as_str());
        loop {
            let (mut stream, remote, local) = match listener.accept() {
                Ok((stream, peer)) => {
                    let local = stream.local_addr().map_or(ConnAddr::Unix, ConnAddr::Inet);
                    (stream, peer.map_or(ConnAddr::Unix, ConnAddr::Inet), local)
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    match self.accepting.failed(&error, engine.now()) {
                        // The connections served go on; new ones wait in the backlog
                        // until descriptors are free again.
                        AcceptFailure::Paused { log } => {
                            if log {
                                tracing::error!(
                                    "accept on \"{address}\" failed: {error}; accepting pauses for {} ms",
                                    ACCEPT_PAUSE.as_millis()
                                );
                            }
                            engine.add_timer(ACCEPT_PAUSE, ACCEPT_RETRY_TIMER);
                        }
                        AcceptFailure::Other => {
                            tracing::warn!("accept on \"{address}\" failed: {error}")
                        }
                    }
                    return;
                }
            };
            let token = self.next_token;
            self.next_token = if token >= Engine::<Worker>::RESERVED_TOKENS_START - 1 {
                FIRST_CONNECTION
            } else {
                token + 2
            };
            if let Err(error) = engine.registry().register(
                stream.source(),
                Token(token),
                Interest::READABLE | Interest::WRITABLE,
            ) {
                tracing::warn!("registering a connection failed: {error}");
                continue;
            }
            self.counters.accepted.fetch_add(1, Ordering::Relaxed);
            let transport = match &tls {
                None => Transport::Plain(stream),
                Some(config) => match TlsStream::new(stream, Arc::clone(config)) {
                    Ok(tls) => Transport::Tls(Box::new(tls)),
                    Err(error) => {
                        tracing::warn!("a TLS session for \"{address}\" failed: {error}");
                        continue;
                    }
                },
            };
            let connection = Connection::new(
                transport,
                remote,
                local,
                Arc::clone(&address),
                Arc::clone(&conf),
            );
            let now = engine.now();
            let mut entry = Entry {
                connection,
                wait: Wait::Idle,
                deadline: now,
                timer: None,
            };
            entry.set_deadline(engine, token, deadline_after(now, conf.http.idle_timeout));
            self.connections.insert(token, Box::new(entry));
        }
    }

    fn drive(&mut self, engine: &mut Engine<Worker>, token: usize) {
        let Worker {
            index,
            grants,
            connections,
            conf,
            date,
            services,
            counters,
            pool,
            request_ids,
            spares,
            ..
        } = self;
        let Some(entry) = connections.get_mut(&token) else {
            return;
        };
        if let Some(conf) = conf {
            entry.connection.refresh_conf(conf);
        }
        let mut context = DriveContext {
            services,
            counters,
            date: date.at(engine.now()),
            now: engine.now(),
            registry: engine.registry(),
            pool,
            token,
            request_ids,
            grants,
            worker: *index,
        };
        entry.connection.lend_buffers(spares);
        let drive = entry.connection.drive(&mut context);
        match drive {
            Drive::Close => self.close(engine, token),
            Drive::Wait(wait) => {
                let idle = wait == Wait::Idle;
                if idle {
                    entry.connection.reclaim_buffers(spares);
                }
                if idle != entry.connection.idle {
                    entry.connection.idle = idle;
                    if idle {
                        counters.idle.fetch_add(1, Ordering::Relaxed);
                    } else {
                        counters.idle.fetch_sub(1, Ordering::Relaxed);
                    }
                }
                let timeout = timeout_for(conf.as_deref(), wait);
                // A head's timeout runs from its first byte, an application's from when
                // the request was passed on; the others from now.
                let (since, timeout) = match wait {
                    Wait::Header => (entry.connection.head_started(), timeout),
                    Wait::Linger => (entry.connection.lingering_since(), timeout),
                    Wait::Application => match entry.connection.app_deadline() {
                        Some((since, Some(limit))) => (Some(since), limit),
                        _ => (None, NO_TIMEOUT),
                    },
                    _ => (None, timeout),
                };
                entry.wait = wait;
                entry.set_deadline(
                    engine,
                    token,
                    deadline_after(since.unwrap_or(engine.now()), timeout),
                );
            }
        }
    }

    fn close(&mut self, engine: &mut Engine<Worker>, token: usize) {
        let Some(mut entry) = self.connections.remove(&token) else {
            return;
        };
        if let Some((timer, _)) = entry.timer.take() {
            engine.cancel_timer(timer);
        }
        if entry.connection.idle {
            self.counters.idle.fetch_sub(1, Ordering::Relaxed);
        }
        self.counters.closed.fetch_add(1, Ordering::Relaxed);
        entry.connection.abandon(engine.registry(), &mut self.pool);
        let _ = engine.registry().deregister(entry.connection.source());
        // The next connection accepted reads into them.
        entry.connection.reclaim_buffers(&mut self.spares);
    }

    fn close_all(&mut self, engine: &mut Engine<Worker>) {
        let tokens: Vec<usize> = self.connections.keys().copied().collect();
        for token in tokens {
            self.close(engine, token);
        }
    }
}

/// The `Date` value, read from the wall clock at most once per engine turn.
#[derive(Debug, Default)]
struct TurnDate {
    /// The turn (by its time) the clock was last read in.
    read_at: Option<Instant>,
    cache: DateCache,
}

impl TurnDate {
    /// The date for a turn whose time is `now`.
    fn at(&mut self, now: Instant) -> &str {
        if self.read_at != Some(now) {
            self.read_at = Some(now);
            self.cache.get(SystemTime::now());
        }
        self.cache.current()
    }
}

/// The instant `timeout` after `now` (far in the future when that overflows).
fn deadline_after(now: Instant, timeout: Duration) -> Instant {
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
}

/// The timeout for what a connection waits for.
fn timeout_for(conf: Option<&ActiveConf>, wait: Wait) -> Duration {
    let Some(conf) = conf else {
        return Duration::from_secs(30);
    };
    match wait {
        Wait::Header => conf.http.header_read_timeout,
        Wait::Body => conf.http.body_read_timeout,
        Wait::Send => conf.http.send_timeout,
        Wait::Idle | Wait::Tunnel => conf.http.idle_timeout,
        Wait::Upstream => UPSTREAM_TIMEOUT,
        Wait::Linger => LINGER_TIMEOUT,
        Wait::Application => NO_TIMEOUT,
    }
}
