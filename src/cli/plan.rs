//! `plan` and `drift`: refresh, compare, render in the chosen format; exit 2 when
//! something differs (with `--detailed-exitcode` for plan).

use std::path::PathBuf;
use std::sync::Arc;

use super::args::{DriftArgs, PlanArgs, ReportArgs};
use super::{out, params, warn, CmdResult, Failure, EXIT_CHANGES, EXIT_OK};
use crate::ops::plan::PlanOptions;
use crate::ops::prepare::prepare;
use crate::ops::stack::PkiChecks;
use crate::plan::render::Style;
use crate::provider::Registry;
use crate::report::{self, step_summary, Format, RenderParams, Section};

pub async fn plan(args: PlanArgs, registry: Arc<Registry>, style: Style) -> CmdResult {
    let format = args.report.format();
    report::check_plan_format(format).map_err(|e| Failure::message(e.to_string()))?;
    let summary_file = step_summary_target(&args.report)?;
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
    let sections = [Section::single(&plan)];
    let render_params = render_params(&args.report, "plan", style);
    out(&report::plan(format, &sections, &render_params).expect("format checked above"));
    if let Some(path) = &args.out {
        crate::ops::plan::save(path, &plan)?;
        if format == Format::Text {
            out(&format!(
                "\nSaved the plan to {}. Apply exactly this plan with:\n  trustplane apply {}\n",
                path.display(),
                path.display()
            ));
        }
    }
    if let Some(file) = summary_file {
        step_summary::append(&file, |budget| {
            let params = RenderParams {
                max_bytes: Some(budget),
                ..render_params.clone()
            };
            report::markdown::plan(&sections, &params)
        })
        .map_err(|e| Failure::message(e.to_string()))?;
    }
    Ok(if args.detailed_exitcode && plan.has_changes() {
        EXIT_CHANGES
    } else {
        EXIT_OK
    })
}

pub async fn drift(args: DriftArgs, registry: Arc<Registry>, style: Style) -> CmdResult {
    let format = args.report.format();
    let summary_file = step_summary_target(&args.report)?;
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
    let drift = crate::ops::drift::drift(&prepared)?;
    let sections = [Section::single(&drift)];
    let render_params = render_params(&args.report, "drift", style);
    out(&report::drift(format, &sections, &render_params));
    if let Some(file) = summary_file {
        step_summary::append(&file, |budget| {
            let params = RenderParams {
                max_bytes: Some(budget),
                ..render_params.clone()
            };
            report::markdown::drift(&sections, &params)
        })
        .map_err(|e| Failure::message(e.to_string()))?;
    }
    Ok(if drift.drifts.is_empty() {
        EXIT_OK
    } else {
        EXIT_CHANGES
    })
}

/// The job summary file, when asked for: an unset variable fails before any work.
pub(super) fn step_summary_target(args: &ReportArgs) -> Result<Option<PathBuf>, Failure> {
    if !args.step_summary {
        return Ok(None);
    }
    step_summary::target(std::env::var_os(step_summary::ENV))
        .map(Some)
        .map_err(|e| Failure::message(e.to_string()))
}

pub(super) fn render_params(args: &ReportArgs, command: &str, style: Style) -> RenderParams {
    RenderParams {
        style,
        max_bytes: Some(args.max_bytes).filter(|n| *n > 0),
        full_report: format!(
            "run `trustplane {command}` again with `--max-bytes 0`, or with `--format json` \
             for every resource as JSON"
        ),
    }
}
