//! The pool's decisions: how many processes, who gets one, who waits, who fails.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::unistd::Pid;
use serde_json::json;

use super::{
    Acquired, AppPool, AppStatus, Lease, MAX_WAITING, QUEUE_IF_ANSWERED_WITHIN, QUEUED_PER_RUNNER,
    Unavailable,
};

/// A pool for an external application with these extra members, counting wake-ups.
fn pool(members: serde_json::Value) -> (Arc<AppPool>, Arc<AtomicUsize>) {
    let mut application = json!({"type": "external", "executable": "/bin/app"});
    if let (Some(application), Some(members)) = (application.as_object_mut(), members.as_object()) {
        application.extend(members.clone());
    }
    let conf = unit_conf::parse_config(
        &json!({"applications": {"app": application}}),
        &unit_conf::Available::modules(&unit_conf::Modules::default()),
    )
    .expect("a valid configuration");
    let wakes = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&wakes);
    let application = conf
        .applications
        .into_iter()
        .next()
        .expect("the application");
    let pool = AppPool::new(
        application,
        Box::new(move || {
            counted.fetch_add(1, Ordering::SeqCst);
        }),
    );
    (Arc::new(pool), wakes)
}

/// Starts what the plan asks for, numbering the processes from `first_pid`.
fn start_planned(pool: &Arc<AppPool>, first_pid: i32) -> Vec<Pid> {
    let plan = pool.plan(Instant::now());
    plan.starts
        .iter()
        .enumerate()
        .map(|(index, start)| {
            let pid = Pid::from_raw(first_pid + index as i32);
            pool.started(
                start.generation,
                pid,
                PathBuf::from(format!("/run/{pid}.sock")),
                0,
            );
            pid
        })
        .collect()
}

/// Where a queued request's outcome lands.
type Outcome = Arc<Mutex<Option<Result<Lease, Unavailable>>>>;

fn acquire(pool: &Arc<AppPool>) -> (Acquired, Outcome) {
    acquire_on(pool, 0)
}

/// Asks for a process for a request on worker thread `worker`.
fn acquire_on(pool: &Arc<AppPool>, worker: usize) -> (Acquired, Outcome) {
    let outcome: Outcome = Arc::default();
    let slot = Arc::clone(&outcome);
    let acquired = pool.acquire(worker, move |result| {
        if let Ok(mut slot) = slot.lock() {
            *slot = Some(result);
        }
    });
    (acquired, outcome)
}

fn leased(acquired: Acquired) -> Lease {
    match acquired {
        Acquired::Now(lease) => lease,
        other => panic!("expected a process now, got {other:?}"),
    }
}

fn taken(outcome: &Outcome) -> Option<Result<Lease, Unavailable>> {
    outcome.lock().ok()?.take()
}

#[test]
fn a_fixed_number_of_processes_serve_one_request_each() {
    let (pool, _) = pool(json!({"processes": 2}));
    assert_eq!(start_planned(&pool, 100).len(), 2);
    assert!(pool.plan(Instant::now()).starts.is_empty(), "both run");
    let first = leased(acquire(&pool).0);
    let second = leased(acquire(&pool).0);
    assert_ne!(first.socket(), second.socket());
    // The third waits, and gets the first process given back.
    let (third, outcome) = acquire(&pool);
    assert!(matches!(third, Acquired::Waiting(_)));
    assert_eq!(
        pool.status(),
        AppStatus {
            running: 2,
            starting: 0,
            idle: 0,
            active: 3
        }
    );
    let socket = first.socket().to_path_buf();
    drop(first);
    let handed = taken(&outcome).expect("delivered").expect("a process");
    assert_eq!(handed.socket().as_ref(), socket);
    assert!(
        pool.plan(Instant::now()).starts.is_empty(),
        "a fixed number never grows"
    );
    drop((second, handed));
    assert_eq!(
        pool.status(),
        AppStatus {
            running: 2,
            starting: 0,
            idle: 2,
            active: 0
        }
    );
}

