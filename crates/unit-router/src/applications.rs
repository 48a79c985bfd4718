//! The router's side of applications: each application's processes, the requests
//! waiting for one, and what to ask main to start or stop.
//!
//! An [`AppPool`] is shared by the router's main thread and its workers. A worker
//! leases a process for one request ([`AppPool::acquire`]): a process serves one
//! request at a time, so a process that handles one connection at a time is never held
//! by a connection nobody uses, and N processes serve N clients at once. When every
//! process is busy the request waits in a bounded queue, and the next process to come
//! free (or to start) goes to the first in line, or to one close behind it that waits
//! on the same worker thread, which takes the process at once without waking another
//! thread; no request is passed over more than twice. A [`Lease`] gives its process
//! back when it is dropped.
//!
//! A language runner's process may also be sent one request more than it serves at
//! once, when every process is busy and no other can be started, and it answered a
//! request a moment ago: it reads those requests as soon as it has answered one,
//! instead of sleeping until the router has read the answer and sent the next
//! (`QUEUED_PER_RUNNER`). An external program is never sent a second request while it
//! serves one.
//!
//! A process's connections from the router (one per request it is sent at once) are
//! kept open between requests and parked here while unused: whichever worker leases the
//! process next takes one along, so no request pays for a new connection (and a thread
//! of the application's own for it), and a process that serves one connection at a time
//! never waits on a second one.
//!
//! The main thread decides the processes ([`AppPool::plan`]): at least `spare` (or the
//! fixed number) run, more start on demand up to `max`, processes idle longer than
//! `idle_timeout` beyond `spare` stop, a process that served `limits.requests`
//! requests is replaced, and a restart moves the application to a new generation whose
//! processes take the new requests while the old ones finish theirs. When a process
//! dies before serving, or main cannot start one, the waiting requests fail at once
//! rather than wait for a process that may never come.
//!
//! What it does not do: talk to main or to the processes (the router's main thread and
//! the connections do), or time requests out (the workers do).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::upstream::Parked;
use nix::unistd::Pid;
use serde_json::json;
use unit_conf::{Application, ApplicationKind, PYTHON_APP_ENV, Processes};
use unit_port::AppStart;

/// How many requests may wait for a process of one application; the next is answered
/// 503 at once.
pub(crate) const MAX_WAITING: usize = 256;
/// How far behind the first in line a request of the releasing worker may be to get the
/// process first...
const SAME_WORKER_WINDOW: usize = 8;
/// ...and how often the first in line may be passed over so.
const MAX_PASSED_OVER: u8 = 2;
/// How many requests a language runner's process may be sent beyond its capacity while
/// no process can be added: enough that under load it finds the next request waiting
/// whenever it has answered one, and that few requests wait in the pool's queue, whose
/// hand-over to a request on another worker costs a wake-up of that worker. The price
/// is that up to this many may wait behind a request that turns slow within
/// `QUEUE_IF_ANSWERED_WITHIN` of the process's last answer.
const QUEUED_PER_RUNNER: u32 = 32;
/// A busy process is sent more only if it answered a request this recently: one that
/// has been working on the same requests for longer may be on a slow one, and what is
/// sent to it would wait behind that instead of going to the next process free.
const QUEUE_IF_ANSWERED_WITHIN: Duration = Duration::from_millis(20);

/// Where a waiting request's process, or the news that none will come, is delivered.
pub(crate) type Deliver = Box<dyn FnOnce(Result<Lease, Unavailable>) + Send>;

/// No process can serve the request (answered 503).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unavailable;

/// What asking for a process came to.
#[derive(Debug)]
pub(crate) enum Acquired {
    /// A process serves the request now.
    Now(Lease),
    /// The request waits; the ticket cancels it.
    Waiting(u64),
    /// No process can serve it.
    Unavailable,
}

/// What the router's main thread should do for a pool now.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Processes to start (as main is asked, one request each).
    pub(crate) starts: Vec<AppStart>,
    /// Processes to stop.
    pub(crate) stops: Vec<Pid>,
}

/// The figures `/status` shows for an application.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct AppStatus {
    pub(crate) running: usize,
    pub(crate) starting: usize,
    pub(crate) idle: usize,
    pub(crate) active: usize,
}

