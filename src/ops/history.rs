//! State history: each snapshot with what it added, removed or changed since the one
//! before.

use std::collections::BTreeMap;

use crate::state::{HistoryEntry, ResourceState};

/// One snapshot of the history, compared with the one before it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryStep {
    pub serial: u64,
    pub time: chrono::DateTime<chrono::Utc>,
    pub command: String,
    /// Resources in this snapshot.
    pub resources: usize,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Properties, attributes or id differ.
    pub changed: Vec<String>,
}

/// The steps of `entries` (newest first, as stored): the oldest is compared with an
/// empty state.
pub fn steps(entries: &[HistoryEntry]) -> Vec<HistoryStep> {
    let empty = BTreeMap::new();
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let before = entries.get(i + 1).map_or(&empty, |o| &o.snapshot.resources);
            step(e, before)
        })
        .collect()
}

fn step(entry: &HistoryEntry, before: &BTreeMap<String, ResourceState>) -> HistoryStep {
    let after = &entry.snapshot.resources;
    let added = after
        .keys()
        .filter(|k| !before.contains_key(*k))
        .cloned()
        .collect();
    let removed = before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .cloned()
        .collect();
    let changed = after
        .iter()
        .filter(|(k, r)| {
            before.get(*k).is_some_and(|b| {
                b.properties != r.properties || b.attributes != r.attributes || b.id != r.id
            })
        })
        .map(|(k, _)| k.clone())
        .collect();
    HistoryStep {
        serial: entry.serial,
        time: entry.time,
        command: entry.command.clone(),
        resources: after.len(),
        added,
        removed,
        changed,
    }
}
