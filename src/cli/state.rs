//! `state ...` and `import`: edits and reports on a stack's state.

use std::sync::Arc;

use super::args::{ImportArgs, StateCommand};
use super::{out, params, CmdResult, EXIT_ERROR, EXIT_OK};
use crate::ops::history::HistoryStep;
use crate::ops::import::ImportParams;
use crate::ops::state as edits;
use crate::provider::Registry;

pub async fn import(args: ImportArgs, registry: Arc<Registry>) -> CmdResult {
    let import_params = ImportParams {
        file: args.stack.file.clone(),
        vars: params::var_inputs(&args.stack.vars),
        state: params::state_spec(&args.stack.state),
        address: args.address.clone(),
        id: args.id.clone(),
    };
    let done = crate::ops::import::import(&import_params, &registry, &params::hooks()).await?;
    out(&format!(
        "Imported {} ({}) as {}. Run `trustplane plan` to see how it differs from the stack.\n",
        done.id, done.type_name, done.address
    ));
    Ok(EXIT_OK)
}

pub fn state(cmd: StateCommand, registry: &Registry) -> CmdResult {
    let hooks = params::hooks();
    match cmd {
        StateCommand::List(loc) => {
            let resources = edits::list(&params::location(&loc), registry, &hooks)?;
            for (addr, r) in &resources {
                out(&format!("{addr}\t{}\t{}\n", r.type_name, r.id));
            }
            // On stderr, so scripts reading the list are not disturbed.
            if let Some(total) = crate::cost::running_total(&resources).line() {
                eprintln!(
                    "Running cost of the CAs in state: {}",
                    total.trim_start_matches('+')
                );
            }
        }
        StateCommand::Show { address, location } => {
            let r = edits::show(&params::location(&location), &address, registry, &hooks)?;
            let mut json = serde_json::to_value(&r).expect("json");
            json["properties"] = r.properties.to_masked_json();
            json["attributes"] = r.attributes.to_masked_json();
            out(&format!(
                "{}\n",
                serde_json::to_string_pretty(&json).expect("json")
            ));
        }
        StateCommand::Rm { address, location } => {
            edits::rm(&params::location(&location), &address, registry, &hooks)?;
            out(&format!(
                "Removed {address} from state. The object itself was left alone.\n"
            ));
        }
        StateCommand::Mv { from, to, location } => {
            edits::mv(&params::location(&location), &from, &to, registry, &hooks)?;
            out(&format!("Moved {from} to {to}.\n"));
        }
        StateCommand::History(loc) => {
            let steps = edits::history(&params::location(&loc), registry, &hooks)?;
            out(&history_text(&steps));
        }
        StateCommand::Check(loc) => {
            let checked = edits::check(&params::location(&loc), registry, &hooks)?;
            out(&checked.report.render(&checked.dir));
            if !checked.report.is_clean() {
                return Ok(EXIT_ERROR);
            }
        }
        StateCommand::Export { path, location } => {
            let done = edits::export(&params::location(&location), &path, registry, &hooks)?;
            let e = &done.export;
            out(&format!(
                "Exported {} resources, {} outputs and {} history entries (serial {}) to {}.\n",
                e.resources.len(),
                e.outputs.len(),
                e.history.len(),
                e.meta.serial,
                path.display()
            ));
            // What does not decode is named, and the exit status is 1; the rest is written.
            if !done.skipped.is_empty() {
                eprintln!("These records could not be decoded and are not in the export:");
                for s in &done.skipped {
                    eprintln!("  - {s}");
                }
                return Ok(EXIT_ERROR);
            }
        }
        StateCommand::Import { path, location } => {
            let done = edits::import(&params::location(&location), &path, registry, &hooks)?;
            let e = &done.export;
            out(&format!(
                "Imported {} resources, {} outputs and {} history entries (serial {}) into {}.\n",
                e.resources.len(),
                e.outputs.len(),
                e.history.len(),
                e.meta.serial,
                done.dir.display()
            ));
            if !done.report.is_clean() {
                eprint!("{}", done.report.render(&done.dir));
                return Ok(EXIT_ERROR);
            }
        }
        StateCommand::Migrate { to, location } => {
            let to = params::state_backend(&to);
            let done = edits::migrate(&params::location(&location), &to, registry, &hooks)?;
            out(&format!(
                "Copied {} resources and {} history entries (serial {}) from {} to {}. The \
                 state at {} is left as it was: point the stack at the new one (`state:` in \
                 the stack file, or --state).\n",
                done.resources,
                done.history,
                done.serial,
                done.from.display(),
                done.to.display(),
                done.from.display()
            ));
        }
        StateCommand::ForceUnlock { id, location } => {
            let info = edits::force_unlock(&params::location(&location), &id, registry)?;
            out(&format!(
                "Removed lock {} held by {}@{} (pid {}, `{}`).\n",
                info.id, info.user, info.host, info.pid, info.command
            ));
        }
    }
    Ok(EXIT_OK)
}

fn history_text(steps: &[HistoryStep]) -> String {
    if steps.is_empty() {
        return "No history yet.\n".into();
    }
    let mut text = String::new();
    for s in steps {
        text.push_str(&format!(
            "serial {}  {}  {}  ({} resources)\n",
            s.serial,
            s.time.format("%Y-%m-%d %H:%M:%S UTC"),
            s.command,
            s.resources
        ));
        for (sign, list) in [("+", &s.added), ("-", &s.removed), ("~", &s.changed)] {
            for a in list {
                text.push_str(&format!("    {sign} {a}\n"));
            }
        }
    }
    text
}
