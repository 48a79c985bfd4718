//! The process registry: every process main knows, keyed by pid.

use std::time::Instant;

use nix::unistd::Pid;
use unit_engine::HashMap;
use unit_port::{PortId, ProcessType};

use crate::spawn::StartSpec;

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
    /// What kind it is.
    pub process_type: ProcessType,
    /// Where it is in its life.
    pub state: ProcessState,
    /// Its ports' ids (port 0 first).
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

    /// The processes of one type.
    pub fn of_type(&self, process_type: ProcessType) -> impl Iterator<Item = &Process> {
        self.processes
            .values()
            .filter(move |process| process.process_type == process_type)
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

    fn process(pid: i32, process_type: ProcessType) -> Process {
        Process {
            pid: Pid::from_raw(pid),
            process_type,
            state: ProcessState::Starting,
            ports: vec![0],
            start: None,
            started_at: Instant::now(),
        }
    }

    #[test]
    fn keyed_by_pid_and_filtered_by_type() {
        let mut registry = ProcessRegistry::new();
        registry.insert(process(1, ProcessType::Main));
        registry.insert(process(2, ProcessType::Controller));
        registry.insert(process(3, ProcessType::Router));
        assert_eq!(registry.len(), 3);
        assert_eq!(
            registry
                .of_type(ProcessType::Router)
                .map(|p| p.pid.as_raw())
                .collect::<Vec<_>>(),
            vec![3]
        );
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
}
