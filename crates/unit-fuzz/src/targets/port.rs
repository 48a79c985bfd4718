//! `port`: what a process makes of the packets on its port.
//!
//! The first byte picks the mode. In payload mode, the next byte is a message type and
//! the rest its payload, decoded as each receiver decodes it (`ToChild`, `ToMain`,
//! `ToRouter`, `Reply`, and the `NEW_PORT` and `START_PROCESS` reply payloads);
//! whatever decodes must encode to a message that decodes to the same thing. In framing
//! mode, the rest is a run of packets from a few senders, each a small description
//! (type, flags, stream, payload length, whether its length field lies) or raw bytes,
//! fed to the receiver's reassembly, which runs with small limits so that inputs reach
//! them. A model of the reassembly says which messages must come out whole, and with
//! which payloads; that a packet the header refuses leaves the half-received messages
//! as they were; that a packet past the message limit or its sender's budget is
//! refused and drops only its own stream's partial; and what each sender has pending.
//!
//! No descriptors ride with the packets, so messages that need one are refused, as
//! they must be.

use std::collections::BTreeMap;

use nix::unistd::Pid;
use unit_port::{
    AppStarted, Header, Message, MsgType, NewPort, PortError, Reassembly, ReassemblyLimits, Reply,
    ToChild, ToMain, ToRouter,
};

use super::{bucket, outcome};

/// Tokens of port packets: headers' fields and the payloads' length prefixes.
pub(super) const DICTIONARY: &[&[u8]] = &[
    b"\x00\x00\x00\x00",
    b"\x01\x00\x00\x00",
    b"\xff\xff\xff\xff",
    b"\xff\xff\xff\x7f",
    b"\x00\x00\x00\x80",
    b"\x10\x00\x01\x00",
    b"\x05\x00\x00\x00hello",
    b"\x00\x00\x00\x00\x00\x00\x00\x00",
    b"\xff",
    b"\x80",
];

/// Runs one input.
pub(super) fn run(input: &[u8]) -> u64 {
    match input.split_first() {
        None => 0,
        Some((mode, rest)) if mode & 1 == 0 => payloads(rest),
        Some((_, rest)) => framing(rest),
    }
}

/// Payload mode: one message of the type the first byte names.
fn payloads(input: &[u8]) -> u64 {
    let Some((&type_byte, payload)) = input.split_first() else {
        return 0;
    };
    // 0 and 23 are no type at all.
    let Ok(msg_type) = MsgType::from_u16(u16::from(type_byte % 24)) else {
        return outcome("unknown type");
    };
    let message = || Message::new(msg_type).with_payload(payload.to_vec());

    let to_child = round_trip(message(), ToChild::from_message, ToChild::into_message);
    let to_main = round_trip(message(), ToMain::from_message, ToMain::into_message);
    let to_router = round_trip(message(), ToRouter::from_message, ToRouter::into_message);
    let reply = round_trip(message(), Reply::from_message, |reply| {
        reply.into_message(7)
    });

    let new_port = NewPort::decode(payload);
    if let Ok(port) = &new_port {
        assert_eq!(NewPort::decode(&port.encode()).ok().as_ref(), Some(port));
        assert_eq!(port.encode(), payload, "NEW_PORT encodes differently");
    }
    let app_started = AppStarted::decode(payload);
    if let Ok(started) = &app_started {
        assert_eq!(
            AppStarted::decode(&started.encode()).ok().as_ref(),
            Some(started)
        );
    }
    outcome((
        type_byte % 24,
        to_child,
        to_main,
        to_router,
        reply,
        new_port.is_ok(),
        app_started.is_ok(),
    ))
}

