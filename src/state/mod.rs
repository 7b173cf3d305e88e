//! What trustplane remembers between runs: every resource it manages (type, properties,
//! computed attributes, dependencies, provider id) and the stack's outputs.
//!
//! The store is split by capability, as small traits:
//! - [`StateRead`]: read resources, outputs and metadata;
//! - [`StateWrite`]: durable per-resource writes (each one flushed, each bumps the serial);
//! - [`StateHistory`]: snapshots of whole states, kept for `state history`.
//!
//! [`sled_store::SledState`] persists them in an embedded sled database;
//! [`memory::MemoryState`] keeps them in memory for unit tests.
//! Locking is separate ([`lock`]), because a lock must be readable by a process that
//! cannot open the database another process holds. [`check`] verifies a stored state and
//! defines the export form that takes a state out and puts it back.

pub mod check;
#[cfg(test)]
mod contract_tests;
pub mod lock;
pub mod memory;
pub mod sled_store;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Mode;
use crate::value::Value;

/// One resource as last applied or refreshed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceState {
    pub address: String,
    pub type_name: String,
    pub mode: Mode,
    /// Provider name (`core`, `aws`, ...).
    pub provider: String,
    /// The provider's id for the object (an ARN, a path, `namespace/name`).
    pub id: String,
    /// Properties as applied. Sensitive values are replaced by a digest (see
    /// [`redact`]), so no secret material is ever stored.
    pub properties: Value,
    pub attributes: Value,
    /// Addresses this resource depended on when applied: destroy order after it leaves
    /// the stack.
    pub dependencies: Vec<String>,
    /// Property paths holding sensitive values (stored as digests).
    #[serde(default)]
    pub sensitive_paths: Vec<String>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputState {
    pub value: Value,
    pub sensitive: bool,
    #[serde(default)]
    pub description: Option<String>,
}

/// Identity and version of a state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateMeta {
    /// Created once per state; a plan made against one lineage never applies to another.
    pub lineage: String,
    /// Increases on every write.
    pub serial: u64,
    pub stack: String,
    pub workspace: String,
}

/// A whole state at one serial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateSnapshot {
    pub meta: StateMeta,
    pub resources: BTreeMap<String, ResourceState>,
    pub outputs: BTreeMap<String, OutputState>,
}

/// A history entry: a snapshot and what made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub serial: u64,
    pub time: chrono::DateTime<chrono::Utc>,
    /// The command that produced it (`apply`, `destroy`, `state mv a b`, ...).
    pub command: String,
    pub snapshot: StateSnapshot,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state storage at {path}: {message}")]
    Storage { path: PathBuf, message: String },
    #[error("no resource {0} in state")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
}

pub type StateResult<T> = Result<T, StateError>;

pub trait StateRead: Send + Sync {
    fn meta(&self) -> StateResult<StateMeta>;
    fn resources(&self) -> StateResult<BTreeMap<String, ResourceState>>;
    fn resource(&self, address: &str) -> StateResult<Option<ResourceState>>;
    fn outputs(&self) -> StateResult<BTreeMap<String, OutputState>>;

    fn snapshot(&self) -> StateResult<StateSnapshot> {
        Ok(StateSnapshot {
            meta: self.meta()?,
            resources: self.resources()?,
            outputs: self.outputs()?,
        })
    }
}

/// Every method is durable when it returns (flushed to disk for persistent stores) and
/// increases the serial by one.
pub trait StateWrite: StateRead {
    /// Stores the resource with its `sensitive_paths` redacted (see [`redact`]), whether
    /// or not the caller already did.
    fn put_resource(&self, resource: &ResourceState) -> StateResult<u64>;
    fn remove_resource(&self, address: &str) -> StateResult<u64>;
    /// Replaces all outputs.
    fn set_outputs(&self, outputs: &BTreeMap<String, OutputState>) -> StateResult<u64>;