#[test]
fn spare_processes_run_and_more_start_on_demand_up_to_max_then_idle_out() {
    let (pool, wakes) = pool(json!({"processes": {"max": 3, "spare": 1, "idle_timeout": 1}}));
    assert_eq!(start_planned(&pool, 200).len(), 1, "the spare one");
    let a = leased(acquire(&pool).0);
    let (b, b_outcome) = acquire(&pool);
    let (c, c_outcome) = acquire(&pool);
    let (d, d_outcome) = acquire(&pool);
    assert!(matches!(
        (&b, &c, &d),
        (
            Acquired::Waiting(_),
            Acquired::Waiting(_),
            Acquired::Waiting(_)
        )
    ));
    assert!(wakes.load(Ordering::SeqCst) > 0, "the router is told");
    // Demand starts two more (three in all, the max); the fourth request waits.
    assert_eq!(start_planned(&pool, 201).len(), 2);
    let b = taken(&b_outcome).expect("b").expect("a process");
    let c = taken(&c_outcome).expect("c").expect("a process");
    assert!(taken(&d_outcome).is_none());
    assert_eq!(pool.status().running, 3);
    drop((a, b, c));
    let d = taken(&d_outcome).expect("d").expect("a process");
    drop(d);
    // Idle beyond `spare` for longer than idle_timeout: two stop, one stays.
    assert!(
        pool.plan(Instant::now()).stops.is_empty(),
        "not idle long enough"
    );
    let later = Instant::now() + Duration::from_secs(2);
    assert_eq!(pool.plan(later).stops.len(), 2);
    assert!(pool.plan(later).stops.is_empty(), "asked once");
    for pid in [200, 201, 202] {
        pool.process_exited(Pid::from_raw(pid));
    }
}

#[test]
fn a_process_is_replaced_after_its_request_limit() {
    let (pool, _) = pool(json!({"limits": {"requests": 2}}));
    start_planned(&pool, 300);
    for _ in 0..2 {
        let mut lease = leased(acquire(&pool).0);
        lease.mark_served();
    }
    // The next request waits for the replacement, which the plan starts.
    let (next, outcome) = acquire(&pool);
    assert!(matches!(next, Acquired::Waiting(_)));
    let plan = pool.plan(Instant::now());
    assert_eq!(plan.stops, [Pid::from_raw(300)]);
    assert_eq!(plan.starts.len(), 1);
    pool.started(
        plan.starts[0].generation,
        Pid::from_raw(301),
        "/run/301.sock".into(),
        0,
    );
    let lease = taken(&outcome)
        .expect("delivered")
        .expect("the new process");
    assert_eq!(lease.socket().as_ref(), Path::new("/run/301.sock"));
}

#[test]
fn a_restart_moves_new_requests_to_new_processes_while_old_ones_finish() {
    let (pool, _) = pool(json!({"processes": 1}));
    start_planned(&pool, 400);
    let old = leased(acquire(&pool).0);
    pool.restart();
    let plan = pool.plan(Instant::now());
    assert_eq!(plan.starts.len(), 1, "the new generation's process");
    assert!(plan.stops.is_empty(), "the old one is busy");
    assert_eq!(plan.starts[0].generation, 1);
    pool.started(1, Pid::from_raw(401), "/run/401.sock".into(), 0);
    let new = leased(acquire(&pool).0);
    assert_eq!(new.socket().as_ref(), Path::new("/run/401.sock"));
    drop(old);
    assert_eq!(pool.plan(Instant::now()).stops, [Pid::from_raw(400)]);
    // A start answered for an old generation does not serve the new one.
    pool.started(0, Pid::from_raw(402), "/run/402.sock".into(), 0);
    assert_eq!(pool.plan(Instant::now()).stops, [Pid::from_raw(402)]);
}

