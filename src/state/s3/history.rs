//! History in S3: one immutable object per recorded serial, `history/<serial>.json`,
//! created with `If-None-Match: *` so an entry, once written, is never replaced.
//! Serials are zero-padded so the names sort in serial order.

use super::objects::S3State;
use super::{Condition, S3Client, S3Failure};
use crate::state::{HistoryEntry, StateHistory, StateRead, StateResult};

pub const HISTORY_DIR: &str = "history";

fn entry_name(serial: u64) -> String {
    format!("{HISTORY_DIR}/{serial:020}.json")
}

/// Writes `entry` unless one is already filed under its serial (which keeps the credit).
pub(super) fn put_entry(client: &S3Client, entry: &HistoryEntry) -> Result<(), S3Failure> {
    let bytes = serde_json::to_vec(entry).expect("history entries serialize");
    match client.put(&entry_name(entry.serial), bytes, Condition::Absent) {
        Ok(_) | Err(S3Failure::PreconditionFailed) => Ok(()),
        Err(e) => Err(e),
    }
}

impl S3State {
    /// Every entry that decodes, oldest first, and a line for each that does not.
    pub(super) fn decoded_history(&self) -> (Vec<HistoryEntry>, Vec<String>) {
        let mut problems = Vec::new();
        let names = match self.client.list(HISTORY_DIR) {
            Ok(mut names) => {
                names.sort();
                names
            }
            Err(e) => return (Vec::new(), vec![format!("history cannot be listed: {e}")]),
        };
        let mut entries = Vec::new();
        for name in names {
            match self.client.get(&name) {
                Ok(Some(f)) => match serde_json::from_slice::<HistoryEntry>(&f.bytes) {
                    Ok(h) => entries.push(h),
                    Err(e) => problems.push(format!("history entry {name} does not decode: {e}")),
                },
                // Pruned by another run between the listing and the read.
                Ok(None) => {}
                Err(e) => problems.push(format!("history entry {name} cannot be read: {e}")),
            }
        }
        (entries, problems)
    }
}

impl StateHistory for S3State {
    fn record(&self, command: &str, keep: usize) -> StateResult<()> {
        let snapshot = self.snapshot()?;
        let entry = HistoryEntry {
            serial: snapshot.meta.serial,
            time: chrono::Utc::now(),
            command: command.to_string(),
            snapshot,
        };
        put_entry(&self.client, &entry).map_err(|e| self.err(e))?;
        let mut names = self.client.list(HISTORY_DIR).map_err(|e| self.err(e))?;
        names.sort();
        let excess = names.len().saturating_sub(keep);
        for old in &names[..excess] {
            match self.client.delete(old, None) {
                Ok(()) | Err(S3Failure::NotFound) => {}
                Err(e) => return Err(self.err(format!("cannot prune {old}: {e}"))),
            }
        }
        Ok(())
    }

    fn history(&self) -> StateResult<Vec<HistoryEntry>> {
        let (mut entries, problems) = self.decoded_history();
        if let Some(p) = problems.first() {
            return Err(self.err(p));
        }
        entries.reverse();
        Ok(entries)
    }
}
