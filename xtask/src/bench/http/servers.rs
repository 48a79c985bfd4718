//! The two servers under test: their work directory, equivalent configurations, start-up,
//! readiness and shutdown.
//!
//! Both serve the same seven loopback listeners: `return 200`, static files from one `www`
//! directory, a reverse proxy, the proxy's backend (another `return 200`), and three TLS
//! listeners on one self-signed certificate made in the work directory (`return 200`,
//! the static files, and `return 200` for the handshake load).
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
use crate::cmd::{UnitdDir, create_dir, describe};

/// How long a server gets to become ready.
const START_DEADLINE: Duration = Duration::from_secs(20);

/// How long a server gets to exit after SIGTERM before it is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(5);

/// How long a request on unitd's control socket may take, applying a configuration
/// included.
pub(super) const CONTROL_DEADLINE: Duration = Duration::from_secs(10);

/// The files every server serves, with their sizes.
pub(super) const STATIC_FILES: [(&str, usize); 2] = [("1k.bin", 1024), ("1m.bin", 1024 * 1024)];

/// The name of the certificate bundle in unitd's store.
const CERTIFICATE_NAME: &str = "bench";

/// The self-signed certificate both servers present, in the work directory.
const CERTIFICATE_FILE: &str = "bench.crt";

/// Its private key, in the work directory.
const PRIVATE_KEY_FILE: &str = "bench.key";

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
    /// Answers like `ret`, over TLS.
    pub(super) tls_ret: u16,
    /// Serves the `www` directory over TLS.
    pub(super) tls_static_files: u16,
    /// Answers like `ret` over TLS, for the load that opens a connection per request; a
    /// listener of its own keeps its handshakes apart from the keep-alive TLS load's.
    pub(super) tls_handshakes: u16,
}

impl Ports {
    /// How many ports a set holds.
    const COUNT: usize = 7;

    /// `count` sets of ports that were free a moment ago, no port in two sets.
    pub(super) fn free(count: usize) -> Result<Vec<Ports>> {
        Ok(free_ports(count * Ports::COUNT)?
            .chunks_exact(Ports::COUNT)
            .map(|set| Ports {
                ret: set[0],
                static_files: set[1],
                proxy: set[2],
                backend: set[3],
                tls_ret: set[4],
                tls_static_files: set[5],
                tls_handshakes: set[6],
            })
            .collect())
    }

    /// Every port, for readiness checks.
    pub(super) fn all(&self) -> [u16; Ports::COUNT] {
        let [ret, static_files, proxy, backend] = self.plain();
        let [tls_ret, tls_static_files, tls_handshakes] = self.tls();
        [
            ret,
            static_files,
            proxy,
            backend,
            tls_ret,
            tls_static_files,
            tls_handshakes,
        ]
    }

    /// The ports served without TLS.
    pub(super) fn plain(&self) -> [u16; 4] {
        [self.ret, self.static_files, self.proxy, self.backend]
    }

