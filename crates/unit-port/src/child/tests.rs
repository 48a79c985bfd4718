//! The child port loop: common messages are applied, senders are checked by the pid the
//! kernel reports, and a bad message holds back none behind it.

use std::time::Duration;

use nix::unistd::{Pid, getpid};

use super::{ChildEvent, ChildPort};
use crate::message::{Message, MsgType, NewPort, ProcessType};
use crate::port::{PortSender, port_pair};
use crate::protocol::{Reply, ToChild, ToRouter};

/// A child port whose main is `main_pid`, and a sender into it.
fn child_port(main_pid: Pid) -> (ChildPort, PortSender) {
    let (receiver, sender) = port_pair().expect("a port");
    let (_main_receiver, main) = port_pair().expect("main's port");
    (ChildPort::new(receiver, main, main_pid), sender)
}

/// Every event the port has now, waiting a little for the first.
fn events(port: &mut ChildPort) -> Vec<ChildEvent> {
    std::thread::sleep(Duration::from_millis(20));
    std::iter::from_fn(|| port.next_event()).collect()
}

#[test]
fn messages_from_main_are_applied() {
    let (mut port, to_child) = child_port(getpid());
    let (_peer_receiver, peer_sender) = port_pair().expect("a peer's port");
    let peer = NewPort {
        pid: Pid::from_raw(4000),
        id: 0,
        process_type: ProcessType::Controller,
    };
    for message in [
        ToChild::NewPort {
            port: peer,
            sender: peer_sender,
        },
        ToChild::StoredConf(b"{}".to_vec()),
        ToChild::RemovePid(peer.pid),
        ToChild::Quit,
    ] {
        to_child.send(&message.into_message(), 0).expect("send");
    }
    let events = events(&mut port);
    assert!(matches!(events[0], ChildEvent::PeerAdded(added) if added == peer));
    assert!(matches!(&events[1], ChildEvent::FromMain(ToChild::StoredConf(conf)) if conf == b"{}"));
    assert!(matches!(events[2], ChildEvent::PeerGone(pid) if pid == peer.pid));
    assert!(matches!(events[3], ChildEvent::Quit));
    assert_eq!(events.len(), 4);
    assert_eq!(port.peer(ProcessType::Controller), None, "the peer is gone");
}

#[test]
fn only_main_may_send_what_main_sends() {
    // Main is some other process: what this process sends is not main's word.
    let (mut port, to_child) = child_port(Pid::from_raw(1));
    to_child
        .send(&ToChild::Quit.into_message(), 0)
        .expect("send");
    to_child
        .send(&ToChild::StoredConf(b"{}".to_vec()).into_message(), 0)
        .expect("send");
    to_child
        .send(&Reply::ready().into_message(7), 0)
        .expect("send");
    let events = events(&mut port);
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(
        matches!(events[0], ChildEvent::Reply { stream: 7, from, .. } if from == getpid()),
        "replies are taken from anyone; the role checks the stream"
    );
}

#[test]
fn router_requests_come_from_the_controller_only() {
    let (mut port, to_child) = child_port(getpid());
    // Before main introduces this process as the controller, its requests are refused.
    to_child
        .send(&ToRouter::Status.into_message().with_stream(3), 0)
        .expect("send");
    assert!(events(&mut port).is_empty());
    let (_receiver, sender) = port_pair().expect("the controller's port");
    let controller = NewPort {
        pid: getpid(),
        id: 0,
        process_type: ProcessType::Controller,
    };
    let introduce = ToChild::NewPort {
        port: controller,
        sender,
    };
    to_child.send(&introduce.into_message(), 0).expect("send");
    to_child
        .send(&ToRouter::Status.into_message().with_stream(4), 0)
        .expect("send");
    let events = events(&mut port);
    assert!(matches!(events[0], ChildEvent::PeerAdded(_)));
    assert!(matches!(
        &events[1],
        ChildEvent::Request { requester, request: ToRouter::Status } if requester.stream == 4
    ));
}

#[test]
fn a_malformed_message_does_not_hold_back_the_ones_behind_it() {
    let (mut port, to_child) = child_port(getpid());
    to_child
        .send(&Message::new(MsgType::RemovePid).with_payload("x"), 0)
        .expect("send");
    to_child
        .send(&Message::new(MsgType::ChangeFile), 0)
        .expect("send");
    to_child
        .send(&ToChild::Quit.into_message(), 0)
        .expect("send");
    let events = events(&mut port);
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(matches!(events[0], ChildEvent::Quit));
}

#[test]
fn main_gone_is_reported_once() {
    let (receiver, sender) = port_pair().expect("a port");
    let (_main_receiver, main) = port_pair().expect("main's port");
    let mut port = ChildPort::new(receiver, main, getpid());
    drop(sender);
    assert!(matches!(port.next_event(), Some(ChildEvent::MainGone)));
    assert!(port.next_event().is_none());
}
