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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Mode;
    use crate::state::{StateMeta, StateSnapshot};
    use crate::value::Value;

    fn resource(address: &str, id: &str) -> ResourceState {
        ResourceState {
            address: address.to_string(),
            type_name: "core.null".to_string(),
            mode: Mode::Managed,
            provider: "core".to_string(),
            id: id.to_string(),
            properties: Value::map(),
            attributes: Value::map(),
            dependencies: Vec::new(),
            sensitive_paths: Vec::new(),
            retain_on_destroy: false,
            updated_at: chrono::Utc::now(),
        }
    }

    fn entry(serial: u64, command: &str, resources: &[(&str, &str)]) -> HistoryEntry {
        HistoryEntry {
            serial,
            time: chrono::Utc::now(),
            command: command.to_string(),
            snapshot: StateSnapshot {
                meta: StateMeta {
                    lineage: "l".into(),
                    serial,
                    stack: "s".into(),
                    workspace: "default".into(),
                },
                resources: resources
                    .iter()
                    .map(|(a, id)| (a.to_string(), resource(a, id)))
                    .collect(),
                outputs: BTreeMap::new(),
            },
        }
    }

    #[test]
    fn each_snapshot_is_compared_with_the_one_before() {
        // Newest first, as stored.
        let entries = [
            entry(3, "apply", &[("a", "a2"), ("c", "c1")]),
            entry(2, "apply", &[("a", "a1"), ("b", "b1")]),
            entry(1, "apply", &[("a", "a1")]),
        ];
        let steps = steps(&entries);
        assert_eq!(steps.len(), 3);
        assert_eq!(steps[0].serial, 3);
        assert_eq!(steps[0].added, ["c"]);
        assert_eq!(steps[0].removed, ["b"]);
        assert_eq!(steps[0].changed, ["a"], "its id changed");
        assert_eq!(steps[1].added, ["b"]);
        assert!(steps[1].changed.is_empty() && steps[1].removed.is_empty());
        // The oldest is compared with an empty state.
        assert_eq!(steps[2].added, ["a"]);
        assert_eq!(steps[2].resources, 1);
    }

    #[test]
    fn no_history_has_no_steps() {
        assert!(steps(&[]).is_empty());
    }
}
