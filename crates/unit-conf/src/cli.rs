//! The `unitd` command line: the option table, the left-to-right scan, and the help and
//! version texts.
//!
//! The scan follows `unitd` 1.35: options are whole words, a value is the next word taken
//! literally (even when it starts with `--`), the last occurrence wins, and the first
//! error ends the scan. `--version` and `--help` act when the scan reaches them, so an
//! earlier bad option wins over them. As in Unit, the `--control` address is checked only
//! after the whole line was scanned, so `--control bad --version` prints the version.
//!
//! Nothing is printed here; [`CommandLine`] carries the lines for the caller to write.

use std::fmt::Write as _;

use nix::unistd::{Group, User};

use crate::address::ControlAddress;
use crate::error::CliError;
use crate::settings::{DEFAULT_CONTROL_MODE, PREFIX, Settings, VERSION};

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "built once per process, and callers match on the settings by value"
)]
pub enum Action {
    /// Start the daemon with these settings.
    Run(Settings),
    /// Print [`version_text`] to stderr and exit 0.
    Version,
    /// Print [`help_text`] to stdout and exit 0.
    Help,
}

/// The result of [`parse_command_line`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    /// One line (without a trailing newline) per deprecated option seen before the scan
    /// ended, e.g. `option "--modules" is deprecated; use "--modulesdir" instead`. The
    /// caller writes them to stderr whatever the outcome.
    pub deprecations: Vec<String>,
    /// The action, or the error that ended the scan (exit status 1).
    pub outcome: Result<Action, CliError>,
}

/// Scans `args` (argv, with `args[0]` the program name as invoked) left to right.
pub fn parse_command_line(args: &[String]) -> CommandLine {
    let mut deprecations = Vec::new();
    let outcome = scan(args, &mut deprecations);
    CommandLine {
        deprecations,
        outcome,
    }
}

/// The `--help` text: `unit options:` and then every option in the order of Unit's
/// table, with the value it defaults to in `defaults` in double quotes.
///
/// Without a configured group, `--group` shows the primary group of the default user,
/// or the user name when that cannot be looked up.
pub fn help_text(defaults: &Settings) -> String {
    let width = OPTIONS
        .iter()
        .map(|option| option_words(option).len())
        .max()
        .unwrap_or(0)
        + 2;
    let mut text = String::from("unit options:\n");
    for option in OPTIONS {
        // Writing to a String cannot fail.
        let _ = write!(
            text,
            "\n  {:width$}{}\n",
            option_words(option),
            option.summary
        );
        if let Some(default) = default_text(option.key, defaults) {
            let _ = writeln!(text, "  {:width$}default: {default}", "");
        }
    }
    text.push_str("\nThe deprecated --modules, --state and --tmp stand for --modulesdir, --statedir and --tmpdir.\n");
    text
}

/// The `--version` text: `unit version: <VERSION>` (the line tools grep for) and a line
/// describing this build. TLS support is named as Unit's configure option names it,
/// `--openssl`, because tools (Unit's own test harness among them) look for that word;
/// the library behind it is rustls.
pub fn version_text() -> String {
    format!(
        "unit version: {VERSION}\nconfigured as cargo build (prefix \"{PREFIX}\") --openssl (TLS on rustls)\n"
    )
}

