//! The command line (UNIT-COMPAT 1.1-1.3): messages, streams and exit codes.

mod support;

use support::{UNITD, run_unitd};

fn check(args: &[&str], expected_code: i32, expected_stderr: &str) {
    let output = run_unitd(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(expected_code),
        "{args:?}: stderr {stderr:?}"
    );
    assert_eq!(stderr, expected_stderr, "{args:?}");
}

#[test]
fn missing_values_are_named() {
    let rows: &[(&str, &str)] = &[
        ("--control", "option \"--control\" requires socket address"),
        (
            "--control-mode",
            "option \"--control-mode\" requires a mode",
        ),
        (
            "--control-user",
            "option \"--control-user\" requires a username",
        ),
        (
            "--control-group",
            "option \"--control-group\" requires a group name",
        ),
        ("--pid", "option \"--pid\" requires filename"),
        ("--log", "option \"--log\" requires filename"),
        ("--modulesdir", "option \"--modulesdir\" requires directory"),
        ("--statedir", "option \"--statedir\" requires directory"),
        ("--tmpdir", "option \"--tmpdir\" requires directory"),
        ("--user", "option \"--user\" requires username"),
        ("--group", "option \"--group\" requires group name"),
    ];
    for (option, message) in rows {
        check(&[option], 1, &format!("{message}\n"));
    }
}

#[test]
fn deprecated_options_warn_then_act() {
    check(
        &["--modules"],
        1,
        "option \"--modules\" is deprecated; use \"--modulesdir\" instead\noption \"--modulesdir\" requires directory\n",
    );
    check(
        &["--state", "/x", "--bogus"],
        1,
        &format!(
            "option \"--state\" is deprecated; use \"--statedir\" instead\nunknown option \"--bogus\", try \"{UNITD} -h\" for available options\n"
        ),
    );
    check(
        &["--tmp", "/x", "--version"],
        0,
        &format!(
            "option \"--tmp\" is deprecated; use \"--tmpdir\" instead\nunit version: {}\n{}",
            env!("CARGO_PKG_VERSION"),
            version_second_line()
        ),
    );
}

fn version_second_line() -> String {
    let output = run_unitd(&["--version"]);
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .nth(1)
        .map(|line| format!("{line}\n"))
        .unwrap_or_default()
}

#[test]
fn unknown_option_names_argv0() {
    check(
        &["--prefix", "/usr"],
        1,
        &format!("unknown option \"--prefix\", try \"{UNITD} -h\" for available options\n"),
    );
    check(
        &["-v"],
        1,
        &format!("unknown option \"-v\", try \"{UNITD} -h\" for available options\n"),
    );
}

#[test]
fn version_goes_to_stderr() {
    let output = run_unitd(&["--version"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut lines = stderr.lines();
    assert_eq!(
        lines.next(),
        Some(format!("unit version: {}", env!("CARGO_PKG_VERSION")).as_str())
    );
    assert!(
        lines
            .next()
            .is_some_and(|line| line.starts_with("configured as ")),
        "{stderr}"
    );
}

#[test]
fn help_goes_to_stdout_with_defaults() {
    for flag in ["--help", "-h"] {
        let output = run_unitd(&[flag]);
        assert_eq!(output.status.code(), Some(0));
        assert!(output.stderr.is_empty());
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(help.starts_with("unit options:"), "{help}");
        for option in [
            "--version",
            "--no-daemon",
            "--control ADDRESS",
            "--control-mode MODE",
            "--control-user USER",
            "--control-group GROUP",
            "--pid FILE",
            "--log FILE",
            "--modulesdir DIR",
            "--statedir DIR",
            "--tmpdir DIR",
            "--user USER",
            "--group GROUP",
        ] {
            assert!(help.contains(option), "help lacks {option}:\n{help}");
        }
        for default in [
            "\"unix:/usr/local/var/run/unit/control.unit.sock\"",
            "\"/usr/local/var/run/unit/unit.pid\"",
            "\"/usr/local/var/log/unit/unit.log\"",
            "\"/usr/local/var/lib/unit\"",
            "\"/tmp\"",
            "\"nobody\"",
        ] {
            assert!(
                help.contains(default),
                "help lacks default {default}:\n{help}"
            );
        }
    }
}

#[test]
fn an_earlier_error_wins_over_version() {
    check(
        &["--bogus", "--version"],
        1,
        &format!("unknown option \"--bogus\", try \"{UNITD} -h\" for available options\n"),
    );
}

#[test]
fn a_value_is_the_next_word_even_if_it_looks_like_an_option() {
    // "--version" is taken as the pid file name, so nothing is printed and the next
    // missing value is reported.
    check(
        &["--pid", "--version", "--log"],
        1,
        "option \"--log\" requires filename\n",
    );
}

#[test]
fn a_bad_control_address_is_refused() {
    let output = run_unitd(&["--control", "localhost", "--no-daemon"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("\"localhost\""), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
