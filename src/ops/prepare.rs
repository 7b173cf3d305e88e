//! What plan, apply, destroy and drift start from: the loaded stack, its locked state with
//! its providers configured, and what is live of the resources in state.

use std::path::PathBuf;

use super::locked::{self, OpenState, StateSpec};
use super::stack::{self, Loaded, PkiChecks, ProviderOverrides};
use super::{providers, Hooks, OpsResult};
use crate::config::vars::VarInputs;
use crate::plan::refresh::{refresh, RefreshParams, Refreshed};
use crate::provider::Registry;

/// Which stack to prepare, and how.
#[derive(Debug, Clone)]
pub struct PrepareParams {
    pub file: PathBuf,
    pub vars: VarInputs,
    pub state: StateSpec,
    /// Recorded in the lock (`plan`, `apply`, ...).
    pub command: String,
    pub pki: PkiChecks,
    /// Provider reads at once during refresh.
    pub parallelism: usize,
    /// Reach no provider: take state as stored (`plan --offline`).
    pub offline: bool,
}

/// A stack loaded, its state locked and refreshed.
pub struct Prepared {
    pub loaded: Loaded,
    pub state: OpenState,
    pub refreshed: Refreshed,
    /// Planned without reaching providers.
    pub offline: bool,
    /// The workspace the state belongs to.
    pub workspace: String,
    /// How many resources refresh and planning handle at once.
    pub parallelism: usize,
}

pub async fn prepare(
    params: &PrepareParams,
    registry: &Registry,
    hooks: &Hooks,
) -> OpsResult<Prepared> {
    prepare_with(params, &ProviderOverrides::new(), registry, hooks).await
}

/// [`prepare`], with `overrides` in place of the stack's own provider settings (a fleet
/// member's cluster connection).
pub async fn prepare_with(
    params: &PrepareParams,
    overrides: &ProviderOverrides,
    registry: &Registry,
    hooks: &Hooks,
) -> OpsResult<Prepared> {
    let loaded = stack::load_with(&params.file, &params.vars, overrides, registry, params.pki)?;
    let state = locked::open_loaded(&params.state, &loaded, &params.command, hooks)?;
    // Read (and decode) the stored resources once: they name the providers to configure
    // and are what refresh reads back.
    let stored = state.store.resources()?;
    providers::configure(
        registry,
        &loaded.stack,
        &loaded.variables,
        stored.values().map(|r| r.type_name.clone()),
    )
    .await?;
    let meta = state.store.meta()?;
    let refreshed = if params.offline {
        Refreshed {
            resources: stored,
            gone: Vec::new(),
            lineage: meta.lineage.clone(),
        }
    } else {
        refresh(
            &RefreshParams {
                registry,
                stack: &loaded.stack,
                lineage: &meta.lineage,
                parallelism: params.parallelism,
                progress: Some(hooks.notify.clone()),
            },
            &stored,
        )
        .await?
    };
    Ok(Prepared {
        loaded,
        state,
        refreshed,
        offline: params.offline,
        workspace: params.state.workspace().to_string(),
        parallelism: params.parallelism,
    })
}
