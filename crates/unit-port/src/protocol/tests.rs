//! Every message variant survives encoding and decoding, and payloads that do not match
//! their fields are refused.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::unistd::Pid;

use super::{AppStart, AppStarted, Reply, ToChild, ToMain, ToRouter};
use crate::error::PortError;
use crate::message::{Message, MsgType, NewPort, ProcessType};
use crate::port::port_pair;

fn descriptor() -> OwnedFd {
    std::fs::File::open("/dev/null")
        .expect("/dev/null opens")
        .into()
}

#[test]
fn to_child_round_trips() -> Result<(), PortError> {
    let (_receiver, sender) = port_pair()?;
    let port = NewPort {
        pid: Pid::from_raw(4321),
        id: 0,
        process_type: ProcessType::Router,
    };
    let cases = vec![
        ToChild::Quit,
        ToChild::NewPort { port, sender },
        ToChild::RemovePid(Pid::from_raw(77)),
        ToChild::ChangeFile(descriptor()),
        ToChild::StoredConf(b"{\"listeners\":{}}".to_vec()),
        ToChild::StoredCertificates(Vec::new()),
        ToChild::StoredCertificates(vec![
            ("default".into(), b"-----BEGIN CERTIFICATE-----\n".to_vec()),
            ("empty".into(), Vec::new()),
            ("bytes \u{e9}".into(), vec![0, 0xff, 10]),
        ]),
        ToChild::AccessLogReopened {
            path: "/var/log/access.log".into(),
            file: descriptor(),
        },
    ];
    for case in cases {
        let expected = format!("{case:?}");
        let mut message = case.into_message();
        let decoded = ToChild::from_message(&mut message)?.expect("a message to a child");
        // Descriptors are the same objects, so the debug forms agree exactly.
        assert_eq!(format!("{decoded:?}"), expected);
    }
    Ok(())
}

