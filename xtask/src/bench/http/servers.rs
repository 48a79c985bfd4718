//! The two servers under test: their work directory, equivalent configurations, start-up,
//! readiness and shutdown.
//!
//! Both serve the same four loopback listeners: `return 200`, static files from one `www`
//! directory, a reverse proxy, and the proxy's backend (another `return 200`).
//! Everything a server writes goes into the work directory, which a guard removes (unless
//! asked to keep it); another guard stops each server and whatever it forked.
//! The configuration texts come from pure functions so tests can check them.

use std::fmt::Write as _;
use std::fs::{self, DirBuilder, File, Permissions};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

use super::procfs::{self, ProcessId};
use crate::cmd::{UnitdDir, create_dir};

/// How long a server gets to become ready.
const START_DEADLINE: Duration = Duration::from_secs(20);

/// How long a server gets to exit after SIGTERM before it is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(5);

/// The files every server serves, with their sizes.
pub(super) const STATIC_FILES: [(&str, usize); 2] = [("1k.bin", 1024), ("1m.bin", 1024 * 1024)];

/// The loopback ports of one server.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ports {
    /// Answers every request with an empty 200.
    pub(super) ret: u16,
    /// Serves the `www` directory.
    pub(super) static_files: u16,
    /// Proxies to `backend`.
    pub(super) proxy: u16,
    /// The proxied backend, answering like `ret`.
    pub(super) backend: u16,
}

impl Ports {
    /// `count` sets of four ports that were free a moment ago, no port in two sets.
    pub(super) fn free(count: usize) -> Result<Vec<Ports>> {
        Ok(free_ports(count * 4)?
            .chunks_exact(4)
            .map(|set| Ports {
                ret: set[0],
                static_files: set[1],
                proxy: set[2],
                backend: set[3],
            })
            .collect())
    }

    /// Every port, for readiness checks.
    pub(super) fn all(&self) -> [u16; 4] {
        [self.ret, self.static_files, self.proxy, self.backend]
    }
}

/// `count` distinct loopback ports that were free a moment ago.
pub(super) fn free_ports(count: usize) -> Result<Vec<u16>> {
    // Hold every listener until all are chosen so the kernel hands out distinct ports.
    let listeners = (0..count)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<std::io::Result<Vec<_>>>()
        .context("binding a free loopback port")?;
    listeners
        .iter()
        .map(|listener| Ok(listener.local_addr()?.port()))
        .collect::<std::io::Result<Vec<u16>>>()
        .context("reading a bound port")
}

/// The temporary directory of one run, removed on drop unless kept.
pub(super) struct WorkDir {
    path: PathBuf,
    keep: bool,
}

impl WorkDir {
    /// Creates a fresh directory under the system's temporary directory, with the `www`
    /// files in it; directories are 0755 and files 0644 so servers' unprivileged workers
    /// can read them.
    pub(super) fn create(keep: bool) -> Result<WorkDir> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "unitd-bench-http-{}-{nanos:09}",
            std::process::id()
        ));
        DirBuilder::new()
            .mode(0o755)
            .create(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        // From here on the guard owns the directory, so a failure below still removes it.
        let mut work = WorkDir { path, keep };
        work.path = work
            .path
            .canonicalize()
            .with_context(|| format!("resolving {}", work.path.display()))?;
        for dir in [work.path.clone(), work.www(), work.path.join("state")] {
            create_dir(&dir)?;
        }
        for (name, size) in STATIC_FILES {
            let file = work.www().join(name);
            // Not all zeros, so nothing can get away with compressing or skipping it.
            let content: Vec<u8> = (0..size).map(|index| (index % 251) as u8).collect();
            fs::write(&file, content).with_context(|| format!("writing {}", file.display()))?;
            fs::set_permissions(&file, Permissions::from_mode(0o644))
                .with_context(|| format!("setting the mode of {}", file.display()))?;
        }
        Ok(work)
    }

    /// The directory itself.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// The document root both servers serve.
    pub(super) fn www(&self) -> PathBuf {
        self.path.join("www")
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.keep {
            println!("work directory kept: {}", self.path.display());
        } else if let Err(error) = fs::remove_dir_all(&self.path) {
            eprintln!("warning: could not remove {}: {error}", self.path.display());
        }
    }
}

