//! Applications' `isolation` through the real binary and the Python runner: namespaces
//! of their own, a root directory with what `automount` mounts inside (in a mount
//! namespace of the process's own, and shared with main, which mounts and unmounts
//! for it), a cgroup, and the configuration's and the start's messages.
//!
//! Isolating needs root and a kernel that lets root make namespaces: without either a
//! test says on stderr that it is skipped, and why. The messages need neither.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use nix::unistd::Pid;
use serde_json::{Value, json};
use support::apps::configure_app;
use support::http::{free_port, get};
use support::python::{start_unit, write_app};
use support::{TempDir, TestUnit, is_root, mounts_under, skip, wait_until};

/// A WSGI application that tells what it sees: its pid and ids, its namespaces, its
/// host name, the root directory's entries and the processes in its `/proc`, and
/// whether the path given as the query exists.
const INSPECT_APP: &str = r#"
import json, os, socket

def application(environ, start_response):
    def namespace(name):
        try:
            return os.readlink('/proc/self/ns/' + name)
        except OSError:
            return None
    query = environ.get('QUERY_STRING', '')
    try:
        pids = sorted(int(name) for name in os.listdir('/proc') if name.isdigit())
    except OSError:
        pids = None
    body = json.dumps({
        'pid': os.getpid(),
        'uid': os.getuid(),
        'hostname': socket.gethostname(),
        'namespaces': {name: namespace(name)
                       for name in ('pid', 'mnt', 'uts', 'net', 'user', 'cgroup')},
        'root': sorted(os.listdir('/')),
        'pids': pids,
        'cwd': os.getcwd(),
        'exists': os.path.exists(query) if query else None,
    }).encode()
    start_response('200 OK', [('Content-Type', 'application/json'),
                              ('Content-Length', str(len(body)))])
    return [body]
"#;

/// Whether this test may isolate; says why not when it may not.
fn privileged(test: &str) -> bool {
    if !is_root() {
        skip(test, "isolating an application needs root");
        return false;
    }
    true
}

/// unitd with the runner, when this test may isolate and the runner was built.
fn start_privileged(test: &str) -> Option<TestUnit> {
    if !privileged(test) {
        return None;
    }
    start_unit(test)
}

/// A Python application running [`INSPECT_APP`] from `dir`, as the application's
/// processes see that directory (`seen_as`), with `isolation`, started on demand.
fn inspect_app(dir: &Path, seen_as: &Path, isolation: Value) -> Value {
    write_app(dir, "", &[("wsgi.py", INSPECT_APP)]);
    json!({
        "type": "python",
        "processes": {"spare": 0},
        "path": seen_as.display().to_string(),
        "working_directory": seen_as.display().to_string(),
        "module": "wsgi",
        "isolation": isolation,
    })
}

/// What the application says about itself at `path`; `None` (after saying so) when
/// the kernel refused the namespaces it asked for.
fn inspect(unit: &TestUnit, test: &str, port: u16, path: &str) -> Option<Value> {
    let reply = get(port, path);
    if reply.status != 200 {
        let log = unit.log_text();
        if log.contains("clone(") {
            skip(test, &format!("the kernel refused the namespaces: {log}"));
            return None;
        }
        panic!("{} {}\n{log}", reply.status, reply.text());
    }
    Some(serde_json::from_str(&reply.text()).expect("the application's JSON"))
}

/// The namespace this test process is in, as `/proc/self/ns/<name>` names it.
fn own_namespace(name: &str) -> String {
    fs::read_link(format!("/proc/self/ns/{name}"))
        .map(|link| link.display().to_string())
        .unwrap_or_default()
}

/// The pid of the application process titled as Unit titles `app`'s.
fn application_pid(unit: &TestUnit, app: &str) -> Pid {
    unit.child_titled(&format!("unit: \"{app}\" application"))
}

#[test]
fn a_process_gets_namespaces_of_its_own() {
    const TEST: &str = "isolation_namespaces";
    let Some(unit) = start_privileged(TEST) else {
        return;
    };
    let app_dir = unit.paths.dir.path().join("app");
    let isolation = json!({
        "namespaces": {"pid": true, "mount": true, "uname": true, "network": true, "credential": true}
    });
    let port = configure_app(&unit, inspect_app(&app_dir, &app_dir, isolation));
    let Some(seen) = inspect(&unit, TEST, port, "/") else {
        return;
    };
    // Process 1 of its PID namespace, as the user it runs as (nobody) mapped to itself.
    assert_eq!(seen["pid"], 1, "{seen}");
    assert_eq!(seen["uid"], 65534, "{seen}");
    for name in ["pid", "mnt", "uts", "net", "user"] {
        assert_ne!(
            seen["namespaces"][name].as_str(),
            Some(own_namespace(name).as_str()),
            "{name}: {seen}"
        );
    }
    assert_eq!(
        seen["namespaces"]["cgroup"].as_str(),
        Some(own_namespace("cgroup").as_str()),
        "cgroup was not asked for: {seen}"
    );
    // A UTS namespace starts with the host's name; Unit sets none.
    let hostname = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    assert_eq!(seen["hostname"], hostname.trim(), "{seen}");
    assert_eq!(seen["cwd"], app_dir.display().to_string());
    // Main sees it under its own pid, with the map main wrote.
    let pid = application_pid(&unit, "app");
    let uid_map = fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap_or_default();
    assert_eq!(
        uid_map.split_whitespace().collect::<Vec<_>>(),
        ["65534", "65534", "1"]
    );
}

