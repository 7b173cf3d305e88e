//! `plan` and `drift`: refresh, compare, render; exit 2 when something differs (with
//! `--detailed-exitcode` for plan).

use std::sync::Arc;

use super::args::{DriftArgs, PlanArgs};
use super::{out, params, warn, CmdResult, EXIT_CHANGES, EXIT_OK};
use crate::ops::plan::PlanOptions;
use crate::ops::prepare::prepare;
use crate::ops::stack::PkiChecks;
use crate::plan::json::plan_json;
use crate::plan::render::{render_drift, render_plan, Style};
use crate::provider::Registry;

pub async fn plan(args: PlanArgs, registry: Arc<Registry>, style: Style) -> CmdResult {
    let hooks = params::hooks();
    let pki = if args.destroy {
        PkiChecks::Warn
    } else {
        PkiChecks::Enforce
    };
    let prepare_params = params::prepare(
        &args.stack,
        "plan",
        pki,
        args.options.parallelism,
        args.offline,
    );
    let prepared = prepare(&prepare_params, &registry, &hooks).await?;
    warn(&prepared.loaded.warnings, style);
    let options = PlanOptions {
        targets: args.options.targets.clone(),
        replace: args.options.replace.clone(),
        destroy: args.destroy,
    };
    let plan = crate::ops::plan::plan(&prepared, &registry, &options, &hooks).await?;
    warn(&plan.warnings, style);
    if args.json {
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&plan_json(&plan)).expect("json")
        ));
    } else {
        out(&render_plan(&plan, style));
    }
    if let Some(path) = &args.out {
        crate::ops::plan::save(path, &plan)?;
        if !args.json {
            out(&format!(
                "\nSaved the plan to {}. Apply exactly this plan with:\n  trustplane apply {}\n",
                path.display(),
                path.display()
            ));
        }
    }
    Ok(if args.detailed_exitcode && plan.has_changes() {
        EXIT_CHANGES
    } else {
        EXIT_OK
    })
}

pub async fn drift(args: DriftArgs, registry: Arc<Registry>, style: Style) -> CmdResult {
    let hooks = params::hooks();
    let prepare_params = params::prepare(
        &args.stack,
        "drift",
        PkiChecks::Warn,
        args.parallelism,
        false,
    );
    let prepared = prepare(&prepare_params, &registry, &hooks).await?;
    warn(&prepared.loaded.warnings, style);
    let report = crate::ops::drift::drift(&prepared)?;
    if args.json {
        let doc = serde_json::json!({
            "stack": report.stack,
            "workspace": report.workspace,
            "drifted": !report.drifts.is_empty(),
            "resources": report.drifts,
        });
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&doc).expect("json")
        ));
    } else {
        out(&render_drift(&report.drifts, style));
        if let Some(total) = report.cost.line() {
            out(&format!(
                "Running cost of the CAs in state: {}\n",
                total.trim_start_matches('+')
            ));
        }
    }
    Ok(if report.drifts.is_empty() {
        EXIT_OK
    } else {
        EXIT_CHANGES
    })
}
