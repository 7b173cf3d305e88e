//! In-memory state for unit tests: same contracts as the sled store, nothing on disk.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use super::{
    moved_records, redacted, redacted_outputs, HistoryEntry, OutputState, ResourceState,
    StateError, StateHistory, StateMeta, StateRead, StateResult, StateSnapshot, StateWrite,
};

/// Transient store.
#[derive(Debug)]
pub struct MemoryState {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    snapshot: StateSnapshot,
    /// Oldest first.
    history: Vec<HistoryEntry>,
}

impl MemoryState {
    /// A fresh state: new lineage, serial 0.
    pub fn new(stack: &str, workspace: &str) -> MemoryState {
        MemoryState {
            inner: Mutex::new(Inner {
                snapshot: StateSnapshot {
                    meta: StateMeta {
                        lineage: uuid::Uuid::new_v4().to_string(),
                        serial: 0,
                        stack: stack.to_string(),
                        workspace: workspace.to_string(),
                    },
                    resources: BTreeMap::new(),
                    outputs: BTreeMap::new(),
                },
                history: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic in another test thread must not hide this store's data.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies `change` and bumps the serial, both under one lock.
    fn write(&self, change: impl FnOnce(&mut StateSnapshot)) -> u64 {
        let mut inner = self.lock();
        change(&mut inner.snapshot);
        inner.snapshot.meta.serial += 1;
        inner.snapshot.meta.serial
    }
}

impl StateRead for MemoryState {
    fn meta(&self) -> StateResult<StateMeta> {
        Ok(self.lock().snapshot.meta.clone())
    }

    fn resources(&self) -> StateResult<BTreeMap<String, ResourceState>> {
        Ok(self.lock().snapshot.resources.clone())
    }

    fn resource(&self, address: &str) -> StateResult<Option<ResourceState>> {
        Ok(self.lock().snapshot.resources.get(address).cloned())
    }

    fn outputs(&self) -> StateResult<BTreeMap<String, OutputState>> {
        Ok(self.lock().snapshot.outputs.clone())
    }

    fn snapshot(&self) -> StateResult<StateSnapshot> {
        Ok(self.lock().snapshot.clone())
    }
}

impl StateWrite for MemoryState {
    fn put_resource(&self, resource: &ResourceState) -> StateResult<u64> {
        let lineage = self.lock().snapshot.meta.lineage.clone();
        let resource = redacted(resource, &lineage);
        Ok(self.write(|s| {
            s.resources.insert(resource.address.clone(), resource);
        }))
    }

    fn remove_resource(&self, address: &str) -> StateResult<u64> {
        let mut inner = self.lock();
        if inner.snapshot.resources.remove(address).is_none() {
            return Err(StateError::NotFound(address.to_string()));
        }
        inner.snapshot.meta.serial += 1;
        Ok(inner.snapshot.meta.serial)
    }

    fn set_outputs(&self, outputs: &BTreeMap<String, OutputState>) -> StateResult<u64> {
        let lineage = self.lock().snapshot.meta.lineage.clone();
        let outputs = redacted_outputs(outputs, &lineage);
        Ok(self.write(|s| s.outputs = outputs))
    }

    fn move_resource(&self, from: &str, to: &str) -> StateResult<u64> {
        let mut inner = self.lock();
        let changed = moved_records(&inner.snapshot.resources, from, to)?;
        let s = &mut inner.snapshot;
        s.resources.remove(from);
        for r in changed {
            s.resources.insert(r.address.clone(), r);
        }
        s.meta.serial += 1;
        Ok(s.meta.serial)
    }
}

impl StateHistory for MemoryState {
    fn record(&self, command: &str, keep: usize) -> StateResult<()> {
        let mut inner = self.lock();
        let serial = inner.snapshot.meta.serial;
        // One entry per serial: the command that produced a state keeps the credit.
        if !inner.history.iter().any(|e| e.serial == serial) {
            let entry = HistoryEntry {
                serial,
                time: chrono::Utc::now(),
                command: command.to_string(),
                snapshot: inner.snapshot.clone(),
            };
            inner.history.push(entry);
        }
        let excess = inner.history.len().saturating_sub(keep);
        inner.history.drain(..excess);
        Ok(())
    }

    fn history(&self) -> StateResult<Vec<HistoryEntry>> {
        Ok(self.lock().history.iter().rev().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::contract_tests;

    #[test]
    fn memory_store_meets_the_store_contract() {
        contract_tests::run_all(|| MemoryState::new("mesh", "default"));
    }

    #[test]
    fn each_memory_state_has_its_own_lineage() {
        let a = MemoryState::new("mesh", "default").meta().unwrap();
        let b = MemoryState::new("mesh", "default").meta().unwrap();
        assert_ne!(a.lineage, b.lineage);
        assert_eq!(a.serial, 0);
        assert_eq!(a.stack, "mesh");
        assert_eq!(a.workspace, "default");
    }
}
