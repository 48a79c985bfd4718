//! Supervision: main's children by pid, with their kind, how they were started and how
//! each kind is replaced.
//!
//! The [`Supervisor`] starts children from a [`StartSpec`], keeps the ports of those that
//! have one and introduces them to each other, reaps exited children and says what to do
//! about each: the controller and the router are started again within a second of their
//! last start; an application process is started again only when the router asks, after
//! a back-off that doubles while its processes keep dying right after they start; when
//! the router dies, every application process is stopped, since the router is the one
//! that knows them. On quit every child is told to stop, and those still there after the
//! grace period are killed.
//!
//! What it does not do: decide what a child is started with (main builds the
//! [`StartSpec`]s) or answer what children ask (main's services do).

use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use unit_engine::HashMap;
use unit_port::{
    Message, NewPort, PortId, PortKey, PortReceiver, PortSender, PortTable, ProcessType, ToChild,
    port_pair,
};
use unit_process::{
    ChildKind, ExitStatus, InheritedFds, Process, ProcessRegistry, ProcessState, RestartPolicy,
    StartSpec, reap_exited, spawn,
};

use crate::error::RuntimeError;

/// The environment variable carrying the credentials a child drops to.
pub const CREDENTIALS_ENV: &str = "UNITD_CREDENTIALS";
/// The names children find their descriptors under.
pub const PORT_FD_NAME: &str = "port";
/// The name of main's port sender in a child.
pub const MAIN_FD_NAME: &str = "main";
/// The name of the control socket in the controller.
pub const CONTROL_FD_NAME: &str = "control";
/// Main's own port id; every child's one port is id 0 too.
pub(crate) const PORT_ID: PortId = 0;
/// A child that dies sooner than this after starting is started again only once this
/// much time has passed since its start, so a crash loop does not spin.
pub(crate) const RESTART_INTERVAL: Duration = Duration::from_secs(1);
/// An application process that exits sooner than this after it started counts as a
/// failed start for the back-off.
const QUICK_EXIT: Duration = Duration::from_secs(1);
/// The first back-off after an application process failed to stay up, and the longest.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long children get to quit before they are killed.
pub(crate) const QUIT_GRACE: Duration = Duration::from_secs(5);

/// A child that exited, and what is to be done about it.
#[derive(Debug)]
pub(crate) struct Exited {
    /// The process as it was known (its state says whether it was told to stop).
    pub(crate) process: Process,
    /// How it ended.
    pub(crate) status: ExitStatus,
    /// When to start its kind again, for a kind main restarts itself.
    pub(crate) restart_after: Option<Duration>,
}

/// Main's children.
#[derive(Debug)]
pub(crate) struct Supervisor {
    own_pid: Pid,
    processes: ProcessRegistry,
    /// The ports of the children that have one, and main's own.
    ports: PortTable,
    quitting: bool,
    /// Per application, how its recent starts went.
    backoffs: HashMap<String, Backoff>,
}

/// The back-off of one application's process starts.
#[derive(Debug, Default, Clone, Copy)]
struct Backoff {
    /// How long the next start waits; zero while processes stay up.
    delay: Duration,
}

impl Supervisor {
    /// A supervisor of no child yet; `own_sender` writes to main's own port.
    pub(crate) fn new(own_pid: Pid, own_sender: PortSender) -> Supervisor {
        let mut ports = PortTable::new();
        ports.insert(
            PortKey {
                pid: own_pid,
                id: PORT_ID,
            },
            ProcessType::Main,
            own_sender,
        );
        let mut processes = ProcessRegistry::new();
        processes.insert(Process {
            pid: own_pid,
            kind: ChildKind::Main,
            state: ProcessState::Running,
            ports: vec![PORT_ID],
            start: None,
            started_at: Instant::now(),
        });
        Supervisor {
            own_pid,
            processes,
            ports,
            quitting: false,
            backoffs: HashMap::default(),
        }
    }

    /// Whether a quit is under way.
    pub(crate) fn is_quitting(&self) -> bool {
        self.quitting
    }

    /// The process with this pid, if it is a child of ours.
    pub(crate) fn child(&self, pid: Pid) -> Option<&Process> {
        self.processes
            .get(pid)
            .filter(|process| process.pid != self.own_pid)
    }

    /// The pids of every child.
    pub(crate) fn child_pids(&self) -> Vec<Pid> {
        self.processes
            .iter()
            .filter(|process| process.pid != self.own_pid)
            .map(|process| process.pid)
            .collect()
    }

    /// The latest child with a port of `process_type`.
    pub(crate) fn latest(&self, process_type: ProcessType) -> Option<Pid> {
        self.ports.by_type(process_type).map(|(key, _)| key.pid)
    }

