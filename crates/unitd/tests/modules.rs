//! Language modules through the real binary (UNIT-COMPAT 3.6, 4, 5): main runs each
//! `*.unit` runner in `--modulesdir` with `--module-info` and logs what it found, the
//! controller accepts applications of the types found and refuses others with Unit's
//! message, `/status` lists the modules, and the router starts a Python application's
//! process as its runner, telling it the application in `UNITD_PYTHON_APP`.
//!
//! The runner here is a shell script that answers `--module-info` as a Python runner
//! would and, started as an application, writes down what it was told and waits.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use support::{Paths, TestUnit, wait_until};

/// Writes the stand-in Python runner into a fresh `modules` directory of `paths`; its
/// path. Both are readable and executable by everyone, since a root unitd runs it as
/// `--user`. Started as an application, it copies `UNITD_PYTHON_APP` to `told_path`.
fn write_runner(paths: &Paths, told_path: &Path) -> PathBuf {
    let modules = paths.dir.path().join("modules");
    fs::create_dir(&modules).expect("creating the modules directory");
    fs::set_permissions(&modules, fs::Permissions::from_mode(0o755)).expect("chmod");
    let runner = modules.join("python3.11.unit");
    let script = format!(
        "#!/bin/sh\n\
         if [ \"$1\" = --module-info ]; then echo 'python 3.11.2'; exit 0; fi\n\
         printf '%s' \"$UNITD_PYTHON_APP\" > '{}'\n\
         echo \"ready 1\" >&\"$UNITD_READY_FD\"\n\
         exec sleep 600 4>&-\n",
        told_path.display()
    );
    fs::write(&runner, script).expect("writing the runner");
    fs::set_permissions(&runner, fs::Permissions::from_mode(0o755)).expect("chmod");
    runner
}

fn put_conf(unit: &TestUnit, conf: &Value) -> support::Response {
    unit.put("/config", &conf.to_string())
}

#[test]
fn a_discovered_python_module_runs_python_applications() {
    let paths = Paths::new("modules");
    // Somewhere the runner, as whatever user it runs as, may write.
    let told_dir = paths.dir.path().join("told");
    fs::create_dir(&told_dir).expect("creating the runner's output directory");
    fs::set_permissions(&told_dir, fs::Permissions::from_mode(0o777)).expect("chmod");
    let told_path = told_dir.join("app.json");
    let runner = write_runner(&paths, &told_path);
    let modulesdir = runner
        .parent()
        .map(|dir| dir.display().to_string())
        .expect("the runner's directory");
    let unit = TestUnit::start_with(paths, &["--modulesdir", &modulesdir]);

    let module_line = format!("module: python 3.11.2 \"{}\"", runner.display());
    let log = unit.log_text();
    let line = log
        .lines()
        .find(|line| line.contains("module: "))
        .unwrap_or_else(|| panic!("no module line in the log:\n{log}"));
    assert!(line.contains("[notice]"), "{line}");
    assert!(line.ends_with(&module_line), "{line}");
    assert!(!log.contains("no modules matching"), "{log}");

    let status = unit.get("/status/modules");
    assert_eq!(status.status, 200, "{}", status.body);
    assert_eq!(
        status.json(),
        json!({"python": {"version": "3.11.2", "lib": runner.display().to_string()}})
    );

    let application = json!({"type": "python 3.11", "path": "/tmp", "module": "wsgi"});
    let accepted = put_conf(
        &unit,
        &json!({"listeners": {}, "applications": {"app": application}}),
    );
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    // The router asked for a process: the runner, told which application it runs.
    assert!(
        wait_until(|| fs::metadata(&told_path).is_ok_and(|metadata| metadata.len() > 0)),
        "the runner was not started as the application; log:\n{}",
        unit.log_text()
    );
    let told: Value = serde_json::from_str(
        &fs::read_to_string(&told_path).expect("reading what the runner was told"),
    )
    .expect("UNITD_PYTHON_APP is JSON");
    assert_eq!(told, json!({"name": "app", "application": application}));

    let refused = put_conf(
        &unit,
        &json!({"applications": {"app": {"type": "python 4"}}}),
    );
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(
        refused.json()["detail"],
        r#"The module to run "python 4" is not found among the available application modules."#
    );

    let targets = put_conf(
        &unit,
        &json!({
            "listeners": {},
            "routes": [{"action": {"pass": "applications/app/admin"}}],
            "applications": {"app": {
                "type": "python3",
                "processes": {"spare": 0},
                "targets": {"admin": {"module": "admin.wsgi", "prefix": "/admin"}},
            }},
        }),
    );
    assert_eq!(targets.status, 200, "{}", targets.body);
    let missing_target = put_conf(
        &unit,
        &json!({
            "listeners": {},
            "routes": [{"action": {"pass": "applications/app/site"}}],
            "applications": {"app": {
                "type": "python3",
                "targets": {"admin": {"module": "admin.wsgi"}},
            }},
        }),
    );
    assert_eq!(missing_target.status, 400, "{}", missing_target.body);
    assert_eq!(
        missing_target.json()["detail"],
        r#"Request "pass" points to invalid location "applications/app/site"."#
    );
}

#[test]
fn an_empty_modules_directory_has_no_modules() {
    let paths = Paths::new("no-modules");
    let modulesdir = paths.dir.path().join("modules");
    fs::create_dir(&modulesdir).expect("creating the modules directory");
    let modulesdir = modulesdir.display().to_string();
    let unit = TestUnit::start_with(paths, &["--modulesdir", &modulesdir]);
    let log = unit.log_text();
    let expected = format!("no modules matching: \"{modulesdir}/*.unit\" found");
    assert!(
        log.lines()
            .any(|line| line.contains("[notice]") && line.ends_with(&expected)),
        "{log}"
    );
    assert_eq!(unit.get("/status/modules").json(), json!({}));
    let refused = put_conf(
        &unit,
        &json!({"applications": {"app": {"type": "python", "module": "wsgi"}}}),
    );
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(
        refused.json()["detail"],
        r#"The module to run "python" is not found among the available application modules."#
    );
}
