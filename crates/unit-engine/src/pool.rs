//! A small pool of worker threads for blocking work, such as opening files.
//!
//! Jobs wait in a mutex-guarded queue with a condition variable; each result comes back
//! to the submitting engine as posted work through its [`Remote`], so the owner's state
//! is only ever touched on the engine's thread. Dropping the pool lets the workers finish
//! the jobs already queued, then joins them. The pool does no scheduling beyond first in,
//! first out, and it is not meant for long-running or CPU-heavy tasks.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};

use crate::engine::Engine;
use crate::engine::Remote;
use crate::error::EngineError;

/// A job as a worker runs it: the blocking part followed by posting its result.
type Job = Box<dyn FnOnce() + Send>;

/// A small pool of worker threads for blocking work.
///
/// Results come back as work on the submitting engine. Dropping the pool runs the jobs
/// already queued, then joins every worker.
pub struct ThreadPool {
    queue: Arc<JobQueue>,
    workers: Vec<JoinHandle<()>>,
}

impl ThreadPool {
    /// Starts `n_threads` workers named `{name}-{index}`.
    ///
    /// Fails with [`EngineError::NoThreads`] when `n_threads` is zero, or with
    /// [`EngineError::SpawnThread`] if a thread cannot be started (the workers already
    /// started are then stopped and joined).
    pub fn new(name: &str, n_threads: usize) -> Result<ThreadPool, EngineError> {
        if n_threads == 0 {
            return Err(EngineError::NoThreads);
        }
        let mut thread_pool = ThreadPool {
            queue: Arc::new(JobQueue::default()),
            workers: Vec::with_capacity(n_threads),
        };
        for worker_idx in 0..n_threads {
            let thread_name = format!("{name}-{worker_idx}");
            let queue = Arc::clone(&thread_pool.queue);
            let worker = thread::Builder::new()
                .name(thread_name.clone())
                .spawn(move || queue.work())
                .map_err(|source| EngineError::SpawnThread {
                    name: thread_name,
                    source,
                })?;
            thread_pool.workers.push(worker);
        }
        Ok(thread_pool)
    }

    /// Runs `job` on a worker, then posts `done(state, engine, result)` to `remote`.
    ///
    /// If the engine behind `remote` is gone by then, the result is dropped. If `job`
    /// panics, the panic is logged, the worker keeps serving, and `done` never runs.
    pub fn spawn<S: 'static, T: Send + 'static>(
        &self,
        remote: &Remote<S>,
        job: impl FnOnce() -> T + Send + 'static,
        done: impl FnOnce(&mut S, &mut Engine<S>, T) + Send + 'static,
    ) {
        let remote = remote.clone();
        self.queue.push(Box::new(move || {
            let result = job();
            let posted = remote.post(move |state, engine| done(state, engine, result));
            if let Err(error) = posted {
                tracing::debug!(error = %error, "dropping a thread pool result");
            }
        }));
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.queue.close();
        for worker in self.workers.drain(..) {
            // Job panics are caught inside the worker, so a join error is unexpected.
            if worker.join().is_err() {
                tracing::warn!("a thread pool worker panicked");
            }
        }
    }
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool")
            .field("n_threads", &self.workers.len())
            .finish_non_exhaustive()
    }
}

// === impl JobQueue ===

/// Jobs waiting for a worker, shared by the pool and its workers.
#[derive(Default)]
struct JobQueue {
    state: Mutex<QueueState>,
    job_ready: Condvar,
}

#[derive(Default)]
struct QueueState {
    jobs: VecDeque<Job>,
    /// Set when the pool is dropped: workers exit once `jobs` is empty.
    closed: bool,
}

impl JobQueue {
    fn push(&self, job: Job) {
        self.lock().jobs.push_back(job);
        self.job_ready.notify_one();
    }

    fn close(&self) {
        self.lock().closed = true;
        self.job_ready.notify_all();
    }

    /// A worker's loop: take jobs until the queue is closed and empty.
    fn work(&self) {
        while let Some(job) = self.next_job() {
            if panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
                tracing::error!("a thread pool job panicked");
            }
        }
    }

    fn next_job(&self) -> Option<Job> {
        let mut queue_state = self.lock();
        loop {
            if let Some(job) = queue_state.jobs.pop_front() {
                return Some(job);
            }
            if queue_state.closed {
                return None;
            }
            queue_state = self
                .job_ready
                .wait(queue_state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Locks the queue. Jobs never run under this lock, so a poisoned lock only means a
    /// push panicked and the queue is still consistent.
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn results_arrive_on_the_submitting_engine() {
        let mut engine = Engine::<Vec<u64>>::new().expect("engine");
        let thread_pool = ThreadPool::new("test-pool", 2).expect("thread pool");
        let engine_thread = thread::current().id();
        for job_idx in 0..8_u64 {
            thread_pool.spawn(
                &engine.remote(),
                move || {
                    assert_ne!(thread::current().id(), engine_thread, "jobs run on workers");
                    job_idx * 10
                },
                move |results, _, result| {
                    assert_eq!(
                        thread::current().id(),
                        engine_thread,
                        "results run on the engine"
                    );
                    results.push(result);
                },
            );
        }
        let give_up = Instant::now() + Duration::from_secs(5);
        let mut results = Vec::new();
        while results.len() < 8 {
            let left = give_up.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "only {results:?} arrived");
            engine
                .turn(&mut results, Some(left), |_, _, event| {
                    panic!("unexpected {event:?}")
                })
                .expect("turn");
        }
        results.sort_unstable();
        assert_eq!(results, [0, 10, 20, 30, 40, 50, 60, 70]);
    }

    #[test]
    fn drop_runs_queued_jobs_and_joins_the_workers() {
        let engine = Engine::<()>::new().expect("engine");
        let n_jobs_run = Arc::new(AtomicUsize::new(0));
        let thread_pool = ThreadPool::new("test-pool", 1).expect("thread pool");
        for _ in 0..4 {
            let n_jobs_run = Arc::clone(&n_jobs_run);
            thread_pool.spawn(
                &engine.remote(),
                move || {
                    thread::sleep(Duration::from_millis(5));
                    n_jobs_run.fetch_add(1, Ordering::SeqCst);
                },
                |_, _, ()| {},
            );
        }
        drop(thread_pool);
        assert_eq!(n_jobs_run.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn a_panicking_job_does_not_take_its_worker_down() {
        let mut engine = Engine::<Option<&'static str>>::new().expect("engine");
        let thread_pool = ThreadPool::new("test-pool", 1).expect("thread pool");
        thread_pool.spawn(
            &engine.remote(),
            || panic!("job panics on purpose"),
            |_, _, ()| {},
        );
        thread_pool.spawn(
            &engine.remote(),
            || "after the panic",
            |outcome, _, result| *outcome = Some(result),
        );
        drop(thread_pool);
        let mut outcome = None;
        engine
            .turn(&mut outcome, Some(Duration::ZERO), |_, _, _| {})
            .expect("turn");
        assert_eq!(outcome, Some("after the panic"));
    }

    #[test]
    fn results_for_a_dropped_engine_are_discarded() {
        let engine = Engine::<()>::new().expect("engine");
        let remote = engine.remote();
        drop(engine);
        let thread_pool = ThreadPool::new("test-pool", 1).expect("thread pool");
        thread_pool.spawn(&remote, || 1, |_, _, _| unreachable!("the engine is gone"));
        drop(thread_pool);
    }

    #[test]
    fn zero_threads_is_an_error() {
        assert!(matches!(
            ThreadPool::new("test-pool", 0),
            Err(EngineError::NoThreads)
        ));
    }
}
