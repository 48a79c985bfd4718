//! The running daemon: start-up, titles, children, restarts, signals and files
//! (UNIT-COMPAT 1.4-1.6, 5, 6).

mod support;

use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use support::{TestUnit, proc_status_field, process_alive, wait_until};

const VERSION: &str = env!("CARGO_PKG_VERSION");

#[test]
fn fresh_start_serves_the_empty_configuration() {
    let unit = TestUnit::start("fresh", &[]);
    let response = unit.get("/config");
    assert_eq!(response.status, 200);
    assert_eq!(
        response.body,
        "{\r\n\t\"listeners\": {},\r\n\t\"applications\": {}\r\n}\r\n"
    );
    assert_eq!(
        response.header("Content-Type").as_deref(),
        Some("application/json")
    );
    assert_eq!(response.header("Server"), Some(format!("Unit/{VERSION}")));
    assert_eq!(response.header("Connection").as_deref(), Some("close"));
    assert!(
        response
            .header("Date")
            .is_some_and(|date| date.ends_with(" GMT"))
    );

    let pid_text = fs::read_to_string(&unit.paths.pid).expect("pid file");
    assert_eq!(pid_text, format!("{}\n", unit.main_pid));
    let pid_mode = fs::metadata(&unit.paths.pid)
        .map(|m| m.permissions().mode() & 0o777)
        .ok();
    assert_eq!(pid_mode, Some(0o644));

    let socket = fs::metadata(&unit.paths.control).expect("control socket");
    assert!(socket.file_type().is_socket());
    assert_eq!(socket.permissions().mode() & 0o777, 0o600);
    let log_mode = fs::metadata(&unit.paths.log)
        .map(|m| m.permissions().mode() & 0o777)
        .ok();
    assert_eq!(log_mode, Some(0o600));
    for subdir in ["certs", "scripts"] {
        let mode = fs::metadata(unit.paths.state.join(subdir))
            .map(|m| m.permissions().mode() & 0o777)
            .ok();
        assert_eq!(mode, Some(0o700), "{subdir}");
    }
    assert!(unit.wait_for_log("[info]", 1));
    assert!(unit.wait_for_log("controller started", 1));
    assert!(unit.wait_for_log("router started", 1));
}

#[test]
fn started_line_goes_to_the_original_stderr() {
    let mut unit = TestUnit::start("stderr", &[]);
    unit.signal(Signal::SIGTERM);
    let (status, stderr) = unit.wait_exit();
    assert_eq!(status.code(), Some(0));
    let started = format!("unit {VERSION} started");
    assert!(stderr.contains(&started), "stderr: {stderr:?}");
    assert!(stderr.contains("[info]"), "stderr: {stderr:?}");
    assert!(
        !unit.log_text().contains(&started),
        "the started line must not reach the log file"
    );
}

#[test]
fn titles_and_exactly_two_children() {
    let unit = TestUnit::start("titles", &[]);
    let main_title = support::cmdline(unit.main_pid);
    assert!(
        main_title.starts_with(&format!(
            "unit: main v{VERSION} [{} --no-daemon --control unix:",
            support::UNITD
        )),
        "main title: {main_title:?}"
    );
    assert!(main_title.ends_with(']'), "main title: {main_title:?}");
    unit.child_titled("unit: controller");
    unit.child_titled("unit: router");
    let mut titles: Vec<String> = unit
        .children()
        .into_iter()
        .map(|(_, title)| title)
        .collect();
    titles.sort();
    assert_eq!(titles, vec!["unit: controller", "unit: router"]);
}

#[test]
fn privileges_follow_the_invoking_user() {
    let unit = TestUnit::start("privileges", &[]);
    let router = unit.child_titled("unit: router");
    let controller = unit.child_titled("unit: controller");
    let uid_of = |pid: Pid| proc_status_field(pid, "Uid").unwrap_or_default();
    if support::is_root() {
        let nobody = nix::unistd::User::from_name("nobody")
            .ok()
            .flatten()
            .expect("user nobody");
        for child in [router, controller] {
            let effective = uid_of(child).split_whitespace().nth(1).map(str::to_owned);
            assert_eq!(
                effective,
                Some(nobody.uid.to_string()),
                "child {child} runs as nobody"
            );
        }
        assert!(!unit.log_text().contains("running unprivileged"));
    } else {
        assert_eq!(uid_of(router), uid_of(unit.main_pid));
        // The warning comes before the log file is opened: it is on the original stderr.
        let mut unit = unit;
        unit.signal(Signal::SIGTERM);
        let (_, stderr) = unit.wait_exit();
        assert!(
            stderr.contains("[warn]")
                && stderr.contains(
                    "Unit is running unprivileged, then it cannot use arbitrary user and group."
                ),
            "{stderr}"
        );
    }
}

