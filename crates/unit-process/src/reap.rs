//! Reaping exited children and describing how they ended.

use nix::errno::Errno;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// It exited with this code.
    Code(i32),
    /// A signal killed it.
    Signal {
        /// The signal number.
        signal: i32,
        /// Whether it left a core dump.
        core_dumped: bool,
    },
}

impl ExitStatus {
    /// Unit's log text for it: `process <pid> exited with code <n>` or
    /// `process <pid> exited on signal <n>` (+ ` (core dumped)`).
    pub fn describe(&self, pid: Pid) -> String {
        match self {
            ExitStatus::Code(code) => format!("process {pid} exited with code {code}"),
            ExitStatus::Signal {
                signal,
                core_dumped,
            } => {
                let core = if *core_dumped { " (core dumped)" } else { "" };
                format!("process {pid} exited on signal {signal}{core}")
            }
        }
    }

    /// Whether this ending is abnormal (a signal), which Unit logs as an alert.
    pub fn is_signal(&self) -> bool {
        matches!(self, ExitStatus::Signal { .. })
    }
}

/// Reaps every child that has exited, without blocking.
pub fn reap_exited() -> Vec<(Pid, ExitStatus)> {
    let mut exited = Vec::new();
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => exited.push((pid, ExitStatus::Code(code))),
            Ok(WaitStatus::Signaled(pid, signal, core_dumped)) => exited.push((
                pid,
                ExitStatus::Signal {
                    signal: signal as i32,
                    core_dumped,
                },
            )),
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return exited,
            Err(Errno::EINTR) | Ok(_) => continue,
            Err(_) => return exited,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_follow_unit() {
        let pid = Pid::from_raw(42);
        assert_eq!(
            ExitStatus::Code(0).describe(pid),
            "process 42 exited with code 0"
        );
        let killed = ExitStatus::Signal {
            signal: 9,
            core_dumped: false,
        };
        assert_eq!(killed.describe(pid), "process 42 exited on signal 9");
        assert!(killed.is_signal());
        let dumped = ExitStatus::Signal {
            signal: 11,
            core_dumped: true,
        };
        assert_eq!(
            dumped.describe(pid),
            "process 42 exited on signal 11 (core dumped)"
        );
    }
}
