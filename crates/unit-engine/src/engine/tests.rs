//! Tests of the engine loop: timers, work queues, remote posts, I/O and signals.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use mio::Interest;
use mio::net::{TcpListener, UnixStream};
use nix::sys::signal::{Signal, raise};

use super::*;

/// Generous bound for anything that should happen "at once", so slow CI does not flake.
const PATIENCE: Duration = Duration::from_secs(5);

/// Turns the engine, recording every event, until `done` holds or `PATIENCE` runs out.
fn turn_until<S>(
    engine: &mut Engine<S>,
    state: &mut S,
    events: &mut Vec<Event>,
    mut done: impl FnMut(&S, &[Event]) -> bool,
) {
    let give_up = Instant::now() + PATIENCE;
    while !done(state, events) {
        let left = give_up.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "condition not reached in time; events so far: {events:?}"
        );
        engine
            .turn(state, Some(left), |_, _, event| events.push(event))
            .expect("turn");
    }
}

fn timer_keys(events: &[Event]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::Timer { key, .. } => Some(*key),
            _ => None,
        })
        .collect()
}

#[test]
fn timers_fire_in_deadline_order_and_cancelled_ones_do_not() {
    let mut engine = Engine::<()>::new().expect("engine");
    let start = Instant::now();
    engine.add_timer_at(start + Duration::from_millis(30), 3);
    engine.add_timer(Duration::from_millis(10), 1);
    let cancelled = engine.add_timer_at(start + Duration::from_millis(20), 20);
    engine.add_timer_at(start + Duration::from_millis(20), 21);
    engine.add_timer_at(start + Duration::from_millis(20), 22);
    let fired_then_cancelled = engine.add_timer_at(start, 0);
    engine.cancel_timer(cancelled);
    assert_eq!(engine.next_timer_deadline(), Some(start));

    let mut events = Vec::new();
    turn_until(&mut engine, &mut (), &mut events, |_, events| {
        timer_keys(events).len() >= 5
    });
    assert_eq!(timer_keys(&events), [0, 1, 21, 22, 3]);
    assert!(
        start.elapsed() >= Duration::from_millis(30),
        "the last timer fired early"
    );
    engine.cancel_timer(fired_then_cancelled);
    assert_eq!(engine.next_timer_deadline(), None);
}

#[test]
fn a_handler_can_cancel_a_timer_that_expired_in_the_same_turn() {
    let mut engine = Engine::<Vec<u64>>::new().expect("engine");
    let deadline = Instant::now();
    engine.add_timer_at(deadline, 1);
    let second = engine.add_timer_at(deadline, 2);
    let mut fired = Vec::new();
    engine
        .turn(&mut fired, Some(PATIENCE), |fired, engine, event| {
            if let Event::Timer { key, .. } = event {
                fired.push(key);
                engine.cancel_timer(second);
            }
        })
        .expect("turn");
    assert_eq!(fired, [1]);
    assert_eq!(engine.next_timer_deadline(), None);
}

#[test]
fn a_timer_armed_while_firing_waits_for_the_next_turn() {
    let mut engine = Engine::<Vec<u64>>::new().expect("engine");
    engine.add_timer(Duration::ZERO, 1);
    let mut fired = Vec::new();
    let mut handler = |fired: &mut Vec<u64>, engine: &mut Engine<Vec<u64>>, event| {
        if let Event::Timer { key, .. } = event {
            fired.push(key);
            engine.add_timer(Duration::ZERO, key + 1);
        }
    };
    engine
        .turn(&mut fired, Some(PATIENCE), &mut handler)
        .expect("turn");
    assert_eq!(fired, [1]);
    engine
        .turn(&mut fired, Some(PATIENCE), &mut handler)
        .expect("turn");
    assert_eq!(fired, [1, 2]);
}