fn restart_after_kill(title: &str) {
    let unit = TestUnit::start("restart", &[]);
    let victim = unit.child_titled(title);
    kill(victim, Signal::SIGKILL).expect("kill -9");
    assert!(
        unit.wait_for_log(&format!("process {victim} exited on signal 9"), 1),
        "the death is logged as Unit does"
    );
    assert!(unit.log_text().contains("[alert]"));
    let found = wait_until(|| {
        unit.children()
            .iter()
            .any(|(pid, cmdline)| cmdline == title && *pid != victim)
    });
    assert!(found, "a new {title} was started");
    assert!(process_alive(unit.main_pid), "main survives");
    assert_eq!(unit.children().len(), 2);
    unit.wait_ready();
    assert_eq!(unit.get("/config").status, 200);
}

#[test]
fn killed_router_is_restarted() {
    restart_after_kill("unit: router");
}

#[test]
fn killed_controller_is_restarted() {
    restart_after_kill("unit: controller");
}

fn quit_on(signal: Signal) {
    let mut unit = TestUnit::start("quit", &[]);
    let children: Vec<Pid> = unit.children().into_iter().map(|(pid, _)| pid).collect();
    assert_eq!(children.len(), 2);
    unit.signal(signal);
    let (status, _) = unit.wait_exit();
    assert_eq!(status.code(), Some(0), "exit status after {signal}");
    for child in children {
        assert!(
            wait_until(|| !process_alive(child)),
            "child {child} is gone"
        );
    }
    assert!(!unit.paths.pid.exists(), "pid file removed");
    assert!(!unit.paths.control.exists(), "control socket removed");
}

#[test]
fn sigquit_stops_everything_and_cleans_up() {
    quit_on(Signal::SIGQUIT);
}

#[test]
fn sigterm_stops_everything_and_cleans_up() {
    quit_on(Signal::SIGTERM);
}

#[test]
fn sigint_stops_everything_and_cleans_up() {
    quit_on(Signal::SIGINT);
}

#[test]
fn sighup_is_ignored() {
    let unit = TestUnit::start("sighup", &[]);
    unit.signal(Signal::SIGHUP);
    assert!(unit.wait_for_log("signal 1 (SIGHUP) received, ignored", 1));
    unit.signal(Signal::SIGUSR2);
    assert!(unit.wait_for_log("signal 12 (SIGUSR2) received, ignored", 1));
    assert_eq!(unit.get("/config").status, 200);
}

#[test]
fn sigusr1_reopens_a_renamed_log() {
    let unit = TestUnit::start("usr1", &[]);
    let rotated = unit.paths.dir.path().join("unit.log.1");
    fs::rename(&unit.paths.log, &rotated).expect("rotating the log");
    unit.signal(Signal::SIGUSR1);
    assert!(
        wait_until(|| unit.paths.log.exists()),
        "a new log file is created"
    );
    assert!(
        wait_until(|| fs::read_to_string(&rotated)
            .unwrap_or_default()
            .contains("signal 10 (SIGUSR1) received, log files rotation")),
        "the rotation notice goes to the old file before the switch"
    );
    // Children write to the new file too: a restarted router logs there.
    let router = unit.child_titled("unit: router");
    kill(router, Signal::SIGKILL).expect("kill -9 router");
    assert!(unit.wait_for_log(&format!("process {router} exited on signal 9"), 1));
    assert!(
        unit.wait_for_log("router started", 1),
        "the new router logs into the new file"
    );
    let mode = fs::metadata(&unit.paths.log)
        .map(|m| m.permissions().mode() & 0o777)
        .ok();
    assert_eq!(mode, Some(0o600));
}

#[test]
fn children_stderr_follows_the_reopened_log() {
    let unit = TestUnit::start("usr1-children", &[]);
    let rotated = unit.paths.dir.path().join("old.log");
    fs::rename(&unit.paths.log, &rotated).expect("rotating the log");
    unit.signal(Signal::SIGUSR1);
    assert!(wait_until(|| unit.paths.log.exists()));
    for title in ["unit: controller", "unit: router"] {
        let child = unit.child_titled(title);
        let follows = wait_until(|| {
            fs::read_link(format!("/proc/{child}/fd/2")).ok().as_deref()
                == Some(unit.paths.log.as_path())
        });
        assert!(follows, "{title}'s stderr is the new log file");
    }
}
