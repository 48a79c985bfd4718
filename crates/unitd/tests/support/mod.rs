//! Shared harness for the integration tests: a real `unitd` in a temporary directory,
//! clients for its control socket, and helpers to look at its processes.

#![allow(dead_code, clippy::print_stderr)]

pub(crate) mod apps;
pub(crate) mod http;
pub(crate) mod python;
pub(crate) mod tls;
pub(crate) mod websocket;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The binary under test.
pub(crate) const UNITD: &str = env!("CARGO_BIN_EXE_unitd");
/// How long anything may take before a test gives up.
pub(crate) const DEADLINE: Duration = Duration::from_secs(15);

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

/// A fresh directory (0755, so unprivileged children can reach it) removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> TempDir {
        let n = NEXT_DIR.fetch_add(1, Ordering::SeqCst);
        let path =
            std::env::temp_dir().join(format!("unitd-test-{name}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("creating a temporary directory");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
            .expect("chmod of the temporary directory");
        TempDir(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // A killed unitd may leave mounts inside (an isolated application's root
        // directory, with system directories bound into it): removing through them
        // would remove what they show, so they are detached first, and the directory
        // is kept if any stays.
        if !detach_mounts_under(&self.0) {
            eprintln!(
                "keeping {}: something is still mounted inside",
                self.0.display()
            );
            return;
        }
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The mount points at or under `dir` in this process's mount namespace, innermost
/// first.
pub(crate) fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut mounts: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|point| PathBuf::from(point.replace("\\040", " ")))
        .filter(|point| point.starts_with(dir))
        .collect();
    mounts.sort_by_key(|point| std::cmp::Reverse(point.components().count()));
    mounts
}

/// Detaches every mount at or under `dir`; whether none is left.
pub(crate) fn detach_mounts_under(dir: &Path) -> bool {
    for point in mounts_under(dir) {
        let _ = nix::mount::umount2(&point, nix::mount::MntFlags::MNT_DETACH);
    }
    mounts_under(dir).is_empty()
}

/// The paths a test unitd uses, all inside one temporary directory.
pub(crate) struct Paths {
    pub dir: TempDir,
    pub control: PathBuf,
    pub pid: PathBuf,
    pub log: PathBuf,
    pub state: PathBuf,
}

impl Paths {
    pub(crate) fn new(name: &str) -> Paths {
        let dir = TempDir::new(name);
        let state = dir.path().join("state");
        fs::create_dir(&state).expect("creating the state directory");
        Paths {
            control: dir.path().join("control.unit.sock"),
            pid: dir.path().join("unit.pid"),
            log: dir.path().join("unit.log"),
            state,
            dir,
        }
    }

    /// The command-line arguments naming every path.
    pub(crate) fn args(&self) -> Vec<String> {
        vec![
            "--control".into(),
            format!("unix:{}", self.control.display()),
            "--pid".into(),
            self.pid.display().to_string(),
            "--log".into(),
            self.log.display().to_string(),
            "--statedir".into(),
            self.state.display().to_string(),
            "--tmpdir".into(),
            self.dir.path().display().to_string(),
        ]
    }

    pub(crate) fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A running unitd, killed and reaped on drop (its log printed if the test failed).
pub(crate) struct TestUnit {
    pub paths: Paths,
    pub child: Option<Child>,
    pub main_pid: Pid,
}

impl TestUnit {
    /// Starts `unitd --no-daemon` with every path in a fresh directory plus `extra` args,
    /// and waits until the control socket answers.
    pub(crate) fn start(name: &str, extra: &[&str]) -> TestUnit {
        let paths = Paths::new(name);
        Self::start_with(paths, extra)
    }

    pub(crate) fn start_with(paths: Paths, extra: &[&str]) -> TestUnit {
        Self::start_with_env(paths, extra, &[])
    }

    /// Starts unitd with extra environment variables as well.
    pub(crate) fn start_with_env(paths: Paths, extra: &[&str], env: &[(&str, &str)]) -> TestUnit {
        Self::start_through(paths, &[], extra, env)
    }

    /// Starts unitd through `launcher` (a program and its arguments that execs the
    /// rest of its command line, such as `prlimit --nofile=64 --`), so main keeps the
    /// launcher's pid.
    pub(crate) fn start_through(
        paths: Paths,
        launcher: &[&str],
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> TestUnit {
        let mut command = match launcher {
            [] => Command::new(UNITD),
            [program, arguments @ ..] => {
                let mut command = Command::new(program);
                command.args(arguments).arg(UNITD);
                command
            }
        };
        command.envs(env.iter().copied());
        command
            .arg("--no-daemon")
            .args(paths.args())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let child = command.spawn().expect("starting unitd");
        let main_pid = Pid::from_raw(child.id() as i32);
        let unit = TestUnit {
            paths,
            child: Some(child),
            main_pid,
        };
        unit.wait_ready();
        unit
    }

    /// Waits until GET /config answers on the control socket.
    pub(crate) fn wait_ready(&self) {
        let deadline = Instant::now() + DEADLINE;
        while Instant::now() < deadline {
            if let Ok(response) = try_request(&self.paths.control, "GET", "/config", None)
                && response.status == 200
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "unitd did not answer on its control socket; log:\n{}",
            self.paths.log_text()
        );
    }

    pub(crate) fn request(&self, method: &str, path: &str, body: Option<&str>) -> Response {
        try_request(&self.paths.control, method, path, body).expect("control request")
    }

    pub(crate) fn get(&self, path: &str) -> Response {
        self.request("GET", path, None)
    }

    /// Sends a signal to main.
    pub(crate) fn signal(&self, signal: Signal) {
        kill(self.main_pid, signal).expect("signalling unitd");
    }

    /// Waits for main to exit and returns its status and stderr.
    pub(crate) fn wait_exit(&mut self) -> (ExitStatus, String) {
        let mut child = self.child.take().expect("unitd still owned by the test");
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = child.try_wait().expect("waiting for unitd") {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                return (status, stderr);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("unitd did not exit; log:\n{}", self.paths.log_text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn log_text(&self) -> String {
        self.paths.log_text()
    }

    /// Waits until the log contains `needle` `count` times.
    pub(crate) fn wait_for_log(&self, needle: &str, count: usize) -> bool {
        wait_until(|| self.log_text().matches(needle).count() >= count)
    }

    /// The children of main with their command lines.
    pub(crate) fn children(&self) -> Vec<(Pid, String)> {
        children_of(self.main_pid)
    }

    /// The child whose title is `title`, waiting for it to appear.
    pub(crate) fn child_titled(&self, title: &str) -> Pid {
        let mut found = None;
        wait_until(|| {
            found = self
                .children()
                .into_iter()
                .find(|(_, cmdline)| cmdline == title)
                .map(|(pid, _)| pid);
            found.is_some()
        });
        found
            .unwrap_or_else(|| panic!("no child titled {title:?}; children: {:?}", self.children()))
    }
}

impl Drop for TestUnit {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Stopped first, so main starts no process after the list is taken.
            let _ = kill(self.main_pid, Signal::SIGSTOP);
            let children = children_of(self.main_pid);
            let _ = kill(self.main_pid, Signal::SIGKILL);
            for (pid, _) in children {
                let _ = kill(pid, Signal::SIGKILL);
            }
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- unitd log ---\n{}\n--- end of log ---",
                self.paths.log_text()
            );
        }
    }
}

/// A control API answer.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Response {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {:?}", self.body))
    }

    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }
}

