//! Loading a stack for an operation: parse and validate it, check its graph, resolve its
//! variables, leave out what `enabled:` disables and run the PKI checks.

use std::collections::BTreeMap;
use std::path::Path;

use super::OpsResult;
use crate::config::vars::{resolve, VarInputs};
use crate::config::yaml::Node;
use crate::config::{load_file, Stack};
use crate::diag::{Diagnostics, Severity};
use crate::graph::DependencyGraph;
use crate::provider::Registry;
use crate::value::Value;

/// A loaded, valid stack with its variables and graph.
pub struct Loaded {
    pub stack: Stack,
    pub graph: DependencyGraph,
    pub variables: BTreeMap<String, Value>,
    /// Warnings to show before the operation's own output.
    pub warnings: Diagnostics,
}

/// Whether PKI check errors stop the operation. They guard what a stack would build; an
/// operation that only reads or tears down (drift, destroy, verify) must still work on a
/// stack that fails them, so there they are warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkiChecks {
    Enforce,
    Warn,
}

/// Provider settings that replace a stack's own `providers.<name>`, e.g. a fleet member's
/// cluster connection for `kubernetes` (which `helm` inherits). Their spans point to
/// where they were written.
pub type ProviderOverrides = BTreeMap<String, Node>;

/// Loads and validates a stack, resolves its variables, and checks the graph.
pub fn load(
    file: &Path,
    vars: &VarInputs,
    registry: &Registry,
    pki: PkiChecks,
) -> OpsResult<Loaded> {
    load_with(file, vars, &ProviderOverrides::new(), registry, pki)
}

/// [`load`], with `overrides` in place of the stack's own provider settings.
pub fn load_with(
    file: &Path,
    vars: &VarInputs,
    overrides: &ProviderOverrides,
    registry: &Registry,
    pki: PkiChecks,
) -> OpsResult<Loaded> {
    let (stack, mut diags) = load_file(file, registry);
    let Some(mut stack) = stack else {
        return Err(diags.into());
    };
    override_providers(&mut stack, overrides);
    let (_, graph_diags) = DependencyGraph::from_stack(&stack);
    diags.extend(graph_diags);
    if diags.has_errors() {
        return Err(diags.into());
    }
    let variables = resolve(&stack, vars)?;
    // What `enabled:` leaves out is not part of this run: not in the graph, not checked,
    // and destroyed if state holds it, like a resource removed from the file.
    let stack = crate::config::enabled::select(&stack, &variables)?;
    let (graph, _) = DependencyGraph::from_stack(&stack);
    let mut checks = crate::checks::run(&stack, &variables);
    if pki == PkiChecks::Warn {
        for d in checks.0.iter_mut() {
            d.severity = Severity::Warning;
        }
    }
    diags.extend(checks);
    if diags.has_errors() {
        return Err(diags.into());
    }
    Ok(Loaded {
        stack,
        graph,
        variables,
        warnings: diags,
    })
}

/// Puts `overrides` in place of the stack's own provider settings.
pub fn override_providers(stack: &mut Stack, overrides: &ProviderOverrides) {
    for (name, node) in overrides {
        stack.providers.insert(name.clone(), node.clone());
    }
}

/// The name of the stack in `file`, for commands that need only its state.
pub fn stack_name(file: &Path, registry: &Registry) -> OpsResult<String> {
    let (stack, diags) = load_file(file, registry);
    stack.map(|s| s.name).ok_or_else(|| diags.into())
}
