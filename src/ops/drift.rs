//! Drift: what changed or was deleted outside trustplane since the last apply.

use super::prepare::Prepared;
use super::OpsResult;
use crate::cost::CostChange;
use crate::plan::refresh::{drift as diff_live, Drift};

/// The drift of a prepared (refreshed) stack.
pub struct DriftReport {
    pub stack: String,
    pub workspace: String,
    pub drifts: Vec<Drift>,
    /// The running cost of the CAs live in state.
    pub cost: CostChange,
}

pub fn drift(prepared: &Prepared) -> OpsResult<DriftReport> {
    let stored = prepared.state.store.resources()?;
    Ok(DriftReport {
        stack: prepared.loaded.stack.name.clone(),
        workspace: prepared.workspace.clone(),
        drifts: diff_live(&stored, &prepared.refreshed, Some(&prepared.loaded.stack)),
        cost: crate::cost::running_total(&prepared.refreshed.resources),
    })
}
