//! `trustplane state check`: does every record decode, and do the records agree with one
//! another (addresses, serials, lineage, history)? Also run by itself when a state is
//! opened after a run that did not close it (killed, crashed, power lost).
//!
//! And the export form (`state export` / `state import`): the whole state as one JSON
//! document, so a state can always be taken out of the database and put back.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{HistoryEntry, OutputState, ResourceState, StateMeta};

/// What `state check` found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckReport {
    pub meta: Option<StateMeta>,
    pub resources: usize,
    pub outputs: usize,
    pub history: usize,
    /// One line per problem, naming the record.
    pub problems: Vec<String>,
}

impl CheckReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// The report for people: a summary line, then one line per problem.
    pub fn render(&self, dir: &Path) -> String {
        let identity = match &self.meta {
            Some(m) => format!(
                "stack {}, workspace {}, lineage {}, serial {}",
                m.stack, m.workspace, m.lineage, m.serial
            ),
            None => "identity unreadable".to_string(),
        };
        let mut text = format!(
            "State at {} ({identity}): {} resources, {} outputs, {} history entries.\n",
            dir.display(),
            self.resources,
            self.outputs,
            self.history
        );
        if self.problems.is_empty() {
            text.push_str("No problems found.\n");
        } else {
            text.push_str(&format!("{} problem(s):\n", self.problems.len()));
            for p in &self.problems {
                text.push_str(&format!("  - {p}\n"));
            }
        }
        text
    }
}

pub const EXPORT_FORMAT: &str = "trustplane-state";
pub const EXPORT_VERSION: u32 = 1;

/// A whole state as one JSON document (docs/state.md, "Export and import").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateExport {
    /// Always `trustplane-state`.
    pub format: String,
    pub version: u32,
    pub meta: StateMeta,
    pub resources: BTreeMap<String, ResourceState>,
    pub outputs: BTreeMap<String, OutputState>,
    /// Newest first, as `state history` lists them.
    pub history: Vec<HistoryEntry>,
}

impl StateExport {
    /// Reads an export, refusing anything that is not one or that disagrees with itself.
    pub fn from_bytes(bytes: &[u8]) -> Result<StateExport, String> {
        #[derive(Deserialize)]
        struct Header {
            format: Option<String>,
            version: Option<u32>,
        }
        let header: Header = serde_json::from_slice(bytes)
            .map_err(|e| format!("not a trustplane state export (invalid JSON: {e})"))?;
        if header.format.as_deref() != Some(EXPORT_FORMAT) {
            return Err(format!(
                "not a trustplane state export: `format` must be {EXPORT_FORMAT:?}"
            ));
        }
        if header.version != Some(EXPORT_VERSION) {
            return Err(format!(
                "state export version {:?} is not supported by this trustplane (expects {EXPORT_VERSION})",
                header.version
            ));
        }
        let export: StateExport = serde_json::from_slice(bytes)
            .map_err(|e| format!("state export does not decode: {e}"))?;
        let problems = consistency(
            &export.meta,
            &export.resources,
            export.history.iter().map(|h| (h.serial, h)),
        );
        if !problems.is_empty() {
            return Err(format!(
                "state export is inconsistent: {}",
                problems.join("; ")
            ));
        }
        Ok(export)
    }
}

/// Checks that decoded records agree: each resource is stored under its own address,
/// each history entry is a snapshot of this state (same lineage, stack, workspace) at a
/// serial no later than the current one, and an entry for the current serial holds
/// exactly the current resources. `history` pairs the serial an entry is filed under
/// with the entry.
pub fn consistency<'a>(
    meta: &StateMeta,
    resources: &BTreeMap<String, ResourceState>,
    history: impl Iterator<Item = (u64, &'a HistoryEntry)>,
) -> Vec<String> {
    let mut problems = Vec::new();
    if meta.lineage.is_empty() {
        problems.push("meta: the lineage is empty".to_string());
    }
    for (key, r) in resources {
        if &r.address != key {
            problems.push(format!(
                "resource {key}: the record names another address ({})",
                r.address
            ));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for (filed_under, h) in history {
        let at = format!("history entry {filed_under}");
        if !seen.insert(filed_under) {
            problems.push(format!("{at}: more than one entry for this serial"));
        }
        if h.serial != filed_under || h.snapshot.meta.serial != filed_under {
            problems.push(format!(
                "{at}: records serial {} (snapshot serial {})",
                h.serial, h.snapshot.meta.serial
            ));
        }
        if filed_under > meta.serial {
            problems.push(format!(
                "{at}: is newer than the state itself (serial {})",
                meta.serial
            ));
        }
        let m = &h.snapshot.meta;
        if m.lineage != meta.lineage || m.stack != meta.stack || m.workspace != meta.workspace {
            problems.push(format!(
                "{at}: belongs to another state (lineage {}, stack {}, workspace {})",
                m.lineage, m.stack, m.workspace
            ));
        }
        if filed_under == meta.serial && &h.snapshot.resources != resources {
            problems.push(format!(
                "{at}: has the current serial but not the current resources"
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::contract_tests::resource;

    fn meta(serial: u64) -> StateMeta {
        StateMeta {
            lineage: "L".into(),
            serial,
            stack: "s".into(),
            workspace: "default".into(),
        }
    }

    fn entry(serial: u64, resources: &BTreeMap<String, ResourceState>) -> HistoryEntry {
        HistoryEntry {
            serial,
            time: chrono::Utc::now(),
            command: "apply".into(),
            snapshot: super::super::StateSnapshot {
                meta: meta(serial),
                resources: resources.clone(),
                outputs: BTreeMap::new(),
            },
        }
    }

    #[test]
    fn a_consistent_state_has_no_problems() {
        let mut rs = BTreeMap::new();
        rs.insert("a".to_string(), resource("a", &[]));
        let old = entry(1, &BTreeMap::new());
        let now = entry(2, &rs);
        let h = [(2, &now), (1, &old)];
        assert_eq!(
            consistency(&meta(2), &rs, h.into_iter()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn each_kind_of_disagreement_is_named() {
        let mut rs = BTreeMap::new();
        rs.insert("a".to_string(), resource("b", &[]));
        let future = entry(9, &rs);
        let mut foreign = entry(1, &rs);
        foreign.snapshot.meta.lineage = "other".into();
        let current = entry(2, &BTreeMap::new());
        let misfiled = entry(1, &rs);
        let h = [(9, &future), (1, &foreign), (2, &current), (5, &misfiled)];
        let problems = consistency(&meta(2), &rs, h.into_iter()).join("\n");
        for expected in [
            "resource a: the record names another address (b)",
            "history entry 9: is newer than the state itself",
            "history entry 1: belongs to another state (lineage other",
            "history entry 2: has the current serial but not the current resources",
            "history entry 5: records serial 1",
        ] {
            assert!(problems.contains(expected), "{expected}\n{problems}");
        }
    }

    #[test]
    fn an_export_must_say_what_it_is() {
        let err = StateExport::from_bytes(b"{\"resources\": {}}").unwrap_err();
        assert!(err.contains("`format` must be"), "{err}");
        let err = StateExport::from_bytes(b"not json").unwrap_err();
        assert!(err.contains("invalid JSON"), "{err}");
        let err =
            StateExport::from_bytes(br#"{"format":"trustplane-state","version":7}"#).unwrap_err();
        assert!(err.contains("version Some(7)"), "{err}");
    }
}