    /// Starts a unitd role with a port of its own (`extra_fds` besides its port and
    /// main's), introduces it to the other children with ports, and returns its pid.
    pub(crate) fn start_with_port(
        &mut self,
        kind: ChildKind,
        spec: StartSpec,
        extra_fds: &[(&'static str, BorrowedFd<'_>)],
    ) -> Result<Pid, RuntimeError> {
        let (child_port, child_sender): (PortReceiver, PortSender) = port_pair()?;
        let own_sender = self
            .ports
            .get(PortKey {
                pid: self.own_pid,
                id: PORT_ID,
            })
            .ok_or(unit_port::PortError::Closed)?;
        let mut fds = InheritedFds::new()
            .with(PORT_FD_NAME, child_port.as_fd())
            .with(MAIN_FD_NAME, own_sender.as_fd());
        for (name, fd) in extra_fds {
            fds = fds.with(name, *fd);
        }
        let pid = spawn(&spec, &fds)?;
        drop(child_port);
        let process_type = kind.process_type();
        let peers: Vec<(PortKey, ProcessType)> = self
            .ports
            .iter()
            .filter(|(key, peer_type, _)| {
                key.pid != self.own_pid
                    && matches!(peer_type, ProcessType::Controller | ProcessType::Router)
            })
            .map(|(key, peer_type, _)| (key, peer_type))
            .collect();
        let key = PortKey { pid, id: PORT_ID };
        self.ports.insert(key, process_type, child_sender);
        self.insert(pid, kind, spec, vec![PORT_ID]);
        // The newcomer learns its peers first: by the time a peer hears of it and sends it
        // a request, the newcomer's queue already holds the peer's port to reply to.
        for (peer_key, peer_type) in peers {
            self.introduce(peer_key, peer_type, pid);
            self.introduce(key, process_type, peer_key.pid);
        }
        Ok(pid)
    }

    /// Starts a program of the user's (an application process) with `listen_socket` as
    /// its descriptor 3. It has no port: it speaks HTTP on that socket.
    pub(crate) fn start_program(
        &mut self,
        kind: ChildKind,
        spec: StartSpec,
        listen_socket: BorrowedFd<'_>,
        ready_pipe: Option<BorrowedFd<'_>>,
    ) -> Result<Pid, RuntimeError> {
        let mut inherited = InheritedFds::new().with_listen_socket(listen_socket);
        if let Some(ready_pipe) = ready_pipe {
            inherited = inherited.with_ready_pipe(ready_pipe);
        }
        let pid = spawn(&spec, &inherited)?;
        self.insert(pid, kind, spec, Vec::new());
        Ok(pid)
    }

    /// How long the next start of a process of application `name` must wait.
    pub(crate) fn backoff(&self, name: &str) -> Duration {
        self.backoffs
            .get(name)
            .map_or(Duration::ZERO, |backoff| backoff.delay)
    }

    fn insert(&mut self, pid: Pid, kind: ChildKind, spec: StartSpec, ports: Vec<PortId>) {
        tracing::debug!(pid = %pid, kind = kind.name(), "process spawned");
        self.processes.insert(Process {
            pid,
            kind,
            state: ProcessState::Starting,
            ports,
            start: Some(spec),
            started_at: Instant::now(),
        });
    }

    /// Marks a child as serving.
    pub(crate) fn mark_running(&mut self, pid: Pid) {
        if let Some(process) = self.processes.get_mut(pid) {
            process.state = ProcessState::Running;
        }
    }

    /// Tells `to` about the port `key` (owned by a process of `kind`), passing its sender.
    fn introduce(&self, key: PortKey, kind: ProcessType, to: Pid) {
        let Some(sender) = self.ports.get(key) else {
            return;
        };
        let copy = match sender.try_clone() {
            Ok(copy) => copy,
            Err(error) => {
                tracing::warn!("introducing process {} to {to} failed: {error}", key.pid);
                return;
            }
        };
        let port = NewPort {
            pid: key.pid,
            id: key.id,
            process_type: kind,
        };
        self.send(to, ToChild::NewPort { port, sender: copy }.into_message());
    }

    /// Sends a message to a child's port; a child without one, or gone, is skipped.
    pub(crate) fn send(&self, pid: Pid, message: Message) {
        let Some(sender) = self.ports.get(PortKey { pid, id: PORT_ID }) else {
            return;
        };
        if let Err(error) = sender.send(&message, PORT_ID) {
            tracing::warn!(
                "sending {:?} to process {pid} failed: {error}",
                message.msg_type
            );
        }
    }

    /// Sends a message to `pid`'s port `port_id` (a reply to a request).
    pub(crate) fn send_to_port(&self, pid: Pid, port_id: PortId, message: Message) {
        let Some(sender) = self.ports.get(PortKey { pid, id: port_id }) else {
            return;
        };
        if let Err(error) = sender.send(&message, PORT_ID) {
            tracing::warn!("replying to process {pid} failed: {error}");
        }
    }

