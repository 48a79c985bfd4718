//! `cargo xtask bench python`: Python hello worlds through unitd against other Python
//! servers.
//!
//! The applications are a minimal WSGI callable and a minimal ASGI callable (a fixed
//! 13-byte body with its `Content-Length`), written into the work directory, which every
//! server imports them from. Each server runs two worker processes: unitd runs each as a
//! `python` application with `"processes": 2` (through the runner, built against the
//! Python `cargo xtask` picks and installed as the work directory's `python3.unit`), the
//! WSGI one once per `--wsgi-threads` count; granian (`--interface wsgi` and `asgi`),
//! gunicorn (sync workers, WSGI) and uvicorn (httptools and uvloop, ASGI) run with two
//! workers from a virtual environment under the target directory, made once with the
//! same Python by pip and reused while its marker file matches. When pip cannot install
//! them, the run says so and measures unitd alone. unitd's applications take that
//! environment as their `home`, and the ASGI application sets uvloop's event loop
//! policy, so every server runs ASGI on uvloop (granian and uvicorn pick it
//! themselves).
//!
//! Every server listens on its own loopback port, and wrk (two threads) loads one at a
//! time, in rounds whose order rotates, as `bench app` does. Each measurement splits the
//! CPU time per request: for unitd between its router, its other processes (main, the
//! controller, the applications not under load) and the application's processes; for
//! the other servers it is all of their processes (the members of the process group each
//! is started in). The tables show medians over the rounds and each server's ratios to
//! granian's within the rounds; the target (unitd serves at least granian's requests per
//! second) is reported, not enforced.
//!
//! Each other server is started in a process group of its own, stopped with SIGTERM to
//! the group (SIGKILL after 5 s) when the run ends or fails, and asked to get SIGTERM if
//! this task dies first (a Ctrl-C reaches only this task's own group).

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::Args;

use super::procfs::{self, ProcessSample};
use super::report::median;
use super::servers::{Server, WorkDir, accepts, free_ports, log_tail, write_file};
use super::{RunArgs, WARM_UP_SECONDS, tools, wrk};
use crate::cmd::{run_step, target_dir};

/// Worker processes of every server.
const PROCESSES: u32 = 2;
/// wrk's threads.
const WRK_THREADS: u32 = 2;
/// What both applications answer.
const BODY: &str = "Hello, world!";
/// The WSGI application's module in the work directory.
const WSGI_MODULE: &str = "bench_wsgi";
/// The ASGI application's module in the work directory.
const ASGI_MODULE: &str = "bench_asgi";
/// The virtual environment of the other servers, under the target directory.
const VENV_DIR: &str = "bench-python-venv";
/// What pip installs into it.
const REQUIREMENTS: [&str; 5] = [
    "granian",
    "uvicorn[standard]",
    "httptools",
    "uvloop",
    "gunicorn",
];
/// What the environment's servers are imported as, to check that it is usable.
const IMPORTS: &str = "import granian, gunicorn, httptools, uvicorn, uvloop";
/// The file written last into a finished environment, holding [`marker_text`].
const MARKER: &str = "unitd-bench-installed.txt";
/// How long a server gets to answer with all its processes up.
const START_DEADLINE: Duration = Duration::from_secs(30);
/// How long a server's process group gets to exit after SIGTERM before it is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(5);
/// unitd's throughput must be at least this share of granian's.
const THROUGHPUT_TARGET: f64 = 1.0;

/// Run by a server's interpreter before the server: asks for SIGTERM when its parent,
/// this task, dies (`PR_SET_PDEATHSIG`, kept across `execve`), gives up if that has
/// already happened, and becomes the server (`python -m <server> ...`).
const LAUNCHER: &str = "import ctypes, os, signal, sys
ctypes.CDLL(None).prctl(1, signal.SIGTERM)
if os.getppid() != int(sys.argv[1]):
    sys.exit('the benchmark task is gone')
os.execv(sys.executable, [sys.executable] + sys.argv[2:])
";

/// Arguments of `cargo xtask bench python`.
#[derive(Args)]
pub(in crate::bench) struct PythonArgs {
    #[command(flatten)]
    run: RunArgs,
    /// wrk's connection counts (wrk runs two threads, so at least 2 each).
    #[arg(long, value_name = "N", value_delimiter = ',', default_values_t = [64])]
    connections: Vec<u32>,
    /// unitd's `threads` for the WSGI application, one application per count; the first
    /// is the one held to the target.
    #[arg(long, value_name = "N", value_delimiter = ',', default_values_t = [1, 2])]
    wsgi_threads: Vec<u32>,
}

/// The two Python server interfaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interface {
    Wsgi,
    Asgi,
}

impl Interface {
    const ALL: [Interface; 2] = [Interface::Wsgi, Interface::Asgi];

    /// The name in tables.
    fn title(self) -> &'static str {
        match self {
            Interface::Wsgi => "WSGI",
            Interface::Asgi => "ASGI",
        }
    }

    /// The name on command lines and in unitd's `protocol`.
    fn name(self) -> &'static str {
        match self {
            Interface::Wsgi => "wsgi",
            Interface::Asgi => "asgi",
        }
    }

    /// The application's module.
    fn module(self) -> &'static str {
        match self {
            Interface::Wsgi => WSGI_MODULE,
            Interface::Asgi => ASGI_MODULE,
        }
    }
}

/// A server of one interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerKind {
    /// unitd's runner with `threads` per process.
    Unitd { threads: u32 },
    /// granian, either interface.
    Granian,
    /// gunicorn's sync workers, WSGI.
    Gunicorn,
    /// uvicorn on httptools and uvloop, ASGI.
    Uvicorn,
}

/// One server serving one interface: a row of the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Contestant {
    interface: Interface,
    server: ServerKind,
}

impl Contestant {
    /// The row's name.
    fn title(self) -> String {
        match self.server {
            ServerKind::Unitd { threads } => format!("unitd, threads {threads}"),
            ServerKind::Granian => "granian".to_owned(),
            ServerKind::Gunicorn => "gunicorn (sync)".to_owned(),
            ServerKind::Uvicorn => "uvicorn".to_owned(),
        }
    }

