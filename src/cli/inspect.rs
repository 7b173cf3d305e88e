//! `validate` and `graph`: read stack files and report, touching nothing else.

use std::path::{Path, PathBuf};

use super::{out, warn, CmdResult, EXIT_ERROR, EXIT_OK};
use crate::config::{load_dir, load_file};
use crate::diag::render;
use crate::graph::DependencyGraph;
use crate::plan::render::Style;
use crate::provider::Registry;

pub fn validate(paths: &[PathBuf], json: bool, registry: &Registry, style: Style) -> CmdResult {
    let mut results = Vec::new();
    let mut failed = false;
    let mut report = Vec::new();
    for path in paths {
        if !path.is_dir() && crate::fleet::file::is_fleet_file(path) {
            let (valid, doc, summary, diags) = super::fleet::validate(path, registry);
            failed |= !valid;
            if json {
                report.push(doc);
            } else if !valid {
                eprint!("{}", render(&diags, style.color));
            } else {
                warn(&diags, style);
                out(&summary);
            }
            continue;
        }
        if path.is_dir() {
            results.extend(load_dir(path, registry));
        } else {
            let (stack, diags) = load_file(path, registry);
            results.push((path.clone(), stack, diags));
        }
    }
    for (path, stack, mut diags) in results {
        let mut resources = stack.as_ref().map_or(0, |s| s.resources.len());
        if let Some(stack) = &stack {
            diags.extend(DependencyGraph::from_stack(stack).1);
            if !diags.has_errors() {
                for (i, variables) in crate::checks::variable_choices(stack).iter().enumerate() {
                    match crate::config::enabled::select(stack, variables) {
                        Ok(selected) => {
                            // The count is of the stack as its defaults make it.
                            if i == 0 {
                                resources = selected.resources.len();
                            }
                            diags.extend(crate::checks::run(&selected, variables));
                        }
                        Err(errors) => diags.extend(errors),
                    }
                }
                // The same finding under several choices is shown once.
                let mut seen = std::collections::HashSet::new();
                diags.0.retain(|d| {
                    seen.insert((d.code, d.summary.clone(), d.span.as_ref().map(|s| s.offset)))
                });
            }
        }
        failed |= diags.has_errors();
        if json {
            report.push(serde_json::json!({
                "file": path,
                "valid": !diags.has_errors(),
                "resources": resources,
                "diagnostics": diags,
            }));
        } else if diags.has_errors() {
            eprint!("{}", render(&diags, style.color));
        } else {
            warn(&diags, style);
            out(&format!(
                "{}: valid ({resources} resources)\n",
                path.display()
            ));
        }
    }
    if json {
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&report).expect("json")
        ));
    }
    Ok(if failed { EXIT_ERROR } else { EXIT_OK })
}

pub fn graph(file: &Path, registry: &Registry) -> CmdResult {
    let (stack, diags) = load_file(file, registry);
    let stack = stack.ok_or(diags)?;
    let (g, cycles) = DependencyGraph::from_stack(&stack);
    if cycles.has_errors() {
        return Err(cycles.into());
    }
    let label = |n: &str| format!("{n}\n{}", stack.resources[n].type_name);
    out(&g.to_dot(&label));
    Ok(EXIT_OK)
}