/// One HTTP/1.1 request over a unix socket, reading the answer until the server closes.
pub(crate) fn try_request(
    socket: &Path,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> std::io::Result<Response> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(DEADLINE))?;
    send_request(&mut stream, method, path, body)
}

pub(crate) fn send_request<S: Read + Write>(
    stream: &mut S,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> std::io::Result<Response> {
    send_request_with(stream, method, path, body, "")
}

/// Like `send_request`, with extra header lines (each ending in CRLF).
pub(crate) fn send_request_with<S: Read + Write>(
    stream: &mut S,
    method: &str,
    path: &str,
    body: Option<&str>,
    extra_headers: &str,
) -> std::io::Result<Response> {
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{extra_headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw)
}

pub(crate) fn parse_response(raw: &[u8]) -> std::io::Result<Response> {
    let text = String::from_utf8_lossy(raw).into_owned();
    let bad = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("bad response: {text:?}"),
        )
    };
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(bad)?;
    Ok(Response {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    })
}

/// Polls `condition` until it holds or the deadline passes.
pub(crate) fn wait_until(mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + DEADLINE;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Whether a process exists (and is not a zombie).
pub(crate) fn process_alive(pid: Pid) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z"),
        Err(_) => false,
    }
}

/// The command line of a process, arguments joined by spaces.
pub(crate) fn cmdline(pid: Pid) -> String {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    raw.split(|byte| *byte == 0)
        .filter(|part| !part.is_empty())
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Live children of `parent`.
pub(crate) fn children_of(parent: Pid) -> Vec<(Pid, String)> {
    let mut children = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return children;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.first() == Some(&"Z") {
            continue;
        }
        if fields.get(1).and_then(|ppid| ppid.parse::<i32>().ok()) == Some(parent.as_raw()) {
            let pid = Pid::from_raw(pid);
            children.push((pid, cmdline(pid)));
        }
    }
    children
}