    /// The unitd application serving it, for unitd's rows.
    fn unitd_app(self) -> Option<String> {
        match self.server {
            ServerKind::Unitd { threads } => Some(format!("{}-t{threads}", self.interface.name())),
            _ => None,
        }
    }

    /// The module (`python -m`) and arguments of a server other than unitd.
    fn server_args(self, port: u16) -> Vec<String> {
        let target = format!("{}:application", self.interface.module());
        let bind = format!("127.0.0.1:{port}");
        let port = port.to_string();
        let workers = PROCESSES.to_string();
        let args: Vec<&str> = match self.server {
            ServerKind::Unitd { .. } => return Vec::new(),
            ServerKind::Granian => vec![
                "granian",
                "--interface",
                self.interface.name(),
                "--workers",
                &workers,
                "--host",
                "127.0.0.1",
                "--port",
                &port,
                &target,
            ],
            ServerKind::Gunicorn => vec![
                "gunicorn",
                "--worker-class",
                "sync",
                "-w",
                &workers,
                "-b",
                &bind,
                &target,
            ],
            // uvicorn alone logs every request by default; the others log none.
            ServerKind::Uvicorn => vec![
                "uvicorn",
                "--workers",
                &workers,
                "--http",
                "httptools",
                "--loop",
                "uvloop",
                "--host",
                "127.0.0.1",
                "--port",
                &port,
                "--no-access-log",
                &target,
            ],
        };
        ["-m"].into_iter().chain(args).map(str::to_owned).collect()
    }

    /// The name of its log file in the work directory.
    fn log_name(self) -> String {
        let server = match self.server {
            ServerKind::Unitd { .. } => "unitd",
            ServerKind::Granian => "granian",
            ServerKind::Gunicorn => "gunicorn",
            ServerKind::Uvicorn => "uvicorn",
        };
        format!("{server}-{}.log", self.interface.name())
    }
}

/// Every row: unitd per WSGI thread count, then the others, interface by interface.
fn contestants(wsgi_threads: &[u32]) -> Vec<Contestant> {
    let wsgi = |server| Contestant {
        interface: Interface::Wsgi,
        server,
    };
    let asgi = |server| Contestant {
        interface: Interface::Asgi,
        server,
    };
    let mut all: Vec<Contestant> = wsgi_threads
        .iter()
        .map(|&threads| wsgi(ServerKind::Unitd { threads }))
        .collect();
    all.extend([
        wsgi(ServerKind::Granian),
        wsgi(ServerKind::Gunicorn),
        asgi(ServerKind::Unitd { threads: 1 }),
        asgi(ServerKind::Granian),
        asgi(ServerKind::Uvicorn),
    ]);
    all
}

/// What one row measured once.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    wrk: wrk::Report,
    /// CPU per request, in microseconds, of unitd's router (0 for the others)...
    router_us: f64,
    /// ...of unitd's other processes (0 for the others)...
    other_unitd_us: f64,
    /// ...and of the application's processes (all of another server's).
    app_us: f64,
}

impl Sample {
    /// All the CPU per request.
    fn total_us(&self) -> f64 {
        self.router_us + self.other_unitd_us + self.app_us
    }
}

/// Every sample of one row at one connection count, in round order.
#[derive(Debug, Default)]
struct Series {
    samples: Vec<Sample>,
    /// Why the row could not be measured, once it could not.
    failure: Option<String>,
}

impl Series {
    /// The samples, when every round was measured.
    fn measured(&self) -> Option<&[Sample]> {
        (self.failure.is_none() && !self.samples.is_empty()).then_some(&self.samples[..])
    }
}

/// One row at one connection count.
struct Entry {
    contestant: Contestant,
    connections: u32,
    series: Series,
}

/// Where a row's CPU time is read.
enum Processes {
    /// unitd's tree, its application's processes known by their title.
    Unitd { root: u32, app_title: String },
    /// Every member of a server's process group.
    Group(u32),
}

impl Processes {
    fn sample(&self) -> Vec<ProcessSample> {
        match self {
            Processes::Unitd { root, .. } => procfs::sample_tree(*root),
            Processes::Group(pgid) => procfs::sample_group(*pgid),
        }
    }

    /// The application's title, when the CPU is split by role.
    fn app_title(&self) -> Option<&str> {
        match self {
            Processes::Unitd { app_title, .. } => Some(app_title),
            Processes::Group(_) => None,
        }
    }
}

/// A server other than unitd, started in its own process group; dropping it stops the
/// group.
struct PythonServer {
    contestant: Contestant,
    child: Option<Child>,
    /// The group, whose id is the server's main pid.
    pgid: u32,
    port: u16,
    log: PathBuf,
}

impl PythonServer {
    /// Starts `contestant`'s server with `python` in `work`, and waits until it answers
    /// with all its processes running.
    fn start(python: &Path, work: &Path, contestant: Contestant, port: u16) -> Result<Self> {
        let log = work.join(contestant.log_name());
        let output = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let errors = output.try_clone().context("duplicating a file handle")?;
        let args = contestant.server_args(port);
        println!("starting {}: python {}", contestant.title(), args.join(" "));
        let child = Command::new(python)
            .arg("-c")
            .arg(LAUNCHER)
            .arg(std::process::id().to_string())
            .args(&args)
            .current_dir(work)
            .env("PYTHONPATH", work)
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(errors)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {}", contestant.title()))?;
        // From here on the guard owns the group, so a failure below still stops it.
        let mut server = PythonServer {
            contestant,
            pgid: child.id(),
            child: Some(child),
            port,
            log,
        };
        server.wait_until_ready()?;
        Ok(server)
    }

