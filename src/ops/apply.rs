//! Applying a reviewed plan to a locked state, and the summary of what happened.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::locked::OpenState;
use super::prepare::Prepared;
use crate::apply::{self, ApplyReport, Progress};
use crate::config::Stack;
use crate::diag::{Diagnostic, Diagnostics};
use crate::graph::walk::{Cancel, Outcome};
use crate::plan::{Action, Plan};
use crate::provider::Registry;
use crate::state::OutputState;

/// How to run the changes of a plan.
pub struct ExecuteParams {
    pub parallelism: usize,
    /// Cancelling stops new work; aborting also cancels the work in flight.
    pub cancel: Cancel,
    pub progress: Arc<dyn Progress>,
}

/// What applying a plan would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    /// Resources to create, change or destroy: needs approval.
    pub changes: bool,
    /// Outputs differ from those in state: written without approval.
    pub outputs: bool,
}

impl Pending {
    pub fn nothing(&self) -> bool {
        !self.changes && !self.outputs
    }
}

/// What applying `plan` to `state` would do.
pub fn pending(plan: &Plan, state: &OpenState) -> Pending {
    Pending {
        changes: plan.has_changes(),
        outputs: outputs_differ(plan, state),
    }
}

/// Whether the plan's outputs differ from those in state. A sensitive output is stored
/// redacted, so only its presence is compared.
fn outputs_differ(plan: &Plan, state: &OpenState) -> bool {
    let stored = state.store.outputs().unwrap_or_default();
    plan.outputs.len() != stored.len()
        || plan.outputs.iter().any(|(k, o)| {
            stored
                .get(k)
                .is_none_or(|s| s.value != o.value && !o.sensitive)
        })
}

/// What an apply did.
#[derive(Debug)]
pub struct ApplySummary {
    /// `apply` or `destroy`: recorded in history, named in the summary.
    pub command: String,
    pub added: usize,
    pub changed: usize,
    pub replaced: usize,
    pub destroyed: usize,
    /// Existing objects taken into state (`lifecycle.adopt`).
    pub adopted: usize,
    /// Forgotten from state, their objects left (`lifecycle.retain_on_destroy`).
    pub forgotten: usize,
    pub failed: Vec<String>,
    /// Skipped because a dependency failed.
    pub skipped: Vec<String>,
    /// Not started because the apply was cancelled.
    pub not_started: Vec<String>,
    /// Cancelled in flight; the next plan shows whether they took effect.
    pub aborted: Vec<String>,
    pub succeeded: bool,
    /// Some work was not started or was cancelled in flight.
    pub cancelled: bool,
    pub diagnostics: Diagnostics,
    /// The outputs in state once the apply ended.
    pub outputs: BTreeMap<String, OutputState>,
}

impl ApplySummary {
    fn of(report: &ApplyReport, command: &str, state: &OpenState) -> ApplySummary {
        let names = |pred: fn(&Outcome<Diagnostic>) -> bool| -> Vec<String> {
            report
                .outcomes
                .iter()
                .filter(|(_, a, o)| *a != Action::NoOp && pred(o))
                .map(|(n, _, _)| n.clone())
                .collect()
        };
        ApplySummary {
            command: command.to_string(),
            added: report.done(&[Action::Create]),
            changed: report.done(&[Action::Update]),
            replaced: report.done(&[Action::DeleteThenCreate, Action::CreateThenDelete]),
            destroyed: report.done(&[Action::Delete]),
            adopted: report.done(&[Action::Adopt]),
            forgotten: report.done(&[Action::Forget]),
            failed: names(|o| matches!(o, Outcome::Failed(_))),
            skipped: names(|o| matches!(o, Outcome::Skipped { .. })),
            not_started: names(|o| matches!(o, Outcome::NotStarted)),
            aborted: names(|o| matches!(o, Outcome::Aborted)),
            succeeded: report.succeeded(),
            cancelled: report.cancelled(),
            diagnostics: report.diagnostics.clone(),
            outputs: state.store.outputs().unwrap_or_default(),
        }
    }
}

/// Applies a reviewed plan of a prepared stack (see [`super::plan::plan`]), recorded as
/// `apply`.
pub async fn apply(
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
        "apply",
        params,
    )
    .await
}

/// Runs the changes of a reviewed plan against `state`; each finished change is saved at
/// once. `command` (`apply`, `destroy`) is recorded in history.
pub async fn execute(
    plan: &Plan,
    stack: &Stack,
    registry: Arc<Registry>,
    state: &OpenState,
    command: &str,
    params: ExecuteParams,
) -> ApplySummary {
    let report = apply::apply(
        plan,
        stack,
        registry,
        state.store.clone(),
        apply::ApplyParams {
            parallelism: params.parallelism,
            cancel: params.cancel,
            progress: params.progress,
            command: command.to_string(),
        },
    )
    .await;
    ApplySummary::of(&report, command, state)
}
