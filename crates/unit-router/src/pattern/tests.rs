//! Tests of single patterns, pattern sets and their combination rule.

use serde_json::{Value, json};
use unit_conf::MatchCondition;

use super::{Encoding, Pattern, PatternSet, set_holds};
use crate::conf::tests::parse;

/// Parses a condition value with unit-conf, as the router gets it, and compiles its
/// patterns as plain text; the error is the validator's message or the compiler's.
fn compile_set(value: &Value, case_insensitive: bool) -> Result<PatternSet, String> {
    compile_set_encoded(value, case_insensitive, Encoding::Plain)
}

/// Like [`compile_set`], for patterns in `encoding`: the value is validated as a
/// condition written that way (`host`, `uri` or `query`).
fn compile_set_encoded(
    value: &Value,
    case_insensitive: bool,
    encoding: Encoding,
) -> Result<PatternSet, String> {
    let condition = match encoding {
        Encoding::Plain => "host",
        Encoding::Percent => "uri",
        Encoding::PercentPlus => "query",
    };
    let conf = parse(&json!({"routes": [
        {"match": { condition: value }, "action": {"return": 200}}
    ]}))?;
    let Some(unit_conf::Routes::Steps(steps)) = &conf.routes else {
        return Err("the routes are not an array".to_owned());
    };
    let patterns = match steps.first().and_then(|step| step.conditions.first()) {
        Some(
            MatchCondition::Host(patterns)
            | MatchCondition::Uri(patterns)
            | MatchCondition::Query(patterns),
        ) => patterns,
        other => return Err(format!("unexpected condition {other:?}")),
    };
    PatternSet::compile_encoded(patterns, case_insensitive, encoding)
        .map_err(|compile_error| compile_error.to_string())
}

/// Compiles `pattern` (plain, with `case_insensitive`) and checks each value matches, or
/// not, ignoring negation.
fn check(pattern: &str, case_insensitive: bool, values: &[(&str, bool)]) {
    let compiled = Pattern::compile(pattern, case_insensitive).expect("test patterns compile");
    for (value, expected) in values {
        assert_eq!(
            compiled.matches(value),
            *expected,
            "pattern {pattern:?} (case-insensitive: {case_insensitive}) on {value:?}"
        );
    }
}

/// Compiles a condition value and checks each value satisfies the set, or not.
fn check_set(value: Value, case_insensitive: bool, values: &[(&str, bool)]) {
    let set = compile_set(&value, case_insensitive).expect("test pattern sets compile");
    for (text, expected) in values {
        assert_eq!(set.matches(text), *expected, "set {value} on {text:?}");
    }
}

#[test]
fn wildcards() {
    check(
        "/static/*",
        false,
        &[
            ("/static/", true),
            ("/static/a/b.css", true),
            ("/static", false),
            ("/Static/a", false),
            ("x/static/a", false),
        ],
    );
    check(
        "*.php",
        false,
        &[
            (".php", true),
            ("/index.php", true),
            ("/index.php5", false),
            ("/a.PHP", false),
        ],
    );
    check(
        "a*b*c",
        false,
        &[
            ("abc", true),
            ("a-b-c", true),
            ("abbbc", true),
            ("acbc", true),
            ("ab", false),
            ("ac", false),
            ("bac", false),
            ("abcd", false),
        ],
    );
    check(
        "*mid*",
        false,
        &[("mid", true), ("amidb", true), ("mi", false), ("", false)],
    );
    check("*", false, &[("", true), ("anything", true)]);
    check(
        "exact",
        false,
        &[
            ("exact", true),
            ("exactly", false),
            ("xexact", false),
            ("", false),
        ],
    );
    check("", false, &[("", true), ("a", false)]);
    // A piece may not be used twice: `ab*ba` needs four bytes at least.
    check(
        "ab*ba",
        false,
        &[("aba", false), ("abba", true), ("ab-ba", true)],
    );
    check(
        "a*a*a",
        false,
        &[("aa", false), ("aaa", true), ("a-a-a", true)],
    );
}

#[test]
fn case_rules() {
    check(
        "*.Example.COM",
        true,
        &[
            ("www.example.com", true),
            ("WWW.EXAMPLE.COM", true),
            ("example.com", false),
        ],
    );
    check(
        "get",
        true,
        &[("GET", true), ("Get", true), ("POST", false)],
    );
    check("get", false, &[("GET", false), ("get", true)]);
    check("~^/API/", true, &[("/api/v1", true), ("/Api/", true)]);
    check("~^/API/", false, &[("/api/v1", false), ("/API/v1", true)]);
    // Only ASCII letters fold in wildcard patterns.
    check("É*", true, &[("É1", true), ("é1", false)]);
}

#[test]
fn regular_expressions() {
    check(
        "~\\.(jpg|png)$",
        false,
        &[
            ("/a.jpg", true),
            ("/b/c.png", true),
            ("/a.jpeg", false),
            ("/a.jpg/", false),
        ],
    );
    // A search, not anchored.
    check("~admin", false, &[("/x/admin/y", true), ("/adm", false)]);
    // `*` has its regex meaning after `~`.
    check("~^a*$", false, &[("", true), ("aaa", true), ("ab", false)]);
    check("!~^/x", false, &[("/x/1", true), ("/y", false)]);
}

