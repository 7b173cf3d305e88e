//! Refresh: read every managed resource in state from its provider, in parallel, and
//! compare what is live with what was stored (drift).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::diff::{field_changes, keep_ignored, FieldChange};
use super::eval::{locate, provider_diag, snapshot};
use crate::config::{Mode, Stack};
use crate::diag::{Diagnostic, Diagnostics};
use crate::graph::walk::{walk_values, Cancel, Outcome};
use crate::provider::{mark_secret_attributes, mark_secrets, OpContext, ProgressFn, Registry};
use crate::retry::{Call, Retry};
use crate::state::{redact, upgrade_legacy_digests, ResourceState};

/// State as read back from the providers: resources gone outside trustplane are absent.
#[derive(Debug, Clone, Default)]
pub struct Refreshed {
    /// Every resource of the stored state, with live properties and attributes. Secrets
    /// read back are held in the clear, marked (memory only: stores redact them).
    pub resources: BTreeMap<String, ResourceState>,
    /// Addresses that no longer exist.
    pub gone: Vec<String>,
    /// The state's lineage, which keys the digests secrets are compared by.
    pub lineage: String,
}

pub struct RefreshParams<'a> {
    pub registry: &'a Registry,
    /// The stack: errors about a resource it declares point at its line.
    pub stack: &'a Stack,
    pub lineage: &'a str,
    pub parallelism: usize,
    /// Hears of retries, as `address: retrying in ...`.
    pub progress: Option<ProgressFn>,
}

/// Reads every managed resource of `stored`. Only a provider's definite "not found" makes
/// a resource gone; a read that fails (after retries, within the provider's deadline)
/// fails the refresh, so nothing is planned or forgotten on a guess. Data sources are kept as stored (they are
/// read again while planning). Errors are diagnostics naming the resource.
pub async fn refresh(
    params: &RefreshParams<'_>,
    stored: &BTreeMap<String, ResourceState>,
) -> Result<Refreshed, Diagnostics> {
    let entries: Arc<Vec<ResourceState>> = Arc::new(stored.values().cloned().collect());
    let deps = vec![Vec::new(); entries.len()];
    let outcomes = walk_values(&deps, params.parallelism, &Cancel::default(), |i| {
        let entries = entries.clone();
        let provider = params.registry.provider_for(&entries[i].type_name).cloned();
        let schema = params.registry.schema(&entries[i].type_name).cloned();
        let ctx = OpContext::new(&entries[i].address, &params.stack.name, params.lineage);
        let progress = params.progress.clone();
        async move {
            let stored = &entries[i];
            if stored.mode == Mode::Data {
                return Ok(Some(stored.clone()));
            }
            let provider = provider.ok_or_else(|| {
                Diagnostic::error(
                    "refresh::unknown_type",
                    format!("state holds {} of type {}, which no provider serves", stored.address, stored.type_name),
                )
                .with_address(&stored.address)
                .with_help("use a trustplane build that has this provider, or `trustplane state rm` the resource")
            })?;
            let prior = snapshot(stored);
            let notify = |m: &str| {
                if let Some(p) = &progress {
                    p(&format!("{}: {m}", stored.address));
                }
            };
            let live = Retry::of(provider.as_ref(), Call::Read, &notify)
                .run(|| provider.read(&ctx, &stored.type_name, &prior))
                .await
                .map_err(|e| provider_diag("refresh::read_failed", "refresh", &stored.address, e))?;
            Ok(live.map(|snap| {
                // Secret where the provider says so, or where state kept a digest.
                let stored_properties = upgrade_legacy_digests(stored.properties.clone());
                let properties = upgrade_legacy_digests(
                    match &schema {
                        Some(schema) => mark_secrets(provider.as_ref(), schema, snap.properties),
                        None => snap.properties,
                    }
                    .marked_like(&stored_properties),
                );
                let attributes = mark_secret_attributes(
                    provider.as_ref(),
                    &stored.type_name,
                    &properties,
                    snap.attributes,
                )
                .marked_like(&stored.attributes);
                ResourceState {
                    id: snap.id,
                    properties,
                    attributes,
                    ..stored.clone()
                }
            }))
        }
    })
    .await;

    let mut diags = Diagnostics::new();
    let mut out = Refreshed {
        lineage: params.lineage.to_string(),
        ..Refreshed::default()
    };
    for (stored, (outcome, live)) in entries.iter().zip(outcomes) {
        match (outcome, live.flatten()) {
            (Outcome::Failed(d), _) => diags.push(locate(d, params.stack)),
            (_, Some(r)) => {
                out.resources.insert(stored.address.clone(), r);
            }
            (_, None) => out.gone.push(stored.address.clone()),
        }
    }
    if diags.has_errors() {
        return Err(diags);
    }
    Ok(out)
}

/// What changed outside trustplane for one resource.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Drift {
    pub address: String,
    pub type_name: String,
    /// Deleted outside trustplane.
    pub gone: bool,
    #[serde(serialize_with = "serialize_changes")]
    pub changes: Vec<FieldChange>,
}

fn serialize_changes<S: serde::Serializer>(
    changes: &[FieldChange],
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(changes.len()))?;
    for c in changes {
        seq.serialize_element(&serde_json::json!({
            "path": c.path,
            "stored": c.before.as_ref().map(|v| v.to_masked_json()),
            "live": c.after.as_ref().map(|v| v.to_masked_json()),
        }))?;
    }
    seq.end()
}

/// Compares stored and refreshed state. `ignore_changes` comes from the stack, when the
/// resource is still declared there.
pub fn drift(
    stored: &BTreeMap<String, ResourceState>,
    refreshed: &Refreshed,
    stack: Option<&Stack>,
) -> Vec<Drift> {
    let mut out = Vec::new();
    for (address, before) in stored {
        if before.mode == Mode::Data {
            continue;
        }
        let ignore: &[String] = stack
            .and_then(|s| s.resources.get(address))
            .map(|r| r.lifecycle.ignore_changes.as_slice())
            .unwrap_or(&[]);
        match refreshed.resources.get(address) {
            None => out.push(Drift {
                address: address.clone(),
                type_name: before.type_name.clone(),
                gone: true,
                changes: Vec::new(),
            }),
            Some(after) => {
                // Compared as state keeps them: secrets by digest, ignored paths as stored.
                let key = refreshed.lineage.as_str();
                let before_stored = redact(&upgrade_legacy_digests(before.properties.clone()), key);
                let mut after_stored = redact(&after.properties, key);
                keep_ignored(&mut after_stored, &before_stored, ignore);
                let mut changes = field_changes(&before_stored, &after_stored);
                if changes.is_empty() {
                    // Computed attributes (versions, digests) follow the properties:
                    // shown as detail of real drift, never drift on their own.
                    continue;
                }
                for mut c in field_changes(
                    &redact(&before.attributes, key),
                    &redact(&after.attributes, key),
                ) {
                    c.path = format!("(computed) {}", c.path);
                    changes.push(c);
                }
                {
                    out.push(Drift {
                        address: address.clone(),
                        type_name: before.type_name.clone(),
                        gone: false,
                        changes,
                    });
                }
            }
        }
    }
    out
}
