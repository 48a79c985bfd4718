//! Port benchmarks: a port-table lookup, and a message round trip between two processes
//! (this benchmark binary runs itself again as the echoing peer).

use std::hint::black_box;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::{Child, Command};
use std::time::Duration;

use criterion::{Criterion, criterion_group};
use nix::unistd::Pid;
use unit_port::{
    Message, MsgType, PortKey, PortReceiver, PortSender, PortTable, ProcessType, port_pair,
};

/// Set in the echoing child: "<receiver fd>,<sender fd>".
const ECHO_ENV: &str = "UNIT_PORT_BENCH_ECHO";

fn port_table_lookup(criterion: &mut Criterion) {
    let mut table = PortTable::new();
    let mut keep_alive = Vec::new();
    for pid in 1..=1000 {
        let (receiver, sender) = port_pair().expect("port pair");
        keep_alive.push(receiver);
        let key = PortKey {
            pid: Pid::from_raw(pid),
            id: 0,
        };
        table.insert(key, ProcessType::App, sender);
    }
    let key = PortKey {
        pid: Pid::from_raw(777),
        id: 0,
    };
    criterion.bench_function("port_table_lookup_1000", |bencher| {
        bencher.iter(|| black_box(table.get(black_box(key))).is_some())
    });
    criterion.bench_function("port_table_by_type", |bencher| {
        bencher.iter(|| black_box(table.by_type(black_box(ProcessType::App))).is_some())
    });
}

/// Waits for one whole message, spinning on the non-blocking receiver.
fn receive_blocking(receiver: &mut PortReceiver) -> Message {
    loop {
        if let Some(message) = receiver.receive().expect("receive") {
            return message;
        }
        let mut poll_fds = [nix::poll::PollFd::new(
            std::os::fd::AsFd::as_fd(receiver),
            nix::poll::PollFlags::POLLIN,
        )];
        let _ = nix::poll::poll(&mut poll_fds, nix::poll::PollTimeout::NONE);
    }
}

fn start_echo_peer() -> (PortReceiver, PortSender, Child) {
    let (our_receiver, our_sender) = port_pair().expect("port pair");
    let (peer_receiver, peer_sender) = port_pair().expect("port pair");
    // Duplicates without close-on-exec carry the peer's ends into the child.
    let peer_receiver_fd = nix::unistd::dup(&peer_receiver).expect("dup");
    let our_sender_fd = nix::unistd::dup(&our_sender).expect("dup");
    let child = Command::new(std::env::current_exe().expect("bench binary"))
        .env(
            ECHO_ENV,
            format!(
                "{},{}",
                peer_receiver_fd.as_raw_fd(),
                our_sender_fd.as_raw_fd()
            ),
        )
        .spawn()
        .expect("starting the echo peer");
    drop((peer_receiver_fd, our_sender_fd, peer_receiver));
    (our_receiver, peer_sender, child)
}

fn round_trip(criterion: &mut Criterion) {
    let (mut receiver, peer, mut child) = start_echo_peer();
    for (name, size) in [
        ("port_round_trip_64b", 64),
        ("port_round_trip_64kib", 64 * 1024),
    ] {
        let message = Message::new(MsgType::Apply).with_payload(vec![7u8; size]);
        criterion.bench_function(name, |bencher| {
            bencher.iter(|| {
                peer.send(&message, 0).expect("send");
                black_box(receive_blocking(&mut receiver))
            })
        });
    }
    let _ = peer.send(&Message::new(MsgType::Quit), 0);
    let _ = child.wait();
}

/// Takes a descriptor number this process inherited from the benchmark parent.
#[allow(unsafe_code)]
fn adopt(raw_fd: RawFd) -> OwnedFd {
    // SAFETY: the parent duplicated this descriptor for us alone and passed its number;
    // it is adopted exactly once, right here.
    unsafe { OwnedFd::from_raw_fd(raw_fd) }
}

fn echo(spec: &str) {
    let mut fds = spec
        .split(',')
        .map(|number| number.parse::<RawFd>().expect("fd number"));
    let (Some(receiver_fd), Some(sender_fd)) = (fds.next(), fds.next()) else {
        return;
    };
    let mut receiver = PortReceiver::from_fd(adopt(receiver_fd)).expect("a port receiver");
    let sender = PortSender::from_fd(adopt(sender_fd));
    loop {
        let message = receive_blocking(&mut receiver);
        if message.msg_type == MsgType::Quit {
            return;
        }
        sender.send(&message, 0).expect("echo");
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = port_table_lookup, round_trip
}

fn main() {
    if let Ok(spec) = std::env::var(ECHO_ENV) {
        echo(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
