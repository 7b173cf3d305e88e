//! Planning a prepared stack.

use super::prepare::Prepared;
use std::path::Path;

use super::{Hooks, OpsError, OpsResult};
use crate::plan::{planner, Plan, PlanParams};
use crate::provider::Registry;

/// What to plan beyond the stack itself.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Only these resources and what they depend on; all when empty.
    pub targets: Vec<String>,
    /// Resources to replace whether or not they changed.
    pub replace: Vec<String>,
    /// Plan the destruction of everything in state.
    pub destroy: bool,
}

pub async fn plan(
    prepared: &Prepared,
    registry: &Registry,
    options: &PlanOptions,
    hooks: &Hooks,
) -> OpsResult<Plan> {
    let meta = prepared.state.store.meta()?;
    let plan = planner::plan(
        &prepared.loaded.stack,
        &prepared.loaded.graph,
        &prepared.loaded.variables,
        registry,
        &meta,
        &prepared.refreshed,
        &PlanParams {
            destroy: options.destroy,
            targets: options.targets.clone(),
            replace: options.replace.clone(),
            workspace: prepared.workspace.clone(),
            offline: prepared.offline,
            notify: Some(hooks.retry_notify()),
            parallelism: prepared.parallelism,
        },
    )
    .await?;
    Ok(plan)
}

/// Saves `plan` for `apply FILE` (mode 0600, with a digest of its content).
pub fn save(path: &Path, plan: &Plan) -> OpsResult<()> {
    crate::plan::saved::write(path, plan)
        .map_err(|e| OpsError::message(format!("cannot write the plan to {}: {e}", path.display())))
}
