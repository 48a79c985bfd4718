//! The Python runner for a test: the `unit-python` executable cargo built beside
//! unitd, installed as a module in a directory of the test's, and applications written
//! where an unprivileged process can read them.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::{Paths, TestUnit};

/// The runner cargo built next to the unitd under test, if it did.
pub(crate) fn runner() -> Option<PathBuf> {
    let unitd = Path::new(env!("CARGO_BIN_EXE_unitd"));
    let runner = unitd.with_file_name("unit-python");
    runner.is_file().then_some(runner)
}

/// unitd with the runner in its modules directory; `None` (and a line on stderr) when
/// the runner was not built, which happens only on a machine without a Python that
/// has its shared library.
pub(crate) fn start_unit(test: &str) -> Option<TestUnit> {
    let Some(runner) = runner() else {
        super::skip(
            test,
            "unit-python was not built (no Python with a shared library)",
        );
        return None;
    };
    let paths = Paths::new(test);
    let modules = paths.dir.path().join("modules");
    fs::create_dir_all(&modules).expect("the modules directory");
    fs::set_permissions(&modules, fs::Permissions::from_mode(0o755)).expect("chmod modules");
    let module = modules.join("python3.unit");
    fs::copy(&runner, &module).expect("copying the runner");
    fs::set_permissions(&module, fs::Permissions::from_mode(0o755)).expect("chmod runner");
    let modules = modules.display().to_string();
    Some(TestUnit::start_with(paths, &["--modulesdir", &modules]))
}

/// Writes `files` (relative name, contents) under `dir/name`, readable by anyone; the
/// application directory.
pub(crate) fn write_app(dir: &Path, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let app_dir = dir.join(name);
    for (relative, contents) in files {
        let path = app_dir.join(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("the application's directory");
        }
        fs::write(&path, contents).expect("writing an application file");
    }
    make_public(&app_dir);
    app_dir
}

/// Makes everything under `dir` readable (and directories searchable) by anyone.
fn make_public(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o755));
    for entry in entries.flatten() {
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        // A symbolic link is left alone: changing its mode would change its target's.
        if file_type.is_dir() {
            make_public(&entry.path());
        } else if file_type.is_file() {
            let _ = fs::set_permissions(entry.path(), fs::Permissions::from_mode(0o644));
        }
    }
}
