//! Tests of upstream compilation and the smooth weighted round robin order.

use std::path::Path;
use std::sync::Arc;
use std::thread;

use serde_json::{Value, json};

use super::{ProxyTarget, Upstreams};
use crate::conf::tests::parse;
use crate::template::tests::socket;

/// Parses a root `upstreams` value (`None`: absent) with unit-conf, as the router gets
/// it, and compiles it; the error is the validator's message.
fn compile_upstreams(upstreams: Option<&Value>) -> Result<Upstreams, String> {
    let conf = match upstreams {
        Some(upstreams) => json!({ "upstreams": upstreams }),
        None => json!({}),
    };
    Ok(Upstreams::compile(&parse(&conf)?.upstreams))
}

/// The servers used in the tests, by letter: `a` is `127.0.0.1:8001`, `b` port 8002...
fn server(letter: char) -> String {
    let offset = u32::from(letter) - u32::from('a') + 1;
    format!("127.0.0.1:{}", 8000 + offset)
}

/// An upstream named `u` with the given (letter, weight) servers; `None` leaves the
/// weight out.
fn upstream(servers: &[(char, Option<Value>)]) -> Value {
    let servers: serde_json::Map<String, Value> = servers
        .iter()
        .map(|(letter, weight)| {
            let entry = match weight {
                Some(weight) => json!({ "weight": weight }),
                None => json!({}),
            };
            (server(*letter), entry)
        })
        .collect();
    json!({ "u": { "servers": servers } })
}

/// The letter of a picked address.
fn letter(target: ProxyTarget) -> char {
    let ProxyTarget::Inet(address) = target else {
        return '?';
    };
    let offset = u32::from(address.port()) - 8000 - 1;
    char::from_u32(u32::from('a') + offset).expect("test ports map to letters")
}

/// Compiles `servers` and checks that successive picks give the letters of `expected`.
fn check(servers: &[(char, Option<Value>)], expected: &str) {
    let conf = upstream(servers);
    let upstreams = compile_upstreams(Some(&conf)).expect("test upstreams compile");
    let picked: String = (0..expected.chars().count())
        .map(|_| upstreams.pick("u").map_or('-', letter))
        .collect();
    assert_eq!(picked, expected, "servers {conf}");
}

#[test]
fn round_robin_order() {
    // The order nginx's smooth weighted round robin is known for.
    check(
        &[
            ('a', Some(json!(5))),
            ('b', Some(json!(1))),
            ('c', Some(json!(1))),
        ],
        "aabacaaaabacaa",
    );
    check(&[('a', None), ('b', None), ('c', None)], "abcabc");
    check(&[('a', Some(json!(1))), ('b', Some(json!(3)))], "babbbabb");
    check(&[('a', None)], "aaa");
    // Weight 0 is never picked, wherever it stands.
    check(
        &[
            ('a', Some(json!(0))),
            ('b', Some(json!(1))),
            ('c', Some(json!(1))),
        ],
        "bcbcbc",
    );
    check(&[('a', Some(json!(2))), ('b', Some(json!(0)))], "aaaa");
    check(&[('a', Some(json!(0))), ('b', Some(json!(0)))], "---");
    check(&[], "--");
    // Fractional weights keep their ratio.
    check(
        &[('a', Some(json!(0.5))), ('b', Some(json!(1.5)))],
        "babbbabb",
    );
    check(&[('a', Some(json!(2.5))), ('b', Some(json!(1)))], "abaaaba");
    // A tiny positive weight still gets a turn.
    let conf = upstream(&[('a', Some(json!(0.0001))), ('b', Some(json!(1)))]);
    let upstreams = compile_upstreams(Some(&conf)).expect("the upstream compiles");
    let picks: Vec<char> = (0..2_000)
        .filter_map(|_| upstreams.pick("u").map(letter))
        .collect();
    assert!(picks.contains(&'a'));
    assert!(picks.iter().filter(|pick| **pick == 'b').count() > 1_990);
}

#[test]
fn lookups() {
    let conf = json!({
        "one": {"servers": {"127.0.0.1:8001": {}}},
        "six": {"servers": {"[::1]:8080": {"weight": 2}}},
        "local": {"servers": {"unix:/run/app.sock": {}}},
    });
    let upstreams = compile_upstreams(Some(&conf)).expect("the upstreams compile");
    let inet = |text: &str| Some(ProxyTarget::Inet(socket(text)));
    assert_eq!(upstreams.pick("one"), inet("127.0.0.1:8001"));
    assert_eq!(upstreams.pick("six"), inet("[::1]:8080"));
    assert_eq!(
        upstreams.pick("local"),
        Some(ProxyTarget::Unix(Path::new("/run/app.sock").into()))
    );
    assert_eq!(upstreams.pick("seven"), None);
    let none = compile_upstreams(None).expect("no upstreams compile");
    assert_eq!(none.pick("one"), None);
}

#[test]
fn shared_between_threads() {
    let conf = upstream(&[('a', Some(json!(2))), ('b', Some(json!(1)))]);
    let upstreams = Arc::new(compile_upstreams(Some(&conf)).expect("the upstream compiles"));
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let upstreams = Arc::clone(&upstreams);
            thread::spawn(move || {
                (0..300)
                    .filter(|_| upstreams.pick("u").map(letter) == Some('a'))
                    .count()
            })
        })
        .collect();
    let picked_a: usize = handles
        .into_iter()
        .map(|handle| handle.join().expect("picking threads do not panic"))
        .sum();
    // 900 picks in whole cycles of three: exactly two thirds go to `a`.
    assert_eq!(picked_a, 600);
}

#[test]
fn compile_errors() {
    for conf in [
        json!([]),
        json!({"u": {}}),
        json!({"u": {"servers": []}}),
        json!({"u": {"servers": {"localhost:80": {}}}}),
        json!({"u": {"servers": {"127.0.0.1": {}}}}),
        json!({"u": {"servers": {"127.0.0.1:80": {"weight": -1}}}}),
        json!({"u": {"servers": {"127.0.0.1:80": {"weight": 1_000_001}}}}),
        json!({"u": {"servers": {"127.0.0.1:80": {"weight": "2"}}}}),
    ] {
        assert!(compile_upstreams(Some(&conf)).is_err(), "upstreams {conf}");
    }
}
