//! Unit's six log levels, how `tracing` events map onto them, and the threshold.
//!
//! `tracing` has no `notice` and no `alert`; those come from events with the targets
//! [`NOTICE_TARGET`] (at `INFO`) and [`ALERT_TARGET`] (at `ERROR`), which the
//! [`notice!`](crate::notice) and [`alert!`](crate::alert) macros set.

use tracing::Metadata;
use tracing::level_filters::LevelFilter;

/// The environment variable that sets the threshold: one of `alert`, `error`, `warn`,
/// `notice`, `info` or `debug`. Unset or unknown means `info`, which shows everything
/// but `debug`.
pub const LOG_LEVEL_ENV: &str = "UNITD_LOG_LEVEL";

/// The target of events that Unit logs at `notice`.
pub(crate) const NOTICE_TARGET: &str = "unit::notice";

/// The target of events that Unit logs at `alert`.
pub(crate) const ALERT_TARGET: &str = "unit::alert";

/// A Unit log level, most severe first, so `level <= threshold` means "shown".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    Alert,
    Error,
    Warn,
    Notice,
    Info,
    Debug,
}

impl Level {
    /// The level of a `tracing` event or span.
    pub(crate) fn of(metadata: &Metadata<'_>) -> Level {
        match metadata.target() {
            ALERT_TARGET => Level::Alert,
            NOTICE_TARGET => Level::Notice,
            _ => match *metadata.level() {
                tracing::Level::ERROR => Level::Error,
                tracing::Level::WARN => Level::Warn,
                tracing::Level::INFO => Level::Info,
                // DEBUG and TRACE: Unit has nothing finer than debug.
                _ => Level::Debug,
            },
        }
    }

    /// The name Unit prints between brackets.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Level::Alert => "alert",
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Notice => "notice",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }

    /// The threshold a [`LOG_LEVEL_ENV`] value asks for: a level name (ASCII case and
    /// surrounding blanks ignored), or `info` when unset or unknown.
    pub(crate) fn threshold_from(value: Option<&str>) -> Level {
        let Some(value) = value else {
            return Level::Info;
        };
        let value = value.trim();
        [
            Level::Alert,
            Level::Error,
            Level::Warn,
            Level::Notice,
            Level::Info,
            Level::Debug,
        ]
        .into_iter()
        .find(|level| level.name().eq_ignore_ascii_case(value))
        .unwrap_or(Level::Info)
    }

    /// The most verbose `tracing` level that can pass this threshold.
    pub(crate) fn tracing_filter(self) -> LevelFilter {
        match self {
            Level::Alert | Level::Error => LevelFilter::ERROR,
            Level::Warn => LevelFilter::WARN,
            Level::Notice | Level::Info => LevelFilter::INFO,
            Level::Debug => LevelFilter::TRACE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_parsing() {
        let check = |value: Option<&str>, expected: Level| {
            assert_eq!(Level::threshold_from(value), expected, "{value:?}");
        };
        check(None, Level::Info);
        check(Some("alert"), Level::Alert);
        check(Some("error"), Level::Error);
        check(Some("warn"), Level::Warn);
        check(Some("notice"), Level::Notice);
        check(Some("info"), Level::Info);
        check(Some("debug"), Level::Debug);
        check(Some("DEBUG"), Level::Debug);
        check(Some(" notice\n"), Level::Notice);
        check(Some(""), Level::Info);
        check(Some("warning"), Level::Info);
        check(Some("trace"), Level::Info);
        check(Some("crit"), Level::Info);
    }

    #[test]
    fn order_and_filters() {
        assert!(Level::Alert < Level::Error);
        assert!(Level::Error < Level::Warn);
        assert!(Level::Warn < Level::Notice);
        assert!(Level::Notice < Level::Info);
        assert!(Level::Info < Level::Debug);
        assert_eq!(Level::Alert.tracing_filter(), LevelFilter::ERROR);
        assert_eq!(Level::Warn.tracing_filter(), LevelFilter::WARN);
        assert_eq!(Level::Notice.tracing_filter(), LevelFilter::INFO);
        assert_eq!(Level::Debug.tracing_filter(), LevelFilter::TRACE);
    }
}
