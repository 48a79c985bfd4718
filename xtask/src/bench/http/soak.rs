//! `cargo xtask soak`: a release unitd under mixed traffic for minutes, reconfigured every
//! second and its router killed now and then, then checked for lost requests, a stale
//! `conf.json`, leaked descriptors and grown memory.
//!
//! One unitd listens on two loopback ports. The first routes `/return` to a `return`
//! action, `/soak/*` to a `share` of a few files, `/proxy/*` to a `proxy` to the second
//! port (which shares the same files), and `/app` to a WSGI hello world when the Python
//! runner can be built. Client threads request them in turn, on keep-alive connections
//! that are replaced every few requests, and check each answer's status and body.
//!
//! The main thread is the operator: each second it applies one of two valid configurations
//! (they differ in the `return` status, and an answer with either is right), or now and then
//! an invalid one that must be refused with 400 and change nothing. Every `--kill-every`
//! seconds it kills the router with SIGKILL instead and waits until a new router answers;
//! requests that overlap the span from the kill to that answer plus [`KILL_GRACE`] may fail.
//!
//! Baselines of descriptors and RSS are taken after [`WARM_UP`] with the clients paused and
//! their connections closed, and compared with the same measurement at the end.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::Args;

use super::procfs;
use super::servers::{
    CONTROL_DEADLINE, Server, WorkDir, control_request, free_ports, signal, write_file,
};
use crate::cmd::UnitdDir;

/// Arguments of `cargo xtask soak`.
#[derive(Args)]
pub(crate) struct SoakArgs {
    /// How long to drive traffic, warm-up included.
    #[arg(long, default_value_t = 30)]
    minutes: u64,
    /// Seconds between two kills of the router.
    #[arg(long, default_value_t = 120)]
    kill_every: u64,
    /// Client threads sending requests.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Keep the work directory (configuration, logs, state) after the run.
    #[arg(long)]
    keep: bool,
    /// Measure this unitd binary instead of building one.
    #[arg(long)]
    unitd: Option<PathBuf>,
}

/// Traffic before the baselines are taken, so caches, pools and arenas have their size.
const WARM_UP: Duration = Duration::from_secs(15);

/// Time after a killed router answers again in which failures are still forgiven: clients
/// whose connection broke need a moment to notice and reconnect.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// How long a new router may take to answer after a kill before the run fails.
const RECOVERY_DEADLINE: Duration = Duration::from_secs(30);

/// How long each read or write of a client may take.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// A client's pause between two requests, so the soak loads the machine without owning it.
const REQUEST_GAP: Duration = Duration::from_millis(2);

/// Requests a client sends on one connection before it opens a new one.
const REQUESTS_PER_CONNECTION: u64 = 8;

/// Every how many reconfigurations one is the invalid configuration.
const INVALID_EVERY: u64 = 7;

/// Time for closed connections to be noticed before descriptors are counted.
const SETTLE: Duration = Duration::from_secs(2);

/// Descriptors the router may hold beyond its baseline: the proxy's upstream connections
/// and the application links are closed by the peers' end of stream, which the router may
/// not have read yet when the count is taken.
const ROUTER_DESCRIPTOR_SLACK: usize = 2;

/// How much each role's RSS may grow over its baseline, in percent.
const RSS_GROWTH_PERCENT: u64 = 10;

/// The `return` statuses of the two valid configurations.
const RETURN_STATUSES: [u16; 2] = [200, 203];

/// The files shared (and proxied), with their sizes.
const FILES: [(&str, usize); 3] = [
    ("small.txt", 100),
    ("page.html", 3000),
    ("data.bin", 40_000),
];

/// The application's module and what it answers.
const APP_MODULE: &str = "soak_app";
const APP_NAME: &str = "soak";
const APP_BODY: &str = "Hello, soak\n";

/// What the clients are told to do, kept in an `AtomicU8`.
const RUN: u8 = 0;
const PAUSE: u8 = 1;
const STOP: u8 = 2;

/// One thing a client asks for, with what the answer must be.
#[derive(Clone)]
struct Target {
    path: String,
    /// Statuses that are right for it.
    statuses: Vec<u16>,
    body: Vec<u8>,
}