#[test]
fn to_main_round_trips() -> Result<(), PortError> {
    let cases = vec![
        ToMain::ProcessReady,
        ToMain::ConfStore(b"{}".to_vec()),
        ToMain::Socket {
            address: "127.0.0.1:8080".into(),
            backlog: Some(511),
        },
        ToMain::Socket {
            address: "unix:/run/a b.sock".into(),
            backlog: None,
        },
        ToMain::SocketClose("[::1]:80".into()),
        ToMain::AccessLog("/var/log/access.log".into()),
        ToMain::StartProcess(Box::new(AppStart {
            name: "blog".into(),
            generation: 3,
            executable: "/srv/blog/server".into(),
            arguments: vec!["--fd".into(), "3".into(), String::new()],
            environment: vec![("A".into(), "1".into()), ("EMPTY".into(), String::new())],
            working_directory: Some("/srv/blog".into()),
            user: None,
            group: Some("www".into()),
            stdout: None,
            stderr: Some("/var/log/blog.err".into()),
            reports_ready: true,
            isolation: Some(r#"{"namespaces":{"pid":true},"rootfs":"/srv/root"}"#.into()),
        })),
        ToMain::StartProcess(Box::new(AppStart {
            name: "bare".into(),
            generation: 0,
            executable: "app".into(),
            arguments: Vec::new(),
            environment: Vec::new(),
            working_directory: None,
            user: None,
            group: None,
            stdout: None,
            stderr: None,
            reports_ready: false,
            isolation: None,
        })),
        ToMain::StopProcess(Pid::from_raw(321)),
        ToMain::CertificateStore {
            name: "default".into(),
            pem: b"-----BEGIN PRIVATE KEY-----\n".to_vec(),
        },
        ToMain::CertificateStore {
            name: "x".into(),
            pem: Vec::new(),
        },
        ToMain::CertificateDelete {
            name: "default".into(),
        },
        ToMain::CertificateFile {
            name: "end-int".into(),
        },
    ];
    for case in cases {
        let expected = format!("{case:?}");
        let mut message = case.into_message();
        let decoded = ToMain::from_message(&mut message)?.expect("a message to main");
        assert_eq!(format!("{decoded:?}"), expected);
    }
    Ok(())
}

#[test]
fn started_replies_round_trip() -> Result<(), PortError> {
    let started = AppStarted {
        pid: Pid::from_raw(987),
        socket: "/tmp/unit-apps.1/3.sock".into(),
        capacity: 4,
    };
    assert_eq!(AppStarted::decode(&started.encode())?, started);
    assert!(AppStarted::decode(&started.encode()[..6]).is_err());
    Ok(())
}

#[test]
fn to_router_round_trips() -> Result<(), PortError> {
    for case in [
        ToRouter::Apply(b"{\"routes\":[]}".to_vec()),
        ToRouter::Status,
        ToRouter::AppRestart("blog".into()),
    ] {
        let expected = format!("{case:?}");
        let mut message = case.into_message();
        let decoded = ToRouter::from_message(&mut message)?.expect("a message to the router");
        assert_eq!(format!("{decoded:?}"), expected);
    }
    Ok(())
}

#[test]
fn replies_round_trip_on_their_stream() -> Result<(), PortError> {
    let file = descriptor();
    let raw_fd = file.as_raw_fd();
    let mut message = Reply::ready_with_fd(file).into_message(9);
    assert_eq!(message.stream, 9);
    match Reply::from_message(&mut message)? {
        Some(Reply::Ready { payload, fds }) => {
            assert!(payload.is_empty());
            assert_eq!(
                fds.iter().map(AsRawFd::as_raw_fd).collect::<Vec<_>>(),
                [raw_fd]
            );
        }
        other => panic!("expected a ready reply, got {other:?}"),
    }
    let mut message = Reply::ready_with_payload("{\"a\":1}").into_message(3);
    assert!(matches!(
        Reply::from_message(&mut message)?,
        Some(Reply::Ready { payload, .. }) if payload == b"{\"a\":1}"
    ));
    let mut message = Reply::Error("bind failed".into()).into_message(4);
    assert!(matches!(
        Reply::from_message(&mut message)?,
        Some(Reply::Error(reason)) if reason == "bind failed"
    ));
    let mut not_a_reply = Message::new(MsgType::Quit);
    assert!(Reply::from_message(&mut not_a_reply)?.is_none());
    Ok(())
}

#[test]
fn messages_of_another_direction_are_not_taken() -> Result<(), PortError> {
    let mut to_main = ToMain::ProcessReady.into_message();
    assert!(ToChild::from_message(&mut to_main)?.is_none());
    assert!(ToRouter::from_message(&mut to_main)?.is_none());
    let mut to_child = ToChild::Quit.into_message();
    assert!(ToMain::from_message(&mut to_child)?.is_none());
    Ok(())
}

#[test]
fn bad_payloads_are_refused() {
    let refused = |mut message: Message| {
        let results = [
            ToChild::from_message(&mut message).map(drop),
            ToMain::from_message(&mut message).map(drop),
            ToRouter::from_message(&mut message).map(drop),
        ];
        assert!(
            results.iter().any(Result::is_err),
            "{:?} with payload {:?} was taken",
            message.msg_type,
            message.payload
        );
    };
    // A field longer than the payload, bytes left over, text that is not UTF-8.
    refused(Message::new(MsgType::Socket).with_payload(vec![200, 0, 0, 0, b'a']));
    refused(
        Message::new(MsgType::SocketClose).with_payload([&1u32.to_ne_bytes()[..], b"ab"].concat()),
    );
    refused(
        Message::new(MsgType::AccessLog).with_payload([&1u32.to_ne_bytes()[..], &[0xff]].concat()),
    );
    refused(Message::new(MsgType::RemovePid).with_payload("12"));
    refused(Message::new(MsgType::Status).with_payload("x"));
    // A count of arguments far beyond what the payload holds.
    refused(
        Message::new(MsgType::StartProcess).with_payload(
            [
                &1u32.to_ne_bytes()[..],
                b"a",
                &0u64.to_ne_bytes(),
                &1u32.to_ne_bytes(),
                b"x",
                &i32::MAX.to_ne_bytes(),
            ]
            .concat(),
        ),
    );
    // A bundle without its bytes, and more bundles than the payload holds.
    refused(
        Message::new(MsgType::CertificateStore)
            .with_payload([&1u32.to_ne_bytes()[..], b"a"].concat()),
    );
    refused(
        Message::new(MsgType::StoredCertificates).with_payload(
            [
                &3i32.to_ne_bytes()[..],
                &0u32.to_ne_bytes(),
                &0u32.to_ne_bytes(),
            ]
            .concat(),
        ),
    );
    refused(Message::new(MsgType::CertificateDelete));
    // Messages that must carry one descriptor.
    refused(Message::new(MsgType::ChangeFile));
    refused(
        Message::new(MsgType::ChangeFile)
            .with_fd(descriptor())
            .with_fd(descriptor()),
    );
    let port = NewPort {
        pid: Pid::from_raw(1),
        id: 0,
        process_type: ProcessType::Controller,
    };
    refused(Message::new(MsgType::NewPort).with_payload(port.encode()));
}