/// Decodes `message`; what decodes is encoded and decoded again, and must come out the
/// same. Returns what decoding came to, for the outcome.
fn round_trip<T: std::fmt::Debug>(
    mut message: Message,
    decode: impl Fn(&mut Message) -> Result<Option<T>, PortError>,
    encode: impl FnOnce(T) -> Message,
) -> Result<bool, String> {
    let decoded = match decode(&mut message) {
        Ok(Some(decoded)) => decoded,
        Ok(None) => return Ok(false),
        Err(error) => return Err(error_kind(&error)),
    };
    let shown = format!("{decoded:?}");
    let mut encoded = encode(decoded);
    let again = match decode(&mut encoded) {
        Ok(Some(again)) => again,
        other => panic!("{shown} encodes to a message that decodes to {other:?}"),
    };
    assert_eq!(
        format!("{again:?}"),
        shown,
        "a decoded message changes on its way back"
    );
    Ok(true)
}

/// The variant of a port error, without its details.
fn error_kind(error: &PortError) -> String {
    let shown = format!("{error:?}");
    shown
        .split(|character: char| !character.is_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The limits framing mode runs the reassembly with: a few packets of up to 255 bytes
/// reach either, and eight empty fragments on fresh streams (of the eight a described
/// packet can name) exceed the budget.
const LIMITS: ReassemblyLimits = ReassemblyLimits {
    max_message: 600,
    max_pending_per_sender: 700,
    partial_overhead: 100,
};

/// The senders of framing mode.
const SENDERS: std::ops::RangeInclusive<i32> = 1..=4;

/// A half-received message as the model keeps it: type, reply port and payload so far.
type Partial = (u16, u32, Vec<u8>);

/// Framing mode: packets from a few senders, reassembled.
fn framing(mut input: &[u8]) -> u64 {
    let mut reassembly = Reassembly::with_limits(LIMITS);
    let mut model: BTreeMap<(i32, u32), Partial> = BTreeMap::new();
    let mut n_messages = 0usize;
    let mut n_refused = 0usize;
    let mut n_over_limit = 0usize;
    while let Some((&control, rest)) = input.split_first() {
        let (packet, rest) = next_packet(control, rest);
        input = rest;
        let sender = 1 + i32::from(control & 3);
        if control & 4 != 0 {
            reassembly.forget_sender(Pid::from_raw(sender));
            model.retain(|(pid, _), _| *pid != sender);
        }
        let taken = reassembly.take_packet(&packet, Vec::new(), Pid::from_raw(sender));
        match expected(&mut model, sender, &packet) {
            Expected::Refused => {
                assert!(taken.is_err(), "a malformed packet was taken: {taken:?}");
                n_refused += 1;
            }
            Expected::OverLimit => {
                assert!(
                    matches!(taken, Err(PortError::Malformed(_))),
                    "a packet past the limits was taken: {taken:?}"
                );
                n_over_limit += 1;
            }
            Expected::Partial => {
                assert!(
                    matches!(taken, Ok(None)),
                    "a fragment did not wait for the rest: {taken:?}"
                );
            }
            Expected::Whole(msg_type, reply_port, stream, payload) => {
                let message = match taken {
                    Ok(Some(message)) => message,
                    other => panic!("a last fragment did not complete its message: {other:?}"),
                };
                assert_eq!(message.msg_type as u16, msg_type);
                assert_eq!(message.reply_port, reply_port);
                assert_eq!(message.stream, stream);
                assert_eq!(message.sender, Pid::from_raw(sender));
                assert_eq!(message.payload, payload, "a reassembled payload differs");
                n_messages += 1;
            }
        }
        check_pending(&reassembly, &model);
    }
    outcome((
        bucket(n_messages),
        bucket(n_refused),
        bucket(n_over_limit),
        bucket(model.len()),
    ))
}

/// What the model's half-received messages of `sender` charge its budget.
fn model_pending(model: &BTreeMap<(i32, u32), Partial>, sender: i32) -> usize {
    model
        .range((sender, 0)..=(sender, u32::MAX))
        .map(|(_, (_, _, payload))| LIMITS.partial_overhead + payload.len())
        .sum()
}

/// The reassembly's account of what each sender has pending must be the model's, and it
/// keeps no entry for a sender with nothing pending.
fn check_pending(reassembly: &Reassembly, model: &BTreeMap<(i32, u32), Partial>) {
    let mut n_pending_senders = 0;
    for sender in SENDERS {
        let pending = model_pending(model, sender);
        assert_eq!(
            reassembly.pending(Pid::from_raw(sender)),
            pending,
            "sender {sender}'s pending bytes differ from the model's"
        );
        assert!(pending <= LIMITS.max_pending_per_sender);
        if pending > 0 {
            n_pending_senders += 1;
        }
    }
    assert_eq!(reassembly.n_pending_senders(), n_pending_senders);
}

/// What the model says a packet does.
enum Expected {
    /// The header is refused.
    Refused,
    /// The packet would take its message past the message limit, or its sender past
    /// its budget: refused, and its stream's partial is gone.
    OverLimit,
    /// A fragment that is not the last.
    Partial,
    /// The last fragment: the message's type, reply port, stream and whole payload.
    Whole(u16, u32, u32, Vec<u8>),
}

/// Applies `packet` from `sender` to the model.
fn expected(model: &mut BTreeMap<(i32, u32), Partial>, sender: i32, packet: &[u8]) -> Expected {
    let Ok(header) = Header::decode(packet) else {
        return Expected::Refused;
    };
    assert_eq!(
        header.encode(),
        packet[..Header::SIZE],
        "a header encodes differently"
    );
    let key = (sender, header.stream);
    let (msg_type, reply_port, mut payload) =
        model
            .remove(&key)
            .unwrap_or((header.msg_type as u16, header.reply_port, Vec::new()));
    payload.extend_from_slice(&packet[Header::SIZE..]);
    if payload.len() > LIMITS.max_message {
        return Expected::OverLimit;
    }
    if header.is_last() {
        return Expected::Whole(msg_type, reply_port, header.stream, payload);
    }
    let charge = LIMITS.partial_overhead + payload.len();
    if model_pending(model, sender) + charge > LIMITS.max_pending_per_sender {
        return Expected::OverLimit;
    }
    model.insert(key, (msg_type, reply_port, payload));
    Expected::Partial
}

/// The next packet of framing mode and the input after it. The control byte's bit 4
/// says the packet is raw bytes (a length byte, then that many); otherwise it is built
/// from a description: type, flags, stream (0 to 7), reply port and payload length bytes, then
/// the payload, with the header's length field wrong when bit 5 is set.
fn next_packet(control: u8, input: &[u8]) -> (Vec<u8>, &[u8]) {
    let take = |input: &[u8], n_bytes: usize| -> (Vec<u8>, usize) {
        let n_bytes = n_bytes.min(input.len());
        (input[..n_bytes].to_vec(), n_bytes)
    };
    if control & 0x10 != 0 {
        let Some((&len, rest)) = input.split_first() else {
            return (Vec::new(), input);
        };
        let (packet, used) = take(rest, usize::from(len));
        return (packet, &rest[used..]);
    }
    let Some(description) = input.get(..5) else {
        return (Vec::new(), &input[input.len()..]);
    };
    let rest = &input[5..];
    let (payload, used) = take(rest, usize::from(description[4]));
    let length_field = if control & 0x20 != 0 {
        u32::from(description[4]).wrapping_add(1)
    } else {
        payload.len() as u32
    };
    let mut packet = Vec::with_capacity(Header::SIZE + payload.len());
    packet.extend_from_slice(&u16::from(description[0] % 24).to_ne_bytes());
    packet.push(description[1] & 1);
    packet.push(0);
    packet.extend_from_slice(&u32::from(description[2] & 7).to_ne_bytes());
    packet.extend_from_slice(&u32::from(description[3]).to_ne_bytes());
    packet.extend_from_slice(&length_field.to_ne_bytes());
    packet.extend_from_slice(&payload);
    (packet, &rest[used..])
}