    /// The ports served over TLS.
    pub(super) fn tls(&self) -> [u16; 3] {
        [self.tls_ret, self.tls_static_files, self.tls_handshakes]
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

    /// Makes the TLS listeners' key (ECDSA P-256) and a self-signed certificate for it
    /// with `openssl`, the same pair for both servers so their handshakes sign alike.
    pub(super) fn make_certificate(&self, openssl: &Path) -> Result<()> {
        let mut command = Command::new(openssl);
        command
            .args(["req", "-x509", "-newkey", "ec"])
            .args(["-pkeyopt", "ec_paramgen_curve:P-256"])
            .args(["-nodes", "-subj", "/CN=localhost", "-days", "30"])
            .arg("-keyout")
            .arg(self.path.join(PRIVATE_KEY_FILE))
            .arg("-out")
            .arg(self.path.join(CERTIFICATE_FILE))
            .stdin(Stdio::null());
        let output = command
            .output()
            .with_context(|| format!("starting {}", openssl.display()))?;
        if !output.status.success() {
            bail!(
                "`{}` failed ({}): {}",
                describe(&command),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(())
    }

    /// The certificate bundle unitd takes: the private key, then the certificate.
    fn certificate_bundle(&self) -> Result<Vec<u8>> {
        let mut bundle = Vec::new();
        for name in [PRIVATE_KEY_FILE, CERTIFICATE_FILE] {
            let file = self.path.join(name);
            bundle.extend(fs::read(&file).with_context(|| format!("reading {}", file.display()))?);
        }
        Ok(bundle)
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
    /// Why the server has no TLS listeners, when it refused the certificate or them.
    pub(super) tls_unavailable: Option<String>,
}

impl Server {
    /// Starts unitd with the listeners that have no TLS, uploads the certificate bundle
    /// made by [`WorkDir::make_certificate`], then configures every listener, and waits
    /// until it is ready.
    ///
    /// The TLS listeners come last because unitd refuses a listener whose certificate is
    /// not in its store yet. A unitd that refuses the bundle or those listeners still
    /// serves the others, with the reason in `tls_unavailable`, so a build from before
    /// TLS can still be compared on the loads it serves.
    pub(super) fn start_unitd(unitd: &Path, work: &WorkDir, ports: Ports) -> Result<Server> {
        let config = unit_config(&ports, &work.www(), false);
        let mut server = Server::start_unitd_with(unitd, work, &config, ports.plain().to_vec())?;
        let control = UnitdDir::new(work.path().to_path_buf()).control();
        match configure_unitd_tls(&control, work, &ports) {
            Ok(()) => {
                server.listeners.extend(ports.tls());
                server.wait_for_listeners();
            }
            Err(error) => {
                let reason = format!("{error:#}");
                eprintln!("warning: unitd serves no TLS: {reason}");
                server.tls_unavailable = Some(reason);
            }
        }
        Ok(server)
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
            tls_unavailable: None,
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
pub(super) fn signal(name: &str, pid: u32) {
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
    // Short, since this polls a unitd that is starting.
    let timeout = Duration::from_secs(2);
    control_request(path, "GET", "/config", b"", timeout).is_ok_and(|(status, _)| status == 200)
}

/// Uploads the work directory's certificate bundle to the unitd on the control socket at
/// `control`, then gives it the configuration with every listener, TLS ones included.
fn configure_unitd_tls(control: &Path, work: &WorkDir, ports: &Ports) -> Result<()> {
    let bundle = work.certificate_bundle()?;
    control_put(
        control,
        &format!("/certificates/{CERTIFICATE_NAME}"),
        &bundle,
    )
    .context("uploading the certificate bundle")?;
    let config = unit_config(ports, &work.www(), true);
    control_put(control, "/config", config.as_bytes()).context("configuring the TLS listeners")
}

/// `PUT`s `body` at `target` on the control socket at `path`, failing unless unitd
/// answers 200.
fn control_put(path: &Path, target: &str, body: &[u8]) -> Result<()> {
    let (status, answer) = control_request(path, "PUT", target, body, CONTROL_DEADLINE)?;
    if status != 200 {
        let answer: Vec<&str> = answer.split_whitespace().collect();
        bail!("PUT {target} answered {status}: {}", answer.join(" "));
    }
    Ok(())
}

/// Sends one request to the control socket at `path` and returns the answer's status and
/// body; each read and write may take up to `timeout`.
pub(super) fn control_request(
    path: &Path,
    method: &str,
    target: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<(u16, String)> {
    let mut stream =
        UnixStream::connect(path).with_context(|| format!("connecting to {}", path.display()))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .context("setting the control socket's timeouts")?;
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .with_context(|| format!("sending {method} {target}"))?;
    // The request asked for the connection to close, so the answer ends where the stream
    // does.
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .with_context(|| format!("reading the answer to {method} {target}"))?;
    let answer = String::from_utf8_lossy(&answer);
    let status = answer
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|status| status.parse::<u16>().ok())
        .with_context(|| format!("{method} {target} got no HTTP answer: {answer:?}"))?;
    let body = answer
        .split_once("\r\n\r\n")
        .map_or("", |(_, body)| body)
        .to_owned();
    Ok((status, body))
}

/// Writes `text` to `path` with mode 0644.
pub(super) fn write_file(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    fs::set_permissions(path, Permissions::from_mode(0o644))
        .with_context(|| format!("setting the mode of {}", path.display()))
}

/// unitd's configuration: the four listeners without TLS and their routes, and with
/// `with_tls` the three TLS listeners on the certificate bundle named
/// [`CERTIFICATE_NAME`].
pub(super) fn unit_config(ports: &Ports, www: &Path, with_tls: bool) -> String {
    let share = json_string(&format!("{}$uri", www.display()));
    let Ports {
        ret,
        static_files,
        proxy,
        backend,
        tls_ret,
        tls_static_files,
        tls_handshakes,
    } = *ports;
    let tls_listeners = if with_tls {
        let tls = format!(r#""tls": {{ "certificate": "{CERTIFICATE_NAME}" }}"#);
        format!(
            r#",
    "127.0.0.1:{tls_ret}": {{ "pass": "routes/ret", {tls} }},
    "127.0.0.1:{tls_static_files}": {{ "pass": "routes/static", {tls} }},
    "127.0.0.1:{tls_handshakes}": {{ "pass": "routes/ret", {tls} }}"#
        )
    } else {
        String::new()
    };
    format!(
        r#"{{
  "settings": {{ "http": {{ "server_version": true }} }},
  "listeners": {{
    "127.0.0.1:{ret}": {{ "pass": "routes/ret" }},
    "127.0.0.1:{static_files}": {{ "pass": "routes/static" }},
    "127.0.0.1:{proxy}": {{ "pass": "routes/proxy" }},
    "127.0.0.1:{backend}": {{ "pass": "routes/ret" }}{tls_listeners}
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

/// nginx's configuration equivalent to [`unit_config`] with TLS, every path inside `dir`.
pub(super) fn nginx_config(dir: &Path, www: &Path, ports: &Ports) -> String {
    let path = |name: &str| nginx_string(&dir.join(name).display().to_string());
    let pid = path("nginx.pid");
    let error_log = path("nginx-error.log");
    let certificate = path(CERTIFICATE_FILE);
    let private_key = path(PRIVATE_KEY_FILE);
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
        tls_ret,
        tls_static_files,
        tls_handshakes,
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
    ssl_certificate {certificate};
    ssl_certificate_key {private_key};
    ssl_protocols TLSv1.3;
    # unitd keeps no session cache and issues no tickets unless configured to, so nginx
    # does neither: on both, every new connection is a full handshake.
    ssl_session_cache off;
    ssl_session_tickets off;
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

    server {{
        listen 127.0.0.1:{tls_ret} ssl;
        location / {{
            return 200;
        }}
    }}

    server {{
        listen 127.0.0.1:{tls_static_files} ssl;
        root {root};
    }}

    server {{
        listen 127.0.0.1:{tls_handshakes} ssl;
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
        tls_ret: 40005,
        tls_static_files: 40006,
        tls_handshakes: 40007,
    };

    #[test]
    fn unit_config_wires_every_listener() {
        let www = Path::new("/tmp/b \"x\"/www");
        let config = unit_config(&PORTS, www, true);
        assert!(config.contains(r#""127.0.0.1:40001": { "pass": "routes/ret" }"#));
        assert!(config.contains(r#""127.0.0.1:40002": { "pass": "routes/static" }"#));
        assert!(config.contains(r#""127.0.0.1:40003": { "pass": "routes/proxy" }"#));
        assert!(config.contains(r#""127.0.0.1:40004": { "pass": "routes/ret" }"#));
        assert!(config.contains(r#""share": "/tmp/b \"x\"/www$uri""#));
        assert!(config.contains(r#""proxy": "http://127.0.0.1:40004""#));
        let parsed: serde_json::Value = serde_json::from_str(&config).expect("valid JSON");
        let tls = serde_json::json!({ "certificate": "bench" });
        for (port, pass) in [
            (40005, "routes/ret"),
            (40006, "routes/static"),
            (40007, "routes/ret"),
        ] {
            let listener = &parsed["listeners"][format!("127.0.0.1:{port}")];
            assert_eq!(listener["pass"], pass, "{config}");
            assert_eq!(listener["tls"], tls, "{config}");
        }

        // Without TLS, only the four plain listeners, which name no certificate.
        let plain = unit_config(&PORTS, www, false);
        let parsed: serde_json::Value = serde_json::from_str(&plain).expect("valid JSON");
        let listeners = parsed["listeners"].as_object().expect("listeners");
        assert_eq!(listeners.len(), 4, "{plain}");
        assert!(!plain.contains("tls"), "{plain}");
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
            "listen 127.0.0.1:40005 ssl;",
            "listen 127.0.0.1:40006 ssl;",
            "listen 127.0.0.1:40007 ssl;",
            "ssl_certificate \"/w/bench.crt\";",
            "ssl_certificate_key \"/w/bench.key\";",
            "ssl_protocols TLSv1.3;",
            "ssl_session_cache off;",
            "ssl_session_tickets off;",
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
        let ports = free_ports(Ports::COUNT).expect("ports");
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

    /// Answers one request on a unix socket in `work` with `answer`, and returns the
    /// socket's path and a handle yielding the request received.
    fn fake_control(
        work: &WorkDir,
        answer: &'static str,
    ) -> (PathBuf, std::thread::JoinHandle<String>) {
        let path = work.path().join("control.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).expect("binding");
        let handle = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("accepting");
            let mut request = Vec::new();
            let mut buffer = [0_u8; 4096];
            // The request is read up to its body's end, which the test knows: "hello".
            while !request.ends_with(b"hello") {
                let read = stream.read(&mut buffer).expect("reading");
                assert_ne!(read, 0, "the request ended early");
                request.extend_from_slice(&buffer[..read]);
            }
            stream.write_all(answer.as_bytes()).expect("answering");
            String::from_utf8(request).expect("text")
        });
        (path, handle)
    }

    #[test]
    fn control_puts_send_the_body_and_check_the_status() {
        let work = WorkDir::create(false).expect("work dir");
        let (path, handle) = fake_control(
            &work,
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        control_put(&path, "/certificates/bench", b"hello").expect("a 200");
        let request = handle.join().expect("the fake control socket");
        assert!(
            request.starts_with("PUT /certificates/bench HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(request.contains("Content-Length: 5\r\n"), "{request}");
        fs::remove_file(&path).expect("removing the socket");

        let (path, handle) = fake_control(
            &work,
            "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n{\n  \"error\": \"Invalid certificate.\"\n}\n",
        );
        let error = control_put(&path, "/config", b"hello").expect_err("a 400");
        handle.join().expect("the fake control socket");
        let message = error.to_string();
        assert!(message.contains("PUT /config answered 400"), "{message}");
        assert!(
            message.contains(r#""error": "Invalid certificate.""#),
            "{message}"
        );
    }

    #[test]
    fn free_ports_are_distinct() {
        let sets = Ports::free(2).expect("ports");
        assert_eq!(sets.len(), 2);
        let mut ports: Vec<u16> = sets.iter().flat_map(Ports::all).collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 2 * Ports::COUNT);
    }
}