#[test]
fn the_queue_is_bounded() {
    let (pool, _) = pool(json!({"processes": 1}));
    start_planned(&pool, 500);
    let _busy = leased(acquire(&pool).0);
    let waiting: Vec<_> = (0..MAX_WAITING).map(|_| acquire(&pool)).collect();
    assert!(
        waiting
            .iter()
            .all(|(acquired, _)| matches!(acquired, Acquired::Waiting(_)))
    );
    assert!(matches!(acquire(&pool).0, Acquired::Unavailable));
    // A cancelled request frees its place.
    if let Acquired::Waiting(ticket) = waiting[0].0 {
        pool.cancel(ticket);
    }
    assert!(matches!(acquire(&pool).0, Acquired::Waiting(_)));
}

#[test]
fn waiting_requests_fail_when_processes_die_before_serving() {
    let (pool, _) = pool(json!({"processes": 1}));
    start_planned(&pool, 600);
    let lease = leased(acquire(&pool).0);
    let (_, outcome) = acquire(&pool);
    drop(lease);
    let handed = taken(&outcome).expect("delivered").expect("the process");
    let (_, second) = acquire(&pool);
    assert!(pool.process_exited(Pid::from_raw(600)));
    assert!(
        matches!(taken(&second), Some(Err(Unavailable))),
        "no process will come"
    );
    drop(handed);
    // Starting again: one at a time while starts fail, and a failed start fails those
    // that wait.
    assert_eq!(pool.plan(Instant::now()).starts.len(), 1);
    let (_, third) = acquire(&pool);
    assert!(
        pool.plan(Instant::now()).starts.is_empty(),
        "one start in flight"
    );
    pool.start_failed();
    assert!(matches!(taken(&third), Some(Err(Unavailable))));
    assert!(
        matches!(acquire(&pool).0, Acquired::Unavailable),
        "fails fast now"
    );
    assert!(
        !pool.process_exited(Pid::from_raw(9999)),
        "not one of this pool's"
    );
}

#[test]
fn a_removed_application_fails_waiting_requests_and_stops_its_processes() {
    let (pool, _) = pool(json!({"processes": 2}));
    start_planned(&pool, 700);
    let busy = leased(acquire(&pool).0);
    let _other = leased(acquire(&pool).0);
    let (_, waiting) = acquire(&pool);
    pool.remove();
    assert!(matches!(taken(&waiting), Some(Err(Unavailable))));
    assert!(matches!(acquire(&pool).0, Acquired::Unavailable));
    drop(busy);
    let plan = pool.plan(Instant::now());
    assert!(plan.starts.is_empty());
    assert_eq!(plan.stops, [Pid::from_raw(700)]);
    assert!(!pool.is_finished());
}

#[test]
fn a_freed_process_goes_to_its_own_worker_first_but_passes_nobody_over_more_than_twice() {
    let (pool, wakes) = pool(json!({"processes": 1}));
    assert_eq!(start_planned(&pool, 500).len(), 1);
    let held = leased(acquire_on(&pool, 0).0);
    let wakes_before = wakes.load(Ordering::SeqCst);
    let (_, other_worker) = acquire_on(&pool, 1);
    let same: Vec<Outcome> = (0..3).map(|_| acquire_on(&pool, 0).1).collect();
    assert_eq!(
        wakes.load(Ordering::SeqCst),
        wakes_before,
        "the one process runs: nothing to plan while requests wait"
    );
    // Worker 0 frees the process twice: each time it goes to worker 0's next request.
    drop(held);
    let second = taken(&same[0])
        .expect("worker 0's first")
        .expect("a process");
    assert!(taken(&other_worker).is_none());
    drop(second);
    let third = taken(&same[1])
        .expect("worker 0's second")
        .expect("a process");
    // The first in line was passed over twice: it comes next, whoever frees the process.
    drop(third);
    let first_in_line = taken(&other_worker)
        .expect("the request passed over")
        .expect("a process");
    assert!(taken(&same[2]).is_none());
    drop(first_in_line);
    assert!(taken(&same[2]).expect("the last").is_ok());
}

