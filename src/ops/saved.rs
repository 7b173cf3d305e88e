//! Applying a plan saved with `plan --out`: exactly that plan, to the state it was made
//! against, refused if that state changed since.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::apply::{execute, ApplySummary, ExecuteParams};
use super::locked::{self, OpenState, StateSpec};
use super::stack::ProviderOverrides;
use super::{providers, Hooks, OpsResult};
use crate::config::load::load_str;
use crate::config::Stack;
use crate::diag::Diagnostic;
use crate::input::InputKind;
use crate::plan::Plan;
use crate::provider::Registry;
use crate::state::StateMeta;

/// Whether `path` holds a saved plan rather than a stack file.
pub fn is_saved_plan(path: &Path) -> bool {
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    !yaml
        && crate::input::read_limited(path, InputKind::Plan)
            .is_ok_and(|b| crate::plan::saved::looks_like_plan(&b))
}

/// A saved plan opened for applying: its stack, its locked state (found unchanged since
/// the plan was made), and its providers configured.
pub struct SavedPlan {
    pub file: PathBuf,
    pub plan: Plan,
    pub stack: Stack,
    pub state: OpenState,
}

/// Reads the saved plan at `file` and opens its state. `state.workspace`, when named,
/// must be the plan's.
pub async fn open(
    file: &Path,
    state: &StateSpec,
    registry: &Registry,
    hooks: &Hooks,
) -> OpsResult<SavedPlan> {
    open_with(file, state, &ProviderOverrides::new(), registry, hooks).await
}

/// [`open`], with `overrides` in place of the stack's own provider settings (a fleet
/// member's cluster connection).
pub async fn open_with(
    file: &Path,
    state: &StateSpec,
    overrides: &ProviderOverrides,
    registry: &Registry,
    hooks: &Hooks,
) -> OpsResult<SavedPlan> {
    let bytes = crate::input::read_limited(file, InputKind::Plan)
        .map_err(|e| super::OpsError::message(e.to_string()))?;
    let plan = crate::plan::saved::from_bytes(&bytes).map_err(|why| {
        Diagnostic::error(
            "apply::bad_plan_file",
            format!("the saved plan {} {why}", file.display()),
        )
        .with_help("make a new plan with `trustplane plan --out FILE` and review it")
    })?;
    let (stack, diags) = load_str(&plan.file, &plan.source, registry);
    let mut stack = stack.ok_or(diags)?;
    super::stack::override_providers(&mut stack, overrides);
    let mut spec = state.clone();
    match &spec.workspace {
        Some(given) if *given != plan.workspace => {
            return Err(Diagnostic::error(
                "apply::workspace_mismatch",
                format!(
                    "the saved plan {} was made for workspace {}, but workspace {given} was given",
                    file.display(),
                    plan.workspace
                ),
            )
            .with_help(format!(
            "apply it without --workspace (and without TRUSTPLANE_WORKSPACE) to apply it to {}, \
                 or make a plan for {given} with `trustplane plan --workspace {given} --out FILE`",
            plan.workspace
        ))
            .into())
        }
        _ => spec.workspace = Some(plan.workspace.clone()),
    }
    spec.stack_s3 = locked::stack_s3(&stack, &plan.variables)?;
    let opened = locked::open(&spec, &plan.stack, "apply", hooks)?;
    check_fresh((&plan.lineage, plan.serial), &opened.store.meta()?, file)?;
    providers::configure(
        registry,
        &stack,
        &plan.variables,
        opened.types().into_iter(),
    )
    .await?;
    Ok(SavedPlan {
        file: file.to_path_buf(),
        plan,
        stack,
        state: opened,
    })
}

/// A saved plan applies only to the state it was made against (`made_at`: its lineage
/// and serial), unchanged since.
fn check_fresh(made_at: (&str, u64), meta: &StateMeta, file: &Path) -> Result<(), Diagnostic> {
    let (lineage, serial) = made_at;
    if meta.lineage == lineage && meta.serial == serial {
        return Ok(());
    }
    let why = if meta.lineage != lineage {
        "it was made for a different state (lineage differs)".to_string()
    } else {
        format!(
            "state changed since the plan was made (serial {} then, {} now)",
            serial, meta.serial
        )
    };
    Err(Diagnostic::error(
        "apply::stale_plan",
        format!("the saved plan {} is stale: {why}", file.display()),
    )
    .with_help("make a new plan with `trustplane plan --out` and review it"))
}

/// Applies an opened saved plan: a destroy plan is recorded as `destroy`.
pub async fn apply(
    saved: &SavedPlan,
    registry: Arc<Registry>,
    params: ExecuteParams,
) -> ApplySummary {
    let command = if saved.plan.destroy {
        "destroy"
    } else {
        "apply"
    };
    execute(
        &saved.plan,
        &saved.stack,
        registry,
        &saved.state,
        command,
        params,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(lineage: &str, serial: u64) -> StateMeta {
        StateMeta {
            lineage: lineage.into(),
            serial,
            stack: "s".into(),
            workspace: "default".into(),
        }
    }

    #[test]
    fn a_plan_applies_only_to_the_state_it_was_made_against() {
        let file = Path::new("p.plan");
        assert!(check_fresh(("l1", 4), &meta("l1", 4), file).is_ok());

        let moved = check_fresh(("l1", 4), &meta("l1", 5), file).unwrap_err();
        assert_eq!(moved.code, "apply::stale_plan");
        assert!(
            moved.summary.contains("serial 4 then, 5 now"),
            "{}",
            moved.summary
        );

        let other = check_fresh(("l1", 4), &meta("l2", 4), file).unwrap_err();
        assert!(
            other.summary.contains("lineage differs"),
            "{}",
            other.summary
        );
    }
}
