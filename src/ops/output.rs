//! Outputs as stored in state.

use std::collections::BTreeMap;

use super::locked::{open_location, Location};
use super::{Hooks, OpsResult};
use crate::diag::Diagnostic;
use crate::provider::Registry;
use crate::state::OutputState;

/// Every output of the state at `loc`, or only `name`'s (refused if there is none).
pub fn outputs(
    loc: &Location,
    name: Option<&str>,
    registry: &Registry,
    hooks: &Hooks,
) -> OpsResult<BTreeMap<String, OutputState>> {
    let state = open_location(loc, registry, "output", hooks)?;
    let mut outputs = state.store.outputs()?;
    let Some(name) = name else {
        return Ok(outputs);
    };
    match outputs.remove_entry(name) {
        Some((k, o)) => Ok(BTreeMap::from([(k, o)])),
        None => {
            let mut d = Diagnostic::error(
                "cli::unknown_output",
                format!("no output named {name:?} in state"),
            );
            if let Some(s) = crate::diag::did_you_mean(name, outputs.keys().map(String::as_str)) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            Err(d.into())
        }
    }
}
