//! The current state as one S3 object, `state.json`, replaced by compare-and-swap.
//!
//! Every write reads nothing: it applies the change to the version this handle last
//! wrote or read, and puts the result with `If-Match` on that version's ETag (or
//! `If-None-Match: *` for a state's first object). If anyone else wrote in between, S3
//! answers 412 and the write fails with nothing changed: two writers can never both
//! succeed, and a lost race is an error, never an overwrite. A write returns only once
//! S3 has stored the object, so each finished resource is durable when it is reported.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use super::{Condition, S3Client, S3Failure, S3Location};
use crate::state::check::{consistency, CheckReport, StateExport, EXPORT_FORMAT, EXPORT_VERSION};
use crate::state::{
    moved_records, redacted, redacted_outputs, OutputState, ResourceState, StateError, StateMeta,
    StateRead, StateResult, StateSnapshot, StateWrite,
};

pub(super) const STATE_OBJECT: &str = "state.json";

/// Persistent store in S3.
pub struct S3State {
    pub(super) client: S3Client,
    current: Mutex<Current>,
}

impl std::fmt::Debug for S3State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3State")
            .field("at", &self.client.location.url())
            .finish()
    }
}

/// The version this handle knows, and its ETag.
struct Current {
    snapshot: StateSnapshot,
    etag: String,
}

impl S3State {
    /// Opens the state at the client's location, creating it (a fresh lineage, serial 0)
    /// if there is none. Fails if it belongs to another stack or workspace.
    pub fn open(client: S3Client, stack: &str, workspace: &str) -> StateResult<S3State> {
        let current = match load(&client)? {
            Some(current) => current,
            None => create(&client, stack, workspace)?,
        };
        let meta = &current.snapshot.meta;
        if meta.stack != stack || meta.workspace != workspace {
            return Err(StateError::Invalid(format!(
                "state at {} belongs to stack {} workspace {}, not stack {stack} workspace \
                 {workspace}; use --state or --workspace",
                client.location.url(),
                meta.stack,
                meta.workspace
            )));
        }
        Ok(S3State::with(client, current))
    }

    /// Opens an existing state whatever its stack and workspace (`--state s3://...` alone).
    pub fn open_existing(client: S3Client) -> StateResult<S3State> {
        match load(&client)? {
            Some(current) => Ok(S3State::with(client, current)),
            None => Err(StateError::Invalid(format!(
                "no state at {}: apply a stack there first, or check the --state URL",
                client.location.url()
            ))),
        }
    }

    fn with(client: S3Client, current: Current) -> S3State {
        S3State {
            client,
            current: Mutex::new(current),
        }
    }

    pub fn location(&self) -> &S3Location {
        &self.client.location
    }

    fn lock(&self) -> MutexGuard<'_, Current> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn err(&self, message: impl std::fmt::Display) -> StateError {
        storage(&self.client, message)
    }

    /// Applies `change` to the known version and stores the result if nobody else wrote
    /// since; the serial increases by one. A failed change or a lost race changes nothing.
    fn write(
        &self,
        change: impl FnOnce(&mut StateSnapshot) -> StateResult<()>,
    ) -> StateResult<u64> {
        let mut current = self.lock();
        let mut next = current.snapshot.clone();
        change(&mut next)?;
        next.meta.serial += 1;
        let bytes = serde_json::to_vec(&next).expect("states serialize");
        match self
            .client
            .put(STATE_OBJECT, bytes, Condition::Matches(&current.etag))
        {
            Ok(etag) => {
                let serial = next.meta.serial;
                *current = Current {
                    snapshot: next,
                    etag,
                };
                Ok(serial)
            }
            Err(S3Failure::PreconditionFailed | S3Failure::Conflict) => Err(self.err(format!(
                "another writer changed the state since this run read it at serial {}; \
                 nothing was written (a lost compare-and-swap is never retried over the other \
                 write). Check who else runs on this state, then rerun",
                current.snapshot.meta.serial
            ))),
            Err(e) => Err(self.err(format!("cannot write {STATE_OBJECT}: {e}"))),
        }
    }

    /// Reads every object and checks that each decodes and that they agree.
    pub fn check(&self) -> CheckReport {
        let mut report = CheckReport::default();
        match load(&self.client) {
            Ok(Some(current)) => {
                let (history, problems) = self.decoded_history();
                report.problems.extend(problems);
                let s = &current.snapshot;
                report.resources = s.resources.len();
                report.outputs = s.outputs.len();
                report.history = history.len();
                report.problems.extend(consistency(
                    &s.meta,
                    &s.resources,
                    history.iter().map(|h| (h.serial, h)),
                ));
                report.meta = Some(s.meta.clone());
            }
            Ok(None) => report.problems.push(format!("{STATE_OBJECT} is missing")),
            Err(e) => report.problems.push(e.to_string()),
        }
        report
    }

    /// The whole state as an export; history entries that do not decode are left out
    /// and named.
    pub fn export(&self) -> StateResult<(StateExport, Vec<String>)> {
        let snapshot = self.snapshot()?;
        let (mut history, skipped) = self.decoded_history();
        history.reverse();
        Ok((
            StateExport {
                format: EXPORT_FORMAT.to_string(),
                version: EXPORT_VERSION,
                meta: snapshot.meta,
                resources: snapshot.resources,
                outputs: snapshot.outputs,
                history,
            },
            skipped,
        ))
    }

    /// Puts an export into this state, which must be new (serial 0, no history): history
    /// first, then the current object by compare-and-swap.
    pub fn import(&self, export: &StateExport) -> StateResult<()> {
        let mut current = self.lock();
        let has_history = !self
            .client
            .list(super::history::HISTORY_DIR)
            .map_err(|e| self.err(e))?
            .is_empty();
        if current.snapshot.meta.serial != 0 || has_history {
            return Err(StateError::Invalid(format!(
                "state at {} is not empty (serial {}); import only into a new state",
                self.client.location.url(),
                current.snapshot.meta.serial
            )));
        }
        for h in &export.history {
            super::history::put_entry(&self.client, h).map_err(|e| self.err(e))?;
        }
        let next = StateSnapshot {
            meta: export.meta.clone(),
            resources: export
                .resources
                .values()
                .map(|r| (r.address.clone(), redacted(r, &export.meta.lineage)))
                .collect(),
            outputs: export.outputs.clone(),
        };
        let bytes = serde_json::to_vec(&next).expect("states serialize");
        let etag = self
            .client
            .put(STATE_OBJECT, bytes, Condition::Matches(&current.etag))
            .map_err(|e| match e {
                S3Failure::PreconditionFailed => {
                    self.err("another writer changed the state during the import")
                }
                e => self.err(e),
            })?;
        *current = Current {
            snapshot: next,
            etag,
        };
        Ok(())
    }
}

