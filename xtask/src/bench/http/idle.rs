//! `cargo xtask bench idle`: many idle keep-alive connections held by a release unitd.
//!
//! unitd serves `return 200` with a short `settings.http.idle_timeout`. The task opens N
//! connections, each making one request so that it is a real keep-alive connection
//! waiting for its next request, and reads the router's VmRSS before and after: the
//! difference over N is the memory one idle connection holds. Meanwhile wrk, with a few
//! connections of its own, measures the latency of active clients, once before the idle
//! connections open and once while they are held. Then the task waits past the idle
//! timeout and counts the idle connections the server has closed.
//!
//! The descriptor limit of this process is raised to its hard limit (through `prlimit`,
//! since this crate makes no system calls of its own); unitd's main raises its own.
//! Like the other suites, the run is a measurement: missed targets are reported, not
//! errors.

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;

use super::servers::{Server, WorkDir, free_ports};
use super::{procfs, tools, wrk};

/// The router's resident memory per idle connection the project aims for, in bytes.
const TARGET_BYTES_PER_CONNECTION: f64 = 4096.0;
/// The p99 latency of an active client the project aims for while the idle ones are held.
const TARGET_P99_MS: f64 = 10.0;
/// Connections of the active wrk client: a few users, not a saturating load.
const ACTIVE_CONNECTIONS: u32 = 4;
/// Seconds each wrk run lasts.
const ACTIVE_SECONDS: u64 = 3;
/// Descriptors this process needs beyond the idle connections (wrk, files, the server).
const SPARE_DESCRIPTORS: u64 = 256;
/// How long past the idle timeout the server may take to close every idle connection.
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// The request each idle connection makes before it falls idle.
const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// Arguments of `cargo xtask bench idle`.
#[derive(Args)]
pub(in crate::bench) struct IdleArgs {
    /// Idle keep-alive connections to hold.
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    connections: u64,
    /// unitd's `settings.http.idle_timeout`, in seconds: long enough for the connections to
    /// open and wrk to run before it passes.
    #[arg(long, value_name = "SECONDS", default_value_t = 12, value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout: u64,
    /// Keep the temporary work directory (configuration, logs) and print its path.
    #[arg(long)]
    keep: bool,
    /// Measure this unitd binary instead of building one.
    #[arg(long, value_name = "PATH")]
    unitd: Option<std::path::PathBuf>,
}

/// Runs the benchmark.
pub(in crate::bench) fn run(args: IdleArgs) -> Result<()> {
    let tools = tools::ensure(false)?;
    let unitd_binary = super::unitd_binary(args.unitd.as_deref())?;
    raise_descriptor_limit(args.connections + SPARE_DESCRIPTORS)?;

    let work = WorkDir::create(args.keep)?;
    println!("work directory: {}", work.path().display());
    let Some(&port) = free_ports(1)?.first() else {
        bail!("could not choose a free port");
    };
    let config = format!(
        r#"{{"listeners": {{"127.0.0.1:{port}": {{"pass": "routes"}}}},
            "routes": [{{"action": {{"return": 200}}}}],
            "settings": {{"http": {{"idle_timeout": {}}}}}}}"#,
        args.idle_timeout
    );
    println!("starting unitd");
    let server = Server::start_unitd_with(&unitd_binary, &work, &config, vec![port])?;
    let router = router_pid(&server)?;
    let url = format!("http://127.0.0.1:{port}/");
    let active = |when: &str| -> Result<wrk::Report> {
        println!("wrk -c{ACTIVE_CONNECTIONS} for {ACTIVE_SECONDS} s {when}");
        let output = wrk::run(&tools.wrk, &url, ACTIVE_SECONDS, true, ACTIVE_CONNECTIONS)?;
        let report = wrk::parse(&output)?;
        if let Some(reason) = report.failure() {
            bail!("wrk {when}: {reason}");
        }
        Ok(report)
    };
    let alone = active("without idle connections")?;

    let rss_before = procfs::usage(router).rss_kib;
    println!("opening {} idle keep-alive connections", args.connections);
    let opening = Instant::now();
    let mut idle = Vec::new();
    for _ in 0..args.connections {
        idle.push(keep_alive_connection(port)?);
    }
    let opened_in = opening.elapsed();
    let rss_after = procfs::usage(router).rss_kib;
    if opened_in * 2 > Duration::from_secs(args.idle_timeout) {
        eprintln!(
            "warning: opening took {:.1} s, over half the idle timeout: raise --idle-timeout",
            opened_in.as_secs_f64()
        );
    }
    let meanwhile = active("while they are held")?;
    let still_open = idle.iter().filter(|stream| !closed(stream)).count();

    println!("waiting past the idle timeout of {} s", args.idle_timeout);
    let close_by = opening + Duration::from_secs(args.idle_timeout) + CLOSE_GRACE;
    let mut open = idle;
    loop {
        open.retain(|stream| !closed(stream));
        if open.is_empty() || Instant::now() >= close_by {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let closed_count = args.connections - open.len() as u64;
    let served_after = active("after the idle timeout")?;

    let bytes_per_connection =
        rss_after.saturating_sub(rss_before) as f64 * 1024.0 / args.connections as f64;
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    println!();
    println!(
        "idle keep-alive connections: {} (opened in {:.1} s, {still_open} still open after \
         the second wrk run)",
        args.connections,
        opened_in.as_secs_f64()
    );
    println!(
        "router VmRSS: {rss_before} KiB before, {rss_after} KiB with them held: {:.0} bytes \
         per idle connection (target at most {TARGET_BYTES_PER_CONNECTION:.0}: {})",
        bytes_per_connection,
        verdict(bytes_per_connection <= TARGET_BYTES_PER_CONNECTION)
    );
    for (when, report) in [
        ("without idle connections", &alone),
        ("while they are held", &meanwhile),
        ("after the idle timeout", &served_after),
    ] {
        println!(
            "active client {when}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
            report.requests_per_sec,
            report.p50_ms,
            report.p99_ms,
            report.errors()
        );
    }
    println!(
        "p99 while held: {:.2} ms (target under {TARGET_P99_MS:.0} ms: {})",
        meanwhile.p99_ms,
        verdict(meanwhile.p99_ms < TARGET_P99_MS)
    );
    println!(
        "closed by the server within {} s of the idle timeout: {closed_count} of {} ({})",
        CLOSE_GRACE.as_secs(),
        args.connections,
        verdict(open.is_empty())
    );
    Ok(())
}

/// The pid of unitd's router, a child of its main process titled `unit: router`.
fn router_pid(server: &Server) -> Result<u32> {
    procfs::sample_tree(server.pid())
        .into_iter()
        .find(|process| process.cmdline.starts_with("unit: router"))
        .map(|process| process.id.pid)
        .context("unitd has no router process")
}

/// A connection that has made one request and read its answer, left nonblocking so its
/// closing can be polled.
fn keep_alive_connection(port: u16) -> Result<TcpStream> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .context("connecting (is the descriptor limit high enough?)")?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .context("setting a read timeout")?;
    stream.write_all(REQUEST).context("sending a request")?;
    read_answer(&mut stream)?;
    stream
        .set_nonblocking(true)
        .context("making a socket nonblocking")?;
    Ok(stream)
}