    /// Renames a resource (`state mv`), rewriting the dependencies that named it so
    /// destroy order survives the move. `NotFound` if `from` is missing, `Invalid` if `to`
    /// exists. Both stores override this to do it in one write; this default takes one
    /// write per changed record.
    fn move_resource(&self, from: &str, to: &str) -> StateResult<u64> {
        let changed = moved_records(&self.resources()?, from, to)?;
        for record in &changed {
            self.put_resource(record)?;
        }
        self.remove_resource(from)
    }
}

/// The records a move from `from` to `to` writes: the renamed resource first, then every
/// resource whose dependencies named `from`, rewritten to name `to`.
pub fn moved_records(
    resources: &BTreeMap<String, ResourceState>,
    from: &str,
    to: &str,
) -> StateResult<Vec<ResourceState>> {
    let mut moved = resources
        .get(from)
        .cloned()
        .ok_or_else(|| StateError::NotFound(from.to_string()))?;
    if from == to || resources.contains_key(to) {
        return Err(StateError::Invalid(format!(
            "cannot move {from} to {to}: {to} is already in state"
        )));
    }
    moved.address = to.to_string();
    let mut out = vec![moved];
    for r in resources.values() {
        if r.address != from && r.dependencies.iter().any(|d| d == from) {
            let mut r = r.clone();
            for d in &mut r.dependencies {
                if d == from {
                    *d = to.to_string();
                }
            }
            out.push(r);
        }
    }
    Ok(out)
}

pub trait StateHistory: StateRead {
    /// Records the current state as a history entry; keeps only the newest `keep`.
    fn record(&self, command: &str, keep: usize) -> StateResult<()>;
    /// Newest first.
    fn history(&self) -> StateResult<Vec<HistoryEntry>>;
}

/// A full store: read, write, history.
pub trait Store: StateWrite + StateHistory {}
impl<T: StateWrite + StateHistory> Store for T {}

/// Number of snapshots `state history` keeps.
pub const HISTORY_KEEP: usize = 20;

/// Where a stack's state lives when `--state` is not given: `state/<stack>/<workspace>`.
pub fn default_location(root: &Path, stack: &str, workspace: &str) -> PathBuf {
    root.join(stack).join(workspace)
}

/// Replaces the value at each sensitive path by a digest, so state can tell a change
/// without holding the secret.
pub fn redact(properties: &Value, sensitive_paths: &[String]) -> Value {
    let mut out = properties.clone();
    for path in sensitive_paths {
        let steps = crate::value::parse_path(path).unwrap_or_default();
        if let Some(v) = out.lookup(&steps).cloned() {
            if !matches!(v, Value::Unknown) && !is_digest(&v) {
                out.set_path(path, Value::String(digest(&v)));
            }
        }
    }
    out
}

/// The record a store keeps for `resource`: the same, with its sensitive paths redacted.
pub fn redacted(resource: &ResourceState) -> ResourceState {
    ResourceState {
        properties: redact(&resource.properties, &resource.sensitive_paths),
        ..resource.clone()
    }
}

const DIGEST_PREFIX: &str = "(sensitive) sha256:";

/// The digest a sensitive value is stored as.
pub fn digest(v: &Value) -> String {
    use sha2::{Digest, Sha256};
    let json = serde_json::to_vec(v).expect("values serialize");
    format!("{DIGEST_PREFIX}{}", hex::encode(Sha256::digest(json)))
}

pub fn is_digest(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.starts_with(DIGEST_PREFIX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_replaces_secrets_with_stable_digests() {
        let mut props = Value::map();
        props.set_path("auth.token", Value::from("hunter2"));
        props.set_path("name", Value::from("x"));
        let paths = vec!["auth.token".to_string()];
        let a = redact(&props, &paths);
        let b = redact(&props, &paths);
        assert_eq!(a, b);
        let stored = a.get("auth").unwrap().get_str("token").unwrap();
        assert!(stored.starts_with("(sensitive) sha256:"));
        assert!(!serde_json::to_string(&a).unwrap().contains("hunter2"));
        assert_eq!(a.get_str("name"), Some("x"));
        // Redacting twice keeps the digest, it does not digest the digest.
        assert_eq!(redact(&a, &paths), a);
    }
}