fn storage(client: &S3Client, message: impl std::fmt::Display) -> StateError {
    StateError::Storage {
        path: PathBuf::from(client.location.url()),
        message: message.to_string(),
    }
}

/// The current object, decoded; `None` only when S3 says it does not exist.
fn load(client: &S3Client) -> StateResult<Option<Current>> {
    let Some(fetched) = client
        .get(STATE_OBJECT)
        .map_err(|e| storage(client, format!("cannot read {STATE_OBJECT}: {e}")))?
    else {
        return Ok(None);
    };
    let snapshot: StateSnapshot = serde_json::from_slice(&fetched.bytes)
        .map_err(|e| storage(client, format!("{STATE_OBJECT} does not decode: {e}")))?;
    Ok(Some(Current {
        snapshot,
        etag: fetched.etag,
    }))
}

/// Writes a new state's first object; if another run created one first, that one is it.
fn create(client: &S3Client, stack: &str, workspace: &str) -> StateResult<Current> {
    let snapshot = StateSnapshot {
        meta: StateMeta {
            lineage: uuid::Uuid::new_v4().to_string(),
            serial: 0,
            stack: stack.to_string(),
            workspace: workspace.to_string(),
        },
        resources: BTreeMap::new(),
        outputs: BTreeMap::new(),
    };
    let bytes = serde_json::to_vec(&snapshot).expect("states serialize");
    match client.put(STATE_OBJECT, bytes, Condition::Absent) {
        Ok(etag) => Ok(Current { snapshot, etag }),
        Err(S3Failure::PreconditionFailed | S3Failure::Conflict) => load(client)?
            .ok_or_else(|| storage(client, "the state was created and removed meanwhile")),
        Err(e) => Err(storage(
            client,
            format!("cannot create {STATE_OBJECT}: {e}"),
        )),
    }
}

impl StateRead for S3State {
    fn meta(&self) -> StateResult<StateMeta> {
        Ok(self.lock().snapshot.meta.clone())
    }

    fn resources(&self) -> StateResult<BTreeMap<String, ResourceState>> {
        Ok(self.lock().snapshot.resources.clone())
    }

    fn resource(&self, address: &str) -> StateResult<Option<ResourceState>> {
        Ok(self.lock().snapshot.resources.get(address).cloned())
    }

    fn outputs(&self) -> StateResult<BTreeMap<String, OutputState>> {
        Ok(self.lock().snapshot.outputs.clone())
    }

    fn snapshot(&self) -> StateResult<StateSnapshot> {
        Ok(self.lock().snapshot.clone())
    }
}

impl StateWrite for S3State {
    fn put_resource(&self, resource: &ResourceState) -> StateResult<u64> {
        self.write(|s| {
            let r = redacted(resource, &s.meta.lineage);
            s.resources.insert(r.address.clone(), r);
            Ok(())
        })
    }

    fn remove_resource(&self, address: &str) -> StateResult<u64> {
        self.write(|s| match s.resources.remove(address) {
            Some(_) => Ok(()),
            None => Err(StateError::NotFound(address.to_string())),
        })
    }

