//! Benchmarks of the engine's hot paths: the timer queue and the local work queue.
//!
//! Run with `cargo bench -p unit-engine`; CI only compiles them.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use unit_engine::Engine;

const N_TIMERS: u64 = 10_000;
const N_WORKS: u64 = 1_000;

/// Arms 10k timers with spread deadlines, then cancels all of them.
fn arm_and_cancel_timers(c: &mut Criterion) {
    let mut engine = Engine::<()>::new().expect("creating an engine for the benchmark");
    let mut timer_ids = Vec::with_capacity(N_TIMERS as usize);
    c.bench_function("arm and cancel 10k timers", |b| {
        b.iter(|| {
            for key in 0..N_TIMERS {
                let after = Duration::from_millis(1_000 + (key * 7919) % 60_000);
                timer_ids.push(engine.add_timer(after, key));
            }
            for timer_id in timer_ids.drain(..) {
                engine.cancel_timer(black_box(timer_id));
            }
            black_box(engine.next_timer_deadline())
        });
    });
}

/// Posts 1k closures and drains them with one non-blocking turn.
fn post_and_drain(c: &mut Criterion) {
    let mut engine = Engine::<u64>::new().expect("creating an engine for the benchmark");
    c.bench_function("post and drain 1k works", |b| {
        b.iter_batched(
            || 0_u64,
            |mut counter| {
                for _ in 0..N_WORKS {
                    engine.post(|counter, _| *counter += 1);
                }
                engine
                    .turn(&mut counter, Some(Duration::ZERO), |_, _, _| {})
                    .expect("a zero-wait turn succeeds");
                assert_eq!(counter, N_WORKS);
                counter
            },
            BatchSize::SmallInput,
        );
    });
}

criterion_group!(benches, arm_and_cancel_timers, post_and_drain);
criterion_main!(benches);