/// Every option, in the order of Unit's option table, which is also the help order.
const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        name: "--control",
        key: Key::Control,
        value: Some(ValueSpec {
            placeholder: "ADDRESS",
            requires: "socket address",
        }),
        summary: "address of the control API socket",
    },
    OptionSpec {
        name: "--control-mode",
        key: Key::ControlMode,
        value: Some(ValueSpec {
            placeholder: "MODE",
            requires: "a mode",
        }),
        summary: "octal permissions of a unix control socket",
    },
    OptionSpec {
        name: "--control-user",
        key: Key::ControlUser,
        value: Some(ValueSpec {
            placeholder: "USER",
            requires: "a username",
        }),
        summary: "owner of a unix control socket",
    },
    OptionSpec {
        name: "--control-group",
        key: Key::ControlGroup,
        value: Some(ValueSpec {
            placeholder: "GROUP",
            requires: "a group name",
        }),
        summary: "group of a unix control socket",
    },
    OptionSpec {
        name: "--pid",
        key: Key::Pid,
        value: Some(ValueSpec {
            placeholder: "FILE",
            requires: "filename",
        }),
        summary: "pid file",
    },
    OptionSpec {
        name: "--log",
        key: Key::Log,
        value: Some(ValueSpec {
            placeholder: "FILE",
            requires: "filename",
        }),
        summary: "log file",
    },
    OptionSpec {
        name: "--modulesdir",
        key: Key::Modulesdir,
        value: Some(ValueSpec {
            placeholder: "DIRECTORY",
            requires: "directory",
        }),
        summary: "directory searched for language modules",
    },
    OptionSpec {
        name: "--statedir",
        key: Key::Statedir,
        value: Some(ValueSpec {
            placeholder: "DIRECTORY",
            requires: "directory",
        }),
        summary: "directory of the stored configuration, certificates and scripts",
    },
    OptionSpec {
        name: "--tmpdir",
        key: Key::Tmpdir,
        value: Some(ValueSpec {
            placeholder: "DIRECTORY",
            requires: "directory",
        }),
        summary: "directory for large request bodies",
    },
    OptionSpec {
        name: "--config",
        key: Key::Config,
        value: Some(ValueSpec {
            placeholder: "FILE",
            requires: "filename",
        }),
        summary: "JSON configuration applied at start when the state directory has none",
    },
    OptionSpec {
        name: "--user",
        key: Key::User,
        value: Some(ValueSpec {
            placeholder: "USER",
            requires: "username",
        }),
        summary: "user of the controller, router and applications",
    },
    OptionSpec {
        name: "--group",
        key: Key::Group,
        value: Some(ValueSpec {
            placeholder: "GROUP",
            requires: "group name",
        }),
        summary: "group of the controller, router and applications",
    },
    OptionSpec {
        name: "--no-daemon",
        key: Key::NoDaemon,
        value: None,
        summary: "stay in the foreground",
    },
    OptionSpec {
        name: "--version",
        key: Key::Version,
        value: None,
        summary: "print the version and build summary, then exit",
    },
    OptionSpec {
        name: "--help",
        key: Key::Help,
        value: None,
        summary: "print this help, then exit (also -h)",
    },
];

/// Deprecated option names and the options they stand for.
const DEPRECATED: &[(&str, &str)] = &[
    ("--modules", "--modulesdir"),
    ("--state", "--statedir"),
    ("--tmp", "--tmpdir"),
];

/// One row of [`OPTIONS`].
struct OptionSpec {
    name: &'static str,
    key: Key,
    value: Option<ValueSpec>,
    summary: &'static str,
}

/// How an option's value is named: in the help, and in the missing-value message.
struct ValueSpec {
    placeholder: &'static str,
    requires: &'static str,
}

/// What an option sets or does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Control,
    ControlMode,
    ControlUser,
    ControlGroup,
    Pid,
    Log,
    Modulesdir,
    Statedir,
    Tmpdir,
    Config,
    User,
    Group,
    NoDaemon,
    Version,
    Help,
}

fn scan(args: &[String], deprecations: &mut Vec<String>) -> Result<Action, CliError> {
    let argv0 = args.first().map_or("unitd", String::as_str);
    let mut settings = Settings::default();
    let mut control_text: Option<&str> = None;
    let mut words = args.iter().skip(1);

    while let Some(word) = words.next() {
        let Some(option) = find_option(word, deprecations) else {
            return Err(CliError::UnknownOption {
                option: word.clone(),
                argv0: argv0.to_owned(),
            });
        };
        let value = match &option.value {
            Some(value_spec) => match words.next() {
                Some(value) => value.as_str(),
                None => {
                    return Err(CliError::MissingValue {
                        option: option.name,
                        what: value_spec.requires,
                    });
                }
            },
            None => "",
        };
        match option.key {
            Key::Control => control_text = Some(value),
            Key::ControlMode => settings.control_mode = parse_control_mode(value),
            Key::ControlUser => settings.control_user = Some(value.to_owned()),
            Key::ControlGroup => settings.control_group = Some(value.to_owned()),
            Key::Pid => settings.pid = value.into(),
            Key::Log => settings.log = value.into(),
            Key::Modulesdir => settings.modulesdir = value.into(),
            Key::Statedir => settings.statedir = value.into(),
            Key::Tmpdir => settings.tmpdir = value.into(),
            Key::Config => settings.config = Some(value.into()),
            Key::User => settings.user = value.to_owned(),
            Key::Group => settings.group = Some(value.to_owned()),
            Key::NoDaemon => settings.no_daemon = true,
            Key::Version => return Ok(Action::Version),
            Key::Help => return Ok(Action::Help),
        }
    }

    if let Some(control_text) = control_text {
        settings.control = ControlAddress::parse(control_text)?;
    }
    Ok(Action::Run(settings))
}

