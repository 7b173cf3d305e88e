//! `verify`: resolve what the chain check needs (the state, the provider settings to reach
//! the cluster and the account), then run [`crate::verify`].

use std::path::PathBuf;

use super::locked::{self, StateSpec};
use super::stack::{self, PkiChecks, ProviderOverrides};
use super::{providers, Hooks, OpsError, OpsResult};
use crate::config::vars::VarInputs;
use crate::provider::Registry;
use crate::value::Value;
use crate::verify::{self, Target, Verified};

#[derive(Debug, Clone)]
pub struct VerifyParams {
    pub file: PathBuf,
    pub vars: VarInputs,
    pub state: StateSpec,
    /// The `certmanager.certificate` to verify; else the one with `is_ca: true`.
    pub certificate: Option<String>,
    /// A file with a workload's chain (PEM) to check too.
    pub workload_chain: Option<PathBuf>,
    /// Fetch the CA certificates from AWS rather than trusting state.
    pub refetch: bool,
    /// Unix seconds.
    pub now: i64,
}

pub async fn verify(
    params: &VerifyParams,
    registry: &Registry,
    hooks: &Hooks,
) -> OpsResult<Verified> {
    verify_with(params, &ProviderOverrides::new(), registry, hooks).await
}

/// [`verify`], with `overrides` in place of the stack's own provider settings (a fleet
/// member's cluster connection).
pub async fn verify_with(
    params: &VerifyParams,
    overrides: &ProviderOverrides,
    registry: &Registry,
    hooks: &Hooks,
) -> OpsResult<Verified> {
    let loaded = stack::load_with(
        &params.file,
        &params.vars,
        overrides,
        registry,
        PkiChecks::Warn,
    )?;
    let state = locked::open_loaded(&params.state, &loaded, "verify", hooks)?;
    let resources = state.store.resources()?;
    if resources.is_empty() {
        return Err(OpsError::message(format!(
            "the state of stack {} at {} is empty: run `trustplane apply {}` first",
            loaded.stack.name,
            state.dir.display(),
            params.file.display()
        )));
    }
    let workload_pem = match &params.workload_chain {
        Some(p) => Some(std::fs::read_to_string(p).map_err(|e| {
            OpsError::message(format!(
                "cannot read the workload chain {}: {e}",
                p.display()
            ))
        })?),
        None => None,
    };
    let settings = |name: &str| -> OpsResult<Value> {
        Ok(providers::settings(&loaded.stack, &loaded.variables, name)?.unwrap_or(Value::Null))
    };
    let target = Target {
        resources: &resources,
        kubernetes: settings("kubernetes")?,
        aws: settings("aws")?,
        certificate: params.certificate.clone(),
        workload_pem,
        refetch: params.refetch,
        stack_file: params.file.display().to_string(),
        now: params.now,
    };
    Ok(verify::run(&target).await?)
}
