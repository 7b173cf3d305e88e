//! Drift: what changed or was deleted outside trustplane since the last apply.

use super::prepare::Prepared;
use super::OpsResult;
use crate::config::Mode;
use crate::cost::CostChange;
use crate::plan::refresh::{drift as diff_live, Drift};

/// The drift of a prepared (refreshed) stack.
pub struct DriftReport {
    pub stack: String,
    pub workspace: String,
    pub drifts: Vec<Drift>,
    /// Every managed resource compared, drifted or not, in address order (data sources
    /// are read anew by each plan and never drift).
    pub checked: Vec<Checked>,
    /// The running cost of the CAs live in state.
    pub cost: CostChange,
}

/// A resource whose live object was compared with state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub address: String,
    pub type_name: String,
}

pub fn drift(prepared: &Prepared) -> OpsResult<DriftReport> {
    let stored = prepared.state.store.resources()?;
    Ok(DriftReport {
        stack: prepared.loaded.stack.name.clone(),
        workspace: prepared.workspace.clone(),
        drifts: diff_live(&stored, &prepared.refreshed, Some(&prepared.loaded.stack)),
        checked: stored
            .values()
            .filter(|r| r.mode != Mode::Data)
            .map(|r| Checked {
                address: r.address.clone(),
                type_name: r.type_name.clone(),
            })
            .collect(),
        cost: crate::cost::running_total(&prepared.refreshed.resources),
    })
}
