//! Running `wrk` and reading the numbers out of its text report.
//!
//! Only the summary wrk prints by itself (with `--latency`) is understood; no Lua script is
//! used. A run that hangs is killed after its duration plus a margin.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The load generator runs one thread unless a suite asks for more.
const THREADS: u32 = 1;
/// Connections of the server comparison's loads.
pub(super) const CONNECTIONS: u32 = 32;

/// How long past its nominal duration a wrk run may take before it is killed.
const GRACE: Duration = Duration::from_secs(30);

/// The numbers of one wrk run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Report {
    /// `Requests/sec`.
    pub(super) requests_per_sec: f64,
    /// Responses completed during the run (`N requests in ...`).
    pub(super) requests: u64,
    /// Median latency in milliseconds.
    pub(super) p50_ms: f64,
    /// 99th percentile latency in milliseconds.
    pub(super) p99_ms: f64,
    /// Connect, read, write and timeout errors together.
    pub(super) socket_errors: u64,
    /// Responses whose status was 400 or above (wrk's "Non-2xx or 3xx responses").
    pub(super) bad_status: u64,
}

impl Report {
    /// All errors wrk counted.
    pub(super) fn errors(&self) -> u64 {
        self.socket_errors + self.bad_status
    }

    /// Why this run measured nothing useful, if it did not.
    pub(super) fn failure(&self) -> Option<String> {
        if self.requests == 0 {
            Some(format!(
                "no response completed ({} socket errors)",
                self.socket_errors
            ))
        } else if self.bad_status >= self.requests {
            Some(format!(
                "all {} responses had an error status",
                self.requests
            ))
        } else {
            None
        }
    }
}

/// Runs wrk (one thread) against `url` for `seconds`, with the latency distribution when
/// `latency`, and returns its standard output; an error carries wrk's own complaint.
pub(super) fn run(
    wrk: &Path,
    url: &str,
    seconds: u64,
    latency: bool,
    connections: u32,
) -> Result<String> {
    run_threads(wrk, url, seconds, latency, THREADS, connections)
}

/// [`run`] with every request carrying the header lines `headers` (`Name: value`).
pub(super) fn run_with_headers(
    wrk: &Path,
    url: &str,
    seconds: u64,
    latency: bool,
    connections: u32,
    headers: &[&str],
) -> Result<String> {
    run_command(wrk, url, seconds, latency, THREADS, connections, headers)
}

/// [`run`] with `threads` wrk threads (wrk wants at least as many connections).
pub(super) fn run_threads(
    wrk: &Path,
    url: &str,
    seconds: u64,
    latency: bool,
    threads: u32,
    connections: u32,
) -> Result<String> {
    run_command(wrk, url, seconds, latency, threads, connections, &[])
}

/// Runs wrk with every option the other functions choose from.
fn run_command(
    wrk: &Path,
    url: &str,
    seconds: u64,
    latency: bool,
    threads: u32,
    connections: u32,
    headers: &[&str],
) -> Result<String> {
    let mut command = Command::new(wrk);
    command
        .args([
            &format!("-t{threads}"),
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
        ])
        .args(latency.then_some("--latency"))
        .args(headers.iter().flat_map(|header| ["-H", header]))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {}", wrk.display()))?;
    // wrk prints a few hundred bytes, far less than a pipe holds, so reading after it exits
    // cannot block it.
    let deadline = Instant::now() + Duration::from_secs(seconds) + GRACE;
    let status = loop {
        if let Some(status) = child.try_wait().context("waiting for wrk")? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("wrk did not finish within {}s", seconds + GRACE.as_secs());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stdout.take() {
        pipe.read_to_string(&mut stdout)
            .context("reading wrk's output")?;
    }
    if let Some(mut pipe) = child.stderr.take() {
        pipe.read_to_string(&mut stderr)
            .context("reading wrk's errors")?;
    }
    if !status.success() {
        let complaint = stderr.trim();
        let complaint = if complaint.is_empty() {
            stdout.trim()
        } else {
            complaint
        };
        bail!("wrk failed ({status}): {}", one_line(complaint));
    }
    Ok(stdout)
}

/// Reads a `--latency` report.
pub(super) fn parse(output: &str) -> Result<Report> {
    let mut requests_per_sec = None;
    let mut requests = None;
    let mut p50_ms = None;
    let mut p99_ms = None;
    let mut socket_errors = 0;
    let mut bad_status = 0;
    for line in output.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Requests/sec:") {
            requests_per_sec = rest.trim().parse::<f64>().ok();
        } else if let Some((count, _)) = line.split_once(" requests in ") {
            requests = count.trim().parse::<u64>().ok();
        } else if let Some(rest) = line.strip_prefix("50%") {
            p50_ms = duration_ms(rest.trim());
        } else if let Some(rest) = line.strip_prefix("99%") {
            p99_ms = duration_ms(rest.trim());
        } else if let Some(rest) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 12, write 0, timeout 3"
            socket_errors = rest
                .split(',')
                .filter_map(|part| part.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum();
        } else if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            bad_status = rest.trim().parse().unwrap_or(0);
        }
    }
    let missing = |what: &str| format!("wrk's report has no {what}: {}", one_line(output));
    Ok(Report {
        requests_per_sec: requests_per_sec
            .ok_or_else(|| anyhow::anyhow!(missing("Requests/sec")))?,
        requests: requests.ok_or_else(|| anyhow::anyhow!(missing("request count")))?,
        p50_ms: p50_ms.ok_or_else(|| anyhow::anyhow!(missing("50% latency")))?,
        p99_ms: p99_ms.ok_or_else(|| anyhow::anyhow!(missing("99% latency")))?,
        socket_errors,
        bad_status,
    })
}