    /// Polls until the server answers and runs its workers.
    fn wait_until_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(status) = self.exited() {
                bail!(
                    "{} ({}) exited while starting ({status}){}",
                    self.contestant.title(),
                    self.contestant.interface.title(),
                    self.log_tail()
                );
            }
            let processes = procfs::group(self.pgid).len();
            let answer = probe(self.port);
            if answer.is_ok() && processes > PROCESSES as usize {
                return Ok(());
            }
            if Instant::now() > deadline {
                let why = answer.err().unwrap_or_else(|| {
                    format!("{processes} processes running, {PROCESSES} workers expected")
                });
                bail!(
                    "{} ({}) was not ready within {}s: {why}{}",
                    self.contestant.title(),
                    self.contestant.interface.title(),
                    START_DEADLINE.as_secs(),
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// How the main process ended, if it has.
    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    fn log_tail(&self) -> String {
        log_tail(std::slice::from_ref(&self.log))
    }

    /// SIGTERM to the group, SIGKILL to what is left after [`STOP_DEADLINE`], the main
    /// process reaped; warns when a process or the port outlives it.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let name = format!(
            "{} ({})",
            self.contestant.title(),
            self.contestant.interface.title()
        );
        signal_group("TERM", self.pgid);
        let deadline = Instant::now() + STOP_DEADLINE;
        let mut reaped = false;
        loop {
            reaped = reaped || matches!(child.try_wait(), Ok(Some(_)));
            if reaped && procfs::group(self.pgid).is_empty() {
                break;
            }
            if Instant::now() > deadline {
                eprintln!(
                    "warning: {name} did not stop within {}s of SIGTERM; killing its process group",
                    STOP_DEADLINE.as_secs()
                );
                signal_group("KILL", self.pgid);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if !reaped {
            let _ = child.kill();
            let _ = child.wait();
        }
        let killed_by = Instant::now() + Duration::from_secs(1);
        while !procfs::group(self.pgid).is_empty() && Instant::now() < killed_by {
            std::thread::sleep(Duration::from_millis(20));
        }
        let left = procfs::group(self.pgid);
        if !left.is_empty() {
            eprintln!(
                "warning: {} process(es) of {name} outlived SIGKILL",
                left.len()
            );
        }
        if accepts(self.port) {
            eprintln!(
                "warning: port {} still accepts connections after {name} stopped",
                self.port
            );
        }
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends the signal `name` to every process of group `pgid` through the shell's `kill`
/// (`kill -TERM -<pgid>`), since this crate makes no system calls of its own.
fn signal_group(name: &str, pgid: u32) {
    let _ = Command::new("sh")
        .args([
            "-c",
            "kill -\"$1\" -\"$2\" 2>/dev/null",
            "sh",
            name,
            &pgid.to_string(),
        ])
        .status();
}

/// One `GET /` with `Connection: close` on the loopback `port`: `Ok` when the answer is
/// the applications' 200.
fn probe(port: u16) -> Result<(), String> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_millis(500))
        .map_err(|error| format!("connecting to {address}: {error}"))?;
    let timeout = Some(Duration::from_secs(2));
    stream
        .set_read_timeout(timeout)
        .and_then(|()| stream.set_write_timeout(timeout))
        .and_then(|()| {
            stream.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        })
        .map_err(|error| format!("sending a request to {address}: {error}"))?;
    let mut answer = Vec::new();
    let mut buffer = [0_u8; 4096];
    while !is_complete(&answer) {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => answer.extend_from_slice(&buffer[..read]),
            Err(error) => return Err(format!("reading the answer from {address}: {error}")),
        }
    }
    check_answer(&answer)
}

/// The head and body of an answer, split at the blank line.
fn split_answer(answer: &[u8]) -> Option<(&str, &[u8])> {
    let end = answer.windows(4).position(|window| window == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&answer[..end]).ok()?;
    Some((head, &answer[end + 4..]))
}

/// The `Content-Length` of a head.
fn content_length(head: &str) -> Option<usize> {
    head.lines().skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())?
    })
}

/// Whether an answer with a length has all of its body.
fn is_complete(answer: &[u8]) -> bool {
    split_answer(answer)
        .is_some_and(|(head, body)| content_length(head).is_some_and(|length| body.len() >= length))
}

/// `Ok` when `answer` is a 200 with the applications' body and its length.
fn check_answer(answer: &[u8]) -> Result<(), String> {
    let Some((head, body)) = split_answer(answer) else {
        return Err(format!(
            "no complete answer: {:?}",
            String::from_utf8_lossy(answer)
        ));
    };
    let status = head.lines().next().unwrap_or_default();
    if !(status.starts_with("HTTP/1.") && status.get(9..12) == Some("200")) {
        return Err(format!("answered {status:?}"));
    }
    if content_length(head) != Some(BODY.len()) {
        return Err(format!("no Content-Length: {} in {head:?}", BODY.len()));
    }
    if body != BODY.as_bytes() {
        return Err(format!("body {:?}", String::from_utf8_lossy(body)));
    }
    Ok(())
}

/// The WSGI application's source.
fn wsgi_source() -> String {
    format!(
        r#""""The WSGI hello world of `cargo xtask bench python`."""


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "{length}")])
    return [b"{BODY}"]
"#,
        length = BODY.len()
    )
}

/// The ASGI application's source, with the lifespan protocol.
fn asgi_source() -> String {
    format!(
        r#""""The ASGI hello world of `cargo xtask bench python`."""

try:
    import asyncio
    import uvloop
except ImportError:
    pass
else:
    # Every server runs it on uvloop: uvicorn and granian pick uvloop themselves, and
    # unitd takes the event loop policy the application sets, as Unit does.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def application(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({{"type": "lifespan.startup.complete"}})
            elif message["type"] == "lifespan.shutdown":
                await send({{"type": "lifespan.shutdown.complete"}})
                return
    await send({{
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"text/plain"), (b"content-length", b"{length}")],
    }})
    await send({{"type": "http.response.body", "body": b"{BODY}"}})
"#,
        length = BODY.len()
    )
}

