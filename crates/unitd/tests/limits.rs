//! unitd's descriptor limits: raised to the hard limit at start, and exhausted by a
//! flood of connections.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;
use support::http::{free_port, read_reply};
use support::{Paths, TestUnit, skip, wait_until};

/// Whether prlimit (util-linux), which starts unitd under chosen limits, is installed.
fn has_prlimit() -> bool {
    std::process::Command::new("prlimit")
        .arg("--version")
        .output()
        .is_ok()
}

/// The soft limit on open files in a `/proc/<pid>/limits` text.
fn soft_open_files(limits: &str) -> Option<u64> {
    limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[test]
fn main_raises_the_soft_descriptor_limit_to_the_hard_one() {
    if !has_prlimit() {
        return skip(
            "raises_the_descriptor_limit",
            "prlimit (util-linux) is not installed",
        );
    }
    let (_, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .expect("getrlimit");
    if hard < 1024 {
        return skip(
            "raises_the_descriptor_limit",
            "the hard descriptor limit is below 1024",
        );
    }
    let unit = TestUnit::start_through(
        Paths::new("nofile"),
        &["prlimit", "--nofile=256:1024", "--"],
        &[],
        &[],
    );
    for pid in [unit.main_pid, unit.child_titled("unit: router")] {
        let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
        assert_eq!(soft_open_files(&limits), Some(1024), "{limits}");
    }
}

/// The descriptor limit unitd runs under: enough for its processes to start, few
/// enough for a test to exhaust.
const NOFILE: &str = "--nofile=96:96";

#[test]
fn running_out_of_descriptors_pauses_accepting_and_recovers() {
    if !has_prlimit() {
        return skip(
            "running_out_of_descriptors",
            "prlimit (util-linux) is not installed",
        );
    }
    let unit = TestUnit::start_through(Paths::new("emfile"), &["prlimit", NOFILE, "--"], &[], &[]);
    let port = free_port();
    let conf = json!({
        "listeners": {format!("127.0.0.1:{port}"): {"pass": "routes"}},
        "routes": [{"action": {"return": 200}}],
        "settings": {"listen_threads": 1}
    });
    assert_eq!(unit.put("/config", &conf.to_string()).status, 200);
    let request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut first = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    first
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    first.write_all(request).expect("send");
    assert_eq!(read_reply(&mut first, false).expect("served").status, 200);
    // More connections than the router has descriptors for: the kernel completes them
    // all, the router accepts what it can.
    let flood: Vec<TcpStream> = (0..150)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).expect("connect"))
        .collect();
    let log_line = "accepting pauses";
    assert!(
        wait_until(|| unit.log_text().contains(log_line)),
        "{}",
        unit.log_text()
    );
    // The connection it has is still served while the rest wait.
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(1500));
    first.write_all(request).expect("send");
    assert_eq!(
        read_reply(&mut first, false).expect("still served").status,
        200
    );
    let logged = unit.log_text().matches(log_line).count();
    let seconds = started.elapsed().as_secs() as usize + 2;
    assert!(
        logged <= seconds,
        "logged {logged} times in about {seconds} s: it must not spin"
    );
    // Once descriptors are free, the connections that waited are served too.
    drop(flood);
    let mut late = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    late.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    late.write_all(request).expect("send");
    assert_eq!(
        read_reply(&mut late, false).expect("served again").status,
        200
    );
    // The control API answered throughout, and nothing died.
    assert_eq!(unit.get("/config").status, 200);
}
