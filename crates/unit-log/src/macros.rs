//! The [`notice!`](crate::notice) and [`alert!`](crate::alert) macros for the two Unit
//! levels `tracing` lacks. They take the same arguments as `tracing::info!`.

/// Logs at Unit's `notice` level: an `INFO` event with the target `unit::notice`.
///
/// `notice!(pid = %pid, "process {pid} exited with code {code}")`
#[macro_export]
macro_rules! notice {
    ($($arg:tt)+) => {
        $crate::__tracing::event!(target: "unit::notice", $crate::__tracing::Level::INFO, $($arg)+)
    };
}

/// Logs at Unit's `alert` level: an `ERROR` event with the target `unit::alert`.
///
/// `alert!("failed to apply new conf")`
#[macro_export]
macro_rules! alert {
    ($($arg:tt)+) => {
        $crate::__tracing::event!(target: "unit::alert", $crate::__tracing::Level::ERROR, $($arg)+)
    };
}
