//! One log line: `YYYY/MM/DD HH:MM:SS [level] PID#TID message`, then ` key=value` for each
//! extra field, then `\n`.
//!
//! The time is local time with whole seconds, PID is the process id and TID the kernel
//! thread id. The message is written as given; nothing is escaped.

use std::fmt::Write as _;

/// Formats one log line, ending in `\n`, stamped with the current time, process and
/// thread. `level` is written between the brackets as given (Unit's names are `alert`,
/// `error`, `warn`, `notice`, `info` and `debug`).
pub fn format_line(level: &str, message: &str) -> String {
    compose_line(level, message, "")
}

/// Builds a line from a level name, a message and pre-formatted fields, each field
/// already starting with a space.
pub(crate) fn compose_line(level: &str, message: &str, fields: &str) -> String {
    let mut line = String::with_capacity(40 + level.len() + message.len() + fields.len());
    let now = chrono::Local::now();
    // Writing to a String cannot fail.
    let _ = write!(
        line,
        "{} [{level}] {}#{}",
        now.format("%Y/%m/%d %H:%M:%S"),
        std::process::id(),
        nix::unistd::gettid()
    );
    if !message.is_empty() {
        line.push(' ');
        line.push_str(message);
    }
    line.push_str(fields);
    line.push('\n');
    line
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Checks the shape of everything before the message and returns the level name and
    /// the rest of the line (without the newline).
    pub(crate) fn split_line(line: &str) -> (&str, &str) {
        let Some(body) = line.strip_suffix('\n') else {
            panic!("no trailing newline in {line:?}");
        };
        assert!(!body.contains('\n'), "more than one line in {line:?}");
        let mut words = body.splitn(5, ' ');
        let (Some(date), Some(time), Some(level), Some(ids)) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            panic!("too few words in {line:?}");
        };
        let rest = words.next().unwrap_or("");

        check_digits_with_separators(date, "dddd/dd/dd");
        check_digits_with_separators(time, "dd:dd:dd");
        let Some(level) = level
            .strip_prefix('[')
            .and_then(|level| level.strip_suffix(']'))
        else {
            panic!("level not in brackets in {line:?}");
        };
        let Some((pid, tid)) = ids.split_once('#') else {
            panic!("no PID#TID in {line:?}");
        };
        assert_eq!(
            pid.parse::<u32>().ok(),
            Some(std::process::id()),
            "{line:?}"
        );
        assert_eq!(
            tid.parse::<i32>().ok(),
            Some(nix::unistd::gettid().as_raw()),
            "{line:?}"
        );
        (level, rest)
    }

    /// `pattern` uses `d` for a digit; every other character must match itself.
    fn check_digits_with_separators(text: &str, pattern: &str) {
        assert_eq!(text.len(), pattern.len(), "{text:?} vs {pattern:?}");
        for (actual, wanted) in text.bytes().zip(pattern.bytes()) {
            if wanted == b'd' {
                assert!(actual.is_ascii_digit(), "{text:?} vs {pattern:?}");
            } else {
                assert_eq!(actual, wanted, "{text:?} vs {pattern:?}");
            }
        }
    }

    #[test]
    fn line_shape() {
        let line = format_line("info", "unit 1.36.0 started");
        assert_eq!(split_line(&line), ("info", "unit 1.36.0 started"));

        let line = format_line(
            "alert",
            "bind(\\\"127.0.0.1:80\\\") failed (98: Address in use)",
        );
        assert_eq!(
            split_line(&line),
            (
                "alert",
                "bind(\\\"127.0.0.1:80\\\") failed (98: Address in use)"
            )
        );

        let line = format_line("notice", "");
        assert_eq!(split_line(&line), ("notice", ""));
        assert!(line.ends_with(&format!("#{}\n", nix::unistd::gettid())));
    }

    #[test]
    fn fields_follow_the_message() {
        let line = compose_line("warn", "port closed", " pid=5 port=2");
        assert_eq!(split_line(&line), ("warn", "port closed pid=5 port=2"));
        let line = compose_line("info", "", " answer=42");
        assert_eq!(split_line(&line), ("info", "answer=42"));
    }

    #[test]
    fn date_is_local_time_now() {
        let before = chrono::Local::now().format("%Y/%m/%d").to_string();
        let line = format_line("info", "x");
        let after = chrono::Local::now().format("%Y/%m/%d").to_string();
        let date = &line[..10];
        assert!(date == before || date == after, "{line:?}");
    }
}
