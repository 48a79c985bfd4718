//! The fuzzing loop: seeds, mutation, running each input under a guard, and reporting
//! what it finds.
//!
//! [`fuzz`] reads the target's seed corpus, runs every seed, then mutates inputs from
//! the corpus and runs them until the budget (seconds, runs, or both) is spent. The
//! inputs run on a worker thread with the stack of a process's main thread (8 MiB),
//! each inside `catch_unwind` and with the allocation cap armed; the calling thread
//! supervises: it notices an input that runs longer than the time limit (a hang) or
//! that went over the cap (the allocator stops such an input for good), saves the
//! input and returns the finding. A panic is caught on the worker, which stops there.
//! Every finding is written to the crashes directory under the hash of its input.
//!
//! Coverage is approximated, not measured: each target returns a hash of its outcome
//! (which error, which framing, counts in buckets), and an input whose outcome has not
//! been seen in this run joins the in-memory corpus and is mutated further. Nothing the
//! run finds is written to the seed corpus.
//!
//! A stack overflow aborts the whole process (Rust does not unwind from one), so it is
//! not saved; the run is deterministic for a `--seed` and `--runs`, so running it again
//! finds the input. A hang or over-allocation leaves the worker stuck: the caller is
//! expected to end the process soon after, as the fuzz binary does.

use std::collections::BTreeSet;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use std::{fmt, fs, io, thread};

use crate::alloc::{self, OverAllocation};
use crate::mutate::{Rng, mutate};
use crate::targets::Target;

/// The most inputs kept in the in-memory corpus; past it new outcomes are still
/// counted, but their inputs are not kept.
const MAX_CORPUS: usize = 8192;

/// The worker's stack: what a process's main thread gets.
const WORKER_STACK: usize = 8 * 1024 * 1024;

/// How often the supervisor looks at the worker.
const SUPERVISOR_TICK: Duration = Duration::from_millis(20);

/// How a run is limited and guarded, and where its files are.
#[derive(Debug, Clone)]
pub struct Options {
    /// Stop after this long.
    pub seconds: Option<Duration>,
    /// Stop after this many executions (seeds included).
    pub runs: Option<u64>,
    /// The seed of the mutation's random source.
    pub seed: u64,
    /// An input that runs longer than this is a hang.
    pub timeout: Duration,
    /// An input that holds more bytes than this at once is an over-allocation.
    pub alloc_cap: usize,
    /// The seed corpus: every file in it is an input.
    pub corpus_dir: PathBuf,
    /// Where findings are written.
    pub crashes_dir: PathBuf,
}

/// What a run that found nothing did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Inputs run, seeds included.
    pub executions: u64,
    /// Seeds read from the corpus directory.
    pub n_seeds: usize,
    /// Inputs in the corpus at the end.
    pub corpus_len: usize,
    /// Different outcomes seen.
    pub n_outcomes: usize,
    /// How long it ran.
    pub elapsed: Duration,
}

/// How far a run has come, reported every few seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Inputs run so far.
    pub executions: u64,
    /// Time since the start.
    pub elapsed: Duration,
}

/// What was wrong with an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The target panicked: a parser bug or a broken invariant.
    Panic(String),
    /// The input ran longer than the time limit (and was still running).
    Hang(Duration),
    /// The input held more memory than the cap.
    OverAllocation(OverAllocation),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Panic(message) => write!(f, "panic: {message}"),
            Problem::Hang(elapsed) => write!(f, "hang: still running after {elapsed:?}"),
            Problem::OverAllocation(over) => write!(
                f,
                "over-allocation: asked for {} bytes while holding {} bytes",
                over.requested, over.held
            ),
        }
    }
}

/// An input that failed, and where it was saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What went wrong.
    pub problem: Problem,
    /// The input.
    pub input: Vec<u8>,
    /// Its file under the crashes directory.
    pub saved: PathBuf,
    /// Inputs run before it.
    pub executions: u64,
}

