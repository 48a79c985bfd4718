//! Command line tests: one `check` row per case, comparing a short text rendering of the
//! outcome (deprecation lines, then `run` with the settings that differ from the defaults,
//! `version`, `help` or `error: <message>`).

use std::path::Path;

use super::*;
use crate::error::AddressError;

fn check(args: &[&str], expected: &str) {
    let argv: Vec<String> = std::iter::once("./unitd")
        .chain(args.iter().copied())
        .map(String::from)
        .collect();
    let command_line = parse_command_line(&argv);
    assert_eq!(render(&command_line), expected, "args {args:?}");
}

fn render(command_line: &CommandLine) -> String {
    let mut text = String::new();
    for line in &command_line.deprecations {
        text.push_str(line);
        text.push('\n');
    }
    match &command_line.outcome {
        Ok(Action::Version) => text.push_str("version"),
        Ok(Action::Help) => text.push_str("help"),
        Err(error) => {
            text.push_str("error: ");
            text.push_str(&error.to_string());
        }
        Ok(Action::Run(settings)) => {
            text.push_str("run");
            let defaults = fields(&Settings::default());
            for ((name, value), (_, default)) in fields(settings).into_iter().zip(defaults) {
                if value != default {
                    text.push_str(&format!(" {name}={value}"));
                }
            }
        }
    }
    text
}

/// Every field of `settings` as text; the destructuring fails to compile when a field is
/// added, so the rendering stays complete.
fn fields(settings: &Settings) -> Vec<(&'static str, String)> {
    let Settings {
        control,
        control_mode,
        control_user,
        control_group,
        pid,
        log,
        modulesdir,
        statedir,
        tmpdir,
        user,
        group,
        no_daemon,
        config,
    } = settings;
    let optional = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".to_owned());
    vec![
        ("control", control.to_string()),
        ("control_mode", format!("{control_mode:o}")),
        ("control_user", optional(control_user)),
        ("control_group", optional(control_group)),
        ("pid", pid.display().to_string()),
        ("log", log.display().to_string()),
        ("modulesdir", modulesdir.display().to_string()),
        ("statedir", statedir.display().to_string()),
        ("tmpdir", tmpdir.display().to_string()),
        ("user", user.clone()),
        ("group", optional(group)),
        ("no_daemon", no_daemon.to_string()),
        (
            "config",
            optional(&config.as_ref().map(|path| path.display().to_string())),
        ),
    ]
}

#[test]
fn options_and_values() {
    check(&[], "run");
    check(&["--no-daemon"], "run no_daemon=true");
    check(
        &["--control", "unix:/run/c.sock"],
        "run control=unix:/run/c.sock",
    );
    check(&["--control", "unix:@ctl"], "run control=unix:@ctl");
    check(
        &["--control", "127.0.0.1:8080"],
        "run control=127.0.0.1:8080",
    );
    check(&["--control", "*:8080"], "run control=0.0.0.0:8080");
    check(&["--control", "[::1]:8443"], "run control=[::1]:8443");
    check(&["--control-user", "www"], "run control_user=www");
    check(&["--control-group", "www"], "run control_group=www");
    check(&["--pid", "/run/u.pid"], "run pid=/run/u.pid");
    check(&["--log", "/dev/stderr"], "run log=/dev/stderr");
    check(&["--modulesdir", "/m"], "run modulesdir=/m");
    check(&["--statedir", "/s"], "run statedir=/s");
    check(&["--tmpdir", "/t"], "run tmpdir=/t");
    check(&["--user", "www"], "run user=www");
    check(&["--group", "www"], "run group=www");
    check(&["--config", "/etc/unit.json"], "run config=/etc/unit.json");
    check(
        &["--no-daemon", "--user", "u", "--group", "g", "--pid", "p"],
        "run pid=p user=u group=g no_daemon=true",
    );
    // Values are taken literally, even when they look like options.
    check(&["--log", "--no-daemon"], "run log=--no-daemon");
    check(&["--user", "--version"], "run user=--version");
    check(&["--pid", ""], "run pid=");
    // The last occurrence wins.
    check(&["--pid", "a", "--pid", "b"], "run pid=b");
    check(
        &["--control", "bad", "--control", "unix:@ok"],
        "run control=unix:@ok",
    );
}

