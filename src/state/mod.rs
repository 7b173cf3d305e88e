//! What trustplane remembers between runs: every resource it manages (type, properties,
//! computed attributes, dependencies, provider id) and the stack's outputs.
//!
//! The store is split by capability, as small traits:
//! - [`StateRead`]: read resources, outputs and metadata;
//! - [`StateWrite`]: durable per-resource writes (each one flushed, each bumps the serial);
//! - [`StateHistory`]: snapshots of whole states, kept for `state history`.
//!
//! [`sled_store::SledState`] persists them in an embedded sled database (the default);
//! [`s3::S3State`] in an S3 bucket, shared by a team; [`memory::MemoryState`] keeps them
//! in memory for unit tests. Both persistent stores are [`PersistentStore`]s.
//! Locking is separate ([`locker`]: a lock file, [`lock`], or an S3 lease, [`s3::lease`]),
//! because a lock must be readable by a process that cannot open the state another
//! process holds. [`check`] verifies a stored state and
//! defines the export form that takes a state out and puts it back.

pub mod check;
#[cfg(test)]
mod contract_tests;
pub mod lock;
pub mod locker;
pub mod memory;
pub mod s3;
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
    /// Properties as applied. Each secret leaf is a `Value::Redacted` digest (see
    /// [`redact`]), so no secret material is ever stored. In memory, after a refresh, the
    /// live values read back are held instead, marked `Value::Sensitive`.
    pub properties: Value,
    pub attributes: Value,
    /// Addresses this resource depended on when applied: destroy order after it leaves
    /// the stack.
    pub dependencies: Vec<String>,
    /// Paths of the secret leaves, derived from the marks when stored; for people and
    /// scripts only (the marks on the values are what counts).
    #[serde(default)]
    pub sensitive_paths: Vec<String>,
    /// `lifecycle.retain_on_destroy` as last applied: a resource removed from the stack is
    /// then forgotten, its object left, though its declaration is gone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retain_on_destroy: bool,
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
    /// Stores the resource with every secret leaf redacted (see [`redact`]), whether or
    /// not the caller already did.
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

/// A store kept outside the process: checked, exported and imported as a whole.
pub trait PersistentStore: Store {
    /// Reads every record and checks that they decode and agree. Never fails: what
    /// cannot be read is a problem in the report.
    fn check(&self) -> check::CheckReport;
    /// The whole state, with what does not decode left out and named.
    fn export(&self) -> StateResult<(check::StateExport, Vec<String>)>;
    /// Puts an export into this state, which must be new (serial 0, no history).
    fn import(&self, export: &check::StateExport) -> StateResult<()>;
    /// The last run on this state did not close it (killed, crashed), so it should be
    /// checked before use.
    fn opened_after_unclean_stop(&self) -> bool;
}

impl PersistentStore for sled_store::SledState {
    fn check(&self) -> check::CheckReport {
        sled_store::SledState::check(self)
    }
    fn export(&self) -> StateResult<(check::StateExport, Vec<String>)> {
        sled_store::SledState::export(self)
    }
    fn import(&self, export: &check::StateExport) -> StateResult<()> {
        sled_store::SledState::import(self, export)
    }
    fn opened_after_unclean_stop(&self) -> bool {
        sled_store::SledState::opened_after_unclean_stop(self)
    }
}

impl PersistentStore for s3::S3State {
    fn check(&self) -> check::CheckReport {
        s3::S3State::check(self)
    }
    fn export(&self) -> StateResult<(check::StateExport, Vec<String>)> {
        s3::S3State::export(self)
    }
    fn import(&self, export: &check::StateExport) -> StateResult<()> {
        s3::S3State::import(self, export)
    }
    /// Every write replaces the whole state in one request: a killed run leaves the
    /// last version it wrote, never a partial one (and a stale lease, reported as such).
    fn opened_after_unclean_stop(&self) -> bool {
        false
    }
}

/// Number of snapshots `state history` keeps.
pub const HISTORY_KEEP: usize = 20;

/// Where a stack's state lives when `--state` is not given: `state/<stack>/<workspace>`.
pub fn default_location(root: &Path, stack: &str, workspace: &str) -> PathBuf {
    root.join(stack).join(workspace)
}

/// The form state keeps: every secret leaf (`Value::Sensitive`) becomes a
/// `Value::Redacted` digest keyed by `key` (the state's lineage), everything else is kept,
/// so the object's structure stays readable and a changed secret still shows as changed.
pub fn redact(value: &Value, key: &str) -> Value {
    match value {
        Value::Sensitive(v) => Value::Redacted(secret_digest(key, v)),
        Value::List(l) => Value::List(l.iter().map(|v| redact(v, key)).collect()),
        Value::Map(m) => Value::Map(m.iter().map(|(k, v)| (k.clone(), redact(v, key))).collect()),
        other => other.clone(),
    }
}

