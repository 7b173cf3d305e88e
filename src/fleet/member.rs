//! What one tier or member is run with: its stack file, its variables (for a member: the
//! trust tier's outputs, then the common `clusters.vars`, then its own), its state (own
//! directory and workspace) and its cluster connection in place of the stack's.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::file::{Fleet, Tier};
use super::{FleetParams, Loaded};
use crate::config::vars::VarInputs;
use crate::ops::locked::{Backend, StateSpec};
use crate::ops::prepare::PrepareParams;
use crate::ops::stack::{PkiChecks, ProviderOverrides};
use crate::value::Value;

/// Everything needed to run one tier's stack for one member (or for the trust tier).
#[derive(Debug, Clone)]
pub struct Unit {
    /// The member's name, or [`TRUST`].
    pub name: String,
    pub stack_file: PathBuf,
    pub vars: VarInputs,
    pub state: StateSpec,
    pub overrides: ProviderOverrides,
    /// Some variable is known only after the trust tier is applied.
    pub unknown_inputs: bool,
}

/// How the trust tier is named in reports.
pub const TRUST: &str = "(trust)";

impl Unit {
    pub fn prepare_params(
        &self,
        command: &str,
        pki: PkiChecks,
        params: &FleetParams,
    ) -> PrepareParams {
        PrepareParams {
            file: self.stack_file.clone(),
            vars: self.vars.clone(),
            state: self.state.clone(),
            command: command.to_string(),
            pki,
            parallelism: params.parallelism,
            offline: false,
        }
    }

    pub fn is_trust(&self) -> bool {
        self.name == TRUST
    }
}

/// A state at `at` exactly (a directory, or an S3 prefix that is the state's own).
fn state(at: Backend, workspace: &str, params: &FleetParams) -> StateSpec {
    let (dir, s3) = match at {
        Backend::Local(dir) => (Some(dir), None),
        Backend::S3(at) => (None, Some(at)),
    };
    StateSpec {
        dir,
        s3,
        workspace: Some(workspace.to_string()),
        lock_timeout: params.lock_timeout,
        ..Default::default()
    }
}

fn given(tier: &Tier) -> Vec<(String, Value)> {
    tier.vars
        .iter()
        .map(|(k, v)| (k.clone(), v.value.clone()))
        .collect()
}

/// The trust tier: workspace = the fleet's name.
pub fn trust(loaded: &Loaded, params: &FleetParams) -> Unit {
    let fleet = &loaded.fleet;
    let stack = &loaded.stacks.trust.name;
    Unit {
        name: TRUST.to_string(),
        stack_file: fleet.trust.stack.clone(),
        vars: VarInputs {
            given: given(&fleet.trust),
            given_by: format!("fleet file {}, trust tier", fleet.file.display()),
            ..Default::default()
        },
        state: state(params.location(&[stack, &fleet.name]), &fleet.name, params),
        overrides: ProviderOverrides::new(),
        unknown_inputs: false,
    }
}

/// Where a member's state is.
pub fn member_location(loaded: &Loaded, params: &FleetParams, member: &str) -> Backend {
    params.location(&[&loaded.stacks.cluster.name, member])
}

/// Member `name` with the trust tier's outputs (those its stack declares; `Unknown` when
/// known only after the trust tier's apply).
pub fn member(
    loaded: &Loaded,
    params: &FleetParams,
    name: &str,
    trust_outputs: &BTreeMap<String, Value>,
) -> Unit {
    let fleet: &Fleet = &loaded.fleet;
    let m = &fleet.members[name];
    let cluster = &loaded.stacks.cluster;
    let mut vars: Vec<(String, Value)> = trust_outputs
        .iter()
        .filter(|(k, _)| cluster.variables.contains_key(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let unknown_inputs = vars.iter().any(|(_, v)| v.contains_unknown());
    vars.extend(given(&fleet.clusters));
    vars.extend(m.vars.iter().map(|(k, v)| (k.clone(), v.value.clone())));
    let mut overrides = ProviderOverrides::new();
    if let Some(k) = &m.kubernetes {
        overrides.insert("kubernetes".to_string(), k.clone());
    }
    Unit {
        name: name.to_string(),
        stack_file: fleet.clusters.stack.clone(),
        vars: VarInputs {
            given: vars,
            given_by: format!("fleet file {}, member {name}", fleet.file.display()),
            ..Default::default()
        },
        state: state(member_location(loaded, params, name), name, params),
        overrides,
        unknown_inputs,
    }
}