/// unitd's configuration: a listener and a `python` application per unitd row, with
/// the other servers' virtual environment as its `home` when there is one (so the ASGI
/// application finds uvloop there, as they do).
fn unit_config(work: &Path, rows: &[(Contestant, u16)], home: Option<&Path>) -> String {
    let mut listeners = serde_json::Map::new();
    let mut applications = serde_json::Map::new();
    for (contestant, port) in rows {
        let (Some(name), ServerKind::Unitd { threads }) =
            (contestant.unitd_app(), contestant.server)
        else {
            continue;
        };
        listeners.insert(
            format!("127.0.0.1:{port}"),
            serde_json::json!({ "pass": format!("applications/{name}") }),
        );
        let mut application = serde_json::json!({
            "type": "python",
            "path": work.display().to_string(),
            "module": contestant.interface.module(),
            "callable": "application",
            "protocol": contestant.interface.name(),
            "processes": PROCESSES,
            "threads": threads,
        });
        if let Some(home) = home {
            application["home"] = home.display().to_string().into();
        }
        applications.insert(name, application);
    }
    let config = serde_json::json!({ "listeners": listeners, "applications": applications });
    format!("{config:#}\n")
}

/// What [`MARKER`] holds: the interpreter and the requirements, so that a change of
/// either makes the environment again.
fn marker_text(python: &Path) -> String {
    format!("{}\n{}\n", python.display(), REQUIREMENTS.join("\n"))
}

/// Whether `python` imports every server.
fn imports_servers(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", IMPORTS])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The other servers' virtual environment (its interpreter), made with `python` unless
/// a finished one is in place; `Err` says why there is none.
fn servers_venv(python: &Path) -> Result<PathBuf, String> {
    let venv = target_dir().join(VENV_DIR);
    let venv_python = venv.join("bin").join("python");
    let marker = marker_text(python);
    if fs::read_to_string(venv.join(MARKER)).is_ok_and(|text| text == marker)
        && imports_servers(&venv_python)
    {
        println!(
            "reusing the servers' virtual environment {}",
            venv.display()
        );
        return Ok(venv_python);
    }
    if venv.exists() {
        fs::remove_dir_all(&venv)
            .map_err(|error| format!("removing the unfinished {}: {error}", venv.display()))?;
    }
    run_step(Command::new(python).args(["-m", "venv"]).arg(&venv)).map_err(|error| {
        format!(
            "could not make a virtual environment with {}: {error:#}",
            python.display()
        )
    })?;
    let installed = run_step(
        Command::new(&venv_python)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "--retries",
                "1",
                "--timeout",
                "20",
            ])
            .args(REQUIREMENTS),
    );
    if let Err(error) = installed {
        let _ = fs::remove_dir_all(&venv);
        return Err(format!(
            "pip could not install {} (is the package registry reachable? pip's output is \
             above): {error:#}",
            REQUIREMENTS.join(" ")
        ));
    }
    if !imports_servers(&venv_python) {
        return Err(format!(
            "pip installed the servers into {}, but `{IMPORTS}` fails there",
            venv.display()
        ));
    }
    let marker_file = venv.join(MARKER);
    fs::write(&marker_file, marker)
        .map_err(|error| format!("writing {}: {error}", marker_file.display()))?;
    Ok(venv_python)
}

/// The versions of the interpreter and the servers, for the report.
fn versions(python: &Path) -> String {
    let script = "import sys\nfrom importlib.metadata import version\n\
                  print('Python', sys.version.split()[0], end='')\n\
                  for name in ('granian', 'uvicorn', 'gunicorn', 'httptools', 'uvloop'):\n    \
                  print(',', name, version(name), end='')\n";
    Command::new(python)
        .args(["-c", script])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown versions".to_owned())
}