#[test]
fn control_mode() {
    check(&["--control-mode", "644"], "run control_mode=644");
    check(&["--control-mode", "0755"], "run control_mode=755");
    check(&["--control-mode", "0660"], "run control_mode=660");
    check(&["--control-mode", "600"], "run");
    check(&["--control-mode", "garbage"], "run");
    check(&["--control-mode", "0"], "run");
    check(&["--control-mode", ""], "run");
    check(&["--control-mode", "8"], "run");
    check(&["--control-mode", "-644"], "run");
    check(&["--control-mode", "+640"], "run control_mode=640");
    check(&["--control-mode", " 640"], "run control_mode=640");
    check(&["--control-mode", "644x"], "run control_mode=644");
    check(&["--control-mode", "17777"], "run");
    check(&["--control-mode", "7777"], "run control_mode=7777");
}

#[test]
fn missing_values() {
    check(
        &["--control"],
        "error: option \"--control\" requires socket address",
    );
    check(
        &["--control-mode"],
        "error: option \"--control-mode\" requires a mode",
    );
    check(
        &["--control-user"],
        "error: option \"--control-user\" requires a username",
    );
    check(
        &["--control-group"],
        "error: option \"--control-group\" requires a group name",
    );
    check(&["--pid"], "error: option \"--pid\" requires filename");
    check(&["--log"], "error: option \"--log\" requires filename");
    check(
        &["--modulesdir"],
        "error: option \"--modulesdir\" requires directory",
    );
    check(
        &["--statedir"],
        "error: option \"--statedir\" requires directory",
    );
    check(
        &["--tmpdir"],
        "error: option \"--tmpdir\" requires directory",
    );
    check(&["--user"], "error: option \"--user\" requires username");
    check(
        &["--group"],
        "error: option \"--group\" requires group name",
    );
    check(
        &["--config"],
        "error: option \"--config\" requires filename",
    );
    check(
        &["--no-daemon", "--pid"],
        "error: option \"--pid\" requires filename",
    );
}

#[test]
fn unknown_options() {
    let unknown = |option: &str| {
        format!("error: unknown option \"{option}\", try \"./unitd -h\" for available options")
    };
    check(&["--foo"], &unknown("--foo"));
    check(&["-v"], &unknown("-v"));
    check(&["--pid=/x"], &unknown("--pid=/x"));
    check(&["--"], &unknown("--"));
    check(&[""], &unknown(""));
    check(&["--prefix", "/opt"], &unknown("--prefix"));
    check(&["--libstatedir", "/x"], &unknown("--libstatedir"));
    check(&["--no-daemon", "stray"], &unknown("stray"));

    let argv = vec!["/usr/sbin/unitd".to_owned(), "--bad".to_owned()];
    assert_eq!(
        parse_command_line(&argv).outcome,
        Err(CliError::UnknownOption {
            option: "--bad".to_owned(),
            argv0: "/usr/sbin/unitd".to_owned(),
        })
    );
    assert_eq!(
        parse_command_line(&argv)
            .outcome
            .map_err(|error| error.to_string()),
        Err(
            "unknown option \"--bad\", try \"/usr/sbin/unitd -h\" for available options".to_owned()
        )
    );
    assert_eq!(
        parse_command_line(&[]).outcome,
        Ok(Action::Run(Settings::default()))
    );
}

#[test]
fn deprecated_names() {
    let modules = "option \"--modules\" is deprecated; use \"--modulesdir\" instead\n";
    let state = "option \"--state\" is deprecated; use \"--statedir\" instead\n";
    let tmp = "option \"--tmp\" is deprecated; use \"--tmpdir\" instead\n";
    check(&["--modules", "/m"], &format!("{modules}run modulesdir=/m"));
    check(&["--state", "/s"], &format!("{state}run statedir=/s"));
    check(&["--tmp", "/t"], &format!("{tmp}run tmpdir=/t"));
    check(
        &["--modules"],
        &format!("{modules}error: option \"--modulesdir\" requires directory"),
    );
    check(
        &["--state"],
        &format!("{state}error: option \"--statedir\" requires directory"),
    );
    check(
        &["--tmp"],
        &format!("{tmp}error: option \"--tmpdir\" requires directory"),
    );
    // The line stays even when a later error ends the scan, or --version is reached.
    check(
        &["--state", "/s", "--tmp", "/t", "--bogus"],
        &format!(
            "{state}{tmp}error: unknown option \"--bogus\", try \"./unitd -h\" for available options"
        ),
    );
    check(&["--tmp", "/t", "--version"], &format!("{tmp}version"));
    // Mixed with the new name, the last occurrence wins.
    check(
        &["--modules", "/old", "--modulesdir", "/new"],
        &format!("{modules}run modulesdir=/new"),
    );
    // Nothing after the first error is looked at.
    check(
        &["--nope", "--modules", "/m"],
        "error: unknown option \"--nope\", try \"./unitd -h\" for available options",
    );
}