/// A request that did not get a right answer.
struct Failure {
    started: Instant,
    ended: Instant,
    what: String,
}

/// What the clients and the operator share.
struct Shared {
    phase: AtomicU8,
    paused: AtomicUsize,
    sent: AtomicU64,
    failures: Mutex<Vec<Failure>>,
}

/// What unitd's processes use, per role.
#[derive(Default)]
struct RoleUse {
    pids: Vec<u32>,
    descriptors: usize,
    rss_kib: u64,
}

/// Runs the soak and its checks.
pub(crate) fn run(args: SoakArgs) -> Result<()> {
    if args.clients == 0 || args.kill_every == 0 || args.minutes == 0 {
        bail!("--minutes, --kill-every and --clients need at least 1");
    }
    let unitd_binary = match &args.unitd {
        Some(binary) => binary.clone(),
        None => {
            crate::cmd::run_step(&mut crate::cmd::cargo(&[
                "build",
                "--release",
                "-p",
                "unitd",
            ]))?;
            crate::cmd::target_dir().join("release").join("unitd")
        }
    };
    let runner = match crate::runner::build_runner("release") {
        Ok(runner) => runner,
        Err(error) => {
            eprintln!("warning: no Python application: {error:#}");
            None
        }
    };
    if runner.is_none() {
        println!("no Python runner: the soak runs without an application");
    }

    let work = WorkDir::create(args.keep)?;
    println!("work directory: {}", work.path().display());
    let www = work.www();
    for dir in ["soak", "proxy"] {
        crate::cmd::create_dir(&www.join(dir))?;
        for (name, size) in FILES {
            write_file(&www.join(dir).join(name), &file_content(name, size))?;
        }
    }
    let app_dir = match &runner {
        Some(runner) => {
            crate::runner::install_module(runner, &work.path().join("modules"))?;
            write_file(&work.path().join(format!("{APP_MODULE}.py")), &app_source())?;
            Some(work.path().to_path_buf())
        }
        None => None,
    };
    let ports = free_ports(2)?;
    let (front, upstream) = (ports[0], ports[1]);
    let configs = RETURN_STATUSES
        .map(|status| unit_config(front, upstream, &www, status, app_dir.as_deref()));
    let invalid = invalid_config(&configs[0]);

    let unitd = Server::start_unitd_with(
        &unitd_binary,
        &work,
        &format!("{:#}\n", configs[0]),
        vec![front, upstream],
    )?;
    if !unitd.dead_ports.is_empty() {
        bail!("unitd is not listening{}", unitd.log_tail());
    }
    let unitd_dir = UnitdDir::new(work.path().to_path_buf());
    let control = unitd_dir.control();
    // The start configuration came from a file; the control API stores what it accepts.
    let mut last_accepted = put_config(&control, &configs[0])
        .and_then(|status| expect_status(status, 200, "the first configuration"))
        .map(|()| configs[0].clone())?;

    let targets = targets(&www, app_dir.is_some())?;
    wait_until_served(front, &targets, &unitd)?;

    let shared = Arc::new(Shared {
        phase: AtomicU8::new(RUN),
        paused: AtomicUsize::new(0),
        sent: AtomicU64::new(0),
        failures: Mutex::new(Vec::new()),
    });
    let clients: Vec<_> = (0..args.clients)
        .map(|index| {
            let shared = Arc::clone(&shared);
            let targets = targets.clone();
            std::thread::spawn(move || client(index, front, &targets, &shared))
        })
        .collect();

    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.minutes * 60);
    let mut problems: Vec<String> = Vec::new();
    let mut windows: Vec<(Instant, Instant)> = Vec::new();
    let mut accepted = 0u64;
    let mut refused = 0u64;
    let mut step = 0u64;

    std::thread::sleep(WARM_UP);
    pause(&shared, args.clients);
    std::thread::sleep(SETTLE);
    let baseline = measure(unitd.pid());
    shared.phase.store(RUN, Ordering::SeqCst);
    println!("baseline after {} s of warm-up:", WARM_UP.as_secs());
    print_use(&baseline);
    let kill_every = Duration::from_secs(args.kill_every);
    let mut next_kill = Instant::now() + kill_every;

    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
        if Instant::now() >= next_kill {
            let killed_at = Instant::now();
            match kill_router(unitd.pid(), front) {
                Ok(recovery) => {
                    println!(
                        "{:>5} s: router killed, a new one answered after {} ms",
                        started.elapsed().as_secs(),
                        recovery.as_millis()
                    );
                }
                Err(error) => problems.push(format!("killing the router: {error:#}")),
            }
            std::thread::sleep(KILL_GRACE);
            windows.push((killed_at, Instant::now()));
            next_kill = Instant::now() + kill_every;
            continue;
        }
        step += 1;
        if step.is_multiple_of(INVALID_EVERY) {
            match put_config(&control, &invalid) {
                Ok(400) => refused += 1,
                Ok(status) => problems.push(format!(
                    "{} s: the invalid configuration was answered {status}, not 400",
                    started.elapsed().as_secs()
                )),
                Err(error) => problems.push(format!("the invalid configuration: {error:#}")),
            }
            match get_config(&control) {
                Ok(running) if running == last_accepted => {}
                Ok(_) => problems.push(format!(
                    "{} s: the refused configuration changed the running one",
                    started.elapsed().as_secs()
                )),
                Err(error) => problems.push(format!("GET /config: {error:#}")),
            }
            continue;
        }
        let config = &configs[(step % 2) as usize];
        match put_config(&control, config) {
            Ok(200) => {
                accepted += 1;
                last_accepted = config.clone();
            }
            Ok(status) => problems.push(format!(
                "{} s: a valid configuration was answered {status}",
                started.elapsed().as_secs()
            )),
            Err(error) => problems.push(format!("a valid configuration: {error:#}")),
        }
    }

    pause(&shared, args.clients);
    shared.phase.store(STOP, Ordering::SeqCst);
    for client in clients {
        if client.join().is_err() {
            problems.push("a client thread panicked".to_owned());
        }
    }
    std::thread::sleep(SETTLE);
    let end = measure(unitd.pid());

    let failures = match shared.failures.lock() {
        Ok(mut failures) => std::mem::take(&mut *failures),
        Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
    };
    let (inside, outside): (Vec<&Failure>, Vec<&Failure>) = failures.iter().partition(|failure| {
        windows
            .iter()
            .any(|&(from, to)| failure.started <= to && failure.ended >= from)
    });
    println!(
        "requests sent: {}, failed outside kill windows: {}, failed inside: {} ({} kills)",
        shared.sent.load(Ordering::SeqCst),
        outside.len(),
        inside.len(),
        windows.len()
    );
    println!("reconfigurations: {accepted} accepted, {refused} invalid ones refused with 400");
    for failure in outside.iter().take(10) {
        println!(
            "  failed at {:.1} s: {}",
            failure.started.duration_since(started).as_secs_f64(),
            failure.what
        );
    }
    if !outside.is_empty() {
        problems.push(format!(
            "{} requests failed outside kill windows",
            outside.len()
        ));
    }

    match stored_config(&unitd_dir) {
        Ok(stored) if stored == last_accepted => {
            println!("conf.json: equals the last accepted configuration");
        }
        Ok(_) => problems.push("conf.json differs from the last accepted configuration".into()),
        Err(error) => problems.push(format!("conf.json: {error:#}")),
    }

    println!("at the end, traffic stopped:");
    print_use(&end);
    problems.extend(compare(&baseline, &end));

    if problems.is_empty() {
        println!("soak: every check passed");
        Ok(())
    } else {
        for problem in &problems {
            println!("FAILED: {problem}");
        }
        bail!(
            "{} soak check(s) failed{}",
            problems.len(),
            unitd.log_tail()
        )
    }
}

