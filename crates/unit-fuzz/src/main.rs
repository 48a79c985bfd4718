//! `unit-fuzz`: the fuzz binary `cargo xtask fuzz` runs.
//!
//! It installs the counting allocator (the allocation cap needs it to be the global
//! allocator), reads the command line, and fuzzes one target, or every target in turn,
//! printing progress and a summary per target; the first finding stops it with exit
//! status 1 and the input saved under `fuzz/crashes/<target>/`. `--reproduce FILE` runs
//! one saved input once, with its panic printed as usual.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::Parser;
use unit_fuzz::{CountingAlloc, FuzzError, Options, Target};

#[global_allocator]
static ALLOCATOR: CountingAlloc = CountingAlloc;

/// Command line of `unit-fuzz`.
#[derive(Parser)]
#[command(name = "unit-fuzz", about = "Mutation fuzzing of unitd's parsers")]
struct Cli {
    /// The target to fuzz; every target in turn when omitted.
    target: Option<String>,
    /// Fuzz each target this many seconds (10 when neither this nor --runs is given).
    #[arg(long)]
    seconds: Option<u64>,
    /// Fuzz each target for this many executions.
    #[arg(long)]
    runs: Option<u64>,
    /// The seed of the mutations; by default one from the clock, printed to rerun with.
    #[arg(long)]
    seed: Option<u64>,
    /// An input that runs longer than this many milliseconds is a hang.
    #[arg(long, default_value_t = 1000)]
    timeout_ms: u64,
    /// An input that holds more than this many MiB at once is an over-allocation.
    #[arg(long, default_value_t = 64)]
    alloc_limit_mb: usize,
    /// The directory holding `corpus/` and `crashes/`.
    #[arg(long, default_value = "fuzz")]
    dir: PathBuf,
    /// Runs this one input of TARGET once, unguarded, and prints its outcome.
    #[arg(long, value_name = "FILE")]
    reproduce: Option<PathBuf>,
    /// Lists the targets.
    #[arg(long)]
    list: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<()> {
    if cli.list {
        for target in unit_fuzz::all_targets() {
            println!("{:<15} {}", target.name, target.description);
        }
        return Ok(());
    }
    let targets: Vec<&'static Target> = match &cli.target {
        Some(name) => match unit_fuzz::find_target(name) {
            Some(target) => vec![target],
            None => bail!("no fuzz target {name:?} (see --list)"),
        },
        None => unit_fuzz::all_targets().iter().collect(),
    };
    if let Some(file) = &cli.reproduce {
        let [target] = targets.as_slice() else {
            bail!("--reproduce needs the TARGET the input is for");
        };
        return reproduce(target, file);
    }
    if !unit_fuzz::counting_alloc_installed() {
        bail!("the counting allocator is not the global allocator; the cap cannot hold");
    }
    let seed = cli.seed.unwrap_or_else(clock_seed);
    let seconds = match (cli.seconds, cli.runs) {
        (None, None) => Some(Duration::from_secs(10)),
        (seconds, _) => seconds.map(Duration::from_secs),
    };
    println!("seed {seed}");
    for target in targets {
        fuzz_one(cli, target, seed, seconds)?;
    }
    Ok(())
}

/// Fuzzes one target and prints how it went.
fn fuzz_one(
    cli: &Cli,
    target: &'static Target,
    seed: u64,
    seconds: Option<Duration>,
) -> Result<()> {
    let options = Options {
        seconds,
        runs: cli.runs,
        seed,
        timeout: Duration::from_millis(cli.timeout_ms),
        alloc_cap: cli.alloc_limit_mb.saturating_mul(1024 * 1024),
        corpus_dir: cli.dir.join("corpus").join(target.name),
        crashes_dir: cli.dir.join("crashes").join(target.name),
    };
    println!("{}: {}", target.name, target.description);
    let result = unit_fuzz::fuzz(target, &options, |progress| {
        let seconds = progress.elapsed.as_secs_f64();
        println!(
            "  {:>12} runs  {:>8.0}/s  {seconds:>6.1} s",
            progress.executions,
            progress.executions as f64 / seconds.max(f64::EPSILON)
        );
    });
    match result {
        Ok(summary) => {
            let seconds = summary.elapsed.as_secs_f64();
            println!(
                "  done: {} runs in {seconds:.1} s ({:.0}/s), {} seeds, {} outcomes, corpus {}",
                summary.executions,
                summary.executions as f64 / seconds.max(f64::EPSILON),
                summary.n_seeds,
                summary.n_outcomes,
                summary.corpus_len
            );
            Ok(())
        }
        Err(FuzzError::Found(finding)) => {
            println!(
                "  FOUND after {} runs: {}\n  input ({} bytes): {:?}\n  saved as {}\n  \
                 reproduce: cargo xtask fuzz {} --reproduce {}",
                finding.executions,
                finding.problem,
                finding.input.len(),
                String::from_utf8_lossy(&finding.input),
                finding.saved.display(),
                target.name,
                finding.saved.display()
            );
            bail!("{}: {} found", target.name, problem_kind(&finding.problem))
        }
        Err(error) => Err(error).with_context(|| format!("fuzzing {}", target.name)),
    }
}

/// Runs one saved input and prints what it came to; a panic is printed by the default
/// hook and fails the command.
fn reproduce(target: &Target, file: &Path) -> Result<()> {
    let input = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let outcome = std::panic::catch_unwind(|| unit_fuzz::run_once(target, &input));
    match outcome {
        Ok(outcome) => {
            println!("{}: no failure (outcome {outcome:016x})", target.name);
            Ok(())
        }
        Err(_) => bail!("{} panics on {}", target.name, file.display()),
    }
}

/// A word for the kind of finding.
fn problem_kind(problem: &unit_fuzz::Problem) -> &'static str {
    match problem {
        unit_fuzz::Problem::Panic(_) => "crash",
        unit_fuzz::Problem::Hang(_) => "hang",
        unit_fuzz::Problem::OverAllocation(_) => "over-allocation",
    }
}

/// A seed from the clock, for runs that do not name one.
fn clock_seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as u64)
}
