//! Module resolution as Unit's `nxt_app_lang_module` does it, the environment format, and
//! the `/status` rendering.

use std::cmp::Ordering;
use std::path::PathBuf;

use serde_json::json;

use super::{Module, Modules, compare_versions};

fn module(module_type: &str, version: &str) -> Module {
    Module {
        module_type: module_type.to_owned(),
        version: version.to_owned(),
        file: PathBuf::from(format!("/usr/lib/unit/modules/{module_type}{version}.unit")),
    }
}

/// Checks which version each application type resolves to among `versions` of python.
fn check(versions: &[&str], application_type: &str, expected: Option<&str>) {
    let modules = Modules::new(
        versions
            .iter()
            .map(|version| module("python", version))
            .collect(),
    );
    assert_eq!(
        modules
            .resolve(application_type)
            .map(|module| module.version.as_str()),
        expected,
        "type {application_type:?} among {versions:?}"
    );
}

#[test]
fn a_type_resolves_to_the_highest_matching_version() {
    let one = &["3.11.2"];
    for application_type in [
        "python",
        "python 3",
        "python3",
        "python 3.11",
        "python3.11",
        "python 3.11.2",
        "python3.11.2",
        "python 3.",
        "python 3.11.",
    ] {
        check(one, application_type, Some("3.11.2"));
    }
    for application_type in [
        "python 3.1",
        "python 3.11.20",
        "python 4",
        "python 2",
        "python  3",
        "pythonx",
        "php",
        "external",
        "go",
        "",
        " 3",
    ] {
        check(one, application_type, None);
    }

    let several = &["3.9.18", "3.11.2", "3.10.13", "2.7.18"];
    check(several, "python", Some("3.11.2"));
    check(several, "python 3", Some("3.11.2"));
    check(several, "python3.9", Some("3.9.18"));
    check(several, "python 3.1", None);
    check(several, "python 3.10", Some("3.10.13"));
    check(several, "python 2", Some("2.7.18"));
    check(&["3.1.4", "3.11.2"], "python 3.1", Some("3.1.4"));
}

#[test]
fn versions_compare_number_by_number() {
    let cases = [
        ("3.9", "3.10", Ordering::Less),
        ("3.11.2", "3.11.2", Ordering::Equal),
        ("3.11", "3.11.2", Ordering::Less),
        ("10.0", "9.99", Ordering::Greater),
        ("3.011", "3.11", Ordering::Equal),
        ("8.2.0RC1", "8.2.0", Ordering::Greater),
        ("99999999999999999999999", "1", Ordering::Greater),
    ];
    for (first, second, expected) in cases {
        assert_eq!(
            compare_versions(first, second),
            expected,
            "{first} vs {second}"
        );
    }
}

#[test]
fn the_list_round_trips_through_the_environment_format() {
    let modules = Modules::new(vec![module("python", "3.9.18"), module("python", "3.11.2")]);
    let text = modules.to_json();
    assert_eq!(
        text,
        r#"[{"type":"python","version":"3.11.2","file":"/usr/lib/unit/modules/python3.11.2.unit"},{"type":"python","version":"3.9.18","file":"/usr/lib/unit/modules/python3.9.18.unit"}]"#
    );
    assert_eq!(Modules::parse(&text).ok(), Some(modules));
    assert_eq!(Modules::parse("[]").ok(), Some(Modules::default()));
    for invalid in [
        "",
        "{}",
        r#"[{"type": "python"}]"#,
        r#"[{"type": 1, "version": "3", "file": "/a"}]"#,
    ] {
        assert!(Modules::parse(invalid).is_err(), "{invalid:?}");
    }
}

#[test]
fn status_lists_one_object_per_type_or_an_array_of_versions() {
    assert_eq!(Modules::default().status(), json!({}));
    let one = Modules::new(vec![module("python", "3.11.2")]);
    assert_eq!(
        one.status(),
        json!({"python": {"version": "3.11.2", "lib": "/usr/lib/unit/modules/python3.11.2.unit"}})
    );
    let two = Modules::new(vec![module("python", "3.9.18"), module("python", "3.11.2")]);
    assert_eq!(
        two.status(),
        json!({"python": [
            {"version": "3.11.2", "lib": "/usr/lib/unit/modules/python3.11.2.unit"},
            {"version": "3.9.18", "lib": "/usr/lib/unit/modules/python3.9.18.unit"},
        ]})
    );
}
