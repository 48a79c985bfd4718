//! The port table: senders by `(pid, port id)`, with a slot per process type.

use nix::unistd::Pid;
use unit_engine::HashMap;

use crate::message::{PortId, ProcessType};
use crate::port::PortSender;

/// Names a port across processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortKey {
    /// The owning process.
    pub pid: Pid,
    /// The port within it.
    pub id: PortId,
}

/// A known port: how to write to it and what kind of process owns it.
#[derive(Debug)]
struct PortEntry {
    sender: PortSender,
    process_type: ProcessType,
}

/// Every port this process can write to.
#[derive(Debug, Default)]
pub struct PortTable {
    ports: HashMap<PortKey, PortEntry>,
    by_type: [Option<PortKey>; ProcessType::COUNT],
}

impl PortTable {
    /// An empty table.
    pub fn new() -> PortTable {
        PortTable::default()
    }

    /// Adds a port; it becomes the latest of its type. Replaces a port with the same key.
    pub fn insert(&mut self, key: PortKey, process_type: ProcessType, sender: PortSender) {
        self.ports.insert(
            key,
            PortEntry {
                sender,
                process_type,
            },
        );
        self.by_type[process_type as usize] = Some(key);
    }

    /// The sender for a port.
    pub fn get(&self, key: PortKey) -> Option<&PortSender> {
        self.ports.get(&key).map(|entry| &entry.sender)
    }

    /// The latest port of a process type, with its key.
    pub fn by_type(&self, process_type: ProcessType) -> Option<(PortKey, &PortSender)> {
        let key = self.by_type[process_type as usize]?;
        self.ports.get(&key).map(|entry| (key, &entry.sender))
    }

    /// The process type that owns a port.
    pub fn process_type(&self, key: PortKey) -> Option<ProcessType> {
        self.ports.get(&key).map(|entry| entry.process_type)
    }

    /// The process type of any port of `pid`.
    pub fn process_type_of(&self, pid: Pid) -> Option<ProcessType> {
        self.ports
            .iter()
            .find(|(key, _)| key.pid == pid)
            .map(|(_, entry)| entry.process_type)
    }

    /// Removes one port, clearing its type slot if it held it.
    pub fn remove(&mut self, key: PortKey) -> Option<PortSender> {
        let entry = self.ports.remove(&key)?;
        let slot = &mut self.by_type[entry.process_type as usize];
        if *slot == Some(key) {
            *slot = None;
        }
        Some(entry.sender)
    }

    /// Removes every port of a process (it is gone); returns how many there were.
    pub fn remove_pid(&mut self, pid: Pid) -> usize {
        let keys: Vec<PortKey> = self
            .ports
            .keys()
            .filter(|key| key.pid == pid)
            .copied()
            .collect();
        for key in &keys {
            self.remove(*key);
        }
        keys.len()
    }

    /// Every port, with its key and owner type.
    pub fn iter(&self) -> impl Iterator<Item = (PortKey, ProcessType, &PortSender)> {
        self.ports
            .iter()
            .map(|(key, entry)| (*key, entry.process_type, &entry.sender))
    }

    /// How many ports are known.
    pub fn len(&self) -> usize {
        self.ports.len()
    }

    /// Whether no port is known.
    pub fn is_empty(&self) -> bool {
        self.ports.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::PortError;
    use crate::port::port_pair;

    fn key(pid: i32, id: PortId) -> PortKey {
        PortKey {
            pid: Pid::from_raw(pid),
            id,
        }
    }

    fn sender() -> Result<PortSender, PortError> {
        Ok(port_pair()?.1)
    }

    #[test]
    fn lookup_by_key_and_type() -> Result<(), PortError> {
        let mut table = PortTable::new();
        table.insert(key(10, 0), ProcessType::Controller, sender()?);
        table.insert(key(11, 0), ProcessType::Router, sender()?);
        table.insert(key(11, 1), ProcessType::Router, sender()?);
        assert_eq!(table.len(), 3);
        assert!(table.get(key(10, 0)).is_some());
        assert!(table.get(key(10, 1)).is_none());
        assert_eq!(
            table.by_type(ProcessType::Router).map(|(k, _)| k),
            Some(key(11, 1))
        );
        assert_eq!(
            table.process_type(key(10, 0)),
            Some(ProcessType::Controller)
        );
        assert!(table.by_type(ProcessType::Main).is_none());
        Ok(())
    }

    #[test]
    fn removing_the_latest_port_clears_its_slot() -> Result<(), PortError> {
        let mut table = PortTable::new();
        table.insert(key(10, 0), ProcessType::Router, sender()?);
        table.insert(key(12, 0), ProcessType::Router, sender()?);
        assert!(table.remove(key(10, 0)).is_some());
        assert_eq!(
            table.by_type(ProcessType::Router).map(|(k, _)| k),
            Some(key(12, 0))
        );
        assert!(table.remove(key(12, 0)).is_some());
        assert!(table.by_type(ProcessType::Router).is_none());
        assert!(table.remove(key(12, 0)).is_none());
        Ok(())
    }

    #[test]
    fn remove_pid_drops_all_of_its_ports() -> Result<(), PortError> {
        let mut table = PortTable::new();
        table.insert(key(20, 0), ProcessType::App, sender()?);
        table.insert(key(20, 1), ProcessType::App, sender()?);
        table.insert(key(21, 0), ProcessType::App, sender()?);
        assert_eq!(table.remove_pid(Pid::from_raw(20)), 2);
        assert_eq!(table.len(), 1);
        assert_eq!(
            table.by_type(ProcessType::App).map(|(k, _)| k),
            Some(key(21, 0))
        );
        assert!(table.get(key(21, 0)).is_some());
        assert_eq!(table.remove_pid(Pid::from_raw(20)), 0);
        Ok(())
    }
}