/// Waits until unitd runs [`PROCESSES`] processes of each of `apps`.
fn wait_for_unitd_processes(unitd_pid: u32, apps: &[String]) -> Result<()> {
    let deadline = Instant::now() + START_DEADLINE;
    loop {
        let processes = procfs::sample_tree(unitd_pid);
        let short: Vec<&String> = apps
            .iter()
            .filter(|app| {
                let title = app_title(app);
                processes
                    .iter()
                    .filter(|process| process.cmdline.starts_with(&title))
                    .count()
                    < PROCESSES as usize
            })
            .collect();
        if short.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "unitd did not run {PROCESSES} processes of {short:?} within {}s",
                START_DEADLINE.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The title unitd gives a process of application `name`.
fn app_title(name: &str) -> String {
    format!("unit: \"{name}\" application")
}

/// Runs the benchmark and prints its report.
pub(in crate::bench) fn run(args: PythonArgs) -> Result<()> {
    let (seconds, rounds) = args.run.seconds_and_rounds();
    if args.connections.is_empty() || args.connections.iter().any(|&n| n < WRK_THREADS) {
        bail!("--connections needs counts of at least {WRK_THREADS} (wrk's threads)");
    }
    let mut wsgi_threads: Vec<u32> = Vec::new();
    for &threads in &args.wsgi_threads {
        if !wsgi_threads.contains(&threads) {
            wsgi_threads.push(threads);
        }
    }
    if wsgi_threads.is_empty() || wsgi_threads.contains(&0) {
        bail!("--wsgi-threads needs counts of at least 1");
    }
    let tools = tools::ensure(false)?;
    let Some(python) = crate::python::interpreter() else {
        bail!(
            "no Python with a shared library to build the runner against (set PYO3_PYTHON to one)"
        );
    };
    let unitd_binary = args.run.unitd_binary()?;
    let Some(runner) = crate::runner::build_runner("release")? else {
        bail!("the Python runner could not be built");
    };
    let venv_python = servers_venv(python);
    match &venv_python {
        Ok(venv_python) => println!("servers: {}", versions(venv_python)),
        Err(reason) => eprintln!("warning: {reason}\nwarning: measuring unitd alone"),
    }
    let ticks_per_second = procfs::clock_ticks_per_second();
    // The environment's interpreter is `<home>/bin/python`.
    let servers_home = venv_python
        .as_ref()
        .ok()
        .and_then(|python| python.parent()?.parent());

    // Declared before the servers so it is dropped (removed) after they have stopped.
    let work = WorkDir::create(args.run.keep)?;
    println!("work directory: {}", work.path().display());
    write_file(
        &work.path().join(format!("{WSGI_MODULE}.py")),
        &wsgi_source(),
    )?;
    write_file(
        &work.path().join(format!("{ASGI_MODULE}.py")),
        &asgi_source(),
    )?;
    crate::runner::install_module(&runner, &work.path().join("modules"))?;

    let rows = contestants(&wsgi_threads);
    let ports = free_ports(rows.len())?;
    let rows: Vec<(Contestant, u16)> = rows.into_iter().zip(ports).collect();
    let mut entries: Vec<Entry> = rows
        .iter()
        .flat_map(|&(contestant, _)| {
            args.connections.iter().map(move |&connections| Entry {
                contestant,
                connections,
                series: Series::default(),
            })
        })
        .collect();
    println!("starting unitd");
    let unitd_rows: Vec<(Contestant, u16)> = rows
        .iter()
        .copied()
        .filter(|(contestant, _)| contestant.unitd_app().is_some())
        .collect();
    let mut unitd = Server::start_unitd_with(
        &unitd_binary,
        &work,
        &unit_config(work.path(), &unitd_rows, servers_home),
        unitd_rows.iter().map(|(_, port)| *port).collect(),
    )?;
    if !unitd.dead_ports.is_empty() {
        bail!("unitd is not listening{}", unitd.log_tail());
    }
    let apps: Vec<String> = unitd_rows
        .iter()
        .filter_map(|(contestant, _)| contestant.unitd_app())
        .collect();
    wait_for_unitd_processes(unitd.pid(), &apps)
        .with_context(|| format!("starting the applications{}", unitd.log_tail()))?;
    for &(contestant, port) in &unitd_rows {
        if let Err(reason) = probe(port) {
            let reason = format!("a probe of {} failed: {reason}", contestant.title());
            eprintln!("warning: {reason}");
            fail(&mut entries, contestant, &reason);
        }
    }

    let mut servers: Vec<PythonServer> = Vec::new();
    for &(contestant, port) in &rows {
        if contestant.unitd_app().is_some() {
            continue;
        }
        let started = match &venv_python {
            Ok(venv_python) => PythonServer::start(venv_python, work.path(), contestant, port)
                .map_err(|error| format!("{error:#}")),
            Err(reason) => Err(format!("not installed: {reason}")),
        };
        match started {
            Ok(server) => servers.push(server),
            Err(reason) => {
                if venv_python.is_ok() {
                    eprintln!("warning: {reason}");
                }
                fail(&mut entries, contestant, &reason);
            }
        }
    }

    let measurer = Measurer {
        wrk: &tools.wrk,
        seconds,
        ticks_per_second,
    };
    for round in 1..=rounds {
        for interface in Interface::ALL {
            for &connections in &args.connections {
                // Rotating the order cancels any advantage of a place in it.
                let mut order: Vec<(Contestant, u16)> = rows
                    .iter()
                    .copied()
                    .filter(|(contestant, _)| contestant.interface == interface)
                    .collect();
                if !order.is_empty() {
                    let turn = (round as usize - 1) % order.len();
                    order.rotate_left(turn);
                }
                for (contestant, port) in order {
                    let Some(entry) = entries.iter_mut().find(|entry| {
                        entry.contestant == contestant && entry.connections == connections
                    }) else {
                        continue;
                    };
                    if entry.series.failure.is_some() {
                        continue;
                    }
                    let processes = match contestant.unitd_app() {
                        Some(app) => Processes::Unitd {
                            root: unitd.pid(),
                            app_title: app_title(&app),
                        },
                        None => match servers
                            .iter()
                            .find(|server| server.contestant == contestant)
                        {
                            Some(server) => Processes::Group(server.pgid),
                            None => continue,
                        },
                    };
                    println!(
                        "round {round}/{rounds}: measuring {} {} with {connections} connections",
                        interface.title(),
                        contestant.title()
                    );
                    match measurer.measure(&processes, port, connections) {
                        Ok(sample) => entry.series.samples.push(sample),
                        Err(reason) => {
                            eprintln!("warning: {reason}");
                            entry.series.failure = Some(reason);
                        }
                    }
                    if let Some(status) = unitd.exited() {
                        bail!("unitd exited during the run ({status}){}", unitd.log_tail());
                    }
                    if let Some(server) = servers
                        .iter_mut()
                        .find(|server| server.contestant == contestant)
                        && let Some(status) = server.exited()
                    {
                        let reason = format!(
                            "{} exited during the run ({status}){}",
                            contestant.title(),
                            server.log_tail()
                        );
                        eprintln!("warning: {reason}");
                        fail(&mut entries, contestant, &reason);
                    }
                }
            }
        }
    }

    let mut verdicts = Vec::new();
    for interface in Interface::ALL {
        for &connections in &args.connections {
            let table_rows: Vec<(Contestant, &Series)> = entries
                .iter()
                .filter(|entry| {
                    entry.contestant.interface == interface && entry.connections == connections
                })
                .map(|entry| (entry.contestant, &entry.series))
                .collect();
            println!();
            print!(
                "{}",
                interface_table(interface, connections, rounds, seconds, &table_rows)
            );
            verdicts.push(verdict(interface, connections, &table_rows));
        }
    }
    println!();
    print!("{}", verdict_table(&verdicts));

    // Stop the servers before the work directory goes away.
    drop(servers);
    drop(unitd);
    drop(work);
    if entries
        .iter()
        .all(|entry| entry.series.measured().is_none())
    {
        bail!("nothing could be measured");
    }
    Ok(())
}

/// Marks every entry of `contestant` not measured, for `reason`.
fn fail(entries: &mut [Entry], contestant: Contestant, reason: &str) {
    for entry in entries {
        if entry.contestant == contestant && entry.series.failure.is_none() {
            entry.series.failure = Some(reason.to_owned());
        }
    }
}

/// What every measurement needs.
struct Measurer<'a> {
    wrk: &'a Path,
    seconds: u64,
    ticks_per_second: u64,
}

impl Measurer<'_> {
    /// Warms up, then measures the server on `port` with `connections`.
    fn measure(
        &self,
        processes: &Processes,
        port: u16,
        connections: u32,
    ) -> Result<Sample, String> {
        let url = format!("http://127.0.0.1:{port}/");
        // The warm-up's result does not matter: the measured run reports any trouble.
        let _ = wrk::run_threads(
            self.wrk,
            &url,
            WARM_UP_SECONDS,
            false,
            WRK_THREADS,
            connections,
        );
        let before = processes.sample();
        let output = wrk::run_threads(self.wrk, &url, self.seconds, true, WRK_THREADS, connections)
            .map_err(|error| format!("{error:#}"))?;
        let after = processes.sample();
        let report = wrk::parse(&output).map_err(|error| format!("{error:#}"))?;
        if let Some(reason) = report.failure() {
            return Err(reason);
        }
        let spent = cpu_spent(&before, &after, processes.app_title());
        let per_request =
            |ticks: u64| ticks as f64 / self.ticks_per_second as f64 * 1e6 / report.requests as f64;
        Ok(Sample {
            wrk: report,
            router_us: per_request(spent.router),
            other_unitd_us: per_request(spent.other_unitd),
            app_us: per_request(spent.app),
        })
    }
}

