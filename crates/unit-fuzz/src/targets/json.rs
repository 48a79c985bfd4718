//! `json`: the control API's JSON parser and its pretty printer.
//!
//! The input is a request body. Checked: what parses prints (as the control API answers
//! it, and as `conf.json` is written) to text that parses again to the same value, and
//! prints again to the same text; an error points inside the body.
//!
//! Also here: the structure-aware mutation this target and `config` share, which edits
//! a document as a tree (replacing, inserting, removing and grafting values) rather than
//! as bytes, so most of its inputs stay JSON.

use serde_json::{Map, Value};
use unit_conf::{parse_json, to_pretty_json};

use super::{bucket, outcome};
use crate::mutate::Rng;

/// Tokens of JSON text.
pub(super) const DICTIONARY: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"\"\":",
    b"null",
    b"true",
    b"false",
    b"-0",
    b"1e3",
    b"1E+3",
    b"12345678901234",
    b"9223372036854775807",
    b"0.5e-10",
    b"\\u0000",
    b"\\ud800",
    b"\\udc00",
    b"\\\"",
    b"\\n",
    b"//",
    b"/*",
    b"*/",
    b"\xef\xbb\xbf",
    b"\xc3\xa9",
    b"\xed\xa0\x80",
    b"\x7f",
];

/// Values the tree mutation puts in a document.
pub(super) struct Pool {
    /// Object member names.
    pub(super) keys: &'static [&'static str],
    /// Strings.
    pub(super) strings: &'static [&'static str],
    /// Numbers, as JSON text.
    pub(super) numbers: &'static [&'static str],
}

/// What the `json` target's tree mutation draws from.
const POOL: Pool = Pool {
    keys: &["", "a", "b", "config", "listeners", "routes", "\u{0}", "é"],
    strings: &[
        "",
        "a",
        "\"",
        "\\",
        "\u{1}",
        "\u{7f}",
        "\u{2028}",
        "é",
        "\u{10ffff}",
    ],
    numbers: &[
        "0",
        "-0",
        "1",
        "-1",
        "1.50",
        "1e3",
        "1E-3",
        "12345678901234",
        "-1234567890123",
        "9223372036854775807",
        "1234567890E123",
    ],
};

/// Runs one input.
pub(super) fn run(input: &[u8]) -> u64 {
    let value = match parse_json(input) {
        Ok(value) => value,
        Err(error) => {
            assert!(
                error.offset <= input.len(),
                "error offset {} past the body's {} bytes",
                error.offset,
                input.len()
            );
            return outcome(("error", error.detail));
        }
    };
    let printed = to_pretty_json(&value);
    let reparsed = match parse_json(printed.as_bytes()) {
        Ok(reparsed) => reparsed,
        Err(error) => panic!("the pretty-printed value does not parse: {error}\n{printed}"),
    };
    assert_eq!(
        reparsed, value,
        "the pretty-printed value parses to another value"
    );
    assert_eq!(to_pretty_json(&reparsed), printed, "printing is not stable");
    let (depth, n_nodes) = shape(&value);
    outcome(("ok", kind(&value), bucket(depth), bucket(n_nodes)))
}

/// The structure-aware mutation of the `json` target.
pub(super) fn mutate(input: &mut Vec<u8>, rng: &mut Rng) -> bool {
    mutate_with(input, rng, &POOL)
}

/// Parses `input` as JSON, edits the tree at a random node with values from `pool`, and
/// writes it back compactly; `false` when `input` is not JSON.
pub(super) fn mutate_with(input: &mut Vec<u8>, rng: &mut Rng, pool: &Pool) -> bool {
    let Ok(mut value) = parse_json(input) else {
        return false;
    };
    let n_edits = 1 + rng.below(3);
    for _ in 0..n_edits {
        let graft = random_node(&mut value, rng).clone();
        let node = random_node(&mut value, rng);
        edit(node, graft, rng, pool);
    }
    match serde_json::to_vec(&value) {
        Ok(text) => {
            *input = text;
            true
        }
        Err(_) => false,
    }
}

