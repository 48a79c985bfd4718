//! A router worker thread: one engine that accepts on every listener and serves its
//! connections. Every worker registers every listen socket (its own duplicate of the
//! descriptor); the kernel wakes the workers in turn, which spreads connections.
//! The router's main thread hands each worker new configurations through its `Remote`.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use unit_engine::{Engine, Event, HashMap, Interest, Listener, Remote, TimerId, Token};
use unit_http::DateCache;

use crate::conf::ActiveConf;
use crate::connection::{Connection, Drive, DriveContext, Wait};
use crate::handler::Services;
use crate::http::{ConnAddr, RequestIds};
use crate::proxy::UpstreamPool;
use crate::router::Counters;

/// Listener tokens are below this; connection tokens at and above it.
const FIRST_CONNECTION: usize = 1 << 20;
/// How long a proxied upstream may stay silent.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(60);

/// What all workers share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) counters: Counters,
    pub(crate) services: Services,
}

/// The main thread's handle on a worker.
#[derive(Debug)]
pub(crate) struct WorkerHandle {
    pub(crate) remote: Remote<Worker>,
    pub(crate) thread: JoinHandle<()>,
}

impl WorkerHandle {
    /// Gives the worker a new configuration.
    pub(crate) fn set_conf(&self, conf: Arc<ActiveConf>) {
        if self
            .remote
            .post(move |worker, engine| worker.set_conf(engine, conf))
            .is_err()
        {
            tracing::warn!("a router worker is gone");
        }
    }

    /// Stops the worker (its connections are closed) and waits for it.
    pub(crate) fn stop(self) {
        let _ = self.remote.post(|_, engine| engine.stop());
        let _ = self.thread.join();
    }
}

/// Starts worker number `index`.
pub(crate) fn spawn_worker(index: usize, shared: Arc<Shared>) -> io::Result<WorkerHandle> {
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
            let _ = remote_sender.send(engine.remote());
            let mut worker = Worker {
                shared,
                conf: None,
                listeners: HashMap::default(),
                connections: HashMap::default(),
                next_token: FIRST_CONNECTION,
                next_listener_token: 1,
                date: DateCache::new(),
                pool: UpstreamPool::default(),
                request_ids: RequestIds::new(),
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

/// A connection with its armed timeout.
#[derive(Debug)]
struct Entry {
    connection: Connection,
    timer: Option<TimerId>,
}

/// One worker's state.
#[derive(Debug)]
pub(crate) struct Worker {
    shared: Arc<Shared>,
    conf: Option<Arc<ActiveConf>>,
    /// Listener address → (token, socket).
    listeners: HashMap<String, (usize, Listener)>,
    connections: HashMap<usize, Entry>,
    next_token: usize,
    next_listener_token: usize,
    date: DateCache,
    pool: UpstreamPool,
    request_ids: RequestIds,
}

impl Worker {
    fn on_event(&mut self, engine: &mut Engine<Worker>, event: Event) {
        match event {
            Event::Io { token, .. } if token.0 < FIRST_CONNECTION => self.accept(engine, token.0),
            // A connection's upstream socket has the token after the connection's own.
            Event::Io { token, .. } => self.drive(engine, token.0 & !1),
            Event::Timer { key, .. } => {
                if let Ok(token) = usize::try_from(key) {
                    self.close(engine, token);
                }
            }
            Event::Signal(_) => {}
        }
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
        let retired: Vec<usize> = self
            .connections
            .iter_mut()
            .filter(|(_, entry)| entry.connection.listener_removed(&conf))
            .filter_map(|(token, entry)| entry.connection.retire().then_some(*token))
            .collect();
        for token in retired {
            self.close(engine, token);
        }
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
                    tracing::warn!("accept on \"{address}\" failed: {error}");
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
            self.shared
                .counters
                .accepted
                .fetch_add(1, Ordering::Relaxed);
            let connection = Connection::new(
                stream,
                remote,
                local,
                Arc::clone(&address),
                Arc::clone(&conf),
            );
            let timer = Some(engine.add_timer(conf.http.header_read_timeout, token as u64));
            self.connections.insert(token, Entry { connection, timer });
        }
    }

    fn drive(&mut self, engine: &mut Engine<Worker>, token: usize) {
        let Worker {
            connections,
            conf,
            date,
            shared,
            pool,
            request_ids,
            ..
        } = self;
        let Some(entry) = connections.get_mut(&token) else {
            return;
        };
        if let Some(conf) = conf {
            entry.connection.refresh_conf(conf);
        }
        let counters = &shared.counters;
        let mut context = DriveContext {
            services: &shared.services,
            counters,
            date: date.get(SystemTime::now()),
            registry: engine.registry(),
            pool,
            upstream_token: Token(token + 1),
            request_ids,
        };
        let drive = entry.connection.drive(&mut context);
        match drive {
            Drive::Close => self.close(engine, token),
            Drive::Wait(wait) => {
                let idle = wait == Wait::Idle;
                if idle != entry.connection.idle {
                    entry.connection.idle = idle;
                    if idle {
                        counters.idle.fetch_add(1, Ordering::Relaxed);
                    } else {
                        counters.idle.fetch_sub(1, Ordering::Relaxed);
                    }
                }
                if let Some(timer) = entry.timer.take() {
                    engine.cancel_timer(timer);
                }
                let timeout = timeout_for(conf.as_deref(), wait);
                entry.timer = Some(engine.add_timer(timeout, token as u64));
            }
        }
    }

    fn close(&mut self, engine: &mut Engine<Worker>, token: usize) {
        let Some(mut entry) = self.connections.remove(&token) else {
            return;
        };
        if let Some(timer) = entry.timer.take() {
            engine.cancel_timer(timer);
        }
        if entry.connection.idle {
            self.shared.counters.idle.fetch_sub(1, Ordering::Relaxed);
        }
        self.shared.counters.closed.fetch_add(1, Ordering::Relaxed);
        let _ = engine
            .registry()
            .deregister(entry.connection.stream.source());
    }

    fn close_all(&mut self, engine: &mut Engine<Worker>) {
        let tokens: Vec<usize> = self.connections.keys().copied().collect();
        for token in tokens {
            self.close(engine, token);
        }
    }
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
        Wait::Idle => conf.http.idle_timeout,
        Wait::Upstream => UPSTREAM_TIMEOUT,
    }
}