    /// Reaps every exited child: its ports go, the others hear it is gone, and the
    /// result says whether to start its kind again. When the router is among them,
    /// every application process is stopped.
    pub(crate) fn reap(&mut self) -> Vec<Exited> {
        let mut exited = Vec::new();
        for (pid, status) in reap_exited() {
            let Some(process) = self.processes.remove(pid) else {
                continue;
            };
            self.ports.remove_pid(pid);
            if !self.quitting {
                for other in self.child_pids() {
                    self.send(other, ToChild::RemovePid(pid).into_message());
                }
            }
            let lived = process.started_at.elapsed();
            let restart_after = match process.kind.restart_policy() {
                RestartPolicy::Respawn if !self.quitting => {
                    Some(RESTART_INTERVAL.saturating_sub(lived))
                }
                RestartPolicy::Respawn | RestartPolicy::Never => None,
                RestartPolicy::OnRequest => {
                    // A process main was told to stop says nothing about starting.
                    if let ChildKind::Application { name, .. } = &process.kind
                        && process.state != ProcessState::Quitting
                    {
                        self.note_application_exit(name, lived);
                    }
                    None
                }
            };
            exited.push(Exited {
                process,
                status,
                restart_after,
            });
        }
        if exited
            .iter()
            .any(|exited| exited.process.kind == ChildKind::Router)
        {
            self.stop_applications();
        }
        exited
    }

    /// Doubles an application's back-off when a process died soon after it started,
    /// and clears it when one lived long enough.
    fn note_application_exit(&mut self, name: &str, lived: Duration) {
        let backoff = self.backoffs.entry(name.to_owned()).or_default();
        backoff.delay = if lived < QUICK_EXIT {
            (backoff.delay * 2).clamp(FIRST_BACKOFF, MAX_BACKOFF)
        } else {
            Duration::ZERO
        };
    }

    /// A start of application `name` failed before its process could serve: the next
    /// waits as after a process that died at once.
    pub(crate) fn note_failed_start(&mut self, name: &str) {
        self.note_application_exit(name, Duration::ZERO);
    }

    /// Stops one application process: SIGTERM now; the caller kills it if it is still
    /// there after [`QUIT_GRACE`]. False when `pid` is no application process of ours.
    pub(crate) fn stop_application(&mut self, pid: Pid) -> bool {
        match self.processes.get_mut(pid) {
            Some(process) if matches!(process.kind, ChildKind::Application { .. }) => {
                process.state = ProcessState::Quitting;
                let _ = kill(pid, Signal::SIGTERM);
                true
            }
            _ => false,
        }
    }

    /// Kills an application process that was told to stop and is still there.
    pub(crate) fn kill_if_stopping(&mut self, pid: Pid) {
        if let Some(process) = self.processes.get(pid)
            && matches!(process.kind, ChildKind::Application { .. })
            && process.state == ProcessState::Quitting
        {
            tracing::warn!("process {pid} did not stop in time, killing it");
            let _ = kill(pid, Signal::SIGKILL);
        }
    }

    /// Sends SIGTERM to every application process (the router that ran them is gone).
    fn stop_applications(&mut self) {
        for process in self.processes.iter_mut() {
            if matches!(process.kind, ChildKind::Application { .. })
                && process.state != ProcessState::Quitting
            {
                process.state = ProcessState::Quitting;
                let _ = kill(process.pid, Signal::SIGTERM);
            }
        }
    }

    /// Starts quitting: QUIT to every child with a port, SIGTERM to the others. False
    /// when there is no child left to wait for.
    pub(crate) fn begin_quit(&mut self) -> bool {
        self.quitting = true;
        let own_pid = self.own_pid;
        let mut any = false;
        let mut told = Vec::new();
        for process in self.processes.iter_mut() {
            if process.pid == own_pid {
                continue;
            }
            any = true;
            process.state = ProcessState::Quitting;
            if process.ports.is_empty() {
                let _ = kill(process.pid, Signal::SIGTERM);
            } else {
                told.push(process.pid);
            }
        }
        for pid in told {
            self.send(pid, ToChild::Quit.into_message());
        }
        any
    }

    /// The grace period is over: every child left is killed and reaped.
    pub(crate) fn kill_stragglers(&mut self) {
        for pid in self.child_pids() {
            tracing::warn!("process {pid} did not quit in time, killing it");
            let _ = kill(pid, Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
            self.processes.remove(pid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_application_backoff_doubles_while_processes_die_young() {
        let (_receiver, sender) = port_pair().expect("a port");
        let mut supervisor = Supervisor::new(nix::unistd::getpid(), sender);
        assert_eq!(supervisor.backoff("blog"), Duration::ZERO);
        let young = Duration::from_millis(10);
        let delays: Vec<Duration> = (0..8)
            .map(|_| {
                supervisor.note_application_exit("blog", young);
                supervisor.backoff("blog")
            })
            .collect();
        let millis: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(millis, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        assert_eq!(supervisor.backoff("other"), Duration::ZERO);
        supervisor.note_application_exit("blog", Duration::from_secs(5));
        assert_eq!(
            supervisor.backoff("blog"),
            Duration::ZERO,
            "a process that lived"
        );
    }
}