/// A node reached by a random walk down from `value`.
fn random_node<'a>(value: &'a mut Value, rng: &mut Rng) -> &'a mut Value {
    let mut node = value;
    loop {
        let n_children = match &*node {
            Value::Array(elements) => elements.len(),
            Value::Object(members) => members.len(),
            _ => 0,
        };
        if n_children == 0 || rng.one_in(3) {
            return node;
        }
        let child_idx = rng.below(n_children);
        node = match node {
            Value::Array(elements) => &mut elements[child_idx],
            Value::Object(members) => match members.values_mut().nth(child_idx) {
                Some(child) => child,
                None => unreachable!("invariant: child_idx is below the member count"),
            },
            _ => unreachable!("invariant: only arrays and objects have children"),
        };
    }
}

/// One edit of `node`: replaced (by a new value or by `graft`, a copy of some node of
/// the same document), or changed inside.
fn edit(node: &mut Value, graft: Value, rng: &mut Rng, pool: &Pool) {
    match rng.below(6) {
        0 => *node = graft,
        1 => *node = new_value(rng, pool),
        _ => match node {
            Value::Object(members) => edit_object(members, graft, rng, pool),
            Value::Array(elements) => match rng.below(3) {
                0 if !elements.is_empty() => {
                    let element_idx = rng.below(elements.len());
                    elements.remove(element_idx);
                }
                1 if !elements.is_empty() => {
                    let element_idx = rng.below(elements.len());
                    let copy = elements[element_idx].clone();
                    elements.insert(element_idx, copy);
                }
                _ => {
                    let at = rng.below(elements.len() + 1);
                    elements.insert(at, graft);
                }
            },
            Value::String(text) => {
                if rng.one_in(2) {
                    let addition: &&str = rng.pick(pool.strings);
                    text.push_str(addition);
                } else {
                    *text = (*rng.pick(pool.strings)).to_owned();
                }
            }
            _ => *node = new_value(rng, pool),
        },
    }
}

/// An edit inside an object: a member added, removed or renamed.
fn edit_object(members: &mut Map<String, Value>, graft: Value, rng: &mut Rng, pool: &Pool) {
    match rng.below(3) {
        0 if !members.is_empty() => {
            let member_idx = rng.below(members.len());
            if let Some(key) = members.keys().nth(member_idx).cloned() {
                members.remove(&key);
            }
        }
        1 if !members.is_empty() => {
            let member_idx = rng.below(members.len());
            if let Some(key) = members.keys().nth(member_idx).cloned()
                && let Some(value) = members.remove(&key)
            {
                members.insert((*rng.pick(pool.keys)).to_owned(), value);
            }
        }
        _ => {
            let value = if rng.one_in(2) {
                graft
            } else {
                new_value(rng, pool)
            };
            members.insert((*rng.pick(pool.keys)).to_owned(), value);
        }
    }
}

/// A value from `pool`, or an empty container, or a literal.
fn new_value(rng: &mut Rng, pool: &Pool) -> Value {
    match rng.below(8) {
        0 => Value::Null,
        1 => Value::Bool(rng.one_in(2)),
        2 => Value::Array(Vec::new()),
        3 => Value::Object(Map::new()),
        4 | 5 => rng
            .pick(pool.numbers)
            .parse()
            .map_or(Value::Null, Value::Number),
        _ => Value::String((*rng.pick(pool.strings)).to_owned()),
    }
}

/// The kind of a value, for outcomes.
pub(super) fn kind(value: &Value) -> u8 {
    match value {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

/// How deep `value` nests and how many values it holds, walked without recursion.
fn shape(value: &Value) -> (usize, usize) {
    let mut pending = vec![(value, 1)];
    let mut depth = 0;
    let mut n_nodes = 0;
    while let Some((node, node_depth)) = pending.pop() {
        depth = depth.max(node_depth);
        n_nodes += 1;
        match node {
            Value::Array(elements) => {
                pending.extend(elements.iter().map(|element| (element, node_depth + 1)));
            }
            Value::Object(members) => {
                pending.extend(members.values().map(|member| (member, node_depth + 1)));
            }
            _ => {}
        }
    }
    (depth, n_nodes)
}
