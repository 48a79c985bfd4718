//! The process registry: every process main knows, keyed by pid, with its kind and how
//! it is restarted.

use std::time::Instant;

use nix::unistd::Pid;
use unit_engine::HashMap;
use unit_port::{PortId, ProcessType};

use crate::spec::StartSpec;

/// What a process is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ChildKind {
    /// The main process itself.
    Main,
    /// The control API.
    Controller,
    /// The HTTP router.
    Router,
    /// A process of an application.
    Application {
        /// The application's name in the configuration.
        name: String,
        /// Which of the application's generations (a restart makes a new one).
        generation: u64,
    },
}

impl ChildKind {
    /// The port table slot of this kind.
    pub fn process_type(&self) -> ProcessType {
        match self {
            ChildKind::Main => ProcessType::Main,
            ChildKind::Controller => ProcessType::Controller,
            ChildKind::Router => ProcessType::Router,
            ChildKind::Application { .. } => ProcessType::App,
        }
    }

    /// How a process of this kind is replaced when it exits.
    pub fn restart_policy(&self) -> RestartPolicy {
        match self {
            ChildKind::Main => RestartPolicy::Never,
            ChildKind::Controller | ChildKind::Router => RestartPolicy::Respawn,
            ChildKind::Application { .. } => RestartPolicy::OnRequest,
        }
    }

    /// The name Unit's logs and titles use.
    pub fn name(&self) -> &str {
        match self {
            ChildKind::Main => "main",
            ChildKind::Controller => "controller",
            ChildKind::Router => "router",
            ChildKind::Application { name, .. } => name,
        }
    }
}

/// How a process is replaced when it exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    /// Never (main itself).
    Never,
    /// At once, as long as the last start was long enough ago (controller, router).
    Respawn,
    /// When the router asks for a process again, after a back-off if its processes keep
    /// dying right after they start (applications).
    OnRequest,
}

/// Where a process is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessState {
    /// Started; it has not said it is ready.
    Starting,
    /// Ready and serving.
    Running,
    /// Told to quit; waiting for it to exit.
    Quitting,
}

/// One process.
#[derive(Debug)]
pub struct Process {
    /// Its pid.
    pub pid: Pid,
    /// What it is.
    pub kind: ChildKind,
    /// Where it is in its life.
    pub state: ProcessState,
    /// Its ports' ids (port 0 first); none for a program of the user's.
    pub ports: Vec<PortId>,
    /// How it was started, so it can be started again (`None` for main itself).
    pub start: Option<StartSpec>,
    /// When it was started.
    pub started_at: Instant,
}

/// Every known process, by pid.
#[derive(Debug, Default)]
pub struct ProcessRegistry {
    processes: HashMap<Pid, Process>,
}

impl ProcessRegistry {
    /// An empty registry.
    pub fn new() -> ProcessRegistry {
        ProcessRegistry::default()
    }

    /// Adds a process (replacing any stale entry with the same pid).
    pub fn insert(&mut self, process: Process) {
        self.processes.insert(process.pid, process);
    }

    /// The process with this pid.
    pub fn get(&self, pid: Pid) -> Option<&Process> {
        self.processes.get(&pid)
    }

    /// The process with this pid, to change.
    pub fn get_mut(&mut self, pid: Pid) -> Option<&mut Process> {
        self.processes.get_mut(&pid)
    }

    /// Forgets a process.
    pub fn remove(&mut self, pid: Pid) -> Option<Process> {
        self.processes.remove(&pid)
    }

    /// The processes of one port type.
    pub fn of_type(&self, process_type: ProcessType) -> impl Iterator<Item = &Process> {
        self.processes
            .values()
            .filter(move |process| process.kind.process_type() == process_type)
    }

    /// Every process.
    pub fn iter(&self) -> impl Iterator<Item = &Process> {
        self.processes.values()
    }

    /// Every process, to change.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Process> {
        self.processes.values_mut()
    }

    /// How many processes are known.
    pub fn len(&self) -> usize {
        self.processes.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.processes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(pid: i32, kind: ChildKind) -> Process {
        Process {
            pid: Pid::from_raw(pid),
            kind,
            state: ProcessState::Starting,
            ports: vec![0],
            start: None,
            started_at: Instant::now(),
        }
    }

    #[test]
    fn keyed_by_pid_and_filtered_by_type() {
        let mut registry = ProcessRegistry::new();
        registry.insert(process(1, ChildKind::Main));
        registry.insert(process(2, ChildKind::Controller));
        registry.insert(process(3, ChildKind::Router));
        let app = ChildKind::Application {
            name: "blog".into(),
            generation: 2,
        };
        registry.insert(process(4, app.clone()));
        assert_eq!(registry.len(), 4);
        assert_eq!(
            registry
                .of_type(ProcessType::Router)
                .map(|p| p.pid.as_raw())
                .collect::<Vec<_>>(),
            vec![3]
        );
        assert_eq!(registry.of_type(ProcessType::App).count(), 1);
        if let Some(router) = registry.get_mut(Pid::from_raw(3)) {
            router.state = ProcessState::Running;
        }
        assert_eq!(
            registry.get(Pid::from_raw(3)).map(|p| p.state),
            Some(ProcessState::Running)
        );
        assert!(registry.remove(Pid::from_raw(3)).is_some());
        assert!(registry.get(Pid::from_raw(3)).is_none());
        assert_eq!(registry.of_type(ProcessType::Router).count(), 0);
    }

    #[test]
    fn kinds_have_their_slot_and_policy() {
        let app = ChildKind::Application {
            name: "blog".into(),
            generation: 0,
        };
        for (kind, process_type, policy, name) in [
            (
                ChildKind::Main,
                ProcessType::Main,
                RestartPolicy::Never,
                "main",
            ),
            (
                ChildKind::Controller,
                ProcessType::Controller,
                RestartPolicy::Respawn,
                "controller",
            ),
            (
                ChildKind::Router,
                ProcessType::Router,
                RestartPolicy::Respawn,
                "router",
            ),
            (app, ProcessType::App, RestartPolicy::OnRequest, "blog"),
        ] {
            assert_eq!(kind.process_type(), process_type);
            assert_eq!(kind.restart_policy(), policy);
            assert_eq!(kind.name(), name);
        }
    }
}
