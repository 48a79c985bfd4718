//! WebSocket frames as a test client writes and reads them (RFC 6455).

use std::io::Read;

/// A client frame (`fin` set on the last of a message): masked, as RFC 6455 requires
/// of clients.
pub(crate) fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![if fin { 0x80 } else { 0 } | opcode];
    match payload.len() {
        length @ 0..=125 => frame.push(0x80 | length as u8),
        length @ 126..=65535 => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(length as u16).to_be_bytes());
        }
        length => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(length as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(
        payload
            .iter()
            .enumerate()
            .map(|(i, byte)| byte ^ mask[i % 4]),
    );
    frame
}

/// The opcode and payload of the next (unmasked, server) frame.
pub(crate) fn server_frame(stream: &mut impl Read) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).expect("a frame head");
    assert_eq!(head[1] & 0x80, 0, "a server does not mask");
    let length = match head[1] & 0x7f {
        126 => {
            let mut length = [0u8; 2];
            stream.read_exact(&mut length).expect("a length");
            u16::from_be_bytes(length) as usize
        }
        127 => {
            let mut length = [0u8; 8];
            stream.read_exact(&mut length).expect("a length");
            usize::try_from(u64::from_be_bytes(length)).expect("a sane length")
        }
        length => length as usize,
    };
    let mut payload = vec![0u8; length];
    stream.read_exact(&mut payload).expect("a payload");
    (head[0] & 0x0f, payload)
}