#[test]
fn work_posted_from_the_handler_runs_before_the_next_poll() {
    let mut engine = Engine::<Vec<&'static str>>::new().expect("engine");
    engine.add_timer(Duration::ZERO, 7);
    let mut log = Vec::new();
    let start = Instant::now();
    engine
        .turn(&mut log, Some(PATIENCE), |log, engine, event| {
            assert!(
                matches!(event, Event::Timer { key: 7, .. }),
                "unexpected {event:?}"
            );
            log.push("timer");
            engine.post(|log, engine| {
                log.push("work");
                engine.post(|log, _| log.push("work posted by work"));
            });
        })
        .expect("turn");
    assert_eq!(log, ["timer", "work", "work posted by work"]);
    assert!(
        start.elapsed() < PATIENCE,
        "the turn waited although work was queued"
    );
}

#[test]
fn queued_work_makes_the_poll_return_at_once() {
    let mut engine = Engine::<u32>::new().expect("engine");
    engine.post(|count, _| *count += 1);
    let mut count = 0;
    let start = Instant::now();
    engine
        .turn(&mut count, None, |_, _, event| {
            panic!("unexpected {event:?}")
        })
        .expect("turn");
    assert_eq!(count, 1);
    assert!(start.elapsed() < PATIENCE);
}

#[test]
fn a_remote_post_wakes_a_blocked_turn() {
    let mut engine = Engine::<Option<thread::ThreadId>>::new().expect("engine");
    let remote = engine.remote();
    let poster = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        remote
            .post(|ran_on, _| *ran_on = Some(thread::current().id()))
            .expect("post");
    });
    let start = Instant::now();
    let mut ran_on = None;
    // No timers, no work, no maximum wait: this single turn must block until the post.
    engine
        .turn(&mut ran_on, None, |_, _, event| {
            panic!("unexpected {event:?}")
        })
        .expect("turn");
    assert!(
        start.elapsed() >= Duration::from_millis(50),
        "the turn returned before the post"
    );
    assert_eq!(
        ran_on,
        Some(thread::current().id()),
        "remote work runs on the engine thread"
    );
    poster.join().expect("poster thread");
}

/// Posts through `remote` work that posts again until `left` reaches zero.
fn post_chain(remote: Remote<u32>, left: u32) {
    let next = remote.clone();
    remote
        .post(move |count, _| {
            *count += 1;
            if left > 1 {
                post_chain(next, left - 1);
            }
        })
        .expect("post");
}

#[test]
fn work_the_engine_thread_posts_to_itself_runs_without_waiting() {
    let mut engine = Engine::<u32>::new().expect("engine");
    let remote = engine.remote();
    engine.add_timer(Duration::ZERO, 1);
    let start = Instant::now();
    let mut count = 0;
    // A chain longer than one turn drains: the turns after it must not block either.
    while count < 20 {
        engine
            .turn(&mut count, Some(PATIENCE), |_, _, event| {
                assert!(matches!(event, Event::Timer { key: 1, .. }));
                post_chain(remote.clone(), 20);
            })
            .expect("turn");
        assert!(
            start.elapsed() < PATIENCE,
            "a turn blocked with work posted"
        );
    }
    assert_eq!(count, 20);
}

#[test]
fn a_remote_post_can_stop_a_blocked_run() {
    let mut engine = Engine::<Vec<u32>>::new().expect("engine");
    let remote = engine.remote();
    let poster = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        for value in 0..3 {
            remote
                .clone()
                .post(move |values, _| values.push(value))
                .expect("post");
        }
        remote.post(|_, engine| engine.stop()).expect("post");
    });
    let start = Instant::now();
    let mut values = Vec::new();
    engine
        .run(&mut values, |_, _, event| panic!("unexpected {event:?}"))
        .expect("run");
    assert!(start.elapsed() >= Duration::from_millis(50));
    assert_eq!(
        values,
        [0, 1, 2],
        "work posted from one thread runs in order"
    );
    poster.join().expect("poster thread");
}