    fn set_outputs(&self, outputs: &BTreeMap<String, OutputState>) -> StateResult<u64> {
        self.write(|s| {
            s.outputs = redacted_outputs(outputs, &s.meta.lineage);
            Ok(())
        })
    }

    fn move_resource(&self, from: &str, to: &str) -> StateResult<u64> {
        self.write(|s| {
            let changed = moved_records(&s.resources, from, to)?;
            s.resources.remove(from);
            for r in changed {
                s.resources.insert(r.address.clone(), r);
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;
    use crate::state::contract_tests::{self, resource};
    use crate::state::StateHistory;

    #[test]
    fn s3_store_meets_the_store_contract_against_moto() {
        let base = testing::bucket("contract-state");
        let mut n = 0;
        contract_tests::run_all(|| {
            n += 1;
            let client = testing::client(&base.join(&format!("run{n}")));
            S3State::open(client, "mesh", "default").unwrap()
        });
    }

    #[test]
    fn a_writer_that_lost_the_race_fails_and_changes_nothing() {
        let at = testing::bucket("cas-race-state");
        let first = S3State::open(testing::client(&at), "mesh", "default").unwrap();
        let second = S3State::open(testing::client(&at), "mesh", "default").unwrap();
        assert_eq!(
            first.meta().unwrap().lineage,
            second.meta().unwrap().lineage
        );
        assert_eq!(first.put_resource(&resource("a", &[])).unwrap(), 1);
        // `second` still knows serial 0: its write must not replace `first`'s.
        let err = second.put_resource(&resource("b", &[])).unwrap_err();
        assert!(err.to_string().contains("another writer"), "{err}");
        let fresh = S3State::open_existing(testing::client(&at)).unwrap();
        assert_eq!(fresh.meta().unwrap().serial, 1);
        assert_eq!(
            fresh.resources().unwrap().keys().collect::<Vec<_>>(),
            ["a"],
            "the loser's write is nowhere"
        );
    }

    #[test]
    fn a_state_belongs_to_one_stack_and_workspace() {
        let at = testing::bucket("identity-state");
        S3State::open(testing::client(&at), "mesh", "default").unwrap();
        let err = S3State::open(testing::client(&at), "other", "default").unwrap_err();
        assert!(err.to_string().contains("belongs to stack mesh"), "{err}");
        let missing = S3State::open_existing(testing::client(&at.join("nothing"))).unwrap_err();
        assert!(missing.to_string().contains("no state at"), "{missing}");
    }

    #[test]
    fn with_a_kms_key_every_object_is_encrypted_with_it() {
        let mut at = testing::bucket("kms-state");
        at.kms_key_id =
            Some("arn:aws:kms:us-east-1:123456789012:key/0b6c3e5e-4c0e-4a4e-9f55".to_string());
        let client = testing::client(&at);
        let s = S3State::open(client.clone(), "mesh", "default").unwrap();
        s.put_resource(&resource("a", &[])).unwrap();
        s.record("apply", 5).unwrap();
        assert_eq!(
            client.encryption_of(STATE_OBJECT).unwrap().as_deref(),
            Some("aws:kms")
        );
        let entry = client.list(super::super::history::HISTORY_DIR).unwrap();
        assert_eq!(
            client.encryption_of(&entry[0]).unwrap().as_deref(),
            Some("aws:kms")
        );
    }

    #[test]
    fn a_role_for_the_state_is_assumed_with_the_chains_credentials() {
        let mut at = testing::bucket("role-state");
        assert_eq!(testing::client(&at).access_key(), "testing");
        at.role_arn = Some("arn:aws:iam::123456789012:role/trustplane-state".to_string());
        let client = testing::client(&at);
        // The role's temporary credentials (moto's STS issues ASIA... keys), not the chain's.
        let key = client.access_key();
        assert!(key.starts_with("ASIA"), "{key}");
        let s = S3State::open(client, "mesh", "default").unwrap();
        assert_eq!(s.put_resource(&resource("a", &[])).unwrap(), 1);
    }

    #[test]
    fn export_and_import_round_trip_through_s3() {
        let at = testing::bucket("export-state");
        let s = S3State::open(testing::client(&at), "mesh", "default").unwrap();
        s.put_resource(&resource("a", &[])).unwrap();
        s.record("apply", 5).unwrap();
        s.put_resource(&resource("b", &["a"])).unwrap();
        s.record("apply", 5).unwrap();
        assert!(s.check().is_clean(), "{:?}", s.check());
        let (export, skipped) = s.export().unwrap();
        assert!(skipped.is_empty());
        let target = S3State::open(testing::client(&at.join("copy")), "mesh", "default").unwrap();
        target.import(&export).unwrap();
        assert_eq!(target.export().unwrap().0, export);
        assert!(target.import(&export).is_err(), "only into a new state");
    }
}