/// A wrk duration such as `215.45us`, `1.02ms`, `2.00s` or `1.50m`, in milliseconds.
fn duration_ms(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let ms_per_unit = match unit {
        "us" => 0.001,
        "ms" => 1.0,
        "s" => 1_000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        _ => return None,
    };
    Some(value * ms_per_unit)
}

/// `text` folded onto one line and cut to a readable length, for error messages.
fn one_line(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() > 200 {
        let cut: String = joined.chars().take(200).collect();
        format!("{cut}...")
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLEAN: &str = "\
Running 10s test @ http://127.0.0.1:40001/
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   301.17us  120.05us   7.91ms   92.40%
    Req/Sec    98.12k     4.01k  104.33k    81.00%
  Latency Distribution
     50%  287.00us
     75%  330.00us
     90%  401.00us
     99%    1.02ms
  976543 requests in 10.00s, 120.15MB read
Requests/sec:  97654.30
Transfer/sec:     12.01MB
";

    const ERRORS: &str = "\
Running 3s test @ http://127.0.0.1:40003/
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.50s   300.00ms   2.00s    70.00%
    Req/Sec     1.00k   100.00     1.20k    66.67%
  Latency Distribution
     50%    1.50s 
     75%    1.70s 
     90%    1.90s 
     99%    2.00s 
  3000 requests in 3.00s, 400.00KB read
  Socket errors: connect 0, read 7, write 2, timeout 31
  Non-2xx or 3xx responses: 1200
Requests/sec:   1000.00
Transfer/sec:    133.33KB
";

    #[test]
    fn clean_report() {
        let report = parse(CLEAN).expect("parses");
        assert_eq!(report.requests, 976_543);
        assert!((report.requests_per_sec - 97_654.30).abs() < 1e-6);
        assert!((report.p50_ms - 0.287).abs() < 1e-9);
        assert!((report.p99_ms - 1.02).abs() < 1e-9);
        assert_eq!(report.errors(), 0);
        assert_eq!(report.failure(), None);
    }

    #[test]
    fn report_with_errors_in_seconds() {
        let report = parse(ERRORS).expect("parses");
        assert_eq!(report.requests, 3000);
        assert!((report.p50_ms - 1_500.0).abs() < 1e-9);
        assert!((report.p99_ms - 2_000.0).abs() < 1e-9);
        assert_eq!(report.socket_errors, 40);
        assert_eq!(report.bad_status, 1200);
        assert_eq!(report.errors(), 1240);
        assert_eq!(report.failure(), None);
    }

    #[test]
    fn runs_that_served_nothing_are_failures() {
        let nothing = CLEAN.replace("976543 requests", "0 requests");
        let report = parse(&nothing).expect("parses");
        assert!(report.failure().is_some());
        let all_bad = ERRORS.replace("responses: 1200", "responses: 3000");
        let report = parse(&all_bad).expect("parses");
        assert!(report.failure().is_some_and(|why| why.contains("3000")));
    }

    #[test]
    fn report_without_latency_distribution_is_rejected() {
        let without: String = CLEAN
            .lines()
            .filter(|line| !line.trim_start().starts_with("50%"))
            .map(|line| format!("{line}\n"))
            .collect();
        let error = parse(&without).expect_err("the median is missing");
        assert!(error.to_string().contains("50%"));
        assert!(parse("unable to connect to 127.0.0.1:1 Connection refused").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(duration_ms("250.00us"), Some(0.25));
        assert_eq!(duration_ms("3.50ms"), Some(3.5));
        assert_eq!(duration_ms("2.00s"), Some(2_000.0));
        assert_eq!(duration_ms("1.00m"), Some(60_000.0));
        assert_eq!(duration_ms("12"), None);
        assert_eq!(duration_ms("1.0parsecs"), None);
    }

    #[test]
    fn long_complaints_are_folded_and_cut() {
        assert_eq!(one_line("a\n  b\tc "), "a b c");
        assert_eq!(one_line(&"x ".repeat(300)).chars().count(), 203);
    }
}
