//! Destroying everything a stack's state holds: a destroy plan, applied.

use std::sync::Arc;

use super::apply::{execute, ApplySummary, ExecuteParams};
use super::plan::{plan, PlanOptions};
use super::prepare::Prepared;
use super::{Hooks, OpsResult};
use crate::plan::Plan;
use crate::provider::Registry;

/// The destroy plan of a prepared stack (of `options.targets` only, when given).
pub async fn plan_destroy(
    prepared: &Prepared,
    registry: &Registry,
    options: &PlanOptions,
    hooks: &Hooks,
) -> OpsResult<Plan> {
    let options = PlanOptions {
        destroy: true,
        ..options.clone()
    };
    plan(prepared, registry, &options, hooks).await
}

/// Applies a reviewed destroy plan, recorded as `destroy`.
pub async fn destroy(
    prepared: &Prepared,
    plan: &Plan,
    registry: Arc<Registry>,
    params: ExecuteParams,
) -> ApplySummary {
    execute(
        plan,
        &prepared.loaded.stack,
        registry,
        &prepared.state,
        "destroy",
        params,
    )
    .await
}
