//! `apply --refresh-only`: accept what is live into state, and change nothing else.

use super::prepare::Prepared;
use super::OpsResult;
use crate::plan::refresh::{drift, Drift};
use crate::state::HISTORY_KEEP;

/// What accepting live values would write: the drift of a prepared stack.
pub fn proposed(prepared: &Prepared) -> OpsResult<Vec<Drift>> {
    let stored = prepared.state.store.resources()?;
    Ok(drift(
        &stored,
        &prepared.refreshed,
        Some(&prepared.loaded.stack),
    ))
}

/// Writes the live value of every drifted resource into state (removing those gone),
/// recorded in history as `apply --refresh-only`. Returns how many were accepted.
pub fn accept(prepared: &Prepared, drifts: &[Drift]) -> OpsResult<usize> {
    let store = &prepared.state.store;
    for d in drifts {
        match prepared.refreshed.resources.get(&d.address) {
            Some(live) => store.put_resource(live)?,
            None => store.remove_resource(&d.address)?,
        };
    }
    store.record("apply --refresh-only", HISTORY_KEEP)?;
    Ok(drifts.len())
}