#[test]
fn negation() {
    for (pattern, negative) in [
        ("/a", false),
        ("!/a", true),
        ("~a", false),
        ("!~a", true),
        ("!", true),
        ("", false),
    ] {
        let compiled = Pattern::compile(pattern, false).expect("test patterns compile");
        assert_eq!(compiled.is_negative(), negative, "pattern {pattern:?}");
    }
    // `!` alone is a negative pattern matching the empty value.
    check("!", false, &[("", true), ("a", false)]);
    check("!/admin/*", false, &[("/admin/x", true), ("/user", false)]);
}

#[test]
fn percent_encoded_patterns() {
    for (pattern, values) in [
        ("/a%20b", &[("/a b", true), ("/a%20b", false)][..]),
        (
            "/caf%C3%A9/*",
            &[("/café/menu", true), ("/cafe/menu", false)][..],
        ),
        // An encoded `*` is a literal star.
        ("/%2A*", &[("/*x", true), ("/x", false)][..]),
        // Regular expressions are not decoded.
        ("~^/a%20", &[("/a%20b", true), ("/a b", false)][..]),
    ] {
        let compiled = Pattern::compile_encoded(pattern, false, Encoding::Percent)
            .expect("test patterns compile");
        for (value, expected) in values {
            assert_eq!(
                compiled.matches(value),
                *expected,
                "pattern {pattern:?} on {value:?}"
            );
        }
    }
    // A decoded piece that is not UTF-8 can still match bytes.
    let compiled =
        Pattern::compile_encoded("%C3*", false, Encoding::Percent).expect("the pattern compiles");
    assert!(compiled.matches("é"));
    assert!(compiled.matches_bytes(b"\xC3\x28"));
    assert!(!compiled.matches("e"));
}

#[test]
fn compile_errors() {
    for (pattern, encoding) in [
        ("a**b", Encoding::Plain),
        ("!**", Encoding::Plain),
        ("~(", Encoding::Plain),
        ("~(?=look)ahead", Encoding::Plain),
        ("/a%2", Encoding::Percent),
        ("/a%zz*", Encoding::Percent),
    ] {
        assert!(
            Pattern::compile_encoded(pattern, false, encoding).is_err(),
            "pattern {pattern:?} ({encoding:?})"
        );
    }
    for value in [json!(1), json!(null), json!({"a": "b"}), json!(["a", 2])] {
        assert!(compile_set(&value, false).is_err(), "condition {value}");
    }
    assert!(compile_set_encoded(&json!(["/ok", "/bad%"]), false, Encoding::Percent).is_err());
}

#[test]
fn pattern_sets() {
    check_set(
        json!("*.example.com"),
        true,
        &[("a.example.com", true), ("example.org", false)],
    );
    check_set(
        json!(["/a/*", "/b/*"]),
        false,
        &[("/a/1", true), ("/b/2", true), ("/c/3", false)],
    );
    // Negatives only: anything but them.
    check_set(
        json!(["!/admin/*", "!/private/*"]),
        false,
        &[("/index", true), ("/admin/x", false), ("/private/y", false)],
    );
    // Positives and negatives: a positive must match and no negative may.
    check_set(
        json!(["/api/*", "!/api/internal/*"]),
        false,
        &[
            ("/api/users", true),
            ("/api/internal/x", false),
            ("/web", false),
        ],
    );
    // Order does not matter.
    check_set(
        json!(["!/api/internal/*", "/api/*"]),
        false,
        &[("/api/users", true), ("/api/internal/x", false)],
    );
    check_set(json!([]), false, &[("", true), ("/x", true)]);
    check_set(json!(""), false, &[("", true), ("/x", false)]);
    check_set(
        json!(["GET", "HEAD"]),
        true,
        &[("get", true), ("POST", false)],
    );
    let set = compile_set_encoded(&json!(["a+b", "x%20y"]), false, Encoding::Percent)
        .expect("the set compiles");
    assert!(set.matches("a+b"));
    assert!(set.matches("x y"));
    assert!(set.matches_bytes(b"x y"));
    assert!(!set.matches("a b"));
}

#[test]
fn combination_rule() {
    for (outcomes, expected) in [
        (&[][..], true),
        (&[(false, true)][..], true),
        (&[(false, false)][..], false),
        (&[(true, false)][..], true),
        (&[(true, true)][..], false),
        (&[(false, true), (true, true)][..], false),
        (&[(false, false), (false, true)][..], true),
        (&[(false, false), (true, false)][..], false),
        (&[(true, false), (true, false)][..], true),
        (&[(true, false), (true, true)][..], false),
    ] {
        assert_eq!(
            set_holds(outcomes.iter().copied()),
            expected,
            "outcomes {outcomes:?}"
        );
    }
}