#[test]
fn stop_before_run_returns_at_once_and_the_engine_can_run_again() {
    let mut engine = Engine::<u32>::new().expect("engine");
    engine.stop();
    let mut count = 0;
    engine.run(&mut count, |_, _, _| {}).expect("run");
    engine.post(|count, engine| {
        *count += 1;
        engine.stop();
    });
    engine.run(&mut count, |_, _, _| {}).expect("run");
    assert_eq!(count, 1);
}

#[test]
fn posting_to_a_dropped_engine_fails() {
    let engine = Engine::<()>::new().expect("engine");
    let remote = engine.remote();
    remote.post(|_, _| {}).expect("post while the engine lives");
    drop(engine);
    assert!(matches!(remote.post(|_, _| {}), Err(EngineError::Gone)));
}

#[test]
fn unix_stream_readiness_arrives_as_io_events() {
    const PEER: Token = Token(7);
    let mut engine = Engine::<()>::new().expect("engine");
    let (mut reader, mut writer) = UnixStream::pair().expect("socket pair");
    engine
        .registry()
        .register(&mut reader, PEER, Interest::READABLE)
        .expect("register");

    writer.write_all(b"ping").expect("write");
    let mut events = Vec::new();
    turn_until(&mut engine, &mut (), &mut events, |_, events| {
        !events.is_empty()
    });
    assert!(
        matches!(
            events[..],
            [Event::Io {
                token: PEER,
                readable: true,
                closed: false,
                ..
            }]
        ),
        "{events:?}"
    );
    let mut buf = [0; 8];
    assert_eq!(reader.read(&mut buf).expect("read"), 4);

    drop(writer);
    events.clear();
    turn_until(&mut engine, &mut (), &mut events, |_, events| {
        !events.is_empty()
    });
    assert!(
        matches!(
            events[..],
            [Event::Io {
                token: PEER,
                closed: true,
                ..
            }]
        ),
        "{events:?}"
    );
}

#[test]
fn tcp_listener_readiness_arrives_as_io_events() {
    const LISTENER: Token = Token(0);
    let mut engine = Engine::<()>::new().expect("engine");
    let address = "127.0.0.1:0".parse().expect("address");
    let mut listener = TcpListener::bind(address).expect("bind");
    let address = listener.local_addr().expect("local address");
    engine
        .registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .expect("register");

    let _client = TcpStream::connect(address).expect("connect");
    let mut events = Vec::new();
    turn_until(&mut engine, &mut (), &mut events, |_, events| {
        !events.is_empty()
    });
    assert!(
        matches!(
            events[..],
            [Event::Io {
                token: LISTENER,
                readable: true,
                ..
            }]
        ),
        "{events:?}"
    );
    listener.accept().expect("accept");
}

// `raise` sends the signal to the calling thread, which `watch_signals` has just blocked
// it in, so these tests do not disturb the other tests running in parallel.
#[test]
fn signals_arrive_as_events() {
    let mut engine = Engine::<()>::new().expect("engine");
    engine
        .watch_signals(&[Signal::SIGUSR2])
        .expect("watch signals");
    raise(Signal::SIGUSR2).expect("raise");
    let mut events = Vec::new();
    turn_until(&mut engine, &mut (), &mut events, |_, events| {
        !events.is_empty()
    });
    assert!(
        matches!(events[..], [Event::Signal(Signal::SIGUSR2)]),
        "{events:?}"
    );

    // Watching more signals keeps the earlier ones, and one wake-up delivers them all.
    engine
        .watch_signals(&[Signal::SIGUSR1])
        .expect("watch more signals");
    raise(Signal::SIGUSR1).expect("raise");
    raise(Signal::SIGUSR2).expect("raise");
    events.clear();
    turn_until(&mut engine, &mut (), &mut events, |_, events| {
        events.len() == 2
    });
    let mut signals: Vec<Signal> = events
        .iter()
        .map(|event| match event {
            Event::Signal(signal) => *signal,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    signals.sort_by_key(|signal| *signal as i32);
    assert_eq!(signals, [Signal::SIGUSR1, Signal::SIGUSR2]);
}
