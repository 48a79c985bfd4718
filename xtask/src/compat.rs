//! `cargo xtask compat`: NGINX Unit's own test suite against this unitd.
//!
//! The suite (Unit 1.35.0's `test/` directory and its driver `run.sh`) lives outside the
//! repository, in `../shared/unit-tests` beside the checkout or wherever
//! `UNIT_TESTS_DIR` points. This task builds a release unitd, runs the driver on it with
//! pytest in a virtual environment under `target/`, retries each file that failed once
//! (a file that passes the second time is named, so flakiness stays visible), and ends
//! with the table of every file and the driver's closing `N passed, N failed` line.
//!
//! The suite needs root (it checks that the daemon's workers drop privileges) and fixed
//! ports from 8080 up, so two runs must never overlap.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::cmd::{cargo, run_step, target_dir, workspace_root};

/// The environment variable that names the suite's directory.
const SUITE_ENV: &str = "UNIT_TESTS_DIR";

/// Arguments of `cargo xtask compat`.
#[derive(Args)]
pub(crate) struct CompatArgs {
    /// Test files to run (`test_return.py`); by default every file of the tiers.
    files: Vec<String>,
    /// The tiers to run, comma-separated: a, b (no language module), py, tls.
    #[arg(long, value_delimiter = ',', default_value = "a,b")]
    tiers: Vec<String>,
    /// Keep every file's logs, not only those of failed files.
    #[arg(long)]
    keep: bool,
}

/// One file's result, as the driver prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileResult {
    file: String,
    tier: String,
    passed: u32,
    failed: u32,
    skipped: u32,
    /// The whole line the driver printed.
    line: String,
}

/// Builds unitd, runs the suite, retries failed files once and prints the tally.
pub(crate) fn run(args: CompatArgs) -> Result<()> {
    let suite = suite_dir();
    let driver = suite.join("run.sh");
    if !driver.is_file() {
        bail!(
            "Unit's test suite is not at {} (set {SUITE_ENV} to the directory holding run.sh and test/)",
            suite.display()
        );
    }
    if !is_root() {
        bail!(
            "Unit's test suite must run as root (it checks that unitd's workers drop privileges); \
             run `sudo cargo xtask compat` or run it in CI"
        );
    }
    run_step(&mut cargo(&["build", "--release", "-p", "unitd"]))?;
    let unitd = target_dir().join("release").join("unitd");
    // Tiers py and tls run the Python runner as the suite's language module.
    let modules = if args.tiers.iter().any(|tier| tier == "py" || tier == "tls") {
        match crate::runner::build_runner("release")? {
            Some(runner) => {
                let modules = target_dir().join("compat-modules");
                crate::runner::install_module(&runner, &modules)?;
                Some(modules)
            }
            None => {
                println!("note: no Python with a shared library: the runner is not built");
                None
            }
        }
    } else {
        None
    };

    let tiers = args.tiers.join(" ");
    let driver_run = Driver {
        driver: &driver,
        unitd: &unitd,
        tiers: &tiers,
        modules: modules.as_deref(),
        keep: args.keep,
    };
    let mut results = driver_run.run(&args.files)?;
    let failed_files: Vec<String> = dedup(
        results
            .iter()
            .filter(|result| result.failed > 0)
            .map(|result| result.file.clone()),
    );
    let mut recovered = Vec::new();
    if !failed_files.is_empty() {
        println!("--- retrying once: {}", failed_files.join(" "));
        for retried in driver_run.run(&failed_files)? {
            if let Some(first) = results
                .iter_mut()
                .find(|result| result.file == retried.file && result.tier == retried.tier)
            {
                if first.failed > 0 && retried.failed == 0 {
                    recovered.push(retried.file.clone());
                }
                *first = retried;
            }
        }
    }

    println!("--- Unit's test suite, tiers {tiers}");
    for result in &results {
        println!("{}", result.line);
    }
    for file in &recovered {
        println!("note: {file} failed at first and passed when retried");
    }
    let passed: u32 = results.iter().map(|result| result.passed).sum();
    let failed: u32 = results.iter().map(|result| result.failed).sum();
    let skipped: u32 = results.iter().map(|result| result.skipped).sum();
    let closing = closing_line(passed, failed, skipped);
    println!("{closing}");
    if results.is_empty() {
        bail!("the driver reported no test file");
    }
    if failed > 0 {
        bail!("Unit's test suite: {closing}");
    }
    Ok(())
}