/// One application's processes and the requests waiting for them.
pub(crate) struct AppPool {
    /// The application as configured.
    pub(crate) application: Application,
    /// The longest an application may take with a request (`limits.timeout`).
    pub(crate) request_timeout: Option<Duration>,
    /// How many requests one process serves at once unless it reports otherwise: one
    /// for an external program, `threads` for a language runner.
    capacity: u32,
    /// Its processes read the language runners' request frame rather than HTTP.
    speaks_frames: bool,
    state: Mutex<PoolState>,
    /// Asks the router's main thread to plan this pool (set when a request waits or a
    /// process is given back).
    wake: Box<dyn Fn() + Send + Sync>,
    /// A wake-up is on its way.
    wake_pending: AtomicBool,
}

impl std::fmt::Debug for AppPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppPool")
            .field("name", &self.application.name)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct PoolState {
    generation: u64,
    processes: Vec<AppProcess>,
    /// Starts asked of main and not answered yet.
    starting: usize,
    waiting: VecDeque<Waiter>,
    next_ticket: u64,
    /// The application left the configuration while requests of the configurations
    /// that had it may still come (a head half read when it changed): its processes
    /// serve them, and none is started but for a request waiting.
    leaving: bool,
    /// The application left the configuration: its processes stop once idle.
    removed: bool,
    /// The last start failed, or a process died before it served: requests that would
    /// wait for a process fail instead, until one starts.
    failing: bool,
    /// Processes to start so `spare` stay idle, asked for as requests took idle ones.
    top_up: usize,
}

struct Waiter {
    ticket: u64,
    /// The worker thread the request lives on.
    worker: usize,
    /// How often a request behind it got a process first.
    passed_over: u8,
    deliver: Deliver,
}

impl std::fmt::Debug for Waiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiter")
            .field("ticket", &self.ticket)
            .finish()
    }
}

#[derive(Debug)]
struct AppProcess {
    pid: Pid,
    socket: Arc<Path>,
    generation: u64,
    /// How many requests it serves at once: what it reported when it started, or the
    /// pool's `capacity`.
    capacity: u32,
    active: u32,
    served: u64,
    /// When it started or last finished a request: the start of its idleness when it
    /// is idle.
    idle_since: Instant,
    /// Takes no new request: it is of an old generation, reached its request limit, or
    /// idled out; stopped once idle.
    retiring: bool,
    /// Main was asked to stop it.
    stopping: bool,
    /// The router's connections to it that no request uses.
    connections: Vec<Parked>,
}

impl AppProcess {
    fn takes_requests(&self, generation: u64) -> bool {
        !self.retiring && !self.stopping && self.generation == generation
    }

    /// A parked connection for a request on `worker`: one registered with that worker,
    /// since moving a connection between workers' polls costs two epoll_ctl calls. A
    /// language runner without one is connected to anew (it serves any number of
    /// connections, so in the end each worker has its own); an external program's
    /// connection moves, since one that serves a connection at a time would not take
    /// a second while the first is parked.
    fn take_connection(&mut self, worker: usize, runner: bool) -> Option<Parked> {
        let index = self
            .connections
            .iter()
            .rposition(|connection| connection.worker() == worker)
            .or_else(|| {
                if runner {
                    None
                } else {
                    self.connections.len().checked_sub(1)
                }
            })?;
        Some(self.connections.swap_remove(index))
    }
}

/// A process leased for one request; given back when dropped.
#[derive(Debug)]
pub(crate) struct Lease {
    pool: Arc<AppPool>,
    pid: Pid,
    /// The worker thread of the request it serves.
    worker: usize,
    socket: Arc<Path>,
    /// The request was served (counts toward `limits.requests`).
    served: bool,
    /// The process's connection: the parked one until the exchange takes it, then the
    /// one the exchange gives back for the next request, if it stays usable.
    connection: Option<Parked>,
}

impl Lease {
    /// The unix socket the process serves on.
    pub(crate) fn socket(&self) -> &Arc<Path> {
        &self.socket
    }

    /// Whether the process reads the language runners' request frame.
    pub(crate) fn speaks_frames(&self) -> bool {
        self.pool.speaks_frames
    }

