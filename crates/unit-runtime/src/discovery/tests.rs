//! Discovery against real files: shell scripts standing in for language runners.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{
    ModuleAnswer, ModuleInfoError, discover_modules, glob_text, module_info, parse_answer,
};

/// Held by each test while it writes and runs its scripts. A script being written in
/// one test while another forks leaves a writable descriptor to it in that child until
/// the child's exec, and executing the script then fails with ETXTBSY.
static SCRIPTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A fresh directory for one test, removed when dropped; the test runs alone among
/// those of this module while it lives.
struct ModulesDir(
    PathBuf,
    #[allow(dead_code)] std::sync::MutexGuard<'static, ()>,
);

impl ModulesDir {
    fn new(name: &str) -> ModulesDir {
        let serial = SCRIPTS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let dir =
            std::env::temp_dir().join(format!("unit-discovery-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("creating the modules directory");
        ModulesDir(dir, serial)
    }

    /// Writes a shell script `name` with `body` and mode `mode`.
    fn script(&self, name: &str, body: &str, mode: u32) -> PathBuf {
        let path = self.0.join(name);
        fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("writing a script");
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
        path
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ModulesDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn every_answering_runner_is_a_module_and_the_rest_are_skipped() {
    let dir = ModulesDir::new("scan");
    dir.script("python3.9.unit", "echo python 3.9.18", 0o755);
    dir.script(
        "python3.11.unit",
        r#"[ "$1" = --module-info ] && printf 'python 3.11.2\nmore\n'"#,
        0o755,
    );
    dir.script("python3.11-copy.unit", "echo python 3.11.2", 0o755);
    dir.script("broken.unit", "exit 3", 0o755);
    dir.script("garbage.unit", "echo garbage", 0o755);
    dir.script("php.unit", "echo php 8.2.1", 0o755);
    dir.script("unreadable.unit", "echo python 3.12.0", 0o644);
    dir.script(".hidden.unit", "echo python 3.13.0", 0o755);
    dir.script("python.unit.so", "echo python 3.14.0", 0o755);
    fs::create_dir(dir.path().join("directory.unit")).expect("a directory");

    let modules = discover_modules(dir.path(), None).modules;
    let found: Vec<(String, String, PathBuf)> = modules
        .iter()
        .map(|module| {
            (
                module.module_type.clone(),
                module.version.clone(),
                module.file.clone(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            (
                "python".to_owned(),
                "3.11.2".to_owned(),
                dir.path().join("python3.11-copy.unit")
            ),
            (
                "python".to_owned(),
                "3.9.18".to_owned(),
                dir.path().join("python3.9.unit")
            ),
        ],
        "the first of two same versions by name wins, highest version first"
    );
}

#[test]
fn a_missing_directory_has_no_modules() {
    let missing = std::env::temp_dir().join("unit-discovery-no-such-directory");
    assert!(discover_modules(&missing, None).modules.is_empty());
    assert_eq!(
        glob_text(Path::new("/usr/lib/unit/modules")),
        "/usr/lib/unit/modules/*.unit"
    );
    assert_eq!(
        glob_text(Path::new("/usr/lib/unit/modules/")),
        "/usr/lib/unit/modules/*.unit"
    );
}

#[test]
fn a_runner_names_what_it_needs_mounted() {
    let dir = ModulesDir::new("mounts");
    let file = dir.script(
        "python3.unit",
        r#"printf 'python 3.11.2\nmount /usr/lib/python3.11\nmount relative/path\nnoise\nmount /lib64/ld-linux-x86-64.so.2\n'"#,
        0o755,
    );
    let answer =
        module_info(&file, None, Duration::from_secs(5)).map_err(|error| error.to_string());
    assert_eq!(
        answer,
        Ok(ModuleAnswer {
            module_type: "python".to_owned(),
            version: "3.11.2".to_owned(),
            mounts: vec![
                PathBuf::from("/usr/lib/python3.11"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ],
        })
    );
    let discovered = discover_modules(dir.path(), None);
    assert_eq!(
        discovered.language_deps.get(&file).map(Vec::len),
        Some(2),
        "{:?}",
        discovered.language_deps
    );
}

#[test]
fn a_failing_runner_says_why() {
    let dir = ModulesDir::new("failures");
    let timeout = Duration::from_secs(5);
    let check = |name: &str, body: &str, mode: u32| {
        let file = dir.script(name, body, mode);
        module_info(&file, None, timeout)
            .map(|answer| (answer.module_type, answer.version))
            .map_err(|error| error.to_string())
    };
    assert_eq!(
        check("ok.unit", "echo python 3.11.2", 0o755),
        Ok(("python".to_owned(), "3.11.2".to_owned()))
    );
    assert_eq!(
        check("code.unit", "echo python 3.11.2; exit 2", 0o755),
        Err("--module-info exited with code 2".to_owned())
    );
    assert_eq!(
        check("signal.unit", "kill -9 $$", 0o755),
        Err("--module-info exited on signal 9".to_owned())
    );
    assert_eq!(
        check("silent.unit", "true", 0o755),
        Err(r#"it answered --module-info with "", not "<type> <version>""#.to_owned())
    );
    assert_eq!(
        check("plain.unit", "echo python 3.11.2", 0o644),
        Err("it is not an executable regular file".to_owned())
    );

    let slow = dir.script("slow.unit", "exec sleep 30", 0o755);
    let started = Instant::now();
    let outcome = module_info(&slow, None, Duration::from_millis(200));
    assert!(
        matches!(outcome, Err(ModuleInfoError::Timeout(_))),
        "{outcome:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn the_answer_is_a_type_and_a_version() {
    let cases = [
        ("python 3.11.2", Some(("python", "3.11.2"))),
        ("python 3.11.2\r", Some(("python", "3.11.2"))),
        (
            "wasm-wasi-component 0.1",
            Some(("wasm-wasi-component", "0.1")),
        ),
        ("python", None),
        ("python ", None),
        (" 3.11", None),
        ("python 3.11 extra", None),
        ("python3 3.11", None),
        ("", None),
    ];
    for (line, expected) in cases {
        assert_eq!(
            parse_answer(line),
            expected.map(|(module_type, version)| (module_type.to_owned(), version.to_owned())),
            "{line:?}"
        );
    }
}