/// Which server a [`Server`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// The server under test.
    Unitd,
    /// The reference.
    Nginx,
}

impl Kind {
    /// The name used in tables and messages.
    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::Unitd => "unitd",
            Kind::Nginx => "nginx",
        }
    }
}

/// A started server; dropping it stops the server and everything it forked.
pub(super) struct Server {
    kind: Kind,
    child: Option<Child>,
    pid: u32,
    /// When the server must be ready by: its start plus [`START_DEADLINE`].
    ready_by: Instant,
    /// The server's log files, shown when it misbehaves.
    logs: Vec<PathBuf>,
    /// The ports it listens on.
    listeners: Vec<u16>,
    /// Ports that never accepted a connection while starting, with nothing to measure.
    pub(super) dead_ports: Vec<u16>,
}

impl Server {
    /// Starts unitd with a configuration file in `work` and waits until it is ready.
    pub(super) fn start_unitd(unitd: &Path, work: &WorkDir, ports: Ports) -> Result<Server> {
        let config = unit_config(&ports, &work.www());
        Server::start_unitd_with(unitd, work, &config, ports.all().to_vec())
    }

    /// Starts unitd with `config` (listening on `listeners`) and waits until it is ready.
    pub(super) fn start_unitd_with(
        unitd: &Path,
        work: &WorkDir,
        config_text: &str,
        listeners: Vec<u16>,
    ) -> Result<Server> {
        let dir = work.path();
        let config = dir.join("conf.json");
        write_file(&config, config_text)?;
        let unitd_dir = UnitdDir::new(dir.to_path_buf());
        let control = unitd_dir.control();
        let log = unitd_dir.log();
        let stderr = dir.join("unit.stderr");
        let mut command = unitd_dir.command(unitd)?;
        command.arg("--config").arg(&config);
        let mut server = Server::spawn(
            Kind::Unitd,
            command,
            listeners,
            &stderr,
            vec![log, stderr.clone()],
        )?;
        server.wait_until("the control socket to answer GET /config", || {
            control_answers(&control)
        })?;
        server.wait_for_listeners();
        Ok(server)
    }

    /// Starts nginx with a generated configuration in `work` and waits until it is ready.
    pub(super) fn start_nginx(nginx: &Path, work: &WorkDir, ports: Ports) -> Result<Server> {
        let dir = work.path();
        let config = dir.join("nginx.conf");
        write_file(&config, &nginx_config(dir, &work.www(), &ports))?;
        let error_log = dir.join("nginx-error.log");
        let stderr = dir.join("nginx.stderr");
        let mut command = Command::new(nginx);
        command
            .arg("-c")
            .arg(&config)
            .arg("-p")
            .arg(dir)
            // Send the messages nginx logs before reading its configuration here too, instead
            // of to the compiled-in path, which an unprivileged user cannot open.
            .arg("-e")
            .arg(&error_log);
        let mut server = Server::spawn(
            Kind::Nginx,
            command,
            ports.all().to_vec(),
            &stderr,
            vec![error_log, stderr.clone()],
        )?;
        server.wait_for_listeners();
        if let Some(status) = server.exited() {
            bail!(
                "nginx exited while starting ({status}){}",
                server.log_tail()
            );
        }
        if server.dead_ports.len() == ports.all().len() {
            bail!(
                "nginx accepted no connection within {}s{}",
                START_DEADLINE.as_secs(),
                server.log_tail()
            );
        }
        Ok(server)
    }