/// A field of /proc/<pid>/status, such as `Uid`.
pub(crate) fn proc_status_field(pid: Pid, field: &str) -> Option<String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key == field).then(|| value.trim().to_owned())
    })
}

/// Runs unitd to completion with `args`.
pub(crate) fn run_unitd(args: &[&str]) -> Output {
    Command::new(UNITD)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running unitd")
}

pub(crate) fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

impl TestUnit {
    pub(crate) fn put(&self, path: &str, body: &str) -> Response {
        self.request("PUT", path, Some(body))
    }

    /// Sends raw bytes on a new control connection and reads the answer to its end.
    pub(crate) fn raw(&self, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut stream = UnixStream::connect(&self.paths.control)?;
        stream.set_read_timeout(Some(DEADLINE))?;
        stream.write_all(bytes)?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer)?;
        Ok(answer)
    }

    /// The stored configuration file's bytes (empty if there is none).
    pub(crate) fn conf_json(&self) -> Vec<u8> {
        fs::read(self.paths.state.join("conf.json")).unwrap_or_default()
    }

    /// Stops unitd with SIGTERM, waits for it, and gives back its paths for a restart.
    pub(crate) fn stop(mut self) -> Paths {
        self.signal(Signal::SIGTERM);
        let (status, _) = self.wait_exit();
        assert_eq!(status.code(), Some(0));
        std::mem::replace(&mut self.paths, Paths::new("spent"))
    }
}

/// A duplicate of `fd` without close-on-exec, numbered 10 or above, so a child's shell
/// can move it to descriptor 3 without it being 3 already. Lower numbers handed out on
/// the way are held and then closed.
pub(crate) fn dup_above_stdio(fd: &impl std::os::fd::AsFd) -> std::os::fd::OwnedFd {
    use std::os::fd::AsRawFd;
    let mut held = Vec::new();
    loop {
        let duplicate = nix::unistd::dup(fd).expect("dup");
        if duplicate.as_raw_fd() >= 10 {
            return duplicate;
        }
        held.push(duplicate);
    }
}

/// Starts unitd through `bash` with `listener` as descriptor 3 and `env_setup` before exec.
pub(crate) fn start_with_fd3(
    paths: &Paths,
    listener: &impl std::os::fd::AsFd,
    env_setup: &str,
    daemon: bool,
) -> Child {
    // A duplicate without close-on-exec reaches bash, which moves it to 3 (dash takes only one-digit descriptors).
    let inheritable = dup_above_stdio(listener);
    let mut script = format!(
        "exec 3<&{fd} {fd}<&-; {env_setup} exec \"$0\"",
        fd = std::os::fd::AsRawFd::as_raw_fd(&inheritable)
    );
    if !daemon {
        script.push_str(" --no-daemon");
    }
    script.push_str(" \"$@\"");
    let child = Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg(UNITD)
        .args(paths.args())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting bash");
    drop(inheritable);
    child
}

/// Says on stderr that a test did not run, and why.
pub(crate) fn skip(test: &str, reason: &str) {
    eprintln!("{test}: skipped, {reason}");
}
