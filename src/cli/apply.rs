//! `apply` (a stack, a saved plan, or `--refresh-only`) and `destroy`: show what will
//! change, confirm, run, summarise.

use std::path::Path;
use std::sync::Arc;

use super::args::{ApplyArgs, DestroyArgs, StackArgs};
use super::execute::{self, confirm};
use super::{out, params, warn, CmdResult, Failure, EXIT_ERROR, EXIT_OK};
use crate::diag::Diagnostic;
use crate::ops::plan::PlanOptions;
use crate::ops::prepare::{prepare, Prepared};
use crate::ops::stack::PkiChecks;
use crate::ops::{self, saved};
use crate::plan::render::{render_drift, render_plan, Style};
use crate::provider::Registry;

pub async fn apply(args: ApplyArgs, registry: Arc<Registry>, style: Style) -> CmdResult {
    if saved::is_saved_plan(&args.file) {
        return apply_saved(args, registry, style).await;
    }
    let hooks = params::hooks();
    let stack = StackArgs {
        file: args.file.clone(),
        vars: args.vars.clone(),
        state: args.state.clone(),
    };
    let pki = if args.refresh_only {
        PkiChecks::Warn
    } else {
        PkiChecks::Enforce
    };
    let prepare_params = params::prepare(&stack, "apply", pki, args.options.parallelism, false);
    let prepared = prepare(&prepare_params, &registry, &hooks).await?;
    warn(&prepared.loaded.warnings, style);
    if args.refresh_only {
        return refresh_only(&prepared, args.auto_approve, style).await;
    }
    let options = PlanOptions {
        targets: args.options.targets.clone(),
        replace: args.options.replace.clone(),
        destroy: false,
    };
    let plan = ops::plan::plan(&prepared, &registry, &options, &hooks).await?;
    warn(&plan.warnings, style);
    out(&render_plan(&plan, style));
    let pending = ops::apply::pending(&plan, &prepared.state);
    if pending.nothing() {
        return Ok(EXIT_OK);
    }
    if pending.changes && !args.auto_approve && !confirm("apply").await? {
        out("Apply cancelled.\n");
        return Ok(EXIT_ERROR);
    }
    let prepared = &prepared;
    Ok(execute::run(style, args.options.parallelism, |p| {
        ops::apply::apply(prepared, &plan, registry, p)
    })
    .await)
}

impl ApplyArgs {
    /// A flag given that applying a saved plan cannot honour, and why: the plan fixed
    /// its variables and changes when it was made. `None` when there is none.
    pub fn saved_plan_conflict(&self) -> Option<(&'static str, &'static str)> {
        let given = [
            (
                !self.vars.vars.is_empty(),
                "--var",
                "a saved plan was made with its own variables",
            ),
            (
                !self.vars.var_files.is_empty(),
                "--var-file",
                "a saved plan was made with its own variables",
            ),
            (
                !self.options.targets.is_empty(),
                "--target",
                "a saved plan holds the changes chosen when it was made",
            ),
            (
                !self.options.replace.is_empty(),
                "--replace",
                "a saved plan holds the changes chosen when it was made",
            ),
            (
                self.refresh_only,
                "--refresh-only",
                "a saved plan applies the changes it holds, not live values",
            ),
        ];
        given
            .into_iter()
            .find(|(set, _, _)| *set)
            .map(|(_, flag, why)| (flag, why))
    }
}

/// A saved plan is applied as it is, so flags that would change it are refused rather
/// than dropped.
async fn apply_saved(args: ApplyArgs, registry: Arc<Registry>, style: Style) -> CmdResult {
    if let Some((flag, why)) = args.saved_plan_conflict() {
        return Err(saved_plan_flag(&args.file, flag, why));
    }
    let hooks = params::hooks();
    let spec = params::state_spec(&args.state);
    let opened = saved::open(&args.file, &spec, &registry, &hooks).await?;
    out(&render_plan(&opened.plan, style));
    let opened = &opened;
    Ok(execute::run(style, args.options.parallelism, |p| {
        saved::apply(opened, registry, p)
    })
    .await)
}

fn saved_plan_flag(file: &Path, flag: &str, why: &str) -> Failure {
    Diagnostic::error(
        "apply::saved_plan_flag",
        format!(
            "{flag} cannot be used with the saved plan {}: {why}",
            file.display()
        ),
    )
    .with_help(format!(
        "re-run `trustplane plan` with {flag} and `--out FILE`, review it, and apply that \
         plan; or apply the stack file itself with {flag}"
    ))
    .into()
}

async fn refresh_only(prepared: &Prepared, auto_approve: bool, style: Style) -> CmdResult {
    let drifts = ops::refresh_only::proposed(prepared)?;
    out(&render_drift(&drifts, style));
    if drifts.is_empty() {
        return Ok(EXIT_OK);
    }
    out("\nApplying will accept these live values into state; nothing else changes.\n");
    if !auto_approve && !confirm("apply --refresh-only").await? {
        out("Apply cancelled.\n");
        return Ok(EXIT_ERROR);
    }
    let accepted = ops::refresh_only::accept(prepared, &drifts)?;
    out(&format!(
        "\nState updated: {accepted} resource(s) accepted as they are live.\n"
    ));
    Ok(EXIT_OK)
}

pub async fn destroy(args: DestroyArgs, registry: Arc<Registry>, style: Style) -> CmdResult {
    let hooks = params::hooks();
    let prepare_params = params::prepare(
        &args.stack,
        "destroy",
        PkiChecks::Warn,
        args.options.parallelism,
        false,
    );
    let prepared = prepare(&prepare_params, &registry, &hooks).await?;
    warn(&prepared.loaded.warnings, style);
    let options = PlanOptions {
        targets: args.options.targets.clone(),
        replace: args.options.replace.clone(),
        destroy: true,
    };
    let plan = ops::destroy::plan_destroy(&prepared, &registry, &options, &hooks).await?;
    out(&render_plan(&plan, style));
    if !plan.has_changes() {
        return Ok(EXIT_OK);
    }
    if !args.auto_approve && !confirm("destroy").await? {
        out("Destroy cancelled.\n");
        return Ok(EXIT_ERROR);
    }
    let prepared = &prepared;
    Ok(execute::run(style, args.options.parallelism, |p| {
        ops::destroy::destroy(prepared, &plan, registry, p)
    })
    .await)
}

#[cfg(test)]
mod tests {
    use super::ApplyArgs;
    use clap::Parser;

    fn apply_args(line: &[&str]) -> ApplyArgs {
        match crate::cli::args::Cli::try_parse_from(line)
            .expect("parses")
            .command
        {
            crate::cli::args::Command::Apply(a) => a,
            other => panic!("not apply: {other:?}"),
        }
    }

    #[test]
    fn a_saved_plan_refuses_the_flags_it_would_ignore() {
        let plain = apply_args(&["trustplane", "apply", "p.plan", "--auto-approve"]);
        assert_eq!(plain.saved_plan_conflict(), None);
        for (flag, value) in [
            ("--var", Some("a=b")),
            ("--var-file", Some("v.yaml")),
            ("--target", Some("x")),
            ("--replace", Some("x")),
            ("--refresh-only", None),
        ] {
            let mut line = vec!["trustplane", "apply", "p.plan", flag];
            line.extend(value);
            let (named, _) = apply_args(&line)
                .saved_plan_conflict()
                .unwrap_or_else(|| panic!("{flag} is refused"));
            assert_eq!(named, flag);
        }
    }
}