/// How earlier versions stored a secret: a string in place of the value.
const LEGACY_DIGEST_PREFIX: &str = "(sensitive) sha256:";

/// `value` with the secrets earlier versions stored as strings read as digests, so a
/// state written by them is compared and marked like a current one.
pub fn upgrade_legacy_digests(value: Value) -> Value {
    match value {
        Value::String(s) if s.starts_with(LEGACY_DIGEST_PREFIX) => {
            Value::Redacted(s[LEGACY_DIGEST_PREFIX.len()..].to_string())
        }
        Value::Sensitive(v)
            if v.as_str()
                .is_some_and(|s| s.starts_with(LEGACY_DIGEST_PREFIX)) =>
        {
            upgrade_legacy_digests(*v)
        }
        Value::List(l) => Value::List(l.into_iter().map(upgrade_legacy_digests).collect()),
        Value::Map(m) => Value::Map(
            m.into_iter()
                .map(|(k, v)| (k, upgrade_legacy_digests(v)))
                .collect(),
        ),
        other => other,
    }
}

/// The record a store keeps for `resource`: its secrets as digests keyed by `lineage`.
pub fn redacted(resource: &ResourceState, lineage: &str) -> ResourceState {
    if !holds_secrets(resource) {
        // Nothing secret, nothing to digest: one copy, not three (this runs per write).
        return ResourceState {
            sensitive_paths: Vec::new(),
            ..resource.clone()
        };
    }
    let properties = redact(&resource.properties, lineage);
    ResourceState {
        sensitive_paths: properties
            .sensitive_paths()
            .iter()
            .map(ToString::to_string)
            .collect(),
        properties,
        attributes: redact(&resource.attributes, lineage),
        ..resource.clone()
    }
}

/// True when storing `resource` needs redaction (it holds a marked secret).
pub fn holds_secrets(resource: &ResourceState) -> bool {
    resource.properties.contains_sensitive() || resource.attributes.contains_sensitive()
}

/// Outputs as stored: a sensitive output's leaves are digests.
pub fn redacted_outputs(
    outputs: &BTreeMap<String, OutputState>,
    lineage: &str,
) -> BTreeMap<String, OutputState> {
    outputs
        .iter()
        .map(|(k, o)| {
            let value = if o.sensitive {
                Value::sensitive(o.value.clone())
            } else {
                o.value.clone()
            };
            let value = redact(&value, lineage);
            (k.clone(), OutputState { value, ..o.clone() })
        })
        .collect()
}

/// HMAC-SHA256 of the value's JSON, keyed by the state lineage: equal secrets give equal
/// digests within one state (so change detection works) and different ones across states
/// (so a digest cannot be looked up in a table made for another state).
pub fn secret_digest(key: &str, v: &Value) -> String {
    let json = serde_json::to_vec(&v.unmarked()).expect("values serialize");
    hex::encode(hmac_sha256(key.as_bytes(), &json))
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| k.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_keeps_structure_and_replaces_secret_leaves_with_keyed_digests() {
        let mut props = Value::map();
        props.set_path("auth", Value::sensitive(Value::from("hunter2")));
        props.set_path("name", Value::from("x"));
        let a = redact(&props, "lineage-1");
        assert_eq!(a, redact(&props, "lineage-1"), "stable within a state");
        assert_ne!(a, redact(&props, "lineage-2"), "keyed per state");
        assert!(matches!(a.get("auth"), Some(Value::Redacted(_))));
        assert!(!serde_json::to_string(&a).unwrap().contains("hunter2"));
        assert_eq!(a.get_str("name"), Some("x"));
        // Redacting a stored form changes nothing.
        assert_eq!(redact(&a, "lineage-1"), a);
        // A different secret gives a different digest.
        let mut other = props.clone();
        other.set_path("auth", Value::sensitive(Value::from("hunter3")));
        assert_ne!(redact(&other, "lineage-1"), a);
    }

    #[test]
    fn digests_of_earlier_versions_read_as_digests() {
        let old: Value = serde_json::from_str(
            r#"{"set_sensitive": "(sensitive) sha256:abc", "name": "web", "l": ["x"]}"#,
        )
        .unwrap();
        let v = upgrade_legacy_digests(old);
        assert_eq!(v.get("set_sensitive"), Some(&Value::Redacted("abc".into())));
        assert_eq!(v.get_str("name"), Some("web"));
        let live = Value::from("(sensitive) sha256:abc").marked_like(&Value::Redacted("x".into()));
        assert_eq!(upgrade_legacy_digests(live), Value::Redacted("abc".into()));
    }

    #[test]
    fn hmac_matches_the_rfc_4231_vectors() {
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Case 6: a key longer than the block is hashed first.
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }
}