/// CPU ticks spent between two samples, by role.
#[derive(Debug, Default, PartialEq, Eq)]
struct Spent {
    router: u64,
    other_unitd: u64,
    app: u64,
}

/// The ticks each process present in both samples spent: with `app_title` (unitd),
/// split into the router, the application's processes and the rest; without it, all
/// the application's.
fn cpu_spent(before: &[ProcessSample], after: &[ProcessSample], app_title: Option<&str>) -> Spent {
    let mut spent = Spent::default();
    for process in after {
        let Some(earlier) = before.iter().find(|earlier| earlier.id == process.id) else {
            continue;
        };
        let ticks = process.cpu_ticks.saturating_sub(earlier.cpu_ticks);
        match app_title {
            None => spent.app += ticks,
            Some(_) if process.cmdline.starts_with("unit: router") => spent.router += ticks,
            Some(title) if process.cmdline.starts_with(title) => spent.app += ticks,
            Some(_) => spent.other_unitd += ticks,
        }
    }
    spent
}

/// The median of each round's `figure(top) / figure(bottom)`, when both were measured in
/// every round.
fn paired_ratio(top: &Series, bottom: &Series, figure: fn(&Sample) -> f64) -> Option<f64> {
    let (top, bottom) = (top.measured()?, bottom.measured()?);
    Some(median(
        top.iter()
            .zip(bottom)
            .map(|(top, bottom)| figure(top) / figure(bottom))
            .collect(),
    ))
}

/// The table of one interface at one connection count, with each row's ratios to
/// granian's.
fn interface_table(
    interface: Interface,
    connections: u32,
    rounds: u32,
    seconds: u64,
    rows: &[(Contestant, &Series)],
) -> String {
    let mut table = String::new();
    let _ = writeln!(
        table,
        "{} hello world, {PROCESSES} processes per server (GET /, {rounds} x {seconds} s, \
         wrk -t{WRK_THREADS} -c{connections}; medians over the rounds)",
        interface.title()
    );
    let _ = writeln!(
        table,
        "  {:<18}{:>10}{:>8}{:>8}{:>8} | CPU µs/req:{:>7}{:>7}{:>7}{:>7}",
        "server", "req/s", "p50 ms", "p99 ms", "errors", "router", "other", "app", "total"
    );
    for (contestant, series) in rows {
        let title = contestant.title();
        if let Some(reason) = &series.failure {
            let _ = writeln!(table, "  {title:<18}not measured: {reason}");
            continue;
        }
        let figure =
            |value: &dyn Fn(&Sample) -> f64| median(series.samples.iter().map(value).collect());
        let errors: u64 = series
            .samples
            .iter()
            .map(|sample| sample.wrk.errors())
            .sum();
        let unitd_only = |value: f64| match contestant.server {
            ServerKind::Unitd { .. } => format!("{value:.1}"),
            _ => "-".to_owned(),
        };
        let _ = writeln!(
            table,
            "  {title:<18}{:>10.0}{:>8.3}{:>8.3}{:>8} |            {:>7}{:>7}{:>7.1}{:>7.1}",
            figure(&|sample| sample.wrk.requests_per_sec),
            figure(&|sample| sample.wrk.p50_ms),
            figure(&|sample| sample.wrk.p99_ms),
            errors,
            unitd_only(figure(&|sample| sample.router_us)),
            unitd_only(figure(&|sample| sample.other_unitd_us)),
            figure(&|sample| sample.app_us),
            figure(&Sample::total_us),
        );
    }
    let granian = rows
        .iter()
        .find(|(contestant, _)| contestant.server == ServerKind::Granian)
        .map(|(_, series)| *series);
    for (contestant, series) in rows {
        if contestant.server == ServerKind::Granian {
            continue;
        }
        let ratios = granian.and_then(|granian| {
            Some((
                paired_ratio(series, granian, |sample| sample.wrk.requests_per_sec)?,
                paired_ratio(series, granian, Sample::total_us)?,
            ))
        });
        if let Some((throughput, cpu)) = ratios {
            let _ = writeln!(
                table,
                "  {} / granian: req/s {throughput:.2}x, CPU/request {cpu:.2}x",
                contestant.title()
            );
        }
    }
    let _ = writeln!(
        table,
        "  (router and other: unitd's router and its main, controller and idle applications; \
         app: the application's processes, all of a server's for the others)"
    );
    table
}