    /// Starts `command` with its output going to `stderr_file`.
    fn spawn(
        kind: Kind,
        mut command: Command,
        listeners: Vec<u16>,
        stderr_file: &Path,
        logs: Vec<PathBuf>,
    ) -> Result<Server> {
        let stderr = File::create(stderr_file)
            .with_context(|| format!("creating {}", stderr_file.display()))?;
        let stdout = stderr.try_clone().context("duplicating a file handle")?;
        let child = command
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {}", kind.name()))?;
        Ok(Server {
            kind,
            pid: child.id(),
            child: Some(child),
            ready_by: Instant::now() + START_DEADLINE,
            logs,
            listeners,
            dead_ports: Vec::new(),
        })
    }

    /// The main process's pid, the root of the tree measured.
    pub(super) fn pid(&self) -> u32 {
        self.pid
    }

    /// Which server this is.
    pub(super) fn kind(&self) -> Kind {
        self.kind
    }

    /// How the main process ended, if it has.
    pub(super) fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Polls `ready` until it holds, failing when the deadline passes or the server exits.
    fn wait_until(&mut self, what: &str, mut ready: impl FnMut() -> bool) -> Result<()> {
        loop {
            if let Some(status) = self.exited() {
                bail!(
                    "{} exited while starting ({status}){}",
                    self.kind.name(),
                    self.log_tail()
                );
            }
            if ready() {
                return Ok(());
            }
            if Instant::now() > self.ready_by {
                bail!(
                    "{} did not get ready within {}s: waited for {what}{}",
                    self.kind.name(),
                    START_DEADLINE.as_secs(),
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until every listener accepts TCP connections or the start deadline passes, and
    /// records the ones that never did.
    fn wait_for_listeners(&mut self) {
        let mut pending: Vec<u16> = self.listeners.clone();
        while !pending.is_empty() && Instant::now() < self.ready_by && self.exited().is_none() {
            pending.retain(|port| !accepts(*port));
            if !pending.is_empty() {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        if !pending.is_empty() {
            let list: Vec<String> = pending.iter().map(u16::to_string).collect();
            eprintln!(
                "warning: {} is not accepting connections on port(s) {}",
                self.kind.name(),
                list.join(", ")
            );
        }
        self.dead_ports = pending;
    }

    /// The last lines of the server's logs, as a suffix for error messages.
    pub(super) fn log_tail(&self) -> String {
        log_tail(&self.logs)
    }

    /// Sends SIGTERM, waits, kills what is left and reaps the main process.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let tree = procfs::tree(self.pid);
        let deadline = Instant::now() + STOP_DEADLINE;
        let mut ended = matches!(child.try_wait(), Ok(Some(_)));
        if !ended {
            signal("TERM", self.pid);
            while Instant::now() < deadline {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    ended = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if !ended {
            eprintln!(
                "warning: {} did not stop within {}s of SIGTERM; killing it",
                self.kind.name(),
                STOP_DEADLINE.as_secs()
            );
            let _ = child.kill();
            let _ = child.wait();
        }
        // Children the main process left behind: give them what remains of the deadline,
        // then kill them, but only if each pid still names the process seen before.
        let leftovers = |tree: &[ProcessId]| -> Vec<ProcessId> {
            tree.iter()
                .copied()
                .filter(|process| process.pid != self.pid && procfs::is_alive(*process))
                .collect()
        };
        while !leftovers(&tree).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        for process in leftovers(&tree) {
            signal("KILL", process.pid);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends the signal named `name` to `pid` through the shell's `kill`, since this crate
/// makes no system calls of its own.
fn signal(name: &str, pid: u32) {
    let _ = Command::new("sh")
        .args([
            "-c",
            "kill -s \"$1\" \"$2\" 2>/dev/null",
            "sh",
            name,
            &pid.to_string(),
        ])
        .status();
}

/// The last lines of each of `logs`, as a suffix for error messages.
pub(super) fn log_tail(logs: &[PathBuf]) -> String {
    let mut tail = String::new();
    for log in logs {
        let Ok(text) = fs::read_to_string(log) else {
            continue;
        };
        let lines: Vec<&str> = text
            .lines()
            .filter(|line| !line.trim().is_empty())
            .collect();
        if lines.is_empty() {
            continue;
        }
        let name = log
            .file_name()
            .map_or_else(String::new, |name| name.to_string_lossy().into_owned());
        let _ = write!(tail, "\n    last lines of {name}:");
        for line in &lines[lines.len().saturating_sub(5)..] {
            let _ = write!(tail, "\n      {line}");
        }
    }
    tail
}

/// Whether something accepts TCP connections on the loopback `port`.
pub(super) fn accepts(port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok()
}

/// Whether `GET /config` on the control socket at `path` gets a 200 response.
fn control_answers(path: &Path) -> bool {
    let Ok(mut stream) = UnixStream::connect(path) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /config HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0_u8; 16];
    let mut filled = 0;
    while filled < head.len() {
        match stream.read(&mut head[filled..]) {
            Ok(0) | Err(_) => break,
            Ok(read) => filled += read,
        }
    }
    let head = String::from_utf8_lossy(&head[..filled]);
    head.starts_with("HTTP/1.") && head.get(9..12) == Some("200")
}

/// Writes `text` to `path` with mode 0644.
pub(super) fn write_file(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    fs::set_permissions(path, Permissions::from_mode(0o644))
        .with_context(|| format!("setting the mode of {}", path.display()))
}

/// unitd's start-up configuration: the four listeners and their routes.
pub(super) fn unit_config(ports: &Ports, www: &Path) -> String {
    let share = json_string(&format!("{}$uri", www.display()));
    let Ports {
        ret,
        static_files,
        proxy,
        backend,
    } = *ports;
    format!(
        r#"{{
  "settings": {{ "http": {{ "server_version": true }} }},
  "listeners": {{
    "127.0.0.1:{ret}": {{ "pass": "routes/ret" }},
    "127.0.0.1:{static_files}": {{ "pass": "routes/static" }},
    "127.0.0.1:{proxy}": {{ "pass": "routes/proxy" }},
    "127.0.0.1:{backend}": {{ "pass": "routes/ret" }}
  }},
  "routes": {{
    "ret": [{{ "action": {{ "return": 200 }} }}],
    "static": [{{ "action": {{ "share": {share} }} }}],
    "proxy": [{{ "action": {{ "proxy": "http://127.0.0.1:{backend}" }} }}]
  }}
}}
"#
    )
}

/// nginx's configuration equivalent to [`unit_config`], every path inside `dir`.
pub(super) fn nginx_config(dir: &Path, www: &Path, ports: &Ports) -> String {
    let path = |name: &str| nginx_string(&dir.join(name).display().to_string());
    let pid = path("nginx.pid");
    let error_log = path("nginx-error.log");
    let root = nginx_string(&www.display().to_string());
    let temp_paths: String = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
        .iter()
        .map(|kind| format!("    {kind}_temp_path {};\n", path(&format!("{kind}_temp"))))
        .collect();
    let Ports {
        ret,
        static_files,
        proxy,
        backend,
    } = *ports;
    format!(
        r#"daemon off;
master_process on;
worker_processes auto;
pid {pid};
error_log {error_log};

events {{
    worker_connections 4096;
}}

http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    default_type application/octet-stream;
{temp_paths}
    upstream backend {{
        server 127.0.0.1:{backend};
        keepalive 64;
    }}

    server {{
        listen 127.0.0.1:{ret};
        location / {{
            return 200;
        }}
    }}

    server {{
        listen 127.0.0.1:{static_files};
        root {root};
    }}

    server {{
        listen 127.0.0.1:{proxy};
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}

    server {{
        listen 127.0.0.1:{backend};
        location / {{
            return 200;
        }}
    }}
}}
"#
    )
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(quoted, "\\u{:04x}", u32::from(c));
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// `text` as a double-quoted nginx configuration string.
fn nginx_string(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORTS: Ports = Ports {
        ret: 40001,
        static_files: 40002,
        proxy: 40003,
        backend: 40004,
    };

    #[test]
    fn unit_config_wires_every_listener() {
        let config = unit_config(&PORTS, Path::new("/tmp/b \"x\"/www"));
        assert!(config.contains(r#""127.0.0.1:40001": { "pass": "routes/ret" }"#));
        assert!(config.contains(r#""127.0.0.1:40002": { "pass": "routes/static" }"#));
        assert!(config.contains(r#""127.0.0.1:40003": { "pass": "routes/proxy" }"#));
        assert!(config.contains(r#""127.0.0.1:40004": { "pass": "routes/ret" }"#));
        assert!(config.contains(r#""share": "/tmp/b \"x\"/www$uri""#));
        assert!(config.contains(r#""proxy": "http://127.0.0.1:40004""#));
        assert_eq!(config.matches('{').count(), config.matches('}').count());
    }

    #[test]
    fn nginx_config_keeps_everything_in_the_work_dir() {
        let config = nginx_config(Path::new("/w"), Path::new("/w/www"), &PORTS);
        for needle in [
            "pid \"/w/nginx.pid\";",
            "error_log \"/w/nginx-error.log\";",
            "proxy_temp_path \"/w/proxy_temp\";",
            "client_body_temp_path \"/w/client_body_temp\";",
            "root \"/w/www\";",
            "listen 127.0.0.1:40001;",
            "listen 127.0.0.1:40004;",
            "server 127.0.0.1:40004;",
        ] {
            assert!(config.contains(needle), "{needle} missing from:\n{config}");
        }
        assert_eq!(config.matches('{').count(), config.matches('}').count());
    }

    #[test]
    fn string_quoting() {
        assert_eq!(json_string("a\"b\\c\n"), r#""a\"b\\c\u000a""#);
        assert_eq!(nginx_string("a\"b"), r#""a\"b""#);
    }

    #[test]
    fn work_dir_holds_readable_files_and_goes_away() {
        let work = WorkDir::create(false).expect("work dir");
        let path = work.path().to_path_buf();
        let mode = |path: &Path| fs::metadata(path).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o755);
        assert_eq!(mode(&work.www()), 0o755);
        for (name, size) in STATIC_FILES {
            let file = work.www().join(name);
            assert_eq!(mode(&file), 0o644);
            assert_eq!(fs::metadata(&file).expect("metadata").len(), size as u64);
        }
        drop(work);
        assert!(!path.exists());
    }

    /// Spawns `script` under `sh` as if it were a server, its output in `work`.
    fn fake_server(work: &WorkDir, script: &str) -> Server {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        let stderr = work.path().join("fake.stderr");
        let ports = free_ports(4).expect("ports");
        Server::spawn(Kind::Unitd, command, ports, &stderr, vec![stderr.clone()])
            .expect("spawning sh")
    }

    #[test]
    fn a_server_that_dies_while_starting_is_reported_with_its_log() {
        let work = WorkDir::create(false).expect("work dir");
        let mut server = fake_server(&work, "echo 'bad configuration' >&2; exit 3");
        let error = server
            .wait_until("nothing", || false)
            .expect_err("the server exited");
        let message = error.to_string();
        assert!(message.contains("exited while starting"), "{message}");
        assert!(message.contains("bad configuration"), "{message}");
    }

    #[test]
    fn stopping_ends_the_whole_process_tree() {
        let work = WorkDir::create(false).expect("work dir");
        // A parent that passes SIGTERM on to its child, like a server's main process.
        let mut server = fake_server(&work, "trap 'kill $!; exit 0' TERM; sleep 60 & wait");
        let deadline = Instant::now() + START_DEADLINE;
        let mut tree = procfs::tree(server.pid());
        while tree.len() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            tree = procfs::tree(server.pid());
        }
        assert_eq!(tree.len(), 2, "sh and its sleep");
        assert!(server.exited().is_none());
        let started = Instant::now();
        drop(server);
        assert!(started.elapsed() < STOP_DEADLINE);
        assert!(!tree.into_iter().any(procfs::is_alive));
    }

    #[test]
    fn free_ports_are_distinct() {
        let sets = Ports::free(2).expect("ports");
        assert_eq!(sets.len(), 2);
        let mut ports: Vec<u16> = sets.iter().flat_map(Ports::all).collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 8);
    }
}