/// The checks of descriptors and RSS between the baseline and the end. Roles are
/// compared, not pids: the router at the end, a new process after each kill, is held to
/// the first router's baseline.
fn compare(
    baseline: &BTreeMap<&'static str, RoleUse>,
    end: &BTreeMap<&'static str, RoleUse>,
) -> Vec<String> {
    let mut problems = Vec::new();
    println!(
        "  (the router at the end, a new pid after a kill, is compared with the first \
         router's baseline; descriptors of main and the controller must equal their \
         baseline, the router's may exceed it by {ROUTER_DESCRIPTOR_SLACK}; the RSS of each \
         role, applications summed, may grow {RSS_GROWTH_PERCENT}%)"
    );
    for (role, before) in baseline {
        let Some(after) = end.get(role) else {
            problems.push(format!("no {role} process at the end"));
            continue;
        };
        let slack = match *role {
            "router" => ROUTER_DESCRIPTOR_SLACK,
            _ => 0,
        };
        if *role != "application" && after.descriptors > before.descriptors + slack {
            problems.push(format!(
                "{role}: {} descriptors at the end, {} at the baseline",
                after.descriptors, before.descriptors
            ));
        }
        println!(
            "  {role}: descriptors {} -> {}, RSS {} KiB -> {} KiB ({:+.1}%)",
            before.descriptors,
            after.descriptors,
            before.rss_kib,
            after.rss_kib,
            percent(after.rss_kib, before.rss_kib)
        );
        if after.rss_kib.saturating_sub(before.rss_kib) * 100 > before.rss_kib * RSS_GROWTH_PERCENT
        {
            problems.push(format!(
                "{role}: RSS grew from {} KiB to {} KiB",
                before.rss_kib, after.rss_kib
            ));
        }
    }
    problems
}