/// unitd against granian on one interface at one connection count: each unitd row's
/// requests per second over granian's, the first held to the target.
#[derive(Debug, Clone, PartialEq)]
struct Verdict {
    interface: Interface,
    connections: u32,
    ratios: Vec<(String, Option<f64>)>,
}

fn verdict(interface: Interface, connections: u32, rows: &[(Contestant, &Series)]) -> Verdict {
    let granian = rows
        .iter()
        .find(|(contestant, _)| contestant.server == ServerKind::Granian);
    let ratios = rows
        .iter()
        .filter(|(contestant, _)| contestant.unitd_app().is_some())
        .map(|(contestant, series)| {
            let ratio = granian.and_then(|(_, granian)| {
                paired_ratio(series, granian, |sample| sample.wrk.requests_per_sec)
            });
            (contestant.title(), ratio)
        })
        .collect();
    Verdict {
        interface,
        connections,
        ratios,
    }
}

/// The target on each interface and connection count.
fn verdict_table(verdicts: &[Verdict]) -> String {
    let mut table = String::from("targets (reported, not enforced)\n");
    for verdict in verdicts {
        let place = format!("-c{} {}", verdict.connections, verdict.interface.title());
        let Some((judged, Some(ratio))) = verdict.ratios.first() else {
            let _ = writeln!(
                table,
                "  {place}: unitd req/s >= granian's: not measured (needs unitd and granian)"
            );
            continue;
        };
        let met = if *ratio >= THROUGHPUT_TARGET {
            "met"
        } else {
            "MISSED"
        };
        let others: Vec<String> = verdict.ratios[1..]
            .iter()
            .filter_map(|(title, ratio)| Some(format!("{title} {:.2}x", (*ratio)?)))
            .collect();
        let others = if others.is_empty() {
            String::new()
        } else {
            format!(" ({})", others.join(", "))
        };
        let _ = writeln!(
            table,
            "  {place}: {judged} req/s {ratio:.2}x granian's (target >= {THROUGHPUT_TARGET:.1}x): {met}{others}"
        );
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(requests_per_sec: f64, app_us: f64) -> Sample {
        Sample {
            wrk: wrk::Report {
                requests_per_sec,
                requests: 1000,
                p50_ms: 1.0,
                p99_ms: 3.0,
                socket_errors: 0,
                bad_status: 0,
            },
            router_us: 0.0,
            other_unitd_us: 0.0,
            app_us,
        }
    }

    fn series(samples: Vec<Sample>) -> Series {
        Series {
            samples,
            failure: None,
        }
    }

    fn process(pid: u32, cpu_ticks: u64, cmdline: &str) -> ProcessSample {
        ProcessSample {
            id: procfs::ProcessId { pid, start_time: 7 },
            cpu_ticks,
            cmdline: cmdline.to_owned(),
        }
    }

    const UNITD_WSGI: Contestant = Contestant {
        interface: Interface::Wsgi,
        server: ServerKind::Unitd { threads: 1 },
    };
    const GRANIAN_WSGI: Contestant = Contestant {
        interface: Interface::Wsgi,
        server: ServerKind::Granian,
    };

    #[test]
    fn flags() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: PythonArgs,
        }
        let cli = Cli::try_parse_from(["python"]).expect("defaults parse");
        assert_eq!(cli.args.connections, [64]);
        assert_eq!(cli.args.wsgi_threads, [1, 2]);
        let cli = Cli::try_parse_from([
            "python",
            "--connections",
            "2,128",
            "--wsgi-threads",
            "4",
            "--quick",
        ])
        .expect("flags parse");
        assert_eq!(cli.args.connections, [2, 128]);
        assert_eq!(cli.args.wsgi_threads, [4]);
        assert_eq!(cli.args.run.seconds_and_rounds(), (3, 1));
    }

    #[test]
    fn every_server_runs_two_workers_of_its_interface() {
        let rows = contestants(&[1, 2]);
        let titles: Vec<(Interface, String)> = rows
            .iter()
            .map(|contestant| (contestant.interface, contestant.title()))
            .collect();
        assert_eq!(
            titles,
            [
                (Interface::Wsgi, "unitd, threads 1".to_owned()),
                (Interface::Wsgi, "unitd, threads 2".to_owned()),
                (Interface::Wsgi, "granian".to_owned()),
                (Interface::Wsgi, "gunicorn (sync)".to_owned()),
                (Interface::Asgi, "unitd, threads 1".to_owned()),
                (Interface::Asgi, "granian".to_owned()),
                (Interface::Asgi, "uvicorn".to_owned()),
            ]
        );
        let command = |contestant: Contestant| contestant.server_args(8000).join(" ");
        assert_eq!(
            command(GRANIAN_WSGI),
            "-m granian --interface wsgi --workers 2 --host 127.0.0.1 --port 8000 \
             bench_wsgi:application"
        );
        assert_eq!(
            command(rows[3]),
            "-m gunicorn --worker-class sync -w 2 -b 127.0.0.1:8000 bench_wsgi:application"
        );
        assert_eq!(
            command(rows[5]),
            "-m granian --interface asgi --workers 2 --host 127.0.0.1 --port 8000 \
             bench_asgi:application"
        );
        assert_eq!(
            command(rows[6]),
            "-m uvicorn --workers 2 --http httptools --loop uvloop --host 127.0.0.1 \
             --port 8000 --no-access-log bench_asgi:application"
        );
        assert!(UNITD_WSGI.server_args(8000).is_empty());
        assert_eq!(rows[6].log_name(), "uvicorn-asgi.log");
    }

    #[test]
    fn the_configuration_runs_each_unitd_row_as_an_application() {
        let rows = contestants(&[1, 2]);
        let ports: Vec<(Contestant, u16)> = rows.into_iter().zip(41001..).collect();
        let config: serde_json::Value = serde_json::from_str(&unit_config(
            Path::new("/w"),
            &ports,
            Some(Path::new("/venv")),
        ))
        .expect("valid JSON");
        let listeners = config["listeners"].as_object().expect("listeners");
        assert_eq!(listeners.len(), 3);
        assert_eq!(
            config["listeners"]["127.0.0.1:41002"]["pass"],
            "applications/wsgi-t2"
        );
        assert_eq!(
            config["listeners"]["127.0.0.1:41005"]["pass"],
            "applications/asgi-t1"
        );
        let wsgi = &config["applications"]["wsgi-t2"];
        assert_eq!(wsgi["type"], "python");
        assert_eq!(wsgi["path"], "/w");
        assert_eq!(wsgi["module"], WSGI_MODULE);
        assert_eq!(wsgi["protocol"], "wsgi");
        assert_eq!(wsgi["processes"], PROCESSES);
        assert_eq!(wsgi["threads"], 2);
        let asgi = &config["applications"]["asgi-t1"];
        assert_eq!(asgi["home"], "/venv");
        assert_eq!(asgi["module"], ASGI_MODULE);
        assert_eq!(asgi["protocol"], "asgi");
        assert_eq!(asgi["threads"], 1);
    }

    #[test]
    fn the_applications_answer_thirteen_bytes_with_their_length() {
        assert_eq!(BODY.len(), 13);
        let wsgi = wsgi_source();
        assert!(wsgi.contains(r#"("Content-Length", "13")"#), "{wsgi}");
        assert!(wsgi.contains(r#"return [b"Hello, world!"]"#), "{wsgi}");
        let asgi = asgi_source();
        assert!(asgi.contains(r#"(b"content-length", b"13")"#), "{asgi}");
        assert!(asgi.contains(r#""body": b"Hello, world!""#), "{asgi}");
        assert!(asgi.contains("lifespan.startup.complete"));
    }

    #[test]
    fn answers_are_checked_whole() {
        let good = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!";
        assert!(is_complete(good));
        assert_eq!(check_answer(good), Ok(()));
        assert!(!is_complete(&good[..good.len() - 1]));
        let not_found = b"HTTP/1.1 404 Not Found\r\nContent-Length: 13\r\n\r\nHello, world!";
        assert!(check_answer(not_found).is_err_and(|why| why.contains("404")));
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nd\r\nHello, world!\r\n0\r\n\r\n";
        assert!(!is_complete(chunked));
        assert!(check_answer(chunked).is_err_and(|why| why.contains("Content-Length")));
        assert!(check_answer(b"HTTP/1.1 200 OK\r\n").is_err());
    }

    #[test]
    fn unitd_cpu_is_split_by_role_and_the_others_count_whole() {
        let title = app_title("wsgi-t1");
        let before = [
            process(1, 100, "unit: main v1.36.0 [unitd]"),
            process(2, 50, "unit: router"),
            process(3, 10, "unit: \"wsgi-t1\" application"),
            process(4, 10, "unit: \"wsgi-t2\" application"),
        ];
        let after = [
            process(1, 101, "unit: main v1.36.0 [unitd]"),
            process(2, 80, "unit: router"),
            process(3, 25, "unit: \"wsgi-t1\" application"),
            process(4, 12, "unit: \"wsgi-t2\" application"),
            // Started in between: its time is not the load's alone.
            process(5, 40, "unit: \"wsgi-t1\" application"),
        ];
        assert_eq!(
            cpu_spent(&before, &after, Some(&title)),
            Spent {
                router: 30,
                other_unitd: 3,
                app: 15,
            }
        );
        assert_eq!(
            cpu_spent(&before, &after, None),
            Spent {
                router: 0,
                other_unitd: 0,
                app: 48,
            }
        );
    }

    #[test]
    fn ratios_to_granian_pair_the_rounds() {
        // The second round runs on a machine twice as slow; within each round unitd
        // serves 1.25x granian at 0.8x its CPU.
        let unitd = series(vec![sample(50_000.0, 16.0), sample(25_000.0, 32.0)]);
        let granian = series(vec![sample(40_000.0, 20.0), sample(20_000.0, 40.0)]);
        let rows = [(UNITD_WSGI, &unitd), (GRANIAN_WSGI, &granian)];
        let table = interface_table(Interface::Wsgi, 64, 2, 4, &rows);
        assert!(
            table.contains("unitd, threads 1 / granian: req/s 1.25x, CPU/request 0.80x"),
            "{table}"
        );
        assert!(table.contains("wrk -t2 -c64"), "{table}");
        let verdicts = [verdict(Interface::Wsgi, 64, &rows)];
        let printed = verdict_table(&verdicts);
        assert!(
            printed.contains(
                "-c64 WSGI: unitd, threads 1 req/s 1.25x granian's (target >= 1.0x): met"
            ),
            "{printed}"
        );
    }

    #[test]
    fn a_server_not_measured_leaves_the_target_unjudged() {
        let unitd = series(vec![sample(50_000.0, 16.0)]);
        let granian = Series {
            samples: Vec::new(),
            failure: Some("not installed: pip could not install granian".to_owned()),
        };
        let asgi_unitd = Contestant {
            interface: Interface::Asgi,
            ..UNITD_WSGI
        };
        let asgi_granian = Contestant {
            interface: Interface::Asgi,
            ..GRANIAN_WSGI
        };
        let rows = [(asgi_unitd, &unitd), (asgi_granian, &granian)];
        let table = interface_table(Interface::Asgi, 64, 1, 3, &rows);
        assert!(
            table.contains("granian           not measured: not installed"),
            "{table}"
        );
        assert!(!table.contains("/ granian"), "{table}");
        let printed = verdict_table(&[verdict(Interface::Asgi, 64, &rows)]);
        assert!(printed.contains("-c64 ASGI: unitd req/s >= granian's: not measured"));
    }

    #[test]
    fn the_marker_names_the_interpreter_and_every_requirement() {
        let marker = marker_text(Path::new("/usr/bin/python3"));
        assert!(marker.starts_with("/usr/bin/python3\n"));
        for requirement in REQUIREMENTS {
            assert!(marker.contains(requirement));
        }
    }
}