/// The suite's directory: `UNIT_TESTS_DIR`, else `../shared/unit-tests` beside the
/// checkout.
fn suite_dir() -> PathBuf {
    match std::env::var_os(SUITE_ENV) {
        Some(dir) => PathBuf::from(dir),
        None => workspace_root().join("../shared/unit-tests"),
    }
}

/// Whether this process runs as root (its real user id is 0).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().next())
            == Some("0")
    })
}

/// How the driver is run.
struct Driver<'a> {
    driver: &'a Path,
    unitd: &'a Path,
    tiers: &'a str,
    /// The modules directory for tiers py and tls (`UNIT_MODULES`).
    modules: Option<&'a Path>,
    keep: bool,
}

impl Driver<'_> {
    /// Runs the driver once on `files` (all when empty), echoing what it prints, and
    /// returns its per-file results.
    fn run(&self, files: &[String]) -> Result<Vec<FileResult>> {
        let how = self;
        let (driver, tiers) = (how.driver, how.tiers);
        let mut command = Command::new("bash");
        command
            .arg(driver)
            .args(files)
            .env("UNITD", how.unitd)
            .env("TIERS", tiers)
            .env("UNIT_TESTS_VENV", target_dir().join("compat-venv"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        match how.modules {
            Some(modules) => command.env("UNIT_MODULES", modules),
            None => command.env("UNIT_MODULES", "none"),
        };
        if how.keep {
            command.env("KEEP", "1");
        }
        println!(
            "$ TIERS=\"{tiers}\" bash {} {}",
            driver.display(),
            files.join(" ")
        );
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", driver.display()))?;
        let stdout = child
            .stdout
            .take()
            .context("the driver's output was not captured")?;
        let mut results = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.context("reading the driver's output")?;
            println!("{line}");
            if let Some(result) = parse_result(&line) {
                results.push(result);
            }
        }
        // The exit status only says whether something failed, which the lines say too.
        child.wait().context("waiting for the driver")?;
        Ok(results)
    }
}

/// Parses a per-file line of the driver:
/// `test_return.py   tier a  passed   5  failed   0  skipped   0  ref 5/0`.
fn parse_result(line: &str) -> Option<FileResult> {
    let mut words = line.split_whitespace();
    let file = words.next().filter(|file| file.ends_with(".py"))?;
    if words.next() != Some("tier") {
        return None;
    }
    let tier = words.next()?;
    let mut count = |name: &str| -> Option<u32> {
        if words.next() != Some(name) {
            return None;
        }
        words.next()?.parse().ok()
    };
    Some(FileResult {
        file: file.to_owned(),
        tier: tier.to_owned(),
        passed: count("passed")?,
        failed: count("failed")?,
        skipped: count("skipped")?,
        line: line.to_owned(),
    })
}

/// The driver's closing line.
fn closing_line(passed: u32, failed: u32, skipped: u32) -> String {
    if skipped > 0 {
        format!("{passed} passed, {failed} failed, {skipped} skipped")
    } else {
        format!("{passed} passed, {failed} failed")
    }
}

/// The items in their first order, each once.
fn dedup(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = Vec::new();
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_driver_lines() {
        let line =
            "test_static.py               tier a  passed  16  failed   0  skipped   1  ref 16/1";
        assert_eq!(
            parse_result(line),
            Some(FileResult {
                file: "test_static.py".into(),
                tier: "a".into(),
                passed: 16,
                failed: 0,
                skipped: 1,
                line: line.into(),
            })
        );
        let timed_out = "test_routing.py  tier b  passed  70  failed  38  skipped   0  ref 108/0 ! (not finished: 30) [timed out after 240s]";
        let result = parse_result(timed_out).expect("a result line");
        assert_eq!((result.passed, result.failed), (70, 38));
        for other in [
            "run.sh: UNITD=target/release/unitd  scratch=/tmp/x",
            "240 passed, 0 failed, 7 skipped",
            "logs kept in /tmp/x/logs",
        ] {
            assert_eq!(parse_result(other), None, "{other}");
        }
    }

    #[test]
    fn closing_line_as_the_driver_prints_it() {
        assert_eq!(closing_line(240, 0, 7), "240 passed, 0 failed, 7 skipped");
        assert_eq!(closing_line(5, 1, 0), "5 passed, 1 failed");
    }

    #[test]
    fn dedup_keeps_the_first_order() {
        let items = ["b", "a", "b", "c", "a"].map(String::from);
        assert_eq!(dedup(items.into_iter()), ["b", "a", "c"]);
    }
}
