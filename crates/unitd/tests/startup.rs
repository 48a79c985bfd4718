//! Start-up paths: daemon mode, bad input that must leave nothing behind, the control
//! socket forms, and listen sockets inherited through NGINX and systemd.

mod support;

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use support::{
    Paths, TestUnit, UNITD, children_of, process_alive, run_unitd, try_request, wait_until,
};

fn args_of(paths: &Paths) -> Vec<String> {
    paths.args()
}

fn run_with(paths: &Paths, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<String> = args_of(paths);
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_unitd(&args)
}

/// Asserts a failed start left no pid file, no control socket and no process.
fn assert_nothing_left(paths: &Paths) {
    assert!(!paths.pid.exists(), "no pid file is left");
    assert!(!paths.control.exists(), "no control socket is left");
    let mut tmp = paths.control.as_os_str().to_owned();
    tmp.push(".tmp");
    assert!(
        !std::path::Path::new(&tmp).exists(),
        "no temporary socket is left"
    );
}

#[test]
fn daemon_launcher_returns_once_the_control_socket_answers() {
    let paths = Paths::new("daemon");
    let output = run_with(&paths, &[]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Ready means ready: the first request after the launcher returns is answered.
    let response = try_request(&paths.control, "GET", "/config", None)
        .expect("control socket answers at once");
    assert_eq!(response.status, 200);

    let pid: i32 = fs::read_to_string(&paths.pid)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    let daemon = Pid::from_raw(pid);
    assert!(process_alive(daemon));
    let sid = nix::unistd::getsid(Some(daemon)).expect("session of the daemon");
    assert_eq!(sid, daemon, "the daemon leads its own session");
    let stdin = fs::read_link(format!("/proc/{pid}/fd/0")).ok();
    assert_eq!(stdin.as_deref(), Some(std::path::Path::new("/dev/null")));
    let stdout = fs::read_link(format!("/proc/{pid}/fd/1")).ok();
    assert_eq!(stdout.as_deref(), Some(std::path::Path::new("/dev/null")));
    assert_eq!(children_of(daemon).len(), 2);

    kill(daemon, Signal::SIGTERM).expect("stopping the daemon");
    assert!(wait_until(|| !process_alive(daemon)), "daemon exits");
    assert!(wait_until(|| !paths.pid.exists()), "pid file removed");
    assert!(!paths.control.exists());
}

#[test]
fn daemon_launcher_fails_when_the_daemon_cannot_start() {
    let paths = Paths::new("daemon-fail");
    fs::remove_dir(&paths.state).expect("removing the state directory");
    let output = run_with(&paths, &[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("state directory \"{}\"", paths.state.display())),
        "{stderr}"
    );
    assert_nothing_left(&paths);
}

#[test]
fn a_second_unitd_on_the_same_control_socket_is_refused() {
    let unit = TestUnit::start("in-use", &[]);
    let second = Paths::new("in-use-2");
    let control = format!("unix:{}", unit.paths.control.display());
    let output = run_with(&second, &["--no-daemon", "--control", &control]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("socket already in use"), "{stderr}");
    assert!(
        stderr.contains(&unit.paths.control.display().to_string()),
        "{stderr}"
    );
    assert!(!second.pid.exists());
    // The first one is untouched.
    assert!(unit.paths.control.exists());
    assert_eq!(unit.get("/config").status, 200);
}

#[test]
fn unwritable_paths_fail_cleanly() {
    let blocker = Paths::new("blocked");
    let file = blocker.dir.path().join("a-file");
    fs::write(&file, "not a directory").expect("creating a file");
    let under_file = file.join("x");

    // Pid file under a regular file.
    let paths = Paths::new("bad-pid");
    let output = run_with(
        &paths,
        &[
            "--no-daemon",
            "--pid",
            &under_file.join("unit.pid").display().to_string(),
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&under_file.display().to_string()),
        "{stderr}"
    );
    assert_nothing_left(&paths);

    // Log file in a missing directory.
    let paths = Paths::new("bad-log");
    let log = paths.dir.path().join("missing").join("unit.log");
    let output = run_with(
        &paths,
        &["--no-daemon", "--log", &log.display().to_string()],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("open(\"{}\") failed", log.display())),
        "{stderr}"
    );
    assert_nothing_left(&paths);

    // State directory missing.
    let paths = Paths::new("bad-state");
    fs::remove_dir(&paths.state).expect("removing the state directory");
    let output = run_with(&paths, &["--no-daemon"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("state directory \"{}\"", paths.state.display())),
        "{stderr}"
    );
    assert_eq!(
        stderr
            .lines()
            .filter(|line| line.contains("[alert]"))
            .count(),
        1,
        "{stderr}"
    );
    assert_nothing_left(&paths);
}

