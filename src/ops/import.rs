//! `import`: adopt an existing object, by its provider id, into state as a resource the
//! stack declares.

use std::sync::Arc;

use std::path::PathBuf;

use super::locked::{self, StateSpec};
use super::stack::{self, PkiChecks};
use super::{providers, Hooks, OpsError, OpsResult};
use crate::config::vars::VarInputs;
use crate::diag::Diagnostic;
use crate::provider::{mark_secret_attributes, mark_secrets, OpContext, Registry};
use crate::retry::{Call, Retry};
use crate::state::{redacted, ResourceState, HISTORY_KEEP};

/// What was imported.
#[derive(Debug)]
pub struct Imported {
    pub address: String,
    pub id: String,
    pub type_name: String,
}

/// The object to adopt, and the stack resource that adopts it.
#[derive(Debug, Clone)]
pub struct ImportParams {
    pub file: PathBuf,
    pub vars: VarInputs,
    pub state: StateSpec,
    /// The resource's address in the stack.
    pub address: String,
    /// The provider's id of the object.
    pub id: String,
}

/// Reads the object through the provider of the resource's type and records it in state,
/// secrets kept only as digests.
pub async fn import(
    params: &ImportParams,
    registry: &Arc<Registry>,
    hooks: &Hooks,
) -> OpsResult<Imported> {
    let (address, id) = (params.address.as_str(), params.id.as_str());
    let loaded = stack::load(&params.file, &params.vars, registry, PkiChecks::Warn)?;
    let stack_file = params.file.display();
    let decl = loaded.stack.resources.get(address).ok_or_else(|| {
        let mut d = Diagnostic::error(
            "cli::unknown_address",
            format!("{address} is not declared in {stack_file}"),
        )
        .with_detail("import adopts an existing object into a resource the stack declares");
        if let Some(s) =
            crate::diag::did_you_mean(address, loaded.stack.resources.keys().map(String::as_str))
        {
            d = d.with_help(format!("did you mean `{s}`?"));
        }
        d
    })?;
    let state = locked::open_loaded(&params.state, &loaded, "import", hooks)?;
    if state.store.resource(address)?.is_some() {
        return Err(OpsError::message(format!(
            "{address} is already in state; `trustplane state rm {address}` first to import another object"
        )));
    }
    providers::configure(
        registry,
        &loaded.stack,
        &loaded.variables,
        std::iter::empty(),
    )
    .await?;
    let provider = registry
        .provider_for(&decl.type_name)
        .expect("validated type");
    let meta = state.store.meta()?;
    let ctx = OpContext::new(address, &loaded.stack.name, &meta.lineage);
    let notify = |m: &str| hooks.note(&format!("{address}: {m}"));
    let snap = Retry::of(provider.as_ref(), Call::Read, &notify)
        .run(|| provider.import(&ctx, &decl.type_name, id))
        .await
        .map_err(|e| crate::plan::eval::provider_diag("import::failed", "import", address, e))?
        .ok_or_else(|| OpsError::message(format!("no {} with id {id:?} exists", decl.type_name)))?;
    let schema = registry.schema(&decl.type_name).expect("validated type");
    // Secrets the provider reads back (a Secret's data) are kept only as digests.
    let properties = mark_secrets(provider.as_ref(), schema, snap.properties);
    let attributes = mark_secret_attributes(
        provider.as_ref(),
        &decl.type_name,
        &properties,
        snap.attributes,
    );
    let record = redacted(
        &ResourceState {
            address: address.to_string(),
            type_name: decl.type_name.clone(),
            mode: decl.mode,
            provider: provider.name().to_string(),
            id: snap.id,
            properties,
            attributes,
            dependencies: loaded.graph.dependencies(address),
            sensitive_paths: Vec::new(),
            retain_on_destroy: decl.lifecycle.retain_on_destroy,
            updated_at: chrono::Utc::now(),
        },
        &meta.lineage,
    );
    state.store.put_resource(&record)?;
    state
        .store
        .record(&format!("import {address} {id}"), HISTORY_KEEP)?;
    Ok(Imported {
        address: address.to_string(),
        id: id.to_string(),
        type_name: decl.type_name.clone(),
    })
}