#[test]
fn version_and_help_act_when_reached() {
    check(&["--version"], "version");
    check(&["--help"], "help");
    check(&["-h"], "help");
    check(&["--version", "--help"], "version");
    check(&["-h", "--version"], "help");
    check(&["--no-daemon", "--version"], "version");
    check(&["--version", "--bogus"], "version");
    check(&["--help", "--pid"], "help");
    check(
        &["--bogus", "--version"],
        "error: unknown option \"--bogus\", try \"./unitd -h\" for available options",
    );
    check(
        &["--bogus", "-h"],
        "error: unknown option \"--bogus\", try \"./unitd -h\" for available options",
    );
    // A value is a value, not an action.
    check(&["--pid", "--version"], "run pid=--version");
    // The address is checked after the scan, as Unit does: --version still wins.
    check(&["--control", "nonsense", "--version"], "version");
}

#[test]
fn bad_addresses() {
    check(
        &["--control", "127.0.0.1"],
        "error: invalid control socket address \"127.0.0.1\": a port is required",
    );
    check(
        &["--control", "unix:relative.sock"],
        "error: invalid control socket address \"unix:relative.sock\": a unix socket path must be absolute",
    );
    check(
        &["--control", "127.0.0.1:0", "--no-daemon"],
        "error: invalid control socket address \"127.0.0.1:0\": the port must be a number from 1 to 65535",
    );
    // An unknown option found later in the scan is reported instead.
    check(
        &["--control", "nonsense", "--bogus"],
        "error: unknown option \"--bogus\", try \"./unitd -h\" for available options",
    );
    let argv = ["./unitd", "--control", "localhost:80"].map(String::from);
    assert!(matches!(
        parse_command_line(&argv).outcome,
        Err(CliError::InvalidAddress(AddressError::InvalidHost(_)))
    ));
}

#[test]
fn version_text_shape() {
    let text = version_text();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0], "unit version: 1.36.0\n");
    assert_eq!(
        lines[1],
        format!("configured as cargo build (prefix \"{PREFIX}\") --openssl (TLS on rustls)\n")
    );
}

#[test]
fn help_lists_options_in_order_with_defaults() {
    let mut defaults = Settings {
        user: "no-such-user-for-unitd-tests".to_owned(),
        ..Settings::default()
    };
    let text = help_text(&defaults);
    assert!(text.starts_with("unit options:\n"), "{text}");
    assert!(text.ends_with('\n'));

    let order = [
        "--control ADDRESS",
        "--control-mode MODE",
        "--control-user USER",
        "--control-group GROUP",
        "--pid FILE",
        "--log FILE",
        "--modulesdir DIRECTORY",
        "--statedir DIRECTORY",
        "--tmpdir DIRECTORY",
        "--config FILE",
        "--user USER",
        "--group GROUP",
        "--no-daemon",
        "--version",
        "--help",
    ];
    let mut last_position = 0;
    for option in order {
        let position = text[last_position..]
            .find(&format!("  {option} "))
            .map(|offset| offset + last_position);
        let Some(position) = position else {
            panic!("{option} missing or out of order in:\n{text}");
        };
        last_position = position;
    }

    let prefix = Path::new(PREFIX);
    for default in [
        format!(
            "default: \"unix:{}\"\n",
            prefix.join("var/run/unit/control.unit.sock").display()
        ),
        "default: \"0600\"\n".to_owned(),
        format!(
            "default: \"{}\"\n",
            prefix.join("var/run/unit/unit.pid").display()
        ),
        format!(
            "default: \"{}\"\n",
            prefix.join("var/log/unit/unit.log").display()
        ),
        format!(
            "default: \"{}\"\n",
            prefix.join("lib/unit/modules").display()
        ),
        format!("default: \"{}\"\n", prefix.join("var/lib/unit").display()),
        "default: \"/tmp\"\n".to_owned(),
        "default: \"no-such-user-for-unitd-tests\"\n".to_owned(),
    ] {
        assert!(text.contains(&default), "{default:?} missing in:\n{text}");
    }
    // The unknown user has no primary group, so --group falls back to the user name.
    assert_eq!(
        text.matches("default: \"no-such-user-for-unitd-tests\"\n")
            .count(),
        2
    );

    defaults.group = Some("staff".to_owned());
    defaults.control_mode = 0o660;
    let text = help_text(&defaults);
    assert!(text.contains("default: \"staff\"\n"), "{text}");
    assert!(text.contains("default: \"0660\"\n"), "{text}");
}