#[test]
fn unknown_user_is_an_error_only_under_root() {
    let paths = Paths::new("user");
    if support::is_root() {
        let output = run_with(&paths, &["--no-daemon", "--user", "no-such-user-unitd"]);
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(
                "getpwnam(\"no-such-user-unitd\") failed, user \"no-such-user-unitd\" not found"
            ),
            "{stderr}"
        );
        assert_nothing_left(&paths);
    } else {
        // Unprivileged, the user is not looked up: unitd warns and starts.
        let mut unit = TestUnit::start_with(paths, &["--user", "no-such-user-unitd"]);
        unit.signal(Signal::SIGTERM);
        let (status, stderr) = unit.wait_exit();
        assert_eq!(status.code(), Some(0));
        assert!(stderr.contains("running unprivileged"), "{stderr}");
    }
}

#[test]
fn control_mode_is_applied() {
    let unit = TestUnit::start("mode", &["--control-mode", "660"]);
    let mode = fs::metadata(&unit.paths.control)
        .map(|m| m.permissions().mode() & 0o777)
        .ok();
    assert_eq!(mode, Some(0o660));
}

#[test]
fn control_over_tcp_and_abstract_sockets() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let paths = Paths::new("tcp");
    let mut child = Command::new(UNITD)
        .arg("--no-daemon")
        .args(paths.args())
        .args(["--control", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting unitd");
    let answered = wait_until(|| {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .and_then(|mut stream| support::send_request(&mut stream, "GET", "/config", None))
            .is_ok_and(|response| response.status == 200)
    });
    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
    let status = child.wait().expect("waiting for unitd");
    assert!(
        answered,
        "the TCP control socket answers; log:\n{}",
        paths.log_text()
    );
    assert_eq!(status.code(), Some(0));

    let name = format!("unitd-test-{}", std::process::id());
    let paths = Paths::new("abstract");
    let mut child = Command::new(UNITD)
        .arg("--no-daemon")
        .args(paths.args())
        .args(["--control", &format!("unix:@{name}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting unitd");
    let answered = wait_until(|| {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
            .and_then(|address| std::os::unix::net::UnixStream::connect_addr(&address))
            .and_then(|mut stream| support::send_request(&mut stream, "GET", "/config", None))
            .is_ok_and(|response| response.status == 200)
    });
    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
    let status = child.wait().expect("waiting for unitd");
    assert!(
        answered,
        "the abstract control socket answers; log:\n{}",
        paths.log_text()
    );
    assert_eq!(status.code(), Some(0));
}

fn check_inherited(env_setup: &str, expected_line: &str) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a listener");
    let paths = Paths::new("inherit");
    // Without --no-daemon: inherited sockets keep unitd in the foreground.
    let mut child = support::start_with_fd3(&paths, &listener, env_setup, true);
    let main_pid = Pid::from_raw(child.id() as i32);
    let ready = wait_until(|| {
        try_request(&paths.control, "GET", "/config", None).is_ok_and(|r| r.status == 200)
    });
    let still_foreground = process_alive(main_pid) && child.try_wait().ok().flatten().is_none();
    let log = paths.log_text();
    let children = children_of(main_pid);
    let environs: Vec<String> = children
        .iter()
        .map(|(pid, _)| {
            String::from_utf8_lossy(&fs::read(format!("/proc/{pid}/environ")).unwrap_or_default())
                .into_owned()
        })
        .collect();
    let _ = kill(main_pid, Signal::SIGTERM);
    let status = child.wait().expect("waiting for unitd");
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use std::io::Read;
        let _ = pipe.read_to_string(&mut stderr);
    }
    assert!(ready, "unitd answers; log:\n{log}");
    assert!(still_foreground, "unitd stayed in the foreground");
    assert_eq!(status.code(), Some(0));
    let all = format!("{stderr}{log}");
    assert!(
        all.contains(expected_line),
        "expected {expected_line:?} in:\n{all}"
    );
    assert_eq!(children.len(), 2);
    for environ in environs {
        for name in ["NGINX=", "LISTEN_FDS=", "LISTEN_PID="] {
            assert!(
                !environ.split('\0').any(|entry| entry.starts_with(name)),
                "children do not see {name}"
            );
        }
    }
}

#[test]
fn nginx_inherited_sockets_are_taken() {
    check_inherited("NGINX='3;' ", "using inherited listen sockets: 3;");
}

#[test]
fn systemd_listen_fds_are_taken() {
    check_inherited(
        "LISTEN_FDS=1 LISTEN_PID=$$ ",
        "using 1 systemd listen sockets",
    );
}

#[test]
fn bad_nginx_value_is_refused() {
    let paths = Paths::new("bad-nginx");
    let output = Command::new(UNITD)
        .arg("--no-daemon")
        .args(paths.args())
        .env("NGINX", "3;abc;")
        .stdin(Stdio::null())
        .output()
        .expect("running unitd");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid socket number \"abc\" in NGINX environment variable, ignoring the rest of the variable"),
        "{stderr}"
    );
    assert_nothing_left(&paths);

    // A number that is not a socket is refused as well.
    let output = Command::new(UNITD)
        .arg("--no-daemon")
        .args(paths.args())
        .env("NGINX", "0;")
        .stdin(Stdio::null())
        .output()
        .expect("running unitd");
    assert_eq!(output.status.code(), Some(1));
    assert_nothing_left(&paths);
}