    /// The process's open connection, if one was parked.
    pub(crate) fn take_connection(&mut self) -> Option<Parked> {
        self.connection.take()
    }

    /// The exchange is over and its connection can carry the next request.
    pub(crate) fn keep_connection(&mut self, connection: Parked) {
        self.connection = Some(connection);
    }

    /// The request was answered.
    pub(crate) fn mark_served(&mut self) {
        self.served = true;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.pool
            .release(self.pid, self.worker, self.served, self.connection.take());
    }
}

// === impl AppPool ===

impl AppPool {
    /// A pool for `application` with no process yet; `wake` asks the router's main thread
    /// to plan it.
    pub(crate) fn new(application: Application, wake: Box<dyn Fn() + Send + Sync>) -> AppPool {
        let (capacity, speaks_frames) = match &application.kind {
            ApplicationKind::External { .. } => (1, false),
            ApplicationKind::Python(python) => (python.threads.max(1), true),
        };
        AppPool {
            request_timeout: application.limits.timeout,
            capacity,
            speaks_frames,
            application,
            state: Mutex::new(PoolState::default()),
            wake,
            wake_pending: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // A thread that panicked holding the lock leaves consistent (if stale) counts.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wake(&self) {
        if !self.wake_pending.swap(true, Ordering::AcqRel) {
            (self.wake)();
        }
    }

    /// How many requests a process may be sent beyond its capacity now: only a
    /// language runner's, and only while the pool cannot grow.
    fn queue_room(&self, state: &PoolState) -> u32 {
        if self.speaks_frames && !self.below_max(state) {
            QUEUED_PER_RUNNER
        } else {
            0
        }
    }

    /// Leases a process for a request on `worker`, or queues the request (`deliver`
    /// gets the lease, or the news that none will come; it is boxed only then, so a
    /// request served at once allocates nothing for it).
    pub(crate) fn acquire<F>(self: &Arc<Self>, worker: usize, deliver: F) -> Acquired
    where
        F: FnOnce(Result<Lease, Unavailable>) + Send + 'static,
    {
        let mut state = self.lock();
        if state.removed {
            return Acquired::Unavailable;
        }
        let generation = state.generation;
        let room = self.queue_room(&state);
        let usable = |process: &AppProcess| process.takes_requests(generation);
        // The least loaded process with room: a process that serves many requests at
        // once (an ASGI runner's event loop) would otherwise take them all while the
        // others idle.
        let chosen = state
            .processes
            .iter()
            .enumerate()
            .filter(|(_, process)| usable(process) && process.active < process.capacity)
            .min_by_key(|(_, process)| process.active)
            .map(|(index, _)| index)
            .or_else(|| {
                // Every process is busy: the least loaded one with room that is getting
                // through its requests takes it.
                if room == 0 {
                    return None;
                }
                let now = Instant::now();
                state
                    .processes
                    .iter()
                    .enumerate()
                    .filter(|(_, process)| {
                        usable(process)
                            && process.active < process.capacity + room
                            && now.saturating_duration_since(process.idle_since)
                                < QUEUE_IF_ANSWERED_WITHIN
                    })
                    .min_by_key(|(_, process)| process.active)
                    .map(|(index, _)| index)
            });
        if let Some(index) = chosen {
            let process = &mut state.processes[index];
            process.active += 1;
            let lease = Lease {
                pool: Arc::clone(self),
                pid: process.pid,
                worker,
                socket: Arc::clone(&process.socket),
                served: false,
                connection: process.take_connection(worker, self.speaks_frames),
            };
            // As Unit: taking one of the `spare` idle processes starts another, which
            // stays whether or not this request is still running when it comes up.
            if let Processes::Dynamic { spare, .. } = self.application.processes {
                let idle = state
                    .processes
                    .iter()
                    .filter(|process| process.takes_requests(generation) && process.active == 0)
                    .count()
                    + state.starting
                    + state.top_up;
                if idle < spare as usize && self.below_max(&state) {
                    state.top_up += 1;
                    drop(state);
                    self.wake();
                }
            }
            return Acquired::Now(lease);
        }
        let nothing_coming = state.starting == 0
            && !state
                .processes
                .iter()
                .any(|process| process.takes_requests(generation));
        // The planner is woken only when it could start a process for the request: with
        // every process running and busy, the request just waits for one.
        let plan = self.below_max(&state);
        if state.waiting.len() >= MAX_WAITING || (state.failing && nothing_coming) {
            drop(state);
            if plan {
                self.wake();
            }
            return Acquired::Unavailable;
        }
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.waiting.push_back(Waiter {
            ticket,
            worker,
            passed_over: 0,
            deliver: Box::new(deliver),
        });
        drop(state);
        if plan {
            self.wake();
        }
        Acquired::Waiting(ticket)
    }

    /// Whether fewer processes run or start than the application may have.
    fn below_max(&self, state: &PoolState) -> bool {
        let max = match self.application.processes {
            Processes::Fixed(n) => n as usize,
            Processes::Dynamic { max, .. } => max as usize,
        };
        let generation = state.generation;
        let usable = state
            .processes
            .iter()
            .filter(|process| process.takes_requests(generation))
            .count();
        usable + state.starting < max
    }

    /// A waiting request gave up (its client went, or its time ran out).
    pub(crate) fn cancel(&self, ticket: u64) {
        self.lock().waiting.retain(|waiter| waiter.ticket != ticket);
    }

    /// A lease ended: the process takes the next waiting request, or idles with its
    /// connection parked.
    fn release(
        self: &Arc<Self>,
        pid: Pid,
        worker: usize,
        served: bool,
        connection: Option<Parked>,
    ) {
        let request_limit = self.application.limits.requests;
        let mut state = self.lock();
        let generation = state.generation;
        if served {
            state.failing = false;
        }
        let Some(process) = state
            .processes
            .iter_mut()
            .find(|process| process.pid == pid)
        else {
            return;
        };
        process.active = process.active.saturating_sub(1);
        if served {
            process.served += 1;
        }
        if request_limit.is_some_and(|limit| process.served >= limit) {
            process.retiring = true;
        }
        process.idle_since = Instant::now();
        let usable = process.takes_requests(generation);
        if usable && let Some(connection) = connection {
            process.connections.push(connection);
        }
        let handed = if usable {
            self.hand_over(&mut state, pid, Some(worker))
        } else {
            None
        };
        drop(state);
        if let Some((deliver, lease)) = handed {
            deliver(Ok(lease));
        } else if !usable {
            // Only a process that takes no more requests needs planning (its stop);
            // an idle one is looked at on the planner's next tick.
            self.wake();
        }
    }

    /// Leases process `pid` to the first waiting request, if any, or to one of
    /// `preferred_worker` close behind it.
    fn hand_over(
        self: &Arc<Self>,
        state: &mut PoolState,
        pid: Pid,
        preferred_worker: Option<usize>,
    ) -> Option<(Deliver, Lease)> {
        let first = state.waiting.front()?;
        let (first_worker, first_passed_over) = (first.worker, first.passed_over);
        let chosen = match preferred_worker {
            Some(worker) if first_worker != worker && first_passed_over < MAX_PASSED_OVER => {
                let behind = state
                    .waiting
                    .iter()
                    .take(SAME_WORKER_WINDOW)
                    .position(|waiter| waiter.worker == worker);
                if let (Some(_), Some(first)) = (behind, state.waiting.front_mut()) {
                    first.passed_over += 1;
                }
                behind.unwrap_or(0)
            }
            _ => 0,
        };
        let waiter = state.waiting.remove(chosen)?;
        let process = state
            .processes
            .iter_mut()
            .find(|process| process.pid == pid)?;
        process.active += 1;
        let lease = Lease {
            pool: Arc::clone(self),
            pid,
            worker: waiter.worker,
            socket: Arc::clone(&process.socket),
            served: false,
            connection: process.take_connection(waiter.worker, self.speaks_frames),
        };
        Some((waiter.deliver, lease))
    }

    /// Main started a process asked for by [`AppPool::plan`] of `generation`.
    pub(crate) fn started(
        self: &Arc<Self>,
        generation: u64,
        pid: Pid,
        socket: PathBuf,
        reported_capacity: u32,
    ) {
        let mut state = self.lock();
        state.starting = state.starting.saturating_sub(1);
        let retiring = generation != state.generation || state.removed;
        let capacity = if reported_capacity > 0 {
            reported_capacity
        } else {
            self.capacity
        };
        state.processes.push(AppProcess {
            pid,
            socket: Arc::from(socket.as_path()),
            generation,
            capacity,
            active: 0,
            served: 0,
            idle_since: Instant::now(),
            retiring,
            stopping: false,
            connections: Vec::new(),
        });
        let mut handed = Vec::new();
        let current = state.generation;
        if generation == current && !state.removed {
            while let Some(slot) = self.hand_over(&mut state, pid, None) {
                handed.push(slot);
                let room = self.queue_room(&state);
                let full = state
                    .processes
                    .iter()
                    .find(|process| process.pid == pid)
                    .is_none_or(|process| process.active >= process.capacity + room);
                if full {
                    break;
                }
            }
        }
        drop(state);
        for (deliver, lease) in handed {
            deliver(Ok(lease));
        }
    }

    /// Main could not start a process: while none can serve, waiting requests fail.
    pub(crate) fn start_failed(&self) {
        let mut state = self.lock();
        state.starting = state.starting.saturating_sub(1);
        state.failing = true;
        let failed = Self::fail_waiting_if_stuck(&mut state);
        drop(state);
        for deliver in failed {
            deliver(Err(Unavailable));
        }
    }

    /// A process is gone. One that served nothing counts as a failed start. Whether the
    /// process was one of this pool's.
    pub(crate) fn process_exited(&self, pid: Pid) -> bool {
        let mut state = self.lock();
        let Some(index) = state
            .processes
            .iter()
            .position(|process| process.pid == pid)
        else {
            return false;
        };
        let process = state.processes.remove(index);
        if process.served == 0 && !process.stopping {
            state.failing = true;
        }
        let failed = Self::fail_waiting_if_stuck(&mut state);
        drop(state);
        for deliver in failed {
            deliver(Err(Unavailable));
        }
        true
    }

    /// The waiting requests, when the pool is failing and no process serves or starts.
    fn fail_waiting_if_stuck(state: &mut PoolState) -> Vec<Deliver> {
        let generation = state.generation;
        let serving = state
            .processes
            .iter()
            .any(|process| process.takes_requests(generation));
        if state.failing && !serving && state.starting == 0 {
            state
                .waiting
                .drain(..)
                .map(|waiter| waiter.deliver)
                .collect()
        } else {
            Vec::new()
        }
    }

    /// Moves the application to a new generation: new processes take the requests from
    /// now on, and the old ones stop once they have finished theirs.
    pub(crate) fn restart(&self) {
        let mut state = self.lock();
        state.generation += 1;
        state.failing = false;
        for process in &mut state.processes {
            process.retiring = true;
        }
    }

    /// The application left the configuration: its processes serve what the older
    /// configurations still send, until [`remove`](Self::remove).
    pub(crate) fn leave(&self) {
        self.lock().leaving = true;
    }

    /// The application left the configuration: nothing new reaches it, waiting requests
    /// fail, and its processes stop once idle.
    pub(crate) fn remove(&self) {
        let mut state = self.lock();
        state.removed = true;
        for process in &mut state.processes {
            process.retiring = true;
        }
        let failed: Vec<Deliver> = state
            .waiting
            .drain(..)
            .map(|waiter| waiter.deliver)
            .collect();
        drop(state);
        for deliver in failed {
            deliver(Err(Unavailable));
        }
    }

    /// Whether every process of a removed application is gone.
    pub(crate) fn is_finished(&self) -> bool {
        let state = self.lock();
        state.removed && state.processes.is_empty() && state.starting == 0
    }

    /// What to start and stop now.
    pub(crate) fn plan(&self, now: Instant) -> Plan {
        self.wake_pending.store(false, Ordering::Release);
        let mut state = self.lock();
        let mut plan = Plan::default();
        let generation = state.generation;
        // `spare` is how many idle processes are kept ready (as in Unit): a request that
        // takes one of them starts another, up to `max`.
        let (mut min, mut spare, max, idle_timeout) = match self.application.processes {
            Processes::Fixed(n) => (n as usize, 0, n as usize, None),
            Processes::Dynamic {
                max,
                spare,
                idle_timeout,
            } => (
                spare as usize,
                spare as usize,
                max as usize,
                Some(idle_timeout),
            ),
        };
        // A leaving application keeps what it has and starts only for waiting requests.
        if state.leaving {
            (min, spare) = (0, 0);
        }
        if !state.removed {
            // Idle processes beyond `spare` that idled out go first, so they are not
            // counted.
            if let Some(idle_timeout) = idle_timeout {
                let mut usable_idle: Vec<usize> = state
                    .processes
                    .iter()
                    .enumerate()
                    .filter(|(_, process)| {
                        process.takes_requests(generation) && process.active == 0
                    })
                    .map(|(index, _)| index)
                    .collect();
                // As Unit: the `spare` processes idle the longest are the spare ones; those
                // that became idle after them each idle out on their own timer.
                let surplus = usable_idle.len().saturating_sub(spare);
                usable_idle
                    .sort_by_key(|index| std::cmp::Reverse(state.processes[*index].idle_since));
                for index in usable_idle.into_iter().take(surplus) {
                    let process = &mut state.processes[index];
                    if now.saturating_duration_since(process.idle_since) >= idle_timeout {
                        process.retiring = true;
                    }
                }
            }
            let usable = state
                .processes
                .iter()
                .filter(|process| process.takes_requests(generation))
                .count();
            let busy = state
                .processes
                .iter()
                .filter(|process| process.takes_requests(generation) && process.active > 0)
                .count();
            let live = usable + state.starting;
            let free = state
                .processes
                .iter()
                .filter(|process| process.takes_requests(generation))
                .map(|process| process.capacity.saturating_sub(process.active) as usize)
                .sum::<usize>();
            let unserved = state.waiting.len().saturating_sub(free + state.starting);
            let top_up = std::mem::take(&mut state.top_up);
            let mut target = min.max((live + unserved + top_up).max(busy + spare).min(max));
            // While starts fail, one at a time (main backs off between them).
            if state.failing {
                target = if state.starting > 0 {
                    live
                } else {
                    target.min(live + 1)
                };
            }
            for _ in live..target {
                plan.starts.push(self.start_request(generation));
            }
            state.starting += target.saturating_sub(live);
        }
        let removed = state.removed;
        for process in &mut state.processes {
            let idle = process.active == 0;
            if idle && !process.stopping && (process.retiring || removed) {
                process.stopping = true;
                process.connections.clear();
                plan.stops.push(process.pid);
            }
        }
        plan
    }

    /// What main is asked to start a process of `generation` with: an external
    /// application's own program, or a language module's runner, which is told which
    /// application to run in its environment.
    fn start_request(&self, generation: u64) -> AppStart {
        let application = &self.application;
        let mut environment = application.environment.clone();
        let (executable, arguments) = match &application.kind {
            ApplicationKind::External {
                executable,
                arguments,
            } => (executable.display().to_string(), arguments.clone()),
            ApplicationKind::Python(python) => {
                let described = json!({"name": application.name, "application": application.raw});
                environment.push((PYTHON_APP_ENV.to_owned(), described.to_string()));
                (python.module_file.display().to_string(), Vec::new())
            }
        };
        let path = |path: &Option<PathBuf>| path.as_ref().map(|path| path.display().to_string());
        AppStart {
            name: application.name.clone(),
            generation,
            executable,
            arguments,
            environment,
            working_directory: path(&application.working_directory),
            user: application.user.clone(),
            group: application.group.clone(),
            stdout: path(&application.stdout),
            stderr: path(&application.stderr),
            reports_ready: self.speaks_frames,
            isolation: application
                .raw
                .get("isolation")
                .map(|isolation| isolation.to_string()),
        }
    }

    /// The figures `/status` shows.
    pub(crate) fn status(&self) -> AppStatus {
        let state = self.lock();
        let alive = state.processes.iter().filter(|process| !process.stopping);
        let mut status = AppStatus {
            starting: state.starting,
            ..AppStatus::default()
        };
        for process in alive {
            status.running += 1;
            if process.active == 0 {
                status.idle += 1;
            }
            status.active += process.active as usize;
        }
        status.active += state.waiting.len();
        status
    }
}

#[cfg(test)]
mod tests;