/// Reads one answer with a `Content-Length` (as `return` sends) and checks it is a 200.
fn read_answer(stream: &mut TcpStream) -> Result<()> {
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    let head_end = loop {
        if let Some(end) = answer.windows(4).position(|window| window == b"\r\n\r\n") {
            break end + 4;
        }
        let read = stream.read(&mut buffer).context("reading an answer")?;
        if read == 0 {
            bail!("the server closed a connection before answering");
        }
        answer.extend_from_slice(&buffer[..read]);
    };
    let head = String::from_utf8_lossy(&answer[..head_end]).to_ascii_lowercase();
    if !head.starts_with("http/1.1 200") {
        bail!(
            "unexpected answer: {}",
            head.lines().next().unwrap_or_default()
        );
    }
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .context("an answer without Content-Length")?;
    while answer.len() < head_end + length {
        let read = stream.read(&mut buffer).context("reading a body")?;
        if read == 0 {
            bail!("the server closed a connection in the middle of a body");
        }
        answer.extend_from_slice(&buffer[..read]);
    }
    Ok(())
}

/// Whether the server has closed `stream`: the end of the stream or an error, read without
/// waiting.
fn closed(mut stream: &TcpStream) -> bool {
    let mut buffer = [0u8; 256];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(error) if error.kind() == ErrorKind::WouldBlock => return false,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return true,
        }
    }
}

/// Raises this process's soft descriptor limit to its hard one with `prlimit`, failing
/// when the hard limit is below `needed`.
fn raise_descriptor_limit(needed: u64) -> Result<()> {
    let limits = fs::read_to_string("/proc/self/limits").context("reading /proc/self/limits")?;
    let (soft, hard) = open_files_limits(&limits).context("no open files limit in /proc")?;
    if hard < needed {
        bail!(
            "the hard descriptor limit is {hard}, the benchmark needs {needed}: raise it \
             (ulimit -Hn) or ask for fewer --connections"
        );
    }
    if soft >= needed {
        return Ok(());
    }
    let status = Command::new("prlimit")
        .arg(format!("--pid={}", std::process::id()))
        .arg(format!("--nofile={hard}:{hard}"))
        .status()
        .context("running prlimit (util-linux)")?;
    if !status.success() {
        bail!("prlimit could not raise the descriptor limit to {hard} ({status})");
    }
    Ok(())
}

/// The soft and hard limits on open files in a `/proc/<pid>/limits` text (`unlimited`
/// read as the largest number).
fn open_files_limits(limits: &str) -> Option<(u64, u64)> {
    let mut values = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))?
        .split_whitespace()
        .map(|value| match value {
            "unlimited" => Some(u64::MAX),
            number => number.parse().ok(),
        });
    Some((values.next()??, values.next()??))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_files_limits_are_read_from_proc() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max processes             95541                95541                processes\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(open_files_limits(limits), Some((1024, 524288)));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(open_files_limits(unlimited), Some((u64::MAX, u64::MAX)));
        assert_eq!(open_files_limits("Max processes 1 1 processes\n"), None);
    }
}