/// Why a run stopped without a summary.
#[derive(Debug)]
pub enum FuzzError {
    /// An input failed.
    Found(Box<Finding>),
    /// A corpus or crash file could not be read or written.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The worker thread could not be started.
    Spawn(io::Error),
}

impl fmt::Display for FuzzError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FuzzError::Found(finding) => write!(
                f,
                "{} (input saved as {})",
                finding.problem,
                finding.saved.display()
            ),
            FuzzError::Io { path, .. } => write!(f, "reading or writing {}", path.display()),
            FuzzError::Spawn(_) => write!(f, "starting the worker thread"),
        }
    }
}

impl std::error::Error for FuzzError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FuzzError::Found(_) => None,
            FuzzError::Io { source, .. } | FuzzError::Spawn(source) => Some(source),
        }
    }
}

/// What the worker and the supervisor share.
#[derive(Debug, Default)]
struct Shared {
    /// Inputs run so far.
    executions: AtomicU64,
    /// The input running now (or last), for the supervisor to save.
    current: Mutex<Vec<u8>>,
    /// The message and place of the last panic on the worker.
    panic_message: Mutex<Option<String>>,
}

impl Shared {
    fn current_input(&self) -> Vec<u8> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Fuzzes `target` as `options` say; `progress` hears how it goes every two seconds.
pub fn fuzz(
    target: &'static Target,
    options: &Options,
    mut progress: impl FnMut(Progress),
) -> Result<Summary, FuzzError> {
    let seeds = read_corpus(&options.corpus_dir, target.max_len)?;
    let shared = Arc::new(Shared::default());
    let previous_hook = install_panic_hook(&shared);
    let (done_sender, done) = mpsc::channel();
    let worker_shared = Arc::clone(&shared);
    let worker_options = options.clone();
    let started = Instant::now();
    let worker = thread::Builder::new()
        .name(format!("fuzz {}", target.name))
        .stack_size(WORKER_STACK)
        .spawn(move || {
            let outcome = run_worker(target, &worker_options, seeds, &worker_shared, started);
            // The supervisor waits for this; if it stopped waiting, nobody needs it.
            let _ = done_sender.send(outcome);
        })
        .map_err(FuzzError::Spawn)?;

    let mut last_executions = 0;
    let mut last_change = Instant::now();
    let mut last_report = Instant::now();
    let stuck = loop {
        match done.recv_timeout(SUPERVISOR_TICK) {
            Ok(outcome) => {
                // The worker sent its last word; it is finishing.
                let _ = worker.join();
                panic::set_hook(previous_hook);
                return match outcome {
                    Ok(summary) => Ok(summary),
                    Err(WorkerStop::Panicked { input, executions }) => {
                        let message = shared
                            .panic_message
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .take()
                            .unwrap_or_else(|| "a panic without a message".to_owned());
                        Err(found(options, Problem::Panic(message), input, executions))
                    }
                };
            }
            Err(RecvTimeoutError::Disconnected) => {
                panic::set_hook(previous_hook);
                let message = "the worker thread ended without a result".to_owned();
                let input = shared.current_input();
                let executions = shared.executions.load(Ordering::Relaxed);
                return Err(found(options, Problem::Panic(message), input, executions));
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        if let Some(over) = alloc::tripped() {
            // Lift the cap so this thread can allocate while it reports.
            alloc::disarm();
            break Problem::OverAllocation(over);
        }
        let executions = shared.executions.load(Ordering::Relaxed);
        if executions != last_executions {
            last_executions = executions;
            last_change = Instant::now();
        } else if last_change.elapsed() > options.timeout {
            alloc::disarm();
            break Problem::Hang(last_change.elapsed());
        }
        if last_report.elapsed() >= Duration::from_secs(2) {
            last_report = Instant::now();
            progress(Progress {
                executions,
                elapsed: started.elapsed(),
            });
        }
    };
    // The worker is stuck inside the input; it is left behind, and the hook stays, so a
    // panic it might still raise is recorded rather than printed over the report.
    let input = shared.current_input();
    let executions = shared.executions.load(Ordering::Relaxed);
    Err(found(options, stuck, input, executions))
}

/// Runs `input` once, as the fuzzer runs it but without guards: for reproducing a saved
/// finding under a debugger or with its panic printed. Returns the outcome.
pub fn run_once(target: &Target, input: &[u8]) -> u64 {
    (target.run)(input)
}

/// The name a finding's file gets: its input's 64-bit FNV-1a hash in hex.
pub fn input_name(input: &[u8]) -> String {
    let hash = input.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// Why the worker stopped early.
enum WorkerStop {
    /// An input panicked.
    Panicked { input: Vec<u8>, executions: u64 },
}

/// The worker's loop: the seeds, then mutated inputs until the budget is spent.
fn run_worker(
    target: &Target,
    options: &Options,
    seeds: Vec<Vec<u8>>,
    shared: &Shared,
    started: Instant,
) -> Result<Summary, WorkerStop> {
    let n_seeds = seeds.len();
    let mut rng = Rng::new(options.seed);
    let mut outcomes = BTreeSet::new();
    let mut corpus: Vec<Vec<u8>> = Vec::with_capacity(seeds.len());
    let mut executions = 0u64;
    let budget_left = |executions: u64| {
        options.runs.is_none_or(|runs| executions < runs)
            && options
                .seconds
                .is_none_or(|seconds| started.elapsed() < seconds)
    };
    let run = |input: &[u8], executions: &mut u64| -> Result<u64, WorkerStop> {
        {
            let mut current = shared
                .current
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            current.clear();
            current.extend_from_slice(input);
        }
        alloc::arm(options.alloc_cap);
        let result = panic::catch_unwind(AssertUnwindSafe(|| (target.run)(input)));
        alloc::disarm();
        *executions += 1;
        shared.executions.store(*executions, Ordering::Relaxed);
        result.map_err(|_| WorkerStop::Panicked {
            input: input.to_vec(),
            executions: *executions - 1,
        })
    };

    for seed in seeds {
        if !budget_left(executions) {
            break;
        }
        outcomes.insert(run(&seed, &mut executions)?);
        corpus.push(seed);
    }
    if corpus.is_empty() {
        corpus.push(Vec::new());
    }
    let mut input = Vec::with_capacity(target.max_len);
    while budget_left(executions) {
        let parent = &corpus[rng.below(corpus.len())];
        input.clear();
        input.extend_from_slice(parent);
        let structured = match target.mutate {
            Some(mutate_structure) if rng.one_in(2) => mutate_structure(&mut input, &mut rng),
            _ => false,
        };
        if structured {
            input.truncate(target.max_len);
        } else {
            let other = &corpus[rng.below(corpus.len())];
            mutate(
                &mut input,
                &mut rng,
                target.dictionary,
                other,
                target.max_len,
            );
        }
        let outcome = run(&input, &mut executions)?;
        if outcomes.insert(outcome) && corpus.len() < MAX_CORPUS {
            corpus.push(input.clone());
        }
    }
    Ok(Summary {
        executions,
        n_seeds,
        corpus_len: corpus.len(),
        n_outcomes: outcomes.len(),
        elapsed: started.elapsed(),
    })
}

/// The panic hook of a run: a panic on the worker is recorded for the report instead of
/// printed; any other thread's goes to the hook there was before.
fn install_panic_hook(
    shared: &Arc<Shared>,
) -> Box<dyn Fn(&panic::PanicHookInfo<'_>) + Send + Sync> {
    let previous: Arc<dyn Fn(&panic::PanicHookInfo<'_>) + Send + Sync> =
        Arc::from(panic::take_hook());
    let hook_shared = Arc::clone(shared);
    let hook_previous = Arc::clone(&previous);
    panic::set_hook(Box::new(move |info| {
        let on_worker = thread::current()
            .name()
            .is_some_and(|name| name.starts_with("fuzz "));
        if !on_worker {
            hook_previous(info);
            return;
        }
        let message = if let Some(text) = info.payload().downcast_ref::<&str>() {
            (*text).to_owned()
        } else if let Some(text) = info.payload().downcast_ref::<String>() {
            text.clone()
        } else {
            "a panic without a message".to_owned()
        };
        let place = info
            .location()
            .map(|location| format!(" at {}:{}", location.file(), location.line()))
            .unwrap_or_default();
        *hook_shared
            .panic_message
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(format!("{message}{place}"));
    }));
    Box::new(move |info| previous(info))
}

/// Saves `input` and makes the error that reports it.
fn found(options: &Options, problem: Problem, input: Vec<u8>, executions: u64) -> FuzzError {
    let saved = options.crashes_dir.join(input_name(&input));
    let written = fs::create_dir_all(&options.crashes_dir)
        .and_then(|()| fs::write(&saved, &input))
        .map_err(|source| FuzzError::Io {
            path: saved.clone(),
            source,
        });
    if let Err(error) = written {
        return error;
    }
    FuzzError::Found(Box::new(Finding {
        problem,
        input,
        saved,
        executions,
    }))
}

/// Every file in `dir` (sorted by name, so runs are repeatable), cut to `max_len`; none
/// when the directory does not exist.
fn read_corpus(dir: &Path, max_len: usize) -> Result<Vec<Vec<u8>>, FuzzError> {
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FuzzError::Io { path, source }
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(io_error(dir)(error)),
    };
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_error(dir))?;
        if entry
            .file_type()
            .map_err(io_error(&entry.path()))?
            .is_file()
        {
            paths.push(entry.path());
        }
    }
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let mut input = fs::read(path).map_err(io_error(path))?;
            input.truncate(max_len);
            Ok(input)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Panics on inputs that start with `!!`, whose outcome is their first byte.
    fn picky(input: &[u8]) -> u64 {
        assert!(!input.starts_with(b"!!"), "two bangs");
        input.first().copied().map_or(0, u64::from)
    }

    static PICKY: Target = Target {
        name: "picky",
        description: "panics on a prefix the mutations find quickly",
        run: picky,
        dictionary: &[b"!"],
        max_len: 16,
        mutate: None,
    };

    fn options(dir: &Path, runs: u64) -> Options {
        Options {
            seconds: None,
            runs: Some(runs),
            seed: 5,
            timeout: Duration::from_secs(5),
            alloc_cap: 64 << 20,
            corpus_dir: dir.join("corpus"),
            crashes_dir: dir.join("crashes"),
        }
    }

    // One test, since a run sets the process's panic hook.
    #[test]
    fn runs_seeds_and_saves_what_panics() {
        let dir = std::env::temp_dir().join(format!("unit-fuzz-engine-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("corpus")).expect("a fresh temporary directory");
        fs::write(dir.join("corpus").join("seed"), b"ab").expect("writing a seed");

        // A budget of the seed alone runs just the seed.
        let summary = fuzz(&PICKY, &options(&dir, 1), |_| {}).expect("the seed passes");
        assert_eq!((summary.executions, summary.n_seeds), (1, 1));

        let found = match fuzz(&PICKY, &options(&dir, 1_000_000), |_| {}) {
            Err(FuzzError::Found(finding)) => finding,
            other => panic!("the panic was not found: {other:?}"),
        };
        assert!(found.input.starts_with(b"!!"));
        assert!(
            matches!(&found.problem, Problem::Panic(message) if message.contains("two bangs")),
            "{:?}",
            found.problem
        );
        assert_eq!(
            found.saved,
            dir.join("crashes").join(input_name(&found.input))
        );
        assert_eq!(fs::read(&found.saved).ok(), Some(found.input.clone()));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn input_names_are_stable_hex() {
        assert_eq!(input_name(b""), "cbf29ce484222325");
        assert_eq!(input_name(b"a").len(), 16);
        assert_ne!(input_name(b"a"), input_name(b"b"));
    }
}
