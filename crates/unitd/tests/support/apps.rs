//! The example applications of `examples/`, ready for a test: the Rust one built once per
//! test binary with rustc, each copied where an unprivileged process can run it.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Value, json};

use super::TestUnit;
use super::http::free_port;

/// The workspace's `examples/` directory.
fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// The Rust example built once for this test binary.
fn built_rust_example() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let output_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        fs::create_dir_all(&output_dir).expect("the target's temporary directory");
        // Built under a name of its own, then renamed: test binaries build it at once.
        let building = output_dir.join(format!("hello-app.{}", std::process::id()));
        let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        let status = Command::new(rustc)
            .args(["--edition", "2021", "-O", "-o"])
            .arg(&building)
            .arg(examples_dir().join("hello.rs"))
            .status()
            .expect("running rustc");
        assert!(status.success(), "building examples/hello.rs failed");
        let built = output_dir.join("hello-app");
        fs::rename(&building, &built).expect("renaming the built example");
        built
    })
}

/// Copies `from` into `dir` as `name`, readable and executable by anyone.
fn install(from: &Path, dir: &Path, name: &str) -> PathBuf {
    let to = dir.join(name);
    fs::copy(from, &to).expect("copying an example");
    fs::set_permissions(&to, fs::Permissions::from_mode(0o755)).expect("chmod an example");
    to
}

/// The Rust example (`examples/hello.rs`), installed in `dir`.
pub(crate) fn rust_example(dir: &Path) -> PathBuf {
    install(built_rust_example(), dir, "hello-app")
}

/// The Python example (`examples/hello.py`), installed in `dir`.
pub(crate) fn python_example(dir: &Path) -> PathBuf {
    install(&examples_dir().join("hello.py"), dir, "hello.py")
}

/// Configures one listener passing to application `app`, configured as `application`;
/// the listener's port.
pub(crate) fn configure_app(unit: &TestUnit, application: Value) -> u16 {
    let port = free_port();
    let conf = json!({
        "listeners": {format!("127.0.0.1:{port}"): {"pass": "applications/app"}},
        "applications": {"app": application},
    });
    let response = unit.put("/config", &conf.to_string());
    assert_eq!(
        response.status,
        200,
        "{}\n{}",
        response.body,
        unit.log_text()
    );
    port
}