#[test]
fn a_python_process_is_its_module_told_which_application_to_run() {
    let raw = json!({
        "type": "python 3.11",
        "path": "/srv/blog",
        "module": "wsgi",
        "environment": {"DJANGO_SETTINGS_MODULE": "blog.settings"},
    });
    let pool = python_pool_of("blog", &raw);
    let plan = pool.plan(Instant::now());
    let [start] = plan.starts.as_slice() else {
        panic!("one process to start, not {:?}", plan.starts);
    };
    assert_eq!(start.name, "blog");
    assert_eq!(start.executable, "/usr/lib/unit/modules/python3.11.unit");
    assert!(start.arguments.is_empty());
    let [configured, (variable, described)] = start.environment.as_slice() else {
        panic!("two variables, not {:?}", start.environment);
    };
    assert_eq!(
        configured,
        &(
            "DJANGO_SETTINGS_MODULE".to_owned(),
            "blog.settings".to_owned()
        )
    );
    assert_eq!(variable, unit_conf::PYTHON_APP_ENV);
    let described: serde_json::Value =
        serde_json::from_str(described).expect("the description is JSON");
    assert_eq!(described, json!({"name": "blog", "application": raw}));
}

#[test]
fn a_process_serves_as_many_requests_at_once_as_it_reported() {
    let (pool, _) = pool(json!({"processes": 1}));
    let plan = pool.plan(Instant::now());
    assert_eq!(plan.starts.len(), 1);
    pool.started(
        plan.starts[0].generation,
        Pid::from_raw(500),
        "/run/500.sock".into(),
        3,
    );
    let leases: Vec<Lease> = (0..3).map(|_| leased(acquire(&pool).0)).collect();
    assert!(matches!(acquire(&pool).0, Acquired::Waiting(_)));
    drop(leases);
}

#[test]
fn requests_go_to_the_least_loaded_process_that_has_room() {
    let (pool, _) = pool(json!({"processes": 2}));
    let plan = pool.plan(Instant::now());
    assert_eq!(plan.starts.len(), 2);
    for (index, start) in plan.starts.iter().enumerate() {
        let pid = 550 + index as i32;
        pool.started(
            start.generation,
            Pid::from_raw(pid),
            format!("/run/{pid}.sock").into(),
            8,
        );
    }
    let leases: Vec<Lease> = (0..6).map(|_| leased(acquire(&pool).0)).collect();
    let on_first = leases
        .iter()
        .filter(|lease| lease.socket() == leases[0].socket())
        .count();
    assert_eq!(on_first, 3, "spread over both processes");
    drop(leases);
}

#[test]
fn taking_a_spare_process_starts_another_even_once_the_request_is_done() {
    let (pool, _) = pool(json!({"processes": {"spare": 1, "max": 3}}));
    assert_eq!(start_planned(&pool, 600).len(), 1);
    let lease = leased(acquire(&pool).0);
    drop(lease);
    let plan = pool.plan(Instant::now());
    assert_eq!(plan.starts.len(), 1, "the spare taken is replaced");
    assert!(plan.stops.is_empty());
}

/// A pool for a Python application (its processes read request frames) with these
/// members.
fn python_pool(members: serde_json::Value) -> Arc<AppPool> {
    let mut application = json!({"type": "python 3.11", "path": "/srv", "module": "wsgi"});
    if let (Some(application), Some(members)) = (application.as_object_mut(), members.as_object()) {
        application.extend(members.clone());
    }
    python_pool_of("app", &application)
}

/// A pool for the Python application `name`, configured as `application`.
fn python_pool_of(name: &str, application: &serde_json::Value) -> Arc<AppPool> {
    let conf = crate::conf::tests::parse_with(
        &json!({"applications": {name: application}}),
        &crate::conf::tests::python_module(),
    )
    .expect("a valid configuration");
    let application = conf
        .applications
        .into_iter()
        .next()
        .expect("the application");
    Arc::new(AppPool::new(application, Box::new(|| {})))
}