/// Looks `word` up in [`OPTIONS`], accepting `-h` and the deprecated names; a deprecated
/// name adds its line to `deprecations`.
fn find_option(word: &str, deprecations: &mut Vec<String>) -> Option<&'static OptionSpec> {
    let mut name = word;
    if word == "-h" {
        name = "--help";
    } else if let Some((old_name, new_name)) = DEPRECATED.iter().find(|(old, _)| *old == word) {
        deprecations.push(format!(
            "option \"{old_name}\" is deprecated; use \"{new_name}\" instead"
        ));
        name = new_name;
    }
    OPTIONS.iter().find(|option| option.name == name)
}

/// Reads a `--control-mode` value the way `strtoul(value, NULL, 8)` does: optional
/// leading blanks and `+`, then the longest run of octal digits. No digits, zero, or more
/// than the permission bits (`0o7777`) mean the default `0o600`.
fn parse_control_mode(value: &str) -> u32 {
    let unsigned = value.trim_start_matches(|ch: char| ch.is_ascii_whitespace());
    let digits = unsigned.strip_prefix('+').unwrap_or(unsigned);
    let mut mode: u32 = 0;
    for byte in digits.bytes() {
        if !(b'0'..=b'7').contains(&byte) {
            break;
        }
        mode = mode
            .saturating_mul(8)
            .saturating_add(u32::from(byte - b'0'));
    }
    if mode == 0 || mode > 0o7777 {
        DEFAULT_CONTROL_MODE
    } else {
        mode
    }
}

/// The option as the help shows it: its name and value placeholder.
fn option_words(option: &OptionSpec) -> String {
    match &option.value {
        Some(value_spec) => format!("{} {}", option.name, value_spec.placeholder),
        None => option.name.to_owned(),
    }
}

/// What the help says after `default:` for an option, if it has a default to show.
fn default_text(key: Key, defaults: &Settings) -> Option<String> {
    let quoted = |text: &dyn std::fmt::Display| format!("\"{text}\"");
    let text = match key {
        Key::Control => quoted(&defaults.control),
        Key::ControlMode => format!("\"{:04o}\"", defaults.control_mode),
        Key::ControlUser => match &defaults.control_user {
            Some(user) => quoted(user),
            None => String::from("the user running unitd"),
        },
        Key::ControlGroup => match &defaults.control_group {
            Some(group) => quoted(group),
            None => String::from("the group of the user running unitd"),
        },
        Key::Pid => quoted(&defaults.pid.display()),
        Key::Log => quoted(&defaults.log.display()),
        Key::Modulesdir => quoted(&defaults.modulesdir.display()),
        Key::Statedir => quoted(&defaults.statedir.display()),
        Key::Tmpdir => quoted(&defaults.tmpdir.display()),
        Key::Config => match &defaults.config {
            Some(config) => quoted(&config.display()),
            None => String::from("none"),
        },
        Key::User => quoted(&defaults.user),
        Key::Group => match &defaults.group {
            Some(group) => quoted(group),
            None => quoted(&primary_group_name(&defaults.user)),
        },
        Key::NoDaemon | Key::Version | Key::Help => return None,
    };
    Some(text)
}

/// The name of `user`'s primary group, or `user` itself when either lookup fails.
fn primary_group_name(user: &str) -> String {
    let group = match User::from_name(user) {
        Ok(Some(found_user)) => Group::from_gid(found_user.gid).ok().flatten(),
        Ok(None) | Err(_) => None,
    };
    group.map_or_else(|| user.to_owned(), |found_group| found_group.name)
}

#[cfg(test)]
mod tests;
