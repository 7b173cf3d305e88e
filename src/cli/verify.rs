//! `trustplane verify FILE`: resolves the stack, its state and provider settings, then
//! runs [`crate::verify`] and maps the report to an exit code (0 valid, 1 not).

use crate::cli::args::VerifyArgs;
use crate::cli::context::{load, open_state, PkiChecks};
use crate::cli::{out, CmdResult, Failure, EXIT_ERROR, EXIT_OK};
use crate::config::expr::evaluate;
use crate::plan::planner::Values;
use crate::plan::render::Style;
use crate::provider::Registry;
use crate::state::StateRead;
use crate::value::Value;
use crate::verify::{self, report, Target};

pub async fn run(args: VerifyArgs, registry: &Registry, style: Style) -> CmdResult {
    let loaded = load(
        &args.stack.file,
        &args.stack.vars,
        registry,
        PkiChecks::Warn,
    )?;
    let state = open_state(&args.stack.state, &loaded.stack.name, "verify")?;
    let resources = state
        .store
        .resources()
        .map_err(|e| Failure::message(e.to_string()))?;
    if resources.is_empty() {
        return Err(Failure::message(format!(
            "the state of stack {} at {} is empty: run `trustplane apply {}` first",
            loaded.stack.name,
            state.dir.display(),
            args.stack.file.display()
        )));
    }
    let scope = Values {
        variables: &loaded.variables,
        resources: Default::default(),
    };
    let settings = |name: &str| -> Result<Value, Failure> {
        match loaded.stack.providers.get(name) {
            Some(node) => evaluate(node, &scope, &format!("providers.{name}"))
                .map(|v| v.unmarked())
                .map_err(|d| Failure::Diagnostics(d.into())),
            None => Ok(Value::Null),
        }
    };
    let workload_pem = match &args.workload_chain {
        Some(p) => Some(std::fs::read_to_string(p).map_err(|e| {
            Failure::message(format!(
                "cannot read the workload chain {}: {e}",
                p.display()
            ))
        })?),
        None => None,
    };
    let target = Target {
        resources: &resources,
        kubernetes: settings("kubernetes")?,
        aws: settings("aws")?,
        certificate: args.certificate.clone(),
        workload_pem,
        refetch: !args.no_refresh,
        stack_file: args.stack.file.display().to_string(),
        now: chrono::Utc::now().timestamp(),
    };
    let verified = verify::run(&target)
        .await
        .map_err(|e| Failure::message(e.to_string()))?;
    if args.json {
        out(&report::json(&verified.source, &verified.report));
    } else {
        out(&report::human(&verified.source, &verified.report, style));
    }
    Ok(if verified.report.valid {
        EXIT_OK
    } else {
        EXIT_ERROR
    })
}