#[test]
fn busy_runners_are_sent_more_only_when_no_process_can_be_added() {
    let pool = python_pool(json!({"processes": {"max": 2, "spare": 1}}));
    assert_eq!(start_planned(&pool, 700).len(), 1);
    let first = leased(acquire(&pool).0);
    // Another process may still start: the request waits for it.
    let (second, outcome) = acquire(&pool);
    assert!(matches!(second, Acquired::Waiting(_)));
    assert_eq!(start_planned(&pool, 710).len(), 1);
    let second = taken(&outcome).expect("delivered").expect("a process");
    assert_ne!(first.socket(), second.socket());
    // At the maximum, busy processes that are getting through their requests take
    // more, the least loaded first, up to QUEUED_PER_RUNNER each.
    let mut queued = Vec::new();
    for _ in 0..2 * QUEUED_PER_RUNNER {
        queued.push(leased(acquire(&pool).0));
    }
    let on_first = queued
        .iter()
        .filter(|lease| lease.socket() == first.socket())
        .count();
    assert_eq!(on_first, QUEUED_PER_RUNNER as usize, "spread evenly");
    assert!(matches!(acquire(&pool).0, Acquired::Waiting(_)));
}

#[test]
fn a_runner_that_has_not_answered_lately_is_sent_nothing_more() {
    let pool = python_pool(json!({"processes": 1}));
    assert_eq!(start_planned(&pool, 800).len(), 1);
    let slow = leased(acquire(&pool).0);
    // It may be on a slow request: what comes waits for the next process free.
    std::thread::sleep(QUEUE_IF_ANSWERED_WITHIN + Duration::from_millis(10));
    assert!(matches!(acquire(&pool).0, Acquired::Waiting(_)));
    drop(slow);
}

#[test]
fn an_external_program_is_never_sent_a_second_request() {
    let (pool, _) = pool(json!({"processes": 1}));
    assert_eq!(start_planned(&pool, 900).len(), 1);
    let lease = leased(acquire(&pool).0);
    assert!(matches!(acquire(&pool).0, Acquired::Waiting(_)));
    drop(lease);
}

/// A connection to `listener` as a worker parks it after a request.
fn parked_on(
    pool: &mut crate::upstream::UpstreamPool,
    registry: &mio::Registry,
    listener: &std::path::Path,
) -> crate::upstream::Parked {
    let stream = unit_engine::Stream::connect_unix(listener).expect("connect");
    let upstream = pool.register_app(registry, stream, 0).expect("register");
    pool.park_app(upstream)
}

#[test]
fn a_parked_connection_is_taken_by_the_worker_it_is_registered_with() {
    let directory = std::env::temp_dir().join(format!("unit-parked-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).expect("a directory");
    let socket = directory.join("app.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
    let poll = mio::Poll::new().expect("poll");
    let mut worker_one = crate::upstream::UpstreamPool::new(
        0,
        1000,
        crate::upstream::WorkerHome::of(poll.registry(), 1).expect("home"),
    );

    for (pool, runner) in [(python_pool(json!({"processes": 1})), true), {
        let (pool, _) = pool(json!({"processes": 1}));
        (pool, false)
    }] {
        assert_eq!(start_planned(&pool, 950).len(), 1);
        let mut lease = leased(acquire_on(&pool, 1).0);
        assert!(lease.take_connection().is_none(), "none parked yet");
        lease.keep_connection(parked_on(&mut worker_one, poll.registry(), &socket));
        drop(lease);
        // Worker 0 has none of its own: a runner is connected to anew, an external
        // program's one connection moves over.
        let mut elsewhere = leased(acquire_on(&pool, 0).0);
        assert_eq!(elsewhere.take_connection().is_some(), !runner);
        drop(elsewhere);
        if runner {
            let mut home = leased(acquire_on(&pool, 1).0);
            let connection = home.take_connection().expect("its own connection");
            assert_eq!(connection.worker(), 1);
        }
    }
    let _ = std::fs::remove_dir_all(&directory);
}
