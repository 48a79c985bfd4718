//! The `tracing` layer that writes Unit log lines, and [`init`], which installs it.
//!
//! Each event is formatted into one buffer and handed to a [`LineSink`] in one call; the
//! real sink writes it to descriptor 2 with one `write(2)`, so lines from different
//! threads and processes sharing the log file do not interleave. Spans are not printed.

use std::fmt::{self, Write as _};
use std::io::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::Registry;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};

use crate::level::{LOG_LEVEL_ENV, Level};
use crate::line::compose_line;

/// Installs the process-wide subscriber: Unit log lines on descriptor 2, with the
/// threshold read from [`LOG_LEVEL_ENV`] now. Calling it again does nothing.
///
/// Before the log file is open, descriptor 2 is the original stderr; once
/// [`redirect_stderr`](crate::redirect_stderr) put the log file there, lines go to it.
pub fn init() {
    let threshold = Level::threshold_from(std::env::var(LOG_LEVEL_ENV).ok().as_deref());
    let subscriber = Registry::default().with(UnitLayer::new(StderrSink, threshold));
    // An error only means a subscriber is already installed, which is what was asked.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// Where finished lines go.
pub(crate) trait LineSink: Send + Sync + 'static {
    /// Writes one complete line. Failures are dropped: there is nowhere left to report
    /// them.
    fn write_line(&self, line: &[u8]);
}

/// Descriptor 2, whatever it currently points at.
struct StderrSink;

impl LineSink for StderrSink {
    fn write_line(&self, line: &[u8]) {
        // `Stderr` is unbuffered, so one `write_all` of the whole line is one `write(2)`
        // unless the kernel accepts only part of it.
        let _ = io::stderr().lock().write_all(line);
    }
}

/// Formats events as Unit log lines and filters them by Unit level.
pub(crate) struct UnitLayer<K> {
    sink: K,
    threshold: Level,
}

impl<K: LineSink> UnitLayer<K> {
    pub(crate) fn new(sink: K, threshold: Level) -> UnitLayer<K> {
        UnitLayer { sink, threshold }
    }

    fn is_shown(&self, metadata: &Metadata<'_>) -> bool {
        Level::of(metadata) <= self.threshold
    }
}

impl<S: Subscriber, K: LineSink> Layer<S> for UnitLayer<K> {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.is_shown(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _context: Context<'_, S>) -> bool {
        self.is_shown(metadata)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.threshold.tracing_filter())
    }

    fn on_event(&self, event: &Event<'_>, _context: Context<'_, S>) {
        let metadata = event.metadata();
        if !self.is_shown(metadata) {
            return;
        }
        let mut line_visitor = LineVisitor::default();
        event.record(&mut line_visitor);
        let line = compose_line(
            Level::of(metadata).name(),
            &line_visitor.message,
            &line_visitor.fields,
        );
        self.sink.write_line(line.as_bytes());
    }
}

/// Collects an event's `message` and its other fields as ` key=value` text.
#[derive(Default)]
struct LineVisitor {
    message: String,
    fields: String,
}

impl Visit for LineVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            // Writing to a String cannot fail.
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing::{debug, error, info, trace, warn};

    use super::*;
    use crate::line::tests::split_line;

    /// Keeps every line in memory.
    #[derive(Clone, Default)]
    struct CaptureSink {
        lines: Arc<Mutex<Vec<String>>>,
    }

    impl LineSink for CaptureSink {
        fn write_line(&self, line: &[u8]) {
            let line = String::from_utf8_lossy(line).into_owned();
            self.lines
                .lock()
                .expect("no test thread panics while holding the lock")
                .push(line);
        }
    }

    /// Runs `emit` under a subscriber with `threshold` and returns `(level, rest)` per
    /// line written.
    fn capture(threshold: Level, emit: impl FnOnce()) -> Vec<(String, String)> {
        let sink = CaptureSink::default();
        let subscriber = Registry::default().with(UnitLayer::new(sink.clone(), threshold));
        tracing::subscriber::with_default(subscriber, emit);
        let lines = sink
            .lines
            .lock()
            .expect("no test thread panics while holding the lock")
            .clone();
        lines
            .iter()
            .map(|line| {
                let (level, rest) = split_line(line);
                (level.to_owned(), rest.to_owned())
            })
            .collect()
    }

    fn emit_every_level() {
        crate::alert!("an alert");
        error!("an error");
        warn!("a warning");
        crate::notice!("a notice");
        info!("an info");
        debug!("a debug");
        trace!("a trace");
    }

    #[test]
    fn level_names() {
        let lines = capture(Level::Debug, emit_every_level);
        let expected = [
            ("alert", "an alert"),
            ("error", "an error"),
            ("warn", "a warning"),
            ("notice", "a notice"),
            ("info", "an info"),
            ("debug", "a debug"),
            ("debug", "a trace"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(level, rest)| ((*level).to_owned(), (*rest).to_owned()))
            .collect();
        assert_eq!(lines, expected);
    }

    #[test]
    fn threshold_filters() {
        let check = |threshold: Level, expected: &[&str]| {
            let levels: Vec<String> = capture(threshold, emit_every_level)
                .into_iter()
                .map(|(level, _)| level)
                .collect();
            assert_eq!(levels, expected, "threshold {threshold:?}");
        };
        check(Level::Alert, &["alert"]);
        check(Level::Error, &["alert", "error"]);
        check(Level::Warn, &["alert", "error", "warn"]);
        check(Level::Notice, &["alert", "error", "warn", "notice"]);
        check(Level::Info, &["alert", "error", "warn", "notice", "info"]);
        check(
            Level::Debug,
            &["alert", "error", "warn", "notice", "info", "debug", "debug"],
        );
    }

    #[test]
    fn fields_and_formatting() {
        let lines = capture(Level::Info, || {
            let pid = 4321;
            info!("process {pid} exited with code {}", 0);
            crate::notice!(pid, port = 2_u16, "port opened");
            warn!(path = %"/a b", reason = ?Some("full"), "write failed");
            info!(name = "router", "plain str field");
            info!(answer = 42);
            crate::alert!(message = "explicit message", code = -1);
            info!(ok = true, ratio = 0.5, "mixed");
        });
        let rest: Vec<&str> = lines.iter().map(|(_, rest)| rest.as_str()).collect();
        assert_eq!(
            rest,
            [
                "process 4321 exited with code 0",
                "port opened pid=4321 port=2",
                "write failed path=/a b reason=Some(\"full\")",
                "plain str field name=\"router\"",
                "answer=42",
                "explicit message code=-1",
                "mixed ok=true ratio=0.5",
            ]
        );
    }
}