/// The change from `before` to `after` in percent.
fn percent(after: u64, before: u64) -> f64 {
    if before == 0 {
        return 0.0;
    }
    (after as f64 - before as f64) * 100.0 / before as f64
}

/// Tells the clients to pause and waits until each has closed its connection.
fn pause(shared: &Shared, clients: usize) {
    shared.phase.store(PAUSE, Ordering::SeqCst);
    let deadline = Instant::now() + CLIENT_TIMEOUT * 3;
    while shared.paused.load(Ordering::SeqCst) < clients && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One client: requests the targets in turn until told to stop.
fn client(index: usize, port: u16, targets: &[Target], shared: &Shared) {
    let mut connection: Option<TcpStream> = None;
    let mut count = index as u64;
    let mut paused = false;
    loop {
        match shared.phase.load(Ordering::SeqCst) {
            RUN => {
                if paused {
                    paused = false;
                    shared.paused.fetch_sub(1, Ordering::SeqCst);
                }
            }
            PAUSE => {
                connection = None;
                if !paused {
                    paused = true;
                    shared.paused.fetch_add(1, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            _ => return,
        }
        count += 1;
        if count.is_multiple_of(REQUESTS_PER_CONNECTION) {
            connection = None;
        }
        let target = &targets[(count % targets.len() as u64) as usize];
        let started = Instant::now();
        shared.sent.fetch_add(1, Ordering::SeqCst);
        let result = request(&mut connection, port, &target.path).and_then(|answer| {
            check(target, &answer)?;
            Ok(answer.close)
        });
        match result {
            Ok(true) => connection = None,
            Ok(false) => {}
            Err(what) => {
                connection = None;
                let failure = Failure {
                    started,
                    ended: Instant::now(),
                    what: format!("GET {}: {what}", target.path),
                };
                if let Ok(mut failures) = shared.failures.lock() {
                    failures.push(failure);
                }
            }
        }
        std::thread::sleep(REQUEST_GAP);
    }
}

/// An HTTP answer as a client sees it.
struct Answer {
    status: u16,
    body: Vec<u8>,
    /// Whether the server closes the connection after it.
    close: bool,
}

/// `Ok` when `answer` is right for `target`.
fn check(target: &Target, answer: &Answer) -> Result<(), String> {
    if !target.statuses.contains(&answer.status) {
        return Err(format!("answered {}", answer.status));
    }
    if answer.body != target.body {
        return Err(format!(
            "a body of {} bytes that differs from the {} expected",
            answer.body.len(),
            target.body.len()
        ));
    }
    Ok(())
}

/// Sends `GET path` on `connection` (opening one when there is none) and reads the answer.
fn request(connection: &mut Option<TcpStream>, port: u16, path: &str) -> Result<Answer, String> {
    if connection.is_none() {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let stream = TcpStream::connect_timeout(&address, CLIENT_TIMEOUT)
            .map_err(|error| format!("connecting: {error}"))?;
        stream
            .set_read_timeout(Some(CLIENT_TIMEOUT))
            .and_then(|()| stream.set_write_timeout(Some(CLIENT_TIMEOUT)))
            .map_err(|error| format!("setting timeouts: {error}"))?;
        *connection = Some(stream);
    }
    let Some(stream) = connection.as_mut() else {
        return Err("no connection".to_owned());
    };
    let head = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    stream
        .write_all(head.as_bytes())
        .map_err(|error| format!("sending: {error}"))?;
    read_answer(stream)
}

/// Reads one answer with a `Content-Length` from `stream`.
fn read_answer(stream: &mut impl Read) -> Result<Answer, String> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break end + 4;
        }
        let read = stream
            .read(&mut chunk)
            .map_err(|error| format!("reading the head: {error}"))?;
        if read == 0 {
            return Err(format!(
                "the connection closed after {} bytes of head",
                buffer.len()
            ));
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let status = head
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|status| status.parse::<u16>().ok())
        .ok_or_else(|| format!("not an HTTP answer: {head:?}"))?;
    let header = |name: &str| {
        head.lines().find_map(|line| {
            let (field, value) = line.split_once(':')?;
            field
                .trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    };
    let length = header("content-length")
        .and_then(|value| value.parse::<usize>().ok())
        .ok_or_else(|| format!("no Content-Length in {head:?}"))?;
    let close = header("connection").is_some_and(|value| value.eq_ignore_ascii_case("close"));
    let mut body = buffer.split_off(head_end);
    while body.len() < length {
        let read = stream
            .read(&mut chunk)
            .map_err(|error| format!("reading the body: {error}"))?;
        if read == 0 {
            return Err(format!(
                "the connection closed after {} of {length} body bytes",
                body.len()
            ));
        }
        body.extend_from_slice(&chunk[..read]);
    }
    if body.len() > length {
        return Err(format!("{} bytes beyond the body", body.len() - length));
    }
    Ok(Answer {
        status,
        body,
        close,
    })
}

/// What the clients request: the `return` route, each file shared and proxied, and the
/// application when there is one.
fn targets(www: &Path, with_app: bool) -> Result<Vec<Target>> {
    let mut targets = vec![Target {
        path: "/return".to_owned(),
        statuses: RETURN_STATUSES.to_vec(),
        body: Vec::new(),
    }];
    for dir in ["soak", "proxy"] {
        for (name, _) in FILES {
            let file = www.join(dir).join(name);
            targets.push(Target {
                path: format!("/{dir}/{name}"),
                statuses: vec![200],
                body: fs::read(&file).with_context(|| format!("reading {}", file.display()))?,
            });
        }
    }
    if with_app {
        targets.push(Target {
            path: "/app".to_owned(),
            statuses: vec![200],
            body: APP_BODY.as_bytes().to_vec(),
        });
    }
    Ok(targets)
}

/// Waits until every target gets a right answer on `port` (the application starts after
/// the listeners).
fn wait_until_served(port: u16, targets: &[Target], unitd: &Server) -> Result<()> {
    let deadline = Instant::now() + RECOVERY_DEADLINE;
    for target in targets {
        loop {
            let mut connection = None;
            let result = request(&mut connection, port, &target.path)
                .and_then(|answer| check(target, &answer));
            match result {
                Ok(()) => break,
                Err(what) if Instant::now() > deadline => {
                    bail!("GET {}: {what}{}", target.path, unitd.log_tail())
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
    Ok(())
}

/// Kills the router with SIGKILL and returns how long it took until a new router answered
/// `GET /return` on `port`.
fn kill_router(main_pid: u32, port: u16) -> Result<Duration> {
    let Some(router) = measure(main_pid)
        .get("router")
        .and_then(|router| router.pids.first().copied())
    else {
        bail!("no router among main's children");
    };
    signal("KILL", router);
    let killed = Instant::now();
    let probe = Target {
        path: "/return".to_owned(),
        statuses: RETURN_STATUSES.to_vec(),
        body: Vec::new(),
    };
    loop {
        let restarted = measure(main_pid)
            .get("router")
            .is_some_and(|current| !current.pids.is_empty() && !current.pids.contains(&router));
        let mut connection = None;
        if restarted
            && request(&mut connection, port, &probe.path)
                .and_then(|answer| check(&probe, &answer))
                .is_ok()
        {
            return Ok(killed.elapsed());
        }
        if killed.elapsed() > RECOVERY_DEADLINE {
            bail!(
                "no new router answered within {} s of killing pid {router}",
                RECOVERY_DEADLINE.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Descriptors and RSS of each role among unitd's processes, read now.
fn measure(main_pid: u32) -> BTreeMap<&'static str, RoleUse> {
    let mut roles: BTreeMap<&'static str, RoleUse> = BTreeMap::new();
    for process in procfs::sample_tree(main_pid) {
        let Some(role) = role_of(&process.cmdline) else {
            continue;
        };
        let pid = process.id.pid;
        let entry = roles.entry(role).or_default();
        entry.pids.push(pid);
        entry.descriptors += fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count);
        entry.rss_kib += fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|status| procfs::parse_vm_rss_kib(&status))
            .unwrap_or(0);
    }
    roles
}

/// The role of a unitd process by its title.
fn role_of(title: &str) -> Option<&'static str> {
    if title.starts_with("unit: main") {
        Some("main")
    } else if title.starts_with("unit: controller") {
        Some("controller")
    } else if title.starts_with("unit: router") {
        Some("router")
    } else if title.starts_with("unit: \"") && title.contains("application") {
        Some("application")
    } else {
        None
    }
}

/// Prints each role's processes, descriptors and RSS.
fn print_use(roles: &BTreeMap<&'static str, RoleUse>) {
    for (role, usage) in roles {
        println!(
            "  {role}: pid(s) {:?}, {} descriptors, RSS {} KiB",
            usage.pids, usage.descriptors, usage.rss_kib
        );
    }
}

/// `PUT /config` with `config`, returning the status.
fn put_config(control: &Path, config: &serde_json::Value) -> Result<u16> {
    let body = config.to_string();
    let (status, _) =
        control_request(control, "PUT", "/config", body.as_bytes(), CONTROL_DEADLINE)?;
    Ok(status)
}

/// The running configuration from `GET /config`.
fn get_config(control: &Path) -> Result<serde_json::Value> {
    let (status, body) = control_request(control, "GET", "/config", b"", CONTROL_DEADLINE)?;
    expect_status(status, 200, "GET /config")?;
    serde_json::from_str(&body).context("parsing GET /config")
}

/// The configuration unitd stored in its state directory.
fn stored_config(unitd_dir: &UnitdDir) -> Result<serde_json::Value> {
    let path = unitd_dir.state().join("conf.json");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Fails unless `status` is `expected`.
fn expect_status(status: u16, expected: u16, what: &str) -> Result<()> {
    if status != expected {
        bail!("{what} was answered {status}, not {expected}");
    }
    Ok(())
}

/// The configuration with `return_status` on `/return`, and the application when
/// `app_dir` holds it.
fn unit_config(
    front: u16,
    upstream: u16,
    www: &Path,
    return_status: u16,
    app_dir: Option<&Path>,
) -> serde_json::Value {
    let share = format!("{}$uri", www.display());
    let mut routes = vec![
        serde_json::json!({ "match": { "uri": "/return" }, "action": { "return": return_status } }),
        serde_json::json!({ "match": { "uri": "/soak/*" }, "action": { "share": share } }),
        serde_json::json!({
            "match": { "uri": "/proxy/*" },
            "action": { "proxy": format!("http://127.0.0.1:{upstream}") }
        }),
    ];
    let mut config = serde_json::json!({
        "listeners": {
            format!("127.0.0.1:{front}"): { "pass": "routes/front" },
            format!("127.0.0.1:{upstream}"): { "pass": "routes/upstream" },
        },
        "routes": {
            "upstream": [ { "action": { "share": share } } ],
        },
    });
    if let Some(dir) = app_dir {
        routes.push(serde_json::json!({
            "match": { "uri": "/app" },
            "action": { "pass": format!("applications/{APP_NAME}") }
        }));
        config["applications"] = serde_json::json!({
            APP_NAME: {
                "type": "python",
                "path": dir.display().to_string(),
                "module": APP_MODULE,
                "callable": "application",
                "processes": 1,
            }
        });
    }
    config["routes"]["front"] = serde_json::Value::Array(routes);
    config
}

/// `config` with the front listener passing to a route that does not exist, which unitd
/// must refuse.
fn invalid_config(config: &serde_json::Value) -> serde_json::Value {
    let mut invalid = config.clone();
    if let Some(listeners) = invalid["listeners"].as_object_mut() {
        for listener in listeners.values_mut() {
            listener["pass"] = serde_json::json!("routes/nowhere");
        }
    }
    invalid
}

/// A file's content: its name and line numbers, so a mixed-up file shows.
fn file_content(name: &str, size: usize) -> String {
    let mut content = String::with_capacity(size + 32);
    let mut line = 0;
    while content.len() < size {
        content.push_str(&format!("{name} {line}\n"));
        line += 1;
    }
    content.truncate(size);
    content
}

/// The WSGI hello world's source.
fn app_source() -> String {
    format!(
        r#""""The WSGI application of `cargo xtask soak`."""


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "{length}")])
    return [{body:?}.encode()]
"#,
        length = APP_BODY.len(),
        body = APP_BODY,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_to_their_length() {
        let mut wire: &[u8] =
            b"HTTP/1.1 203 Non-Authoritative\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc";
        let answer = read_answer(&mut wire).expect("a complete answer");
        assert_eq!(answer.status, 203);
        assert_eq!(answer.body, b"abc");
        assert!(answer.close);

        let mut short: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab";
        assert!(read_answer(&mut short).is_err());
        let mut unframed: &[u8] = b"HTTP/1.1 200 OK\r\n\r\nab";
        assert!(read_answer(&mut unframed).is_err());
        let mut extra: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nab";
        assert!(read_answer(&mut extra).is_err());
    }

    #[test]
    fn either_return_status_is_right_and_bodies_must_match() {
        let target = Target {
            path: "/return".to_owned(),
            statuses: RETURN_STATUSES.to_vec(),
            body: Vec::new(),
        };
        for status in RETURN_STATUSES {
            let answer = Answer {
                status,
                body: Vec::new(),
                close: false,
            };
            assert!(check(&target, &answer).is_ok());
        }
        let wrong = Answer {
            status: 502,
            body: Vec::new(),
            close: false,
        };
        assert!(check(&target, &wrong).is_err());
        let wrong_body = Answer {
            status: 200,
            body: b"x".to_vec(),
            close: false,
        };
        assert!(check(&target, &wrong_body).is_err());
    }

    #[test]
    fn the_configurations_differ_in_the_return_status_and_the_invalid_one_passes_nowhere() {
        let www = Path::new("/srv/www");
        let app = Path::new("/srv/app");
        let [first, second] =
            RETURN_STATUSES.map(|status| unit_config(8000, 8001, www, status, Some(app)));
        assert_ne!(first, second);
        assert_eq!(first["routes"]["front"][0]["action"]["return"], 200);
        assert_eq!(
            first["routes"]["front"][2]["action"]["proxy"],
            "http://127.0.0.1:8001"
        );
        assert_eq!(first["applications"][APP_NAME]["module"], APP_MODULE);
        assert_eq!(
            first["listeners"]["127.0.0.1:8001"]["pass"],
            "routes/upstream"
        );
        let invalid = invalid_config(&first);
        assert_eq!(
            invalid["listeners"]["127.0.0.1:8000"]["pass"],
            "routes/nowhere"
        );
        assert_eq!(invalid["routes"], first["routes"]);
        let without_app = unit_config(8000, 8001, www, 200, None);
        assert!(without_app.get("applications").is_none());
    }

    #[test]
    fn roles_come_from_process_titles() {
        assert_eq!(role_of("unit: main v1.0 [unitd --no-daemon]"), Some("main"));
        assert_eq!(role_of("unit: controller"), Some("controller"));
        assert_eq!(role_of("unit: router"), Some("router"));
        assert_eq!(role_of("unit: \"soak\" application"), Some("application"));
        assert_eq!(role_of("unit: discovery"), None);
    }

    #[test]
    fn files_have_their_size() {
        for (name, size) in FILES {
            let content = file_content(name, size);
            assert_eq!(content.len(), size);
            assert!(content.starts_with(name));
        }
    }
}