#[test]
fn a_root_directory_in_a_mount_namespace_shows_only_itself() {
    const TEST: &str = "isolation_rootfs_ns";
    let Some(unit) = start_privileged(TEST) else {
        return;
    };
    let rootfs = TempDir::new("rootfs-ns");
    let isolation = json!({
        "rootfs": rootfs.path().display().to_string(),
        "namespaces": {"mount": true, "pid": true},
    });
    let app = inspect_app(&rootfs.path().join("app"), Path::new("/app"), isolation);
    let port = configure_app(&unit, app);
    let Some(seen) = inspect(&unit, TEST, port, "/?/proc/self") else {
        return;
    };
    assert_eq!(seen["cwd"], "/app", "{seen}");
    assert_eq!(seen["exists"], true, "/proc is mounted: {seen}");
    // Only this process in its /proc, the one of its own PID namespace.
    assert_eq!(seen["pids"], json!([1]), "{seen}");
    let root: Vec<&str> = seen["root"]
        .as_array()
        .map(|entries| entries.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for entry in ["app", "proc", "tmp", "usr"] {
        assert!(root.contains(&entry), "{entry} in {root:?}");
    }
    for entry in ["etc", "home", "root", "sys", "dev"] {
        assert!(!root.contains(&entry), "{entry} in {root:?}");
    }
    let log = unit.paths.log.display().to_string();
    let Some(seen) = inspect(&unit, TEST, port, &format!("/?{log}")) else {
        return;
    };
    assert_eq!(seen["exists"], false, "the host's files are out of sight");
    // Nothing of it is mounted where main is.
    assert_eq!(mounts_under(rootfs.path()), Vec::<PathBuf>::new());
}

#[test]
fn a_root_directory_shared_with_main_gets_its_automounts() {
    const TEST: &str = "isolation_rootfs_chroot";
    let Some(unit) = start_privileged(TEST) else {
        return;
    };
    let rootfs = TempDir::new("rootfs-chroot");
    let app = |procfs: bool| {
        let isolation = json!({
            "rootfs": rootfs.path().display().to_string(),
            "automount": {"procfs": procfs},
        });
        inspect_app(&rootfs.path().join("app"), Path::new("/app"), isolation)
    };
    let port = configure_app(&unit, app(false));
    let Some(seen) = inspect(&unit, TEST, port, "/?/proc/self") else {
        return;
    };
    assert_eq!(seen["exists"], false, "procfs is off: {seen}");
    // Main mounted the runner's dependencies and /tmp where the host sees them, as
    // Unit does without a mount namespace, and no /proc.
    let mounts = mounts_under(rootfs.path());
    assert!(mounts.contains(&rootfs.path().join("tmp")), "{mounts:?}");
    assert!(
        mounts
            .iter()
            .any(|mount| mount.starts_with(rootfs.path().join("usr"))),
        "{mounts:?}"
    );
    assert!(!mounts.contains(&rootfs.path().join("proc")), "{mounts:?}");
    let response = unit.put("/config/applications/app", &app(true).to_string());
    assert_eq!(response.status, 200, "{}", response.body);
    let Some(seen) = inspect(&unit, TEST, port, "/?/proc/self") else {
        return;
    };
    assert_eq!(seen["exists"], true, "procfs is on: {seen}");
    assert!(mounts_under(rootfs.path()).contains(&rootfs.path().join("proc")));
    // When the application goes, so do the mounts made for it.
    let response = unit.put("/config", r#"{"listeners": {}, "applications": {}}"#);
    assert_eq!(response.status, 200, "{}", response.body);
    assert!(
        wait_until(|| mounts_under(rootfs.path()).is_empty()),
        "{:?}",
        mounts_under(rootfs.path())
    );
}

#[test]
fn main_unmounts_what_it_mounted_when_it_exits() {
    const TEST: &str = "isolation_rootfs_exit";
    let Some(unit) = start_privileged(TEST) else {
        return;
    };
    let rootfs = TempDir::new("rootfs-exit");
    let isolation = json!({"rootfs": rootfs.path().display().to_string()});
    let app = inspect_app(&rootfs.path().join("app"), Path::new("/app"), isolation);
    let port = configure_app(&unit, app);
    if inspect(&unit, TEST, port, "/").is_none() {
        return;
    }
    assert!(!mounts_under(rootfs.path()).is_empty());
    // A graceful stop: SIGTERM, and main exits 0 once its children are gone.
    let _paths = unit.stop();
    assert_eq!(mounts_under(rootfs.path()), Vec::<PathBuf>::new());
}

/// Where the cgroup v2 hierarchy is mounted, if it is.
fn cgroup2_root() -> Option<PathBuf> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
    mountinfo.lines().find_map(|line| {
        let (mount, filesystem) = line.split_once(" - ")?;
        (filesystem.split(' ').next() == Some("cgroup2"))
            .then(|| mount.split(' ').nth(4).map(PathBuf::from))
            .flatten()
    })
}

/// A process's cgroup v2 path (its `0::` line).
fn cgroup_of(pid: Pid) -> String {
    fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_process_is_put_in_its_cgroup() {
    const TEST: &str = "isolation_cgroup";
    if !privileged(TEST) {
        return;
    }
    let Some(root) = cgroup2_root() else {
        skip(TEST, "no cgroup v2 hierarchy is mounted");
        return;
    };
    let Some(unit) = start_unit(TEST) else {
        return;
    };
    let app_dir = unit.paths.dir.path().join("app");
    let name = format!("unitd-test-{}", std::process::id());
    for (path, directory) in [
        // Relative: under main's own cgroup, which is this test's.
        (
            format!("{name}/relative"),
            root.join(cgroup_of(Pid::this()).trim_start_matches('/'))
                .join(&name)
                .join("relative"),
        ),
        (
            format!("/{name}/absolute"),
            root.join(&name).join("absolute"),
        ),
    ] {
        let mut app = inspect_app(&app_dir, &app_dir, json!({"cgroup": {"path": path}}));
        app["processes"] = json!(1);
        configure_app(&unit, app);
        let pid = application_pid(&unit, "app");
        let procs = fs::read_to_string(directory.join("cgroup.procs")).unwrap_or_default();
        assert!(
            procs.lines().any(|line| line == pid.to_string()),
            "{pid} in {}: {procs:?}\n{}",
            directory.display(),
            unit.log_text()
        );
        assert!(
            cgroup_of(pid).ends_with(path.trim_start_matches('/')),
            "{}",
            cgroup_of(pid)
        );
        // The directories go with the last process in them.
        let response = unit.put("/config", r#"{"listeners": {}, "applications": {}}"#);
        assert_eq!(response.status, 200, "{}", response.body);
        assert!(
            wait_until(|| !directory.exists()),
            "{} is left",
            directory.display()
        );
        let made = directory
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        assert!(wait_until(|| !made.exists()), "{} is left", made.display());
    }
}

#[test]
fn isolation_is_checked_with_unit_s_messages() {
    let unit = TestUnit::start("isolation_messages", &[]);
    let refused = |isolation: Value, message: &str| {
        let conf = json!({
            "applications": {
                "app": {"type": "external", "executable": "/bin/true", "isolation": isolation}
            }
        });
        let response = unit.put("/config", &conf.to_string());
        assert_eq!(response.status, 400, "{}", response.body);
        assert_eq!(response.json()["detail"], message, "{}", response.body);
    };
    refused(
        json!({"cgroup": {"path": ""}}),
        r#"The cgroup path "" is invalid."#,
    );
    refused(
        json!({"cgroup": {"path": "../scope"}}),
        r#"The cgroup path "../scope" is invalid."#,
    );
    refused(
        json!({"cgroup": {"path": "scope/../python"}}),
        r#"The cgroup path "scope/../python" is invalid."#,
    );
    refused(
        json!({"cgroup": {}}),
        r#"Required parameter "path" is missing."#,
    );
    refused(
        json!({"namespaces": {"ipc": true}}),
        r#"Unknown parameter "ipc"."#,
    );
    refused(
        json!({"uidmap": [{"container": 0, "host": 0}]}),
        r#"Required parameter "size" is missing."#,
    );
    refused(
        json!({"gidmap": [0]}),
        r#"The "gidmap" array must contain only object values."#,
    );
    refused(
        json!({"automount": {"procfs": "yes"}}),
        r#"The "procfs" value must be a boolean, but not a string."#,
    );
}

#[test]
fn a_start_that_cannot_be_isolated_says_why() {
    let unit = TestUnit::start("isolation_start_errors", &[]);
    let port = free_port();
    let failed = |isolation: Value, message: &str| {
        let conf = json!({
            "listeners": {format!("127.0.0.1:{port}"): {"pass": "applications/app"}},
            "applications": {
                "app": {"type": "external", "executable": "/bin/true", "isolation": isolation}
            }
        });
        let response = unit.put("/config", &conf.to_string());
        assert_eq!(response.status, 500, "{}", response.body);
        assert!(
            unit.wait_for_log(message, 1),
            "{message} in\n{}",
            unit.log_text()
        );
    };
    failed(
        json!({"rootfs": "relative/root"}),
        r#"rootfs requires an absolute path other than "/" but given "relative/root""#,
    );
    failed(
        json!({"uidmap": [{"container": 0, "host": 0, "size": 1}]}),
        r#""uidmap" is set but "isolation.namespaces.credential" is false or unset"#,
    );
}
